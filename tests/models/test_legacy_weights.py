"""Weights saved before seqlab.models.inputs / heads still load and give the same numbers.

tests/models/data/legacy/*.safetensors were written by the code of commit d52252c (each family's own
embedding, head and start vector; keys such as `in_proj.weight`, `bos`, `out_bias`, `proj.weight`,
`head.proj.*`, `out.*`), one tiny model per case with every weight moved off its initial value.
Each file's metadata holds the registry name, the config, an input and the log-probabilities that
code computed, and its parameter order. Loading goes through `load_state_dict(strict=True)`, the
path of run folders (seqlab.train.checkpoint.load_weights) and of `--resume`.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from seqlab.models import registry
from seqlab.train.checkpoint import load_weights

FILES = sorted((Path(__file__).parent / "data" / "legacy").glob("*.safetensors"))


def _read(path):
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return meta, tensors


def test_every_family_has_a_legacy_file():
    names = {_read(p)[0]["model"] for p in FILES}
    assert names == {"neural-ar", "rnn", "gru", "lstm", "transformer", "seq2seq-rnn", "seq2seq-transformer"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_legacy_weights_load_strict_and_give_the_old_numbers(path):
    meta, tensors = _read(path)
    model = registry.build_model(meta["model"], **json.loads(meta["config"])).eval()
    load_weights(model, path)  # strict; a key mismatch would be a CheckpointError
    inputs = json.loads(meta["inputs"])
    real = json.loads(meta["config"]).get("vocab_size", 1) is None
    x = torch.tensor(inputs["x"], dtype=torch.float32 if real else torch.long)
    with torch.no_grad():
        lp = model.log_prob(torch.tensor(inputs["src"]), x) if "src" in inputs else model.log_prob(x)
    torch.testing.assert_close(lp, torch.tensor(json.loads(meta["log_prob"])), atol=1e-5, rtol=1e-5)
    # the caller's dict is not renamed in place
    assert set(_read(path)[1]) == set(tensors)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_parameter_order_is_unchanged(path):
    # optimizer state in trainer_state.safetensors is stored by parameter position: --resume of an
    # old run needs the old order, old names mapped to new ones
    meta, _ = _read(path)
    model = registry.build_model(meta["model"], **json.loads(meta["config"]))
    renamed = model._legacy_keys()
    old = [renamed.get(name, name) for name in json.loads(meta["parameters"])]
    assert old == [name for name, _ in model.named_parameters()]
