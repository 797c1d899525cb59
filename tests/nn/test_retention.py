"""Multi-scale retention: the parallel, chunkwise and recurrent forms are one function.

Oracles: (1) the three forms of `MultiScaleRetention` against each other: outputs, final state and
the gradients w.r.t. the input, the initial state and every parameter, to 1e-5 in float32 and
1e-10 in float64 of each tensor's scale (its largest magnitude, at least 1: a float32 parameter
gradient summed over B·T terms of size ~10 carries ~3e-5 of rounding in any form); (2) the parallel core against RetNet eq. (5) written as a double sum,
o_n = Σ_{m<=n} γ^(n-m) (q_n · k_m) v_m; (3) a continued call (state carried, positions offset)
equals one call over the whole sequence.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.errors import ConfigError, DataError
from seqlab.nn.retention import (MultiScaleRetention, RetentionState, retention, retention_chunkwise,
                                 retention_recurrent, retnet_gammas)

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def close(a, b, dtype, msg=""):
    """|a - b| <= TOL · max(1, max |b|), elementwise."""
    tol = TOL[dtype] * max(1.0, b.abs().max().item()) if b.numel() else 0.0
    torch.testing.assert_close(a, b, atol=tol, rtol=0, msg=msg)


def weighted(t):
    """A fixed, non-symmetric scalar of t, so every element gets its own gradient."""
    return (t.sin() * torch.linspace(0.5, 1.5, t.numel(), dtype=t.dtype).view_as(t)).sum()


def run(m, call, x, S0, n0):
    """(out, S_T, grads of weighted(out) + weighted(S_T) w.r.t. x, S0 and every parameter)."""
    x = x.detach().clone().requires_grad_()
    S0 = S0.detach().clone().requires_grad_()
    out, state = call(m, x, RetentionState(S0, n0))
    assert torch.equal(state.n, n0 + x.size(1))
    grads = torch.autograd.grad(weighted(out) + weighted(state.S), [x, S0] + list(m.parameters()))
    return out.detach(), state.S.detach(), grads


def steps(m, x, state):
    outs = []
    for t in range(x.size(1)):
        o, state = m.step(x[:, t], state)
        outs.append(o)
    return torch.stack(outs, dim=1), state


FORMS = {
    "parallel": lambda m, x, s: m(x, s, form="parallel"),
    "chunkwise": lambda m, x, s: m(x, s, form="chunkwise"),
    "recurrent": lambda m, x, s: m(x, s, form="recurrent"),
    "step": steps,
}


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from([torch.float32, torch.float64]), B=st.integers(1, 3), T=st.integers(1, 10),
       heads=st.integers(1, 3), d_k=st.sampled_from([4, 6]), value_factor=st.integers(1, 2),
       chunk=st.integers(1, 6), rotary=st.booleans(), bias=st.booleans(), seed=st.integers(0, 999))
def test_parallel_chunkwise_and_recurrent_forms_agree_with_gradients(dtype, B, T, heads, d_k, value_factor,
                                                                     chunk, rotary, bias, seed):
    torch.manual_seed(seed)
    m = MultiScaleRetention(heads * d_k, heads, value_factor=value_factor, bias=bias, rotary=rotary,
                            chunk_size=chunk, dtype=dtype)
    with torch.no_grad():  # GroupNorm's affine starts at (1, 0); move it so its gradient path is tested
        m.group_norm.weight.uniform_(0.5, 1.5)
        m.group_norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(B, T, heads * d_k, dtype=dtype)
    S0 = torch.randn(B, heads, d_k, m.d_v, dtype=dtype) * 0.3
    n0 = torch.randint(0, 50, (B,))  # rows at different positions: each row's own rotation offset
    ref = run(m, FORMS["parallel"], x, S0, n0)
    names = ["x", "S0"] + [n for n, _ in m.named_parameters()]
    for form in ("chunkwise", "recurrent", "step"):
        got = run(m, FORMS[form], x, S0, n0)
        close(got[0], ref[0], dtype, f"{form} output")
        close(got[1], ref[1], dtype, f"{form} state")
        for name, a, b in zip(names, got[2], ref[2], strict=True):
            close(a, b, dtype, f"{form} grad {name}")


@settings(max_examples=20, deadline=None)
@given(B=st.integers(1, 2), h=st.integers(1, 3), T=st.integers(1, 9), chunk=st.integers(1, 5),
       with_state=st.booleans(), seed=st.integers(0, 999))
def test_core_forms_equal_retnet_eq5_as_a_double_sum(B, h, T, chunk, with_state, seed):
    g_ = torch.Generator().manual_seed(seed)
    kw = {"generator": g_, "dtype": torch.float64}
    q, k, v = torch.randn(B, h, T, 3, **kw), torch.randn(B, h, T, 3, **kw), torch.randn(B, h, T, 2, **kw)
    S0 = torch.randn(B, h, 3, 2, **kw) if with_state else torch.zeros(B, h, 3, 2, dtype=torch.float64)
    gamma = retnet_gammas(h) if seed % 2 else torch.rand(h, **kw) * 0.9 + 0.05
    want = torch.zeros(B, h, T, 2, dtype=torch.float64)
    S_T = torch.zeros_like(S0)
    for i in range(h):
        gi = gamma[i].item()
        for n in range(T):  # 0-based n here; the paper's position is n + 1
            want[:, i, n] = gi ** (n + 1) * (q[:, i, n].unsqueeze(1) @ S0[:, i]).squeeze(1)
            for m_ in range(n + 1):
                want[:, i, n] += gi ** (n - m_) * (q[:, i, n] * k[:, i, m_]).sum(-1, keepdim=True) * v[:, i, m_]
        S_T[:, i] = gi ** T * S0[:, i] + sum(gi ** (T - 1 - m_) * k[:, i, m_].unsqueeze(-1) * v[:, i, m_].unsqueeze(-2)
                                             for m_ in range(T))
    for o, S in (retention(q, k, v, gamma, S0), retention_recurrent(q, k, v, gamma, S0),
                 retention_chunkwise(q, k, v, gamma, S0, chunk)):
        torch.testing.assert_close(o, want, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(S, S_T, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("split_at", [1, 3, 7])
def test_continuing_from_a_state_equals_one_call(split_at):
    torch.manual_seed(3)
    m = MultiScaleRetention(8, 2, chunk_size=3)
    x = torch.randn(2, 10, 8)
    out, state = m(x)
    a, s = m(x[:, :split_at])
    b, s = m(x[:, split_at:], s, form="chunkwise")
    torch.testing.assert_close(torch.cat([a, b], 1), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s.S, state.S, atol=1e-5, rtol=1e-5)
    assert s.n.tolist() == [10, 10]


def test_rotation_makes_scores_depend_on_relative_position_only():
    """With no state, shifting every position by the same offset leaves the output unchanged."""
    torch.manual_seed(4)
    m = MultiScaleRetention(8, 2)
    x = torch.randn(2, 6, 8)
    out, _ = m(x)
    shifted = RetentionState(m.initial_state(2).S, torch.tensor([5, 37]))
    out2, _ = m(x, shifted)
    torch.testing.assert_close(out2, out, atol=1e-5, rtol=1e-5)
    plain = MultiScaleRetention(8, 2, rotary=False)
    plain.load_state_dict(m.state_dict())
    assert not torch.allclose(plain(x)[0], out, atol=1e-3)  # the rotation is really applied


@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_causal_a_change_at_t_never_changes_earlier_outputs(form):
    torch.manual_seed(5)
    m = MultiScaleRetention(8, 2, chunk_size=3)
    x = torch.randn(2, 9, 8)
    out, _ = m(x, form=form)
    for t in (0, 3, 8):
        y = x.clone()
        y[:, t] += 1.0
        out2, _ = m(y, form=form)
        torch.testing.assert_close(out2[:, :t], out[:, :t], atol=1e-6, rtol=0)
        assert not torch.allclose(out2[:, t], out[:, t], atol=1e-4)


def test_gammas_are_retnets():
    assert retnet_gammas(4).tolist() == [1 - 2 ** -5, 1 - 2 ** -6, 1 - 2 ** -7, 1 - 2 ** -8]
    m = MultiScaleRetention(16, 4, dtype=torch.float64)
    assert m.gamma.tolist() == retnet_gammas(4).tolist() and "gamma" not in m.state_dict()


def test_bad_input_is_a_one_line_error():
    m = MultiScaleRetention(8, 2)
    with pytest.raises(DataError, match=r"\(B, T, E\) with E=8"):
        m(torch.randn(2, 3, 6))
    with pytest.raises(DataError, match="RetentionState"):
        m(torch.randn(2, 3, 8), RetentionState(torch.zeros(2, 2, 4, 4), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ConfigError, match="form"):
        m(torch.randn(2, 3, 8), form="fast")
    with pytest.raises(ConfigError, match="divisible"):
        MultiScaleRetention(9, 2)
    with pytest.raises(ConfigError, match="even head size"):
        MultiScaleRetention(6, 2)
