"""`seqlab.load` and save_pretrained / from_pretrained end to end on tiny runs, and the README's
Python section run as written."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
from seqlab.cli.main import main
from seqlab.errors import CheckpointError, ConfigError
from seqlab.train import load_run

ROOT = Path(__file__).resolve().parents[1]
TEXT = "".join(f"the {w} sat on the mat; a {w} ran. " for w in ["cat", "dog", "fox", "owl", "bee", "ant"] * 14)


def _train(tmp, name, *argv) -> Path:
    out = tmp / name
    assert main(["train", "--out", str(out), "--no-progress", *map(str, argv)]) == 0
    return out


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    (tmp / "c.txt").write_text(TEXT)
    return _train(tmp, "gru", "--model", "gru", "--data", f"file:{tmp / 'c.txt'}", "--steps", "8", "--batch-size",
                  "4", "--block-size", "16", "--eval-interval", "2", "--hidden-size", "12", "--embed-dim", "8")


def test_load_speaks_text(text_run):
    lm = seqlab.load(text_run)
    out = lm.generate("the ", 30, temperature=0.8, seed=3)
    assert isinstance(out, str) and out.startswith("the ") and len(out) == 4 + 30
    assert out == lm.generate("the ", 30, temperature=0.8, seed=3)
    many = lm.generate("a ", 10, num_return_sequences=3, seed=1)
    assert isinstance(many, list) and len(many) == 3 and all(s.startswith("a ") for s in many)
    # score: the chain rule in windows of the run's block size, in bits
    ids = torch.tensor(lm.tokenizer.encode(TEXT[:40]))
    with torch.no_grad():
        nll = -sum(float(lm.model.log_prob(w[None])) for w in ids.split(16))
    assert lm.score(TEXT[:40]) == pytest.approx(nll / len(ids) / math.log(2), rel=1e-5)
    with pytest.raises(ConfigError, match="forecast needs a series model"):
        lm.forecast([1.0, 2.0], 3)
    with pytest.raises(ConfigError, match="translate needs a pairs model"):
        lm.translate("abc")


def test_load_uses_the_best_weights_unless_last(tmp_path, text_run):
    import shutil

    from seqlab.train.checkpoint import weights_writer
    from seqlab.train.integrity import write_files

    run = tmp_path / "run"
    shutil.copytree(text_run, run)
    other = load_run(run).model
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.5)
    write_files(run, {"best/model.safetensors": weights_writer(other)})  # best now differs from last
    best, last = load_run(run, which="best").model, load_run(run, which="last").model
    assert any(not torch.equal(a, b) for a, b in zip(best.state_dict().values(), last.state_dict().values()))
    text_run = run
    for loaded, ref in ((seqlab.load(text_run), best), (seqlab.load(text_run, last=True), last)):
        assert all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(), ref.state_dict().values()))


def test_save_pretrained_round_trips(tmp_path, text_run):
    from seqlab.models import SequenceModel
    from seqlab.models.rnn import RNNLM
    from seqlab.models.transformer import TransformerLM

    lm = seqlab.load(text_run)
    folder = lm.save_pretrained(tmp_path / "saved")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json", "manifest.json"}
    again = seqlab.load(folder)
    assert again.generate("the ", 20, seed=5) == lm.generate("the ", 20, seed=5)
    bare = lm.model.save_pretrained(tmp_path / "bare")  # the model alone: config.json + model.safetensors
    for model in (RNNLM.from_pretrained(bare), SequenceModel.from_pretrained(bare), RNNLM.from_pretrained(text_run)):
        assert type(model) is RNNLM and not model.training
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), lm.model.state_dict().values()))
    with pytest.raises(CheckpointError, match="holds a RNNLM, not a TransformerLM"):
        TransformerLM.from_pretrained(bare)
    record = json.loads((bare / "config.json").read_text())
    (bare / "config.json").write_text(json.dumps({**record, "class": "Popen"}))
    with pytest.raises(CheckpointError, match="class 'Popen' is not a seqlab model"):
        SequenceModel.from_pretrained(bare)
    (bare / "config.json").write_text(json.dumps({**record, "config": {**record["config"], "hidden_size": "big"}}))
    with pytest.raises(CheckpointError, match="config.hidden_size: expected an integer"):
        SequenceModel.from_pretrained(bare)
    (bare / "config.json").write_text(json.dumps(record))
    data = bytearray((bare / "model.safetensors").read_bytes())
    data[-5] ^= 1
    (bare / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        SequenceModel.from_pretrained(bare)
    with pytest.raises(CheckpointError, match="local folders only"):
        SequenceModel.from_pretrained("gpt2")


def test_forecast_is_dated_with_intervals(tmp_path):
    pd = pytest.importorskip("pandas")  # pandas comes with statsmodels, a test dependency
    run = _train(tmp_path, "sine", "--model", "gru", "--data", "sine", "--steps", "6", "--batch-size", "4",
                 "--block-size", "32", "--eval-interval", "3", "--hidden-size", "8", "--embed-dim", "4")
    ts = seqlab.load(run)
    daily = pd.Series(np.sin(np.arange(80) * 0.06), index=pd.date_range("2021-03-01", periods=80, freq="D"))
    fc = ts.forecast(daily, 5, level=0.8)
    assert list(fc.index) == list(pd.date_range("2021-05-20", periods=5, freq="D").to_numpy())
    assert (fc.lower <= fc.mean).all() and (fc.mean <= fc.upper).all() and fc.level == 0.8
    frame = fc.to_frame()
    assert list(frame.columns) == ["mean", "lower", "upper"] and len(frame) == 5
    monthly = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=30, freq="MS"), "y": np.arange(30.0)})
    assert [str(d)[:10] for d in ts.forecast(monthly, 2).index] == ["2022-07-01", "2022-08-01"]
    assert list(ts.forecast(np.arange(20.0), 3).index) == [20, 21, 22]  # no dates: positions
    # the scaler: the model sees (y - mu) / sigma of its training part, the forecast is in y's units
    mu, sigma = ts.scaler()
    raw = ts.model.forecast(torch.tensor((daily.to_numpy()[-32:] - mu) / sigma, dtype=torch.float32), 1,
                            quantiles=(0.1, 0.5, 0.9), seed=0)
    assert fc.mean[0] == pytest.approx(float(raw.mean[0]) * sigma + mu, rel=1e-5)
    saved = seqlab.load(ts.save_pretrained(tmp_path / "ts"))
    assert np.allclose(saved.forecast(daily, 5, level=0.8).mean, fc.mean)


def test_translate_a_pairs_run(tmp_path):
    run = _train(tmp_path, "rev", "--model", "seq2seq-rnn", "--data", "reverse", "--steps", "4", "--batch-size",
                 "8", "--eval-interval", "2", "--hidden-size", "16", "--embed-dim", "8")
    s2s = seqlab.load(run)
    out = s2s.translate("abc")
    assert isinstance(out, str) and "<eos>" not in out
    ids = s2s.model.translate(torch.tensor([s2s.encode("abc")]), max_len=16)[0]
    assert out == s2s.decode(ids)


def test_torch_spelling_of_multihead_attention():
    ours = seqlab.nn.MultiheadAttention(8, 2, batch_first=True)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    assert isinstance(ours, seqlab.nn.MultiHeadAttention)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ours(x, x, x)[0], theirs(x, x, x)[0], rtol=1e-5, atol=1e-6)


def _readme_python_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Python\b.*?$(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no '## Python' section"
    block = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert block, "the README's '## Python' section has no ```python block"
    return block.group(1)


def test_readme_python_section_runs(tmp_path):
    code = _readme_python_block()
    assert "seqlab.load(" in code and "save_pretrained(" in code  # the one-line loading is what it shows
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
