"""Selective SSM (Mamba's S6 block): chunked scan == sequential scan == step-by-step decoding.

Oracles: (1) the block's chunked-scan forward, its sequential-scan forward and a loop of `step`
against each other: outputs, final states (conv window and h) and the gradients w.r.t. the input,
the initial state and every parameter, to 1e-5 in float32 and 1e-10 in float64 of each tensor's
scale (largest magnitude, at least 1); (2) the scan functions against each other on raw inputs;
(3) the whole block against Gu & Dao (2023) written here element by element: the causal
convolution as a sum over taps, eq. (4)'s Ā = exp(ΔA), eq. (2a)-(2b) per channel and state.
A one-off check outside the repository also matched mamba's `selective_scan_ref` to 4e-15.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.errors import ConfigError, DataError
from seqlab.nn.ssm import SelectiveSSM, SSMState, selective_scan, selective_scan_chunked

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def close(a, b, dtype, msg=""):
    """|a - b| <= TOL · max(1, max |b|), elementwise."""
    tol = TOL[dtype] * max(1.0, b.abs().max().item()) if b.numel() else 0.0
    torch.testing.assert_close(a, b, atol=tol, rtol=0, msg=msg)


def weighted(t):
    """A fixed, non-symmetric scalar of t, so every element gets its own gradient."""
    return (t.sin() * torch.linspace(0.5, 1.5, t.numel(), dtype=t.dtype).view_as(t)).sum()


def run(m, call, x, state):
    """(out, state, grads of weighted(out) + weighted(state) w.r.t. x, the state and every parameter)."""
    x = x.detach().clone().requires_grad_()
    state = SSMState(*(s.detach().clone().requires_grad_() for s in state))
    out, new = call(m, x, state)
    loss = weighted(out) + weighted(new.conv) + weighted(new.h)
    grads = torch.autograd.grad(loss, [x, *state] + list(m.parameters()))
    return out.detach(), SSMState(*(s.detach() for s in new)), grads


def steps(m, x, state):
    outs = []
    for t in range(x.size(1)):
        o, state = m.step(x[:, t], state)
        outs.append(o)
    return torch.stack(outs, dim=1), state


def scrambled(m):
    """Move A_log and D off their structured init so every parameter's gradient is generic."""
    with torch.no_grad():
        m.A_log.add_(torch.randn_like(m.A_log) * 0.3)
        m.D.add_(torch.randn_like(m.D) * 0.3)
    return m


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from([torch.float32, torch.float64]), B=st.integers(1, 3), T=st.integers(1, 10),
       E=st.integers(1, 4), N=st.integers(1, 4), K=st.integers(1, 4), chunk=st.integers(1, 6),
       bias=st.booleans(), seed=st.integers(0, 999))
def test_chunked_sequential_and_step_forms_agree_with_gradients(dtype, B, T, E, N, K, chunk, bias, seed):
    torch.manual_seed(seed)
    m = scrambled(SelectiveSSM(E, d_state=N, d_conv=K, expand=2, bias=bias, chunk_size=chunk, dtype=dtype))
    x = torch.randn(B, T, E, dtype=dtype)
    state = SSMState(torch.randn(B, m.d_inner, K - 1, dtype=dtype), torch.randn(B, m.d_inner, N, dtype=dtype))
    ref = run(m, lambda m_, x_, s: m_(x_, s, scan="chunked"), x, state)
    names = ["x", "state.conv", "state.h"] + [n for n, _ in m.named_parameters()]
    for form, call in (("sequential", lambda m_, x_, s: m_(x_, s, scan="sequential")), ("step", steps)):
        got = run(m, call, x, state)
        close(got[0], ref[0], dtype, f"{form} output")
        close(got[1].conv, ref[1].conv, dtype, f"{form} conv state")
        close(got[1].h, ref[1].h, dtype, f"{form} ssm state")
        for name, a, b in zip(names, got[2], ref[2], strict=True):
            close(a, b, dtype, f"{form} grad {name}")


@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 40), D=st.integers(1, 4), N=st.integers(1, 4),
       chunk=st.integers(1, 16), seed=st.integers(0, 999))
def test_chunked_scan_equals_sequential_scan(B, T, D, N, chunk, seed):
    g_ = torch.Generator().manual_seed(seed)
    kw = {"generator": g_, "dtype": torch.float64}
    u = torch.randn(B, T, D, **kw)
    delta = torch.rand(B, T, D, **kw) * 2  # up to Δ|A| = 10 per step: products underflow, nothing overflows
    A = -torch.rand(D, N, **kw) * 5
    Bm, C, Dv, h0 = torch.randn(B, T, N, **kw), torch.randn(B, T, N, **kw), torch.randn(D, **kw), torch.randn(B, D, N, **kw)
    y1, h1 = selective_scan(u, delta, A, Bm, C, Dv, h0)
    y2, h2 = selective_scan_chunked(u, delta, A, Bm, C, Dv, h0, chunk)
    close(y2, y1, torch.float64)
    close(h2, h1, torch.float64)


