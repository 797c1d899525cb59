"""The fused and explicit paths agree; padding invariance; state_dict both ways; dropout; errors; BPTT gradcheck."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

import seqlab.nn as snn
from seqlab.errors import ConfigError, DataError
from seqlab.nn._bptt import gru_bptt, lstm_bptt, rnn_bptt

MODELS = {
    "rnn": lambda **kw: snn.RNN(3, 5, **kw),
    "rnn_relu": lambda **kw: snn.RNN(3, 5, nonlinearity="relu", **kw),
    "lstm": lambda **kw: snn.LSTM(3, 5, **kw),
    "lstm_proj": lambda **kw: snn.LSTM(3, 5, proj_size=2, **kw),
    "gru": lambda **kw: snn.GRU(3, 5, **kw),
}


def flat_states(h):
    return h if isinstance(h, torch.Tensor) else torch.cat([s.flatten() for s in h])


@pytest.mark.parametrize("kind", list(MODELS))
@settings(max_examples=15, deadline=None)
@given(layers=st.integers(1, 3), bidir=st.booleans(), lengths=st.booleans(), seed=st.integers(0, 999))
def test_fused_equals_explicit(kind, layers, bidir, lengths, seed):
    """Outputs, states and all gradients of the two paths agree (float64, 1e-10)."""
    torch.manual_seed(seed)
    fused = MODELS[kind](num_layers=layers, bidirectional=bidir, dtype=torch.float64, impl="fused")
    explicit = MODELS[kind](num_layers=layers, bidirectional=bidir, dtype=torch.float64, impl="explicit")
    explicit.load_state_dict(fused.state_dict())
    x = torch.randn(19, 4, 3, dtype=torch.float64)  # T=19 > 2 backward chunks of 8 steps
    lens = torch.randint(1, 20, (4,)) if lengths else None
    res = []
    for m in (fused, explicit):
        xi = x.clone().requires_grad_(True)
        out, h = m(xi, lengths=lens)
        (out.square().sum() + flat_states(h).sin().sum()).backward()
        res.append([out, flat_states(h), xi.grad] + [p.grad for p in m.parameters()])
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("impl", ["fused", "explicit"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 999), pad=st.integers(0, 4), bidir=st.booleans())
def test_padding_invariance(kind, impl, seed, pad, bidir):
    """A sequence's outputs and final state don't depend on its padding or its batch neighbours."""
    torch.manual_seed(seed)
    m = MODELS[kind](num_layers=2, bidirectional=bidir, batch_first=True, impl=impl, dtype=torch.float64)
    L = 5
    alone = torch.randn(1, L, 3, dtype=torch.float64)
    out1, h1 = m(alone)
    batch = torch.randn(3, L + pad, 3, dtype=torch.float64) * 10  # garbage padding and neighbours
    batch[1, :L] = alone[0]
    lengths = torch.tensor([L + pad, L, max(1, L + pad - 1)])
    out2, h2 = m(batch, lengths=lengths)
    torch.testing.assert_close(out2[1, :L], out1[0], atol=1e-12, rtol=0)
    assert torch.all(out2[1, L:] == 0)  # outputs past the length are zero
    h1, h2 = (h1,) if isinstance(h1, torch.Tensor) else h1, (h2,) if isinstance(h2, torch.Tensor) else h2
    for a, b in zip(h1, h2):
        torch.testing.assert_close(b[:, 1], a[:, 0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_state_dict_both_ways(name):
    kw = dict(num_layers=2, bidirectional=True, bias=True)
    if name == "LSTM":
        kw["proj_size"] = 3
    theirs, ours = getattr(torch.nn, name)(4, 6, **kw), getattr(snn, name)(4, 6, **kw)
    assert list(theirs.state_dict()) == list(ours.state_dict())
    for k, v in theirs.state_dict().items():
        assert ours.state_dict()[k].shape == v.shape
    ours.load_state_dict(theirs.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    fresh = getattr(torch.nn, name)(4, 6, **kw)
    fresh.load_state_dict(ours.state_dict())  # and the reverse
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(fresh(x)[0], ours(x)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_init_distribution_like_torch(name):
    """Every parameter is U(-1/√H, 1/√H), as in torch."""
    m = getattr(snn, name)(16, 64, num_layers=2)
    w = torch.cat([p.flatten() for p in m.parameters()])
    assert w.abs().max() <= 1 / 8 and w.abs().max() > 0.12
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - (1 / 8) / 3**0.5) < 0.005


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("impl", ["fused", "explicit"])
def test_dropout_same_seed_as_torch(name, impl):
    """torch draws dropout over (T, B, F) (packed: over (N, F)); seqlab draws the same way on both paths."""
    theirs = getattr(torch.nn, name)(3, 5, num_layers=3, dropout=0.4, bidirectional=True)
    ours = getattr(snn, name)(3, 5, num_layers=3, dropout=0.4, bidirectional=True, impl=impl)
    ours.load_state_dict(theirs.state_dict())
    x, lengths = torch.randn(6, 4, 3), torch.tensor([3, 6, 1, 5])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    for inp in (x, packed):
        torch.manual_seed(5)
        a = theirs(inp)[0]
        torch.manual_seed(5)
        b = ours(inp)[0]
        a, b = (a.data, b.data) if isinstance(a, torch.nn.utils.rnn.PackedSequence) else (a, b)
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    ours.eval()
    no_dropout = getattr(snn, name)(3, 5, num_layers=3, bidirectional=True, impl=impl)
    no_dropout.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x)[0], no_dropout(x)[0], atol=0, rtol=0)  # eval == dropout 0
    ours.train()
    assert not torch.allclose(ours(x)[0], no_dropout(x)[0])  # training: dropout acts


def test_auto_picks_by_cell():
    x = torch.randn(4, 2, 3)
    assert snn.LSTM(3, 4)._pick_impl(x) == "fused"
    assert snn.GRU(3, 4)._pick_impl(x) == "explicit"
    assert snn.RNN(3, 4, impl="fused")._pick_impl(x) == "fused"


def test_errors_are_seqlab_errors():
    with pytest.raises(ConfigError, match="impl"):
        snn.GRU(3, 4, impl="fast")
    with pytest.raises(ConfigError, match="nonlinearity"):
        snn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="proj_size"):
        snn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ConfigError, match="dropout"):
        snn.LSTM(3, 4, dropout=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snn.LSTM(3, 4, dropout=0.5)  # a warning, as torch, not an error
    m = snn.LSTM(3, 4)
    with pytest.raises(DataError, match="input size"):
        m(torch.randn(5, 2, 7))
    with pytest.raises(DataError, match="dims"):
        m(torch.randn(5, 2, 3, 1))
    with pytest.raises(DataError, match="h_0 shape"):
        m(torch.randn(5, 2, 3), (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    with pytest.raises(DataError, match="lengths must lie"):
        m(torch.randn(5, 2, 3), lengths=torch.tensor([6, 2]))
    with pytest.raises(DataError, match="lengths must be"):
        m(torch.randn(5, 2, 3), lengths=torch.tensor([5, 2, 1]))


def test_unbatched_matches_batch_of_one():
    for m in (snn.LSTM(3, 4, num_layers=2, impl="explicit"), snn.GRU(3, 4, batch_first=True)):
        x = torch.randn(5, 3)
        out, h = m(x)
        out1, h1 = m(x.unsqueeze(0 if m.batch_first else 1))
        torch.testing.assert_close(out, out1.squeeze(0 if m.batch_first else 1))
        h, h1 = (h,) if isinstance(h, torch.Tensor) else h, (h1,) if isinstance(h1, torch.Tensor) else h1
        for a, b in zip(h, h1, strict=True):
            assert a.dim() == 2 and b.dim() == 3  # unbatched states have no batch dim
            torch.testing.assert_close(a, b.squeeze(1))


def test_bptt_gradcheck_float64():
    """The hand-written backward equals finite differences, with and without a lengths mask."""
    d = torch.float64
    T, B, I, H, P = 11, 3, 2, 3, 2  # T > CHUNK: several chunks of the backward, one partial

    def r(*s):
        return torch.randn(*s, dtype=d, requires_grad=True)

    mask = (torch.arange(T)[:, None] < torch.tensor([11, 1, 9])).unsqueeze(-1)
    for m in (None, mask):
        for relu in (False, True):
            assert gradcheck(lambda *a: rnn_bptt(*a, mask=m, relu=relu), (r(T, B, I), r(B, H), r(H, I), r(H, H), r(H), r(H)))
        assert gradcheck(lambda *a: gru_bptt(*a, mask=m), (r(T, B, I), r(B, H), r(3 * H, I), r(3 * H, H), r(3 * H), r(3 * H)))
        assert gradcheck(lambda *a: gru_bptt(*a, mask=m), (r(T, B, I), r(B, H), r(3 * H, I), r(3 * H, H)))
        args = (r(T, B, I), r(B, P), r(B, H), r(4 * H, I), r(4 * H, P), r(4 * H), r(4 * H), r(P, H))
        assert gradcheck(lambda *a: lstm_bptt(*a, mask=m), args)
        assert gradcheck(lambda *a: lstm_bptt(*a, mask=m), (r(T, B, I), r(B, H), r(B, H), r(4 * H, I), r(4 * H, H)))


@pytest.mark.parametrize("T,H,layers,bidir,batch_first,bias", [
    (37, 512, 1, False, False, True),   # longer than one input-projection chunk (16 steps at H=512)
    (70, 256, 2, True, True, True),     # 32-step chunks, stacked and bidirectional
    (5, 64, 1, False, True, False),     # shorter than a chunk, no bias, one-thread pointwise branch
])
def test_explicit_lstm_inference_path_matches_torch(T, H, layers, bidir, batch_first, bias):
    """Under no_grad the explicit LSTM takes a separate inference loop (_lstm_inference: chunked
    input projection, reordered gates, nothing saved); it must still equal torch.nn.LSTM."""
    import seqlab.nn._bptt as bptt

    torch.manual_seed(T)
    ref = torch.nn.LSTM(16, H, layers, bias=bias, batch_first=batch_first, bidirectional=bidir).double()
    ours = snn.LSTM(16, H, layers, bias=bias, batch_first=batch_first, bidirectional=bidir,
                    impl="explicit").double()
    ours.load_state_dict(ref.state_dict())
    B = 3
    x = torch.randn((B, T, 16) if batch_first else (T, B, 16), dtype=torch.float64)
    h0 = torch.randn(layers * (2 if bidir else 1), B, H, dtype=torch.float64)
    c0 = torch.randn_like(h0)
    calls = []
    real = bptt._lstm_inference

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the loop drops to 1 thread for small per-step ops only when > 1
    with torch.no_grad():
        bptt._lstm_inference = spy
        try:
            out, (h, c) = ours(x, (h0, c0))
            assert torch.get_num_threads() == 2  # restored after the loop
        finally:
            bptt._lstm_inference = real
            torch.set_num_threads(threads)
        ref_out, (ref_h, ref_c) = ref(x, (h0, c0))
    assert calls, "the no-grad explicit LSTM did not take the inference path"
    torch.testing.assert_close(out, ref_out, atol=1e-10, rtol=0)
    torch.testing.assert_close(h, ref_h, atol=1e-10, rtol=0)
    torch.testing.assert_close(c, ref_c, atol=1e-10, rtol=0)
