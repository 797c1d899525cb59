"""Oracle tests: seqlab.nn.RNN/LSTM/GRU against torch.nn on randomized configurations.

Forward outputs, final states and the gradients with respect to the input, the initial states and
every parameter agree within 1e-10 (float64) and 1e-5 (float32) for batched, unbatched,
batch_first, packed and `lengths=` input.

What each comparison proves. The "explicit" path is seqlab's own code (the cell equations and the
hand-written BPTT of seqlab.nn._bptt): every randomized example runs it, so that is what the oracle
checks. The "fused" path calls torch's own kernels (torch._VF.lstm/gru/rnn_tanh/rnn_relu) on
seqlab's parameters, so there the oracle compares torch with itself and checks only seqlab's
plumbing (weight order and layout, packing, `lengths=`, states, unbatched input). `impl="auto"`,
the default, is the fused path for the LSTM on every device and for every cell on GPU
(tests/nn/test_rnn_paths.py::test_auto_picks_by_cell): a default seqlab LSTM computes torch's
numbers, by construction, not by test.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import seqlab.nn as snn

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}

KINDS = {  # name -> (class name, extra constructor kwargs)
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": 2}),
    "gru": ("GRU", {}),
}


@st.composite
def configs(draw):
    return {
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "input": draw(st.sampled_from(["padded", "packed", "lengths", "unbatched"])),
        "with_hx": draw(st.booleans()),
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
        "B": draw(st.integers(2, 4)),
        "T": draw(st.integers(1, 12)),  # beyond one backward chunk (8 steps)
        "seed": draw(st.integers(0, 2**16)),
    }


def make_pair(kind, cfg, I=3, H=5):
    """(theirs, ours) with the same weights: ours loads torch's state_dict."""
    name, extra = KINDS[kind]
    kw = dict(num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"], bias=cfg["bias"],
              batch_first=cfg["batch_first"], dtype=cfg["dtype"], **extra)
    theirs = getattr(torch.nn, name)(I, H, **kw)
    ours = getattr(snn, name)(I, H, impl=cfg["impl"], **kw)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def run(model, cfg, x, lengths, hx, theirs: bool):
    """Runs `model` on the input form of `cfg`; returns (padded-or-packed-data output, states tuple)."""
    bf = cfg["batch_first"]
    if cfg["input"] == "packed":
        out, h = model(pack_padded_sequence(x, lengths, bf, enforce_sorted=False), hx)
        assert isinstance(out, PackedSequence)
        out = pad_packed_sequence(out, bf, total_length=x.shape[1 if bf else 0])[0]
    elif cfg["input"] == "lengths":
        if theirs:  # torch has no lengths=, its equivalent is packing
            out, h = model(pack_padded_sequence(x, lengths, bf, enforce_sorted=False), hx)
            out = pad_packed_sequence(out, bf, total_length=x.shape[1 if bf else 0])[0]
        else:
            out, h = model(x, hx, lengths=lengths)
    else:
        out, h = model(x, hx)
    return out, (h if isinstance(h, tuple) else (h,))


def check_against_torch(kind, cfg):
    torch.manual_seed(cfg["seed"])
    theirs, ours = make_pair(kind, cfg)
    dtype, B, T = cfg["dtype"], cfg["B"], cfg["T"]
    D = 2 if cfg["bidirectional"] else 1
    unbatched = cfg["input"] == "unbatched"
    x = torch.randn((T, 3) if unbatched else ((B, T, 3) if cfg["batch_first"] else (T, B, 3)), dtype=dtype)
    lengths = torch.randint(1, T + 1, (B,)) if cfg["input"] in ("packed", "lengths") else None
    hx = None
    if cfg["with_hx"]:
        P = ours.proj_size or ours.hidden_size
        shape = lambda size: (cfg["num_layers"] * D, size) if unbatched else (cfg["num_layers"] * D, B, size)
        hx = torch.randn(shape(P), dtype=dtype)
        if kind.startswith("lstm"):
            hx = (hx, torch.randn(shape(ours.hidden_size), dtype=dtype))
    results = []
    for model, is_theirs in ((theirs, True), (ours, False)):
        xi = x.clone().requires_grad_(True)
        hi = None if hx is None else (tuple(h.clone().requires_grad_(True) for h in hx) if isinstance(hx, tuple)
                                       else hx.clone().requires_grad_(True))
        out, states = run(model, cfg, xi, lengths, hi, is_theirs)
        g = torch.Generator().manual_seed(1)
        loss = (out * torch.randn(out.shape, generator=g, dtype=dtype)).sum()
        loss = loss + sum((s * torch.randn(s.shape, generator=g, dtype=dtype)).sum() for s in states)
        loss.backward()
        grads = {"x": xi.grad}
        if hi is not None:
            for k, h in enumerate(hi if isinstance(hi, tuple) else (hi,)):
                grads[f"hx{k}"] = h.grad
        grads.update({n: p.grad for n, p in model.named_parameters()})
        results.append((out.detach(), [s.detach() for s in states], grads))
    (o1, s1, g1), (o2, s2, g2) = results
    tol = TOL[dtype]
    assert o1.shape == o2.shape
    torch.testing.assert_close(o2, o1, atol=tol, rtol=0)
    for a, b in zip(s2, s1, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=tol, rtol=0)
    assert g1.keys() == g2.keys()
    for name in g1:
        torch.testing.assert_close(g2[name], g1[name], atol=tol, rtol=0, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=20, deadline=None)
@given(cfg=configs())
def test_explicit_path_matches_torch_nn(kind, cfg):
    """seqlab's own equations and BPTT against torch.nn (the real oracle)."""
    check_against_torch(kind, dict(cfg, impl="explicit"))


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=10, deadline=None)
@given(cfg=configs())
def test_fused_path_plumbing_matches_torch_nn(kind, cfg):
    """torch's kernel on seqlab's parameters: checks the plumbing only (see the module docstring)."""
    check_against_torch(kind, dict(cfg, impl="fused"))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("impl", ["fused", "explicit"])
def test_matches_torch_nn_largest_config(kind, impl):
    """The config that exercises everything at once, on both paths (fused: plumbing only), in
    float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        for inp in ("packed", "lengths"):
            cfg = dict(num_layers=2, bidirectional=True, bias=True, batch_first=True, input=inp, with_hx=True,
                       impl=impl, dtype=dtype, B=4, T=13, seed=7)
            check_against_torch(kind, cfg)


def test_packed_output_keeps_input_layout():
    """A PackedSequence comes back with the input's batch_sizes and (un)sorted indices."""
    for impl in ("fused", "explicit"):
        m = snn.GRU(3, 4, impl=impl)
        x = torch.randn(5, 3, 3)
        packed = pack_padded_sequence(x, torch.tensor([2, 5, 3]), enforce_sorted=False)
        out, h = m(packed)
        assert torch.equal(out.batch_sizes, packed.batch_sizes)
        assert torch.equal(out.sorted_indices, packed.sorted_indices)
        assert torch.equal(out.unsorted_indices, packed.unsorted_indices)
        assert out.data.shape == (10, 4) and h.shape == (1, 3, 4)
