"""minGRU / minLSTM: the log-space parallel scan equals the recurrence and the paper's equations.

Oracles: (1) `forward` (Heinsen's log-space scan) against a loop of `step` (the plain recurrence):
outputs, final state and the gradients w.r.t. the input, the initial state and every parameter;
(2) against a loop written here from Feng et al. (2024) §3.1-3.2 in ordinary (not log) space;
(3) `log_space_scan` against h_t = a_t h_{t-1} + b_t for any sign of h_0. Tolerances: 1e-5 in
float32, 1e-10 in float64, of each tensor's scale (its largest magnitude, at least 1).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.errors import ConfigError, DataError
from seqlab.nn.minrnn import MinGRU, MinLSTM, MinRNNState, g, log_g, log_space_scan, logcumsumexp

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
CLASSES = {"mingru": MinGRU, "minlstm": MinLSTM}


def weighted(t):
    """A fixed, non-symmetric scalar of t, so every element gets its own gradient."""
    return (t.sin() * torch.linspace(0.5, 1.5, t.numel(), dtype=t.dtype).view_as(t)).sum()


def run(module, call, x, h0):
    """(out, h_T, grads w.r.t. x, h0 and every parameter) of weighted(out) + weighted(h_T)."""
    x = x.detach().clone().requires_grad_()
    h0 = h0.detach().clone().requires_grad_()
    out, state = call(module, x, MinRNNState(h0))
    params = list(module.parameters())
    grads = torch.autograd.grad(weighted(out) + weighted(state.h), [x, h0] + params)
    return out.detach(), state.h.detach(), grads


def parallel(m, x, state):
    return m(x, state)


def recurrent(m, x, state):
    outs = []
    for t in range(x.size(1)):
        h, state = m.step(x[:, t], state)
        outs.append(h)
    return torch.stack(outs, dim=1), state


def close(a, b, dtype, msg=""):
    """|a - b| <= TOL · max(1, max |b|), elementwise."""
    tol = TOL[dtype] * max(1.0, b.abs().max().item()) if b.numel() else 0.0
    torch.testing.assert_close(a, b, atol=tol, rtol=0, msg=msg)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(list(CLASSES)), dtype=st.sampled_from([torch.float32, torch.float64]),
       B=st.integers(1, 3), T=st.integers(1, 12), I=st.integers(1, 5), H=st.integers(1, 6),
       chunk=st.integers(1, 8), bias=st.booleans(), seed=st.integers(0, 999))
def test_parallel_scan_equals_recurrence_with_gradients(kind, dtype, B, T, I, H, chunk, bias, seed):
    torch.manual_seed(seed)
    m = CLASSES[kind](I, H, bias=bias, chunk_size=chunk, dtype=dtype)
    x = torch.randn(B, T, I, dtype=dtype) * 2
    h0 = torch.randn(B, H, dtype=dtype)  # any sign: h_0 enters the scan linearly, not through a log
    out_p, h_p, g_p = run(m, parallel, x, h0)
    out_r, h_r, g_r = run(m, recurrent, x, h0)
    close(out_p, out_r, dtype, "outputs")
    close(h_p, h_r, dtype, "final state")
    names = ["x", "h0"] + [n for n, _ in m.named_parameters()]
    for name, a, b in zip(names, g_p, g_r, strict=True):
        close(a, b, dtype, name)


def paper_loop(m, x, h):
    """Feng et al. §3.1 / §3.2 as written, one step at a time, in ordinary space."""
    W, b = m.weight_ih, m.bias_ih
    outs = []
    for t in range(x.size(1)):
        pre = x[:, t] @ W.T + b
        if isinstance(m, MinGRU):
            k_z, k_h = pre.chunk(2, dim=-1)
            z = 1 / (1 + torch.exp(-k_z))
            h_tilde = torch.where(k_h >= 0, k_h + 0.5, 1 / (1 + torch.exp(-k_h)))
            h = (1 - z) * h + z * h_tilde
        else:
            k_f, k_i, k_h = pre.chunk(3, dim=-1)
            f, i = 1 / (1 + torch.exp(-k_f)), 1 / (1 + torch.exp(-k_i))
            h_tilde = torch.where(k_h >= 0, k_h + 0.5, 1 / (1 + torch.exp(-k_h)))
            h = f / (f + i) * h + i / (f + i) * h_tilde
        outs.append(h)
    return torch.stack(outs, dim=1)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(list(CLASSES)), B=st.integers(1, 3), T=st.integers(1, 40),
       chunk=st.integers(1, 64), seed=st.integers(0, 999))
def test_log_space_scan_equals_the_papers_equations(kind, B, T, chunk, seed):
    torch.manual_seed(seed)
    m = CLASSES[kind](4, 5, chunk_size=chunk, dtype=torch.float64)
    x = torch.randn(B, T, 4, dtype=torch.float64) * 3
    h0 = torch.randn(B, 5, dtype=torch.float64)
    with torch.no_grad():
        out, state = m(x, MinRNNState(h0))
        want = paper_loop(m, x, h0)
    close(out, want, torch.float64)
    close(state.h, want[:, -1], torch.float64)


@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 30), chunk=st.integers(1, 32), seed=st.integers(0, 999))
def test_log_space_scan_solves_the_linear_recurrence(T, chunk, seed):
    g_ = torch.Generator().manual_seed(seed)
    a = torch.rand(2, T, 3, generator=g_, dtype=torch.float64) * 0.98 + 0.01   # (0, 1)
    b = torch.rand(2, T, 3, generator=g_, dtype=torch.float64) * 4 + 1e-3       # > 0
    h0 = torch.randn(2, 3, generator=g_, dtype=torch.float64) * 5               # any sign
    h, want = h0, []
    for t in range(T):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    close(log_space_scan(a.log(), b.log(), h0, chunk), torch.stack(want, 1), torch.float64)


@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 70), seed=st.integers(0, 999))
def test_doubling_logcumsumexp_equals_torchs_with_gradients(T, seed):
    g_ = torch.Generator().manual_seed(seed)
    z = (torch.randn(2, T, 3, generator=g_, dtype=torch.float64) * 20).requires_grad_()
    ours, theirs = logcumsumexp(z), torch.logcumsumexp(z, dim=1)
    close(ours, theirs, torch.float64)
    w = torch.randn(2, T, 3, generator=g_, dtype=torch.float64)
    close(torch.autograd.grad((ours * w).sum(), z)[0], torch.autograd.grad((theirs * w).sum(), z)[0], torch.float64)


def test_default_state_is_zero_and_state_threads_through_calls():
    torch.manual_seed(0)
    for cls in CLASSES.values():
        m = cls(3, 4)
        x = torch.randn(2, 9, 3)
        out, state = m(x)
        out0, _ = m(x, MinRNNState(torch.zeros(2, 4)))
        torch.testing.assert_close(out, out0, atol=0, rtol=0)
        a, s = m(x[:, :4])
        b, s = m(x[:, 4:], s)
        torch.testing.assert_close(torch.cat([a, b], 1), out, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s.h, state.h, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cls", list(CLASSES.values()))
def test_causal_a_change_at_t_never_changes_earlier_outputs(cls):
    torch.manual_seed(1)
    m = cls(3, 4, chunk_size=4)
    x = torch.randn(2, 12, 3)
    out, _ = m(x)
    for t in (0, 3, 4, 11):
        y = x.clone()
        y[:, t] += 1.0
        out2, _ = m(y)
        assert torch.equal(out2[:, :t], out[:, :t]), t
        assert not torch.allclose(out2[:, t], out[:, t]), t


def test_float32_stays_close_to_float64_on_long_sequences():
    """The chunked restart bounds float32's cancellation error: T = 2048 stays within 1e-4 relative."""
    torch.manual_seed(2)
    for cls in CLASSES.values():
        m64 = cls(4, 8, dtype=torch.float64)
        m32 = cls(4, 8)
        m32.load_state_dict(m64.state_dict())
        x = torch.randn(2, 2048, 4, dtype=torch.float64)
        with torch.no_grad():
            want, _ = m64(x)
            got, _ = m32(x.float())
        rel = ((got.double() - want).abs() / want.abs().clamp(min=1e-3)).max().item()
        assert rel < 1e-4, (cls.__name__, rel)


def test_g_is_positive_and_log_g_is_its_log_with_finite_gradients():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64, requires_grad=True)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), g(x).log(), atol=0, rtol=1e-8)  # g(-30) ~ 1e-13: log(g) loses digits
    (grad,) = torch.autograd.grad(log_g(x).sum(), x)
    assert torch.isfinite(grad).all()


def test_bad_input_is_a_one_line_error():
    m = MinGRU(3, 4)
    with pytest.raises(DataError, match=r"\(B, T, I\) with I=3"):
        m(torch.randn(2, 5, 4))
    with pytest.raises(DataError, match="MinRNNState"):
        m(torch.randn(2, 5, 3), MinRNNState(torch.zeros(3, 4)))
    with pytest.raises(DataError, match=r"\(B, I\)"):
        m.step(torch.randn(2, 5, 3))
    with pytest.raises(ConfigError, match="hidden_size"):
        MinLSTM(3, 0)
