"""The one-step path of the recurrent stacks (`_forward_step`, torch's cell kernels, used for T = 1):
equal to torch.nn's layer (oracle, values and gradients), and stepping equals the whole sequence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import seqlab.nn as snn

PAIRS = {
    "rnn": (lambda **kw: snn.RNN(3, 5, **kw), lambda **kw: nn.RNN(3, 5, **kw)),
    "rnn_relu": (lambda **kw: snn.RNN(3, 5, nonlinearity="relu", **kw),
                 lambda **kw: nn.RNN(3, 5, nonlinearity="relu", **kw)),
    "lstm": (lambda **kw: snn.LSTM(3, 5, **kw), lambda **kw: nn.LSTM(3, 5, **kw)),
    "gru": (lambda **kw: snn.GRU(3, 5, **kw), lambda **kw: nn.GRU(3, 5, **kw)),
}


def states(h):
    return list(h) if isinstance(h, tuple) else [h]


@pytest.mark.parametrize("kind", list(PAIRS))
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_one_step_equals_torch(kind, batch_first, bias):
    """Outputs, states, input and weight gradients of one step (B=4, 2 layers, given h_0), float64, 1e-12."""
    torch.manual_seed(0)
    ours_f, ref_f = PAIRS[kind]
    kw = dict(num_layers=2, batch_first=batch_first, bias=bias, dtype=torch.float64)
    ours, ref = ours_f(**kw), ref_f(**kw)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 1, 3, dtype=torch.float64)
    x = x if batch_first else x.transpose(0, 1)
    h0 = torch.randn(2, 4, 5, dtype=torch.float64)
    hx = (h0, torch.randn(2, 4, 5, dtype=torch.float64)) if kind == "lstm" else h0
    assert ours._one_step(x)
    res = []
    for m in (ours, ref):
        xi = x.clone().requires_grad_(True)
        out, h = m(xi, hx)
        (out.square().sum() + sum(s.sin().sum() for s in states(h))).backward()
        res.append([out, *states(h), xi.grad] + [p.grad for p in m.parameters()])
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", list(PAIRS))
def test_stepping_equals_the_sequence(kind):
    """Feeding T steps one at a time (the decoding pattern, eval mode) gives the full run's outputs and states."""
    torch.manual_seed(1)
    m = PAIRS[kind][0](num_layers=3, batch_first=True, dropout=0.3).eval()
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        full, h_full = m(x)
        h, outs = None, []
        for t in range(7):
            out, h = m(x[:, t:t + 1], h)
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-6, rtol=1e-5)
    for a, b in zip(states(h), states(h_full), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_which_calls_take_one_step():
    one = torch.randn(1, 2, 3)
    assert snn.LSTM(3, 4, num_layers=2)._one_step(one)
    assert not snn.LSTM(3, 4)._one_step(torch.randn(2, 2, 3))  # two steps: the sequence kernels
    assert not snn.LSTM(3, 4, bidirectional=True)._one_step(one)
    assert not snn.LSTM(3, 4, proj_size=2)._one_step(one)
    assert not snn.GRU(3, 4, impl="explicit")._one_step(one)  # an impl the caller chose is kept
    assert not snn.GRU(3, 4, num_layers=2, dropout=0.5).train()._one_step(one)  # dropout draws as torch's
    assert snn.GRU(3, 4, num_layers=2, dropout=0.5).eval()._one_step(one)
