"""`seqlab compare` end to end on a tiny corpus: leaderboard files, numbers in range, run folders,
bad input, and no partial output folder on errors or Ctrl-C."""

from __future__ import annotations

import csv
import json
import math

import pytest

from seqlab.cli import compare_families
from seqlab.errors import DataError
from tests.cli.conftest import assert_one_line_error, png_size

TINY = ("--size", "tiny", "--budget", "0.4", "--block-size", "16", "--val-tokens", "320",
        "--max-order", "3", "--sample-tokens", "12", "--no-progress")


@pytest.fixture(scope="module")
def compared(tmp_path_factory, corpus):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("cmp") / "board"
    code = main(["compare", "--data", f"file:{corpus}", "--models", "markov,neural-ar,gru,transformer",
                 "--out", str(out), *TINY])
    assert code == 0
    return out


def test_leaderboard_files(compared, corpus):
    rows = list(csv.DictReader((compared / "leaderboard.csv").open(encoding="utf-8")))
    setup = json.loads((compared / "setup.json").read_text())
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    assert {r["model"].split(" ")[0] for r in rows} == {"markov", "neural-ar", "gru", "transformer"}
    bits = [float(r["val_bits_per_token"]) for r in rows]
    assert bits == sorted(bits)
    uniform = math.log2(setup["vocab_size"])
    for r in rows:
        b, nats, ppl = float(r["val_bits_per_token"]), float(r["val_loss_nats"]), float(r["perplexity"])
        assert 0 < b < uniform + 3
        assert b == pytest.approx(nats / math.log(2), rel=1e-5)
        assert ppl == pytest.approx(math.exp(nats), rel=1e-5)
        assert int(r["parameters"]) > 0 and float(r["train_seconds"]) > 0 and int(r["steps"]) >= 1
        assert r["sample"].startswith(setup["prompt"]) and len(r["sample"]) > len(setup["prompt"])
    # counting n-grams on word salad beats a uniform guess by far, even in 0.4 s
    markov = next(r for r in rows if r["model"].startswith("markov"))
    assert float(markov["val_bits_per_token"]) < uniform - 1
    assert setup["val_tokens"] == 320 and setup["block_size"] == 16
    assert setup["prompt"].strip() in corpus.read_text().split()[:1]  # the corpus's first word
    md = (compared / "leaderboard.md").read_text(encoding="utf-8")
    assert "| rank | model" in md and md.count("\n|") >= 6
    w, h = png_size(compared / "leaderboard.png")
    assert w > 400 and h > 200


def test_family_run_folders_reload_and_generate(compared, seqlab):
    for name in ("markov", "gru", "transformer"):
        assert (compared / name / "config.json").is_file()
    result = seqlab("generate", compared / "gru", "--prompt", "the ", "-n", "10", "--seed", "3")
    assert result.code == 0 and result.out.startswith("the ")
    result = seqlab("eval", compared / "markov", "--split", "val", "--json")
    assert result.code == 0
    metrics = json.loads(result.out)
    assert metrics["bits_per_token"] == pytest.approx(metrics["loss_nats"] / math.log(2), rel=1e-6)


def test_same_windows_same_score_as_log_prob(corpus):
    """The leaderboard score is the chain-rule NLL of the fixed windows, batched or not."""
    import torch

    from seqlab.models.registry import build_model

    data = compare_families.prepare_data(f"file:{corpus}", "char", 320, "tiny", 16)
    assert data.eval_windows.shape == (20, 16)
    model = build_model("markov", order=2, vocab_size=data.vocab_size)
    model.fit(data.train_ids)
    per_window = [-float(model.log_prob(w[None])) for w in data.eval_windows]
    assert data.split.boundaries[0] == len(data.train_ids)  # characters == char tokens
    assert compare_families.score(model, data.eval_windows, batch=7) == pytest.approx(
        sum(per_window) / 320, rel=1e-6)
    assert torch.equal(data.eval_windows.reshape(-1), data.val_ids[:320])


@pytest.mark.parametrize("argv, fragments", [
    (["--models", "markov,hmm"], ["unknown model 'hmm'"]),
    (["--data", "nosuchkind:x"], ["unknown data spec"]),
    (["--data", "file:/nonexistent/corpus.txt"], ["/nonexistent/corpus.txt"]),
    (["--data", "sine"], ["text data spec"]),
    (["--data", "CORPUS", "--prompt", "the QZ"], ["'Q'", "'Z'"]),
    (["--budget", "soon"], ["--budget", "soon"]),
    (["--budget", "0"], ["--budget", "positive"]),
    (["--val-tokens", "1.5"], ["--val-tokens"]),
])
def test_bad_input_one_line_no_folder(tmp_path, seqlab, corpus, argv, fragments):
    argv = [f"file:{corpus}" if a == "CORPUS" else a for a in argv]
    out = tmp_path / "board"
    result = seqlab("compare", "--out", out, *TINY, *argv)
    assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_refuses_existing_folder(tmp_path, seqlab, corpus):
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "keep.txt").write_text("x")
    result = seqlab("compare", "--data", f"file:{corpus}", "--out", tmp_path / "board", *TINY)
    assert_one_line_error(result, "already exists")
    assert [p.name for p in (tmp_path / "board").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("exc, code, message", [
    (KeyboardInterrupt, 130, "seqlab: interrupted"),
    (lambda: DataError("model diverged"), 2, "seqlab: error: model diverged"),
])
def test_failure_mid_run_leaves_nothing(tmp_path, seqlab, corpus, monkeypatch, exc, code, message):
    calls = []
    real = compare_families.train_family

    def flaky(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise exc()
        return real(name, *args, **kwargs)

    monkeypatch.setattr(compare_families, "train_family", flaky)
    result = seqlab("compare", "--data", f"file:{corpus}", "--models", "markov,gru",
                    "--out", tmp_path / "board", *TINY)
    assert result.code == code
    assert result.err.strip().splitlines()[-1] == message
    assert calls == ["markov", "gru"]
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary sibling


def test_warm_up_leaves_weights_and_grads_untouched():
    import torch

    from seqlab.models.registry import build_model

    for name, fields in compare_families.SIZES["tiny"].items():
        model = build_model(name, vocab_size=11, **fields)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        compare_families.warm_up(model, 11, batch_size=3, block_size=8)
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), name
        assert all(p.grad is None for p in model.parameters()), name


def test_curve_slice_is_a_subset_of_the_scoring_windows():
    import torch

    windows = torch.arange(40 * 16).view(40, 16)
    stream = compare_families.curve_slice(windows, tokens=160)
    assert stream.numel() == 160
    assert torch.equal(stream.view(-1, 16), windows[::4])
