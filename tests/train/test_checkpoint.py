"""Run-folder I/O: atomic writes, flattened optimizer state, RNG state, not-a-run errors."""

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import safetensors.torch
import torch

from seqlab.errors import CheckpointError
from seqlab.train import checkpoint as ckpt
from seqlab.train import integrity
from seqlab.train import load_run
from tiny import BigramLM, params


def _adam_after_steps(model, n=3):
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    for _ in range(n):
        _, loss = model(torch.randint(0, 6, (4, 5)), torch.randint(0, 6, (4, 5)))
        loss.backward()
        opt.step()
        opt.zero_grad()
    return opt


def test_optimizer_state_survives_flatten_save_load(tmp_path):
    model = BigramLM()
    opt = _adam_after_steps(model)
    ckpt.save_trainer_state(tmp_path / "s.safetensors", model, opt, {"step": 3})
    loaded = ckpt.load_trainer_state(tmp_path / "s.safetensors")
    fresh = torch.optim.AdamW(BigramLM().parameters(), lr=0.1)
    fresh.load_state_dict(loaded["optim"])
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        for k, v in a["state"][i].items():
            assert torch.equal(v, b["state"][i][k]), (i, k)
    assert loaded["state"] == {"step": 3}
    assert all(torch.equal(v, loaded["model"][k]) for k, v in model.state_dict().items())


def test_rng_states_round_trip():
    info, tensors = ckpt.rng_state()
    expect = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123), np.random.seed(5), random.seed(9)
    ckpt.set_rng_state(info, tensors)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expect[0], got[0]) and np.array_equal(expect[1], got[1]) and expect[2] == got[2]


def test_crash_mid_save_leaves_previous_weights_loadable(tmp_path, monkeypatch):
    m1 = BigramLM()
    path = ckpt.save_weights(m1, tmp_path / "model.safetensors")
    m2 = BigramLM()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00partial")  # half a file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_weights(m2, path)
    monkeypatch.undo()
    back = BigramLM()
    ckpt.load_weights(back, path)
    assert all(torch.equal(v, params(m1)[k]) for k, v in back.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temp file left


def test_crash_mid_trainer_state_save_keeps_previous_state(tmp_path, monkeypatch):
    model = BigramLM()
    opt = _adam_after_steps(model, 1)
    ckpt.save_trainer_state(tmp_path / "t.safetensors", model, opt, {"step": 1})
    _adam_after_steps(model, 1)
    monkeypatch.setattr(integrity.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError):
        ckpt.save_trainer_state(tmp_path / "t.safetensors", model, opt, {"step": 2})
    monkeypatch.undo()
    assert ckpt.load_trainer_state(tmp_path / "t.safetensors")["state"] == {"step": 1}


def test_weights_file_holds_only_tensors_and_no_pickle(tmp_path):
    path = ckpt.save_weights(BigramLM(), tmp_path / "m.safetensors")
    assert set(safetensors.torch.load_file(str(path))) == {"table.weight", "bias"}
    assert b"\x80\x04" not in path.read_bytes()[:8]  # not a pickle stream


@pytest.mark.parametrize("make,msg", [
    (lambda d: None, "not found"),
    (lambda d: d.mkdir(), "no config.json"),
    (lambda d: (d.mkdir(), (d / "config.json").write_text("{oops")), "not valid JSON"),
    (lambda d: (d.mkdir(), (d / "config.json").write_text(json.dumps({"model": "x"}))), "format"),
])
def test_not_a_run_folder_is_one_line_checkpoint_error(tmp_path, make, msg):
    d = tmp_path / "run"
    make(d)
    with pytest.raises(CheckpointError, match=msg) as e:
        load_run(d)
    assert "\n" not in str(e.value)
    assert not ckpt.is_run_dir(d)


def test_weights_that_do_not_fit_the_model_are_a_checkpoint_error(tmp_path):
    path = ckpt.save_weights(BigramLM(4), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="do not fit"):
        ckpt.load_weights(BigramLM(6), path)


def test_corrupt_trainer_state_is_a_checkpoint_error(tmp_path):
    (tmp_path / "t.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt trainer state"):
        ckpt.load_trainer_state(tmp_path / "t.safetensors")


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=4),
                  st.integers(0, 3).map(lambda n: torch.arange(n, dtype=torch.float32)))
_tree = st.recursive(_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.tuples(kids, kids),
    st.dictionaries(st.text("abc", min_size=1, max_size=3), kids, max_size=3),
    st.dictionaries(st.integers(0, 9), kids, max_size=3)), max_leaves=8)


def _equal(a, b):
    if torch.is_tensor(a):
        return torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b and type(a) is type(b)


@settings(max_examples=25, deadline=None)
@given(tree=_tree)
def test_flatten_then_unflatten_through_json_is_the_identity(tree):
    tensors = {}
    flat = json.loads(json.dumps(ckpt.flatten_state(tree, tensors, "x")))
    assert _equal(ckpt.unflatten_state(flat, tensors), tree)
