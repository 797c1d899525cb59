"""Oracle tests: seqlab.nn.RNNCell/LSTMCell/GRUCell against torch.nn's cells, and return_gates.

impl="explicit" runs seqlab's equations: every randomized example checks it against torch.nn.
impl="fused" and the default "auto" (fused unless gates are requested) call torch's own cell
kernels (torch._VF.*_cell) on seqlab's parameters, so for them the oracle compares torch with
itself and checks only the plumbing (parameter layout, unbatched input, default states).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import seqlab.nn as snn
from seqlab.errors import ConfigError, DataError

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
CELLS = {
    "rnn_tanh": ("RNNCell", {}),
    "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
    "lstm": ("LSTMCell", {}),
    "gru": ("GRUCell", {}),
}


def pair(kind, bias, dtype, impl, I=3, H=4):
    name, extra = CELLS[kind]
    theirs = getattr(torch.nn, name)(I, H, bias=bias, dtype=dtype, **extra)
    ours = getattr(snn, name)(I, H, bias=bias, dtype=dtype, impl=impl, **extra)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


@pytest.mark.parametrize("kind", list(CELLS))
@settings(max_examples=20, deadline=None)
@given(bias=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]),
       batched=st.booleans(), with_hx=st.booleans(), B=st.integers(2, 5), seed=st.integers(0, 999))
def test_cell_matches_torch(kind, bias, dtype, batched, with_hx, B, seed):
    for impl in ("explicit", "fused"):  # seqlab's equations; then torch's kernel (plumbing only)
        check_cell(kind, bias, dtype, impl, batched, with_hx, B, seed)


def check_cell(kind, bias, dtype, impl, batched, with_hx, B, seed):
    torch.manual_seed(seed)
    theirs, ours = pair(kind, bias, dtype, impl)
    lead = (B,) if batched else ()
    x = torch.randn(*lead, 3, dtype=dtype)
    hx = None
    if with_hx:
        hx = torch.randn(*lead, 4, dtype=dtype)
        if kind == "lstm":
            hx = (hx, torch.randn(*lead, 4, dtype=dtype))
    results = []
    for m in (theirs, ours):
        xi = x.clone().requires_grad_(True)
        hi = None if hx is None else (tuple(h.clone().requires_grad_(True) for h in hx) if isinstance(hx, tuple)
                                       else hx.clone().requires_grad_(True))
        out = m(xi, hi)
        outs = out if isinstance(out, tuple) else (out,)
        g = torch.Generator().manual_seed(1)
        sum((o * torch.randn(o.shape, generator=g, dtype=dtype)).sum() for o in outs).backward()
        hgrads = [] if hi is None else [h.grad for h in (hi if isinstance(hi, tuple) else (hi,))]
        results.append(list(outs) + [xi.grad] + hgrads + [p.grad for p in m.parameters()])
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, atol=TOL[dtype], rtol=0)


def test_return_gates_structure_and_equations():
    """Gates are named (B, H) tensors that reproduce the cell's output through its equations."""
    torch.manual_seed(0)
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    lstm = snn.LSTMCell(3, 4)
    (h1, c1), gates = lstm(x, (h, c), return_gates=True)
    assert gates._fields == ("i", "f", "g", "o") and all(t.shape == (2, 4) for t in gates)
    assert torch.equal(torch.stack(lstm(x, (h, c))), torch.stack((h1, c1)))  # same result as without gates
    i, f, g, o = gates
    assert torch.all((i > 0) & (i < 1)) and torch.all((g > -1) & (g < 1))
    torch.testing.assert_close(c1, f * c + i * g)
    torch.testing.assert_close(h1, o * torch.tanh(c1))

    gru = snn.GRUCell(3, 4)
    h1, (r, z, n) = gru(x, h, return_gates=True)
    torch.testing.assert_close(h1, (1 - z) * n + z * h)
    torch.testing.assert_close(h1, gru(x, h), atol=1e-6, rtol=0)
    # b_hn sits inside the reset product: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    W_in, W_hn = gru.weight_ih[8:], gru.weight_hh[8:]
    b_in, b_hn = gru.bias_ih[8:], gru.bias_hh[8:]
    torch.testing.assert_close(n, torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn)))

    rnn = snn.RNNCell(3, 4, nonlinearity="relu")
    h1, (a,) = rnn(x, h, return_gates=True)
    torch.testing.assert_close(h1, torch.relu(a))

    h1, gates = snn.GRUCell(3, 4)(torch.randn(3), return_gates=True)  # unbatched: (H,) gates
    assert h1.shape == (4,) and all(t.shape == (4,) for t in gates)


def test_cell_state_dict_both_ways_and_errors():
    for name in ("RNNCell", "LSTMCell", "GRUCell"):
        theirs, ours = getattr(torch.nn, name)(3, 4), getattr(snn, name)(3, 4)
        assert list(theirs.state_dict()) == list(ours.state_dict())
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(2, 3)
        a, b = theirs(x), ours(x)
        torch.testing.assert_close(torch.stack(a) if isinstance(a, tuple) else a,
                                   torch.stack(b) if isinstance(b, tuple) else b)
        with pytest.raises(DataError, match="input size"):
            ours(torch.randn(2, 5))
        with pytest.raises(DataError, match="state shape"):
            ours(x, (torch.zeros(3, 4), torch.zeros(3, 4)) if name == "LSTMCell" else torch.zeros(3, 4))


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_unroll_layer_cell_equals_stack(name):
    """unroll(stack.layer_cell(l)) reproduces the stack layer by layer, with lengths, and yields gates (T, B, H)."""
    torch.manual_seed(0)
    stack = getattr(snn, name)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    x, lengths = torch.randn(6, 2, 3, dtype=torch.float64), torch.tensor([6, 3])
    cell = stack.layer_cell(0)
    assert cell.weight_ih is stack.weight_ih_l0  # shared, not copied
    y, state = snn.unroll(cell, x, lengths=lengths)
    stack1 = getattr(snn, name)(3, 4, dtype=torch.float64)
    stack1.load_state_dict({k: v for k, v in stack.state_dict().items() if k.endswith("_l0")})
    out1, h1 = stack1(x, lengths=lengths)
    torch.testing.assert_close(y, out1, atol=1e-12, rtol=0)
    h_last = state[0] if isinstance(state, tuple) else state
    torch.testing.assert_close(h_last, (h1[0] if isinstance(h1, tuple) else h1)[0], atol=1e-12, rtol=0)
    y2, _, gates = snn.unroll(cell, x, return_gates=True)
    assert all(g.shape == (6, 2, 4) for g in gates)
    with pytest.raises(ConfigError):
        stack.layer_cell(2)


@pytest.mark.parametrize("kind", list(CELLS))
def test_default_path_is_torchs_kernel_unless_gates_are_asked(kind):
    # why test_cell_matches_torch runs impl="explicit" on every example: the default is torch's kernel
    name, extra = CELLS[kind]
    cell = getattr(snn, name)(3, 4, **extra)
    assert cell.impl == "auto" and not cell._use_explicit(False) and cell._use_explicit(True)