def paper_block(m, x):
    """Gu & Dao (2023) Figure 3 / Algorithm 2, element by element, from zero state."""
    Bt, T, _ = x.shape
    Dn, N, K, R = m.d_inner, m.d_state, m.d_conv, m.dt_rank
    xz = x @ m.in_proj.weight.T + (0 if m.in_proj.bias is None else m.in_proj.bias)
    xs, z = xz[..., :Dn], xz[..., Dn:]
    w = m.conv1d.weight[:, 0]                                          # (D, K): tap K-1 is the current step
    conv = torch.zeros(Bt, T, Dn, dtype=x.dtype)
    for t in range(T):
        for j in range(K):
            if t - (K - 1 - j) >= 0:
                conv[:, t] += w[:, j] * xs[:, t - (K - 1 - j)]
    u = F.silu(conv + m.conv1d.bias)
    proj = u @ m.x_proj.weight.T
    dt_raw, Bm, C = proj[..., :R], proj[..., R:R + N], proj[..., R + N:]
    delta = F.softplus(dt_raw @ m.dt_proj.weight.T + m.dt_proj.bias)  # (Bt, T, D)
    A = -torch.exp(m.A_log)
    y = torch.zeros(Bt, T, Dn, dtype=x.dtype)
    for b in range(Bt):
        for d in range(Dn):
            h = [0.0] * N
            for t in range(T):
                for n in range(N):
                    A_bar = math.exp(delta[b, t, d].item() * A[d, n].item())          # eq. (4)
                    h[n] = A_bar * h[n] + delta[b, t, d].item() * Bm[b, t, n].item() * u[b, t, d].item()  # (2a)
                y[b, t, d] = sum(C[b, t, n].item() * h[n] for n in range(N)) + m.D[d].item() * u[b, t, d].item()  # (2b)
    return (y * F.silu(z)) @ m.out_proj.weight.T + (0 if m.out_proj.bias is None else m.out_proj.bias)


@pytest.mark.parametrize("K,bias", [(1, False), (3, True), (4, False)])
def test_block_equals_the_papers_equations_element_by_element(K, bias):
    torch.manual_seed(K)
    m = scrambled(SelectiveSSM(3, d_state=3, d_conv=K, expand=2, dt_rank=2, bias=bias, chunk_size=2,
                               dtype=torch.float64))
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    with torch.no_grad():
        out, _ = m(x)
        want = paper_block(m, x)
    close(out, want, torch.float64)


@pytest.mark.parametrize("split_at", [1, 2, 6])
def test_continuing_from_a_state_equals_one_call(split_at):
    """The conv window carries across calls, also when a call is shorter than the kernel."""
    torch.manual_seed(6)
    m = SelectiveSSM(4, d_state=3, d_conv=4, chunk_size=3)
    x = torch.randn(2, 9, 4)
    out, state = m(x)
    a, s = m(x[:, :split_at])
    b, s = m(x[:, split_at:], s)
    torch.testing.assert_close(torch.cat([a, b], 1), out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(s.h, state.h, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(s.conv, state.conv, atol=0, rtol=0)


@pytest.mark.parametrize("scan", ["chunked", "sequential"])
def test_causal_a_change_at_t_never_changes_earlier_outputs(scan):
    torch.manual_seed(7)
    m = SelectiveSSM(4, d_state=3, chunk_size=3)
    x = torch.randn(2, 9, 4)
    out, _ = m(x, scan=scan)
    for t in (0, 3, 8):
        y = x.clone()
        y[:, t] += 1.0
        out2, _ = m(y, scan=scan)
        assert torch.equal(out2[:, :t], out[:, :t]), t
        assert not torch.allclose(out2[:, t], out[:, t]), t


def test_init_follows_mamba():
    m = SelectiveSSM(32, d_state=8, dt_min=1e-3, dt_max=0.1)
    assert m.d_inner == 64 and m.dt_rank == 2
    assert torch.allclose(-torch.exp(m.A_log), -torch.arange(1.0, 9.0).expand(64, 8))  # S4D-real
    dt = F.softplus(m.dt_proj.bias)
    assert (dt >= 1e-3 * 0.999).all() and (dt <= 0.1 * 1.001).all()
    assert torch.equal(m.D, torch.ones(64))


def test_bad_input_is_a_one_line_error():
    m = SelectiveSSM(4, d_state=3)
    with pytest.raises(DataError, match=r"\(B, T, E\) with E=4"):
        m(torch.randn(2, 3, 5))
    with pytest.raises(DataError, match="SSMState"):
        m(torch.randn(2, 3, 4), SSMState(torch.zeros(2, 8, 2), torch.zeros(2, 8, 3)))
    with pytest.raises(ConfigError, match="scan"):
        m(torch.randn(2, 3, 4), scan="fast")
    with pytest.raises(ConfigError, match="d_state"):
        SelectiveSSM(4, d_state=0)
    with pytest.raises(ConfigError, match="dt_min"):
        SelectiveSSM(4, dt_min=0.5, dt_max=0.1)
