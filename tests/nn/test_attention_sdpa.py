"""seqlab.nn.scaled_dot_product_attention against F.scaled_dot_product_attention.

Shapes: B batch, h heads (h_kv for key/value with GQA), T queries, S keys, d_k, d_v head dims.
Tolerances: float64 1e-10 absolute, float32 1e-5 absolute.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.errors import DataError
from seqlab.nn import scaled_dot_product_attention

NEG_INF = float("-inf")


def _mask(kind: str, shape, dtype, gen) -> torch.Tensor | None:
    """Random mask with key 0 always allowed (no fully-blocked row): bool True = may attend (SDPA)."""
    if kind == "none":
        return None
    allowed = torch.rand(shape, generator=gen) > 0.35
    allowed[..., 0] = True
    if kind == "bool":
        return allowed
    M = torch.randn(shape, generator=gen, dtype=dtype)  # a float mask may hold any finite bias too
    return M.masked_fill(~allowed, NEG_INF)


def _grads(fn, q, k, v):
    q, k, v = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = fn(q, k, v)
    out.sin().sum().backward()
    return out.detach(), q.grad, k.grad, v.grad


@settings(max_examples=25, deadline=None)
@given(
    B=st.integers(1, 3), h_kv=st.sampled_from([1, 2]), group=st.sampled_from([1, 2]), T=st.integers(1, 5),
    S=st.integers(1, 6), d_k=st.sampled_from([2, 4]), d_v=st.sampled_from([3, 4]),
    mask=st.sampled_from(["none", "bool", "float"]), mask_heads=st.booleans(), is_causal=st.booleans(),
    scale=st.sampled_from([None, 0.3]), seed=st.integers(0, 2**16),
)
def test_matches_torch_sdpa_outputs_and_grads(B, h_kv, group, T, S, d_k, d_v, mask, mask_heads, is_causal, scale,
                                              seed):
    gen = torch.Generator().manual_seed(seed)
    h = h_kv * group
    if is_causal:
        S = max(S, T)  # top-left causal with S >= T leaves every row a key
    q = torch.randn(B, h, T, d_k, generator=gen, dtype=torch.float64)
    k = torch.randn(B, h_kv, S, d_k, generator=gen, dtype=torch.float64)
    v = torch.randn(B, h_kv, S, d_v, generator=gen, dtype=torch.float64)
    M = _mask(mask, (B, h, T, S) if mask_heads else (T, S), torch.float64, gen)
    gqa = group > 1
    if is_causal and M is not None:  # torch refuses both; seqlab applies both: compare with the merged mask
        top_left = torch.ones(T, S, dtype=torch.bool).tril()
        ref_mask = (M & top_left) if M.dtype == torch.bool else M.masked_fill(~top_left, NEG_INF)
        ref_fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, ref_mask, scale=scale, enable_gqa=gqa)  # noqa
    else:
        ref_fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, M, 0.0, is_causal, scale=scale,  # noqa
                                                                enable_gqa=gqa)
    ref = _grads(ref_fn, q, k, v)
    fast = _grads(lambda q, k, v: scaled_dot_product_attention(q, k, v, M, 0.0, is_causal, scale, gqa), q, k, v)
    explicit = _grads(lambda q, k, v: scaled_dot_product_attention(q, k, v, M, 0.0, is_causal, scale, gqa,
                                                                   return_weights=True)[0], q, k, v)
    for ours in (fast, explicit):
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_weights_are_the_softmax_of_scaled_scores():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 4, 5, dtype=torch.float64), torch.randn(2, 3, 6, 5, dtype=torch.float64)
    v = torch.randn(2, 3, 6, 7, dtype=torch.float64)  # d_v = 7 differs from d_k = 5
    M = torch.zeros(4, 6, dtype=torch.float64)
    M[:, 4:] = NEG_INF
    out, P = scaled_dot_product_attention(q, k, v, M, return_weights=True)
    A = torch.einsum("bhtd,bhsd->bhts", q, k) / math.sqrt(5) + M
    P_ref = A.exp() / A.exp().sum(-1, keepdim=True)
    torch.testing.assert_close(P, P_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(out, torch.einsum("bhts,bhsd->bhtd", P_ref, v), atol=1e-12, rtol=0)
    assert out.shape == (2, 3, 4, 7) and P.shape == (2, 3, 4, 6)
    assert torch.equal(P[..., 4:], torch.zeros(2, 3, 4, 2, dtype=torch.float64))


def test_float32_within_1e5():
    torch.manual_seed(1)
    q, k, v = (torch.randn(4, 8, 33, 16) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, is_causal=True), ref, atol=1e-5, rtol=0)
    out, _ = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_dropout_default_path_shares_torchs_rng():
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    torch.manual_seed(7)
    ref = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    torch.manual_seed(7)
    ours = scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    assert not torch.allclose(ours, scaled_dot_product_attention(q, k, v), atol=1e-3)


def test_dropout_explicit_path_is_inverted_dropout_on_the_weights():
    """Each returned weight is 0 or P / (1 - p); over many draws the mean output is the no-dropout output."""
    torch.manual_seed(3)
    p = 0.25
    q, k, v = (torch.randn(1, 1, 3, 4, dtype=torch.float64) for _ in range(3))
    clean, P = scaled_dot_product_attention(q, k, v, return_weights=True)
    outs, kept = [], []
    for _ in range(4000):
        out, Pd = scaled_dot_product_attention(q, k, v, dropout_p=p, return_weights=True)
        dropped = Pd == 0
        torch.testing.assert_close(Pd[~dropped], (P / (1 - p))[~dropped], atol=1e-12, rtol=0)
        torch.testing.assert_close(out, Pd @ v, atol=1e-12, rtol=0)
        outs.append(out)
        kept.append((~dropped).double().mean())
    assert abs(float(torch.stack(kept).mean()) - (1 - p)) < 0.01
    # standard error of the mean is ~ 0.02 * |v|; 5 sigma
    torch.testing.assert_close(torch.stack(outs).mean(0), clean, atol=0.05, rtol=0)


def test_shape_errors():
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 6)
    with pytest.raises(DataError, match="d_k"):
        scaled_dot_product_attention(q, torch.randn(1, 2, 5, 3), v)
    with pytest.raises(DataError, match="same length"):
        scaled_dot_product_attention(q, k, torch.randn(1, 2, 4, 6))
    with pytest.raises(DataError, match="multiple"):
        scaled_dot_product_attention(torch.randn(1, 3, 3, 4), k, v, enable_gqa=True, return_weights=True)
