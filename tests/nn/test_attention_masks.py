"""The mask convention: seqlab's masks mean the same to every seqlab and torch attention API.

Shapes: B batch, h heads, T queries, S keys, E embed dim, d head dim.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import ConfigError, DataError
from seqlab.nn import MultiHeadAttention, Transformer, causal_mask, padding_mask, scaled_dot_product_attention

NEG_INF = float("-inf")


def test_causal_mask_values_and_torch_equivalents():
    M = causal_mask(4)
    expected = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.bool)
    assert M.dtype == torch.float32 and M.shape == (4, 4)
    assert torch.equal(M == NEG_INF, expected)
    assert torch.equal(M[~expected], torch.zeros(10))
    assert torch.equal(M, nn.Transformer.generate_square_subsequent_mask(4))
    assert torch.equal(M, Transformer.generate_square_subsequent_mask(4))


def test_causal_mask_rectangular_aligns_last_query_with_last_key():
    M = causal_mask(2, 5, dtype=torch.float64)  # queries are steps 3 and 4 of 5
    assert M.dtype == torch.float64
    assert torch.equal(M == NEG_INF, torch.tensor([[0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=torch.bool))


def test_padding_mask_values_and_errors():
    M = padding_mask(torch.tensor([3, 1]), max_len=4)
    assert M.shape == (2, 4)
    assert torch.equal(M == NEG_INF, torch.tensor([[0, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.bool))
    assert padding_mask(torch.tensor([2, 3])).shape == (2, 3)
    with pytest.raises(DataError, match="max_len"):
        padding_mask(torch.tensor([5]), max_len=3)
    with pytest.raises(DataError, match="1-D integer"):
        padding_mask(torch.tensor([[1, 2]]))
    with pytest.raises(DataError, match=">= 0"):
        padding_mask(torch.tensor([-1, 2]))
    with pytest.raises(ConfigError):
        causal_mask(-1)


def _mha_pair(E=8, h=2):
    theirs = nn.MultiheadAttention(E, h, batch_first=True, dtype=torch.float64)
    ours = MultiHeadAttention(E, h, batch_first=True, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def test_one_causal_mask_means_causal_to_every_api():
    """causal_mask(T) gives the same causal attention in nn.MHA, F.sdpa and seqlab; step t ignores t+1.."""
    torch.manual_seed(1)
    B, T, E, h = 2, 5, 8, 2
    theirs, ours = _mha_pair(E, h)
    x = torch.randn(B, T, E, dtype=torch.float64)
    M = causal_mask(T, dtype=torch.float64)
    out_t = theirs(x, x, x, attn_mask=M)[0]
    out_o = ours(x, x, x, attn_mask=M)[0]
    torch.testing.assert_close(out_o, out_t, atol=1e-12, rtol=0)
    # causality: changing the last step leaves every earlier output unchanged
    x2 = x.clone()
    x2[:, -1] += 1.0
    torch.testing.assert_close(ours(x2, x2, x2, attn_mask=M)[0][:, :-1], out_o[:, :-1], atol=1e-12, rtol=0)
    # the same mask in F.sdpa and seqlab's function equals is_causal=True
    q, k, v = (torch.randn(B, h, T, 4, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=M), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=M), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=M, return_weights=True)[0], ref,
                               atol=1e-12, rtol=0)


def test_bool_trap_keeps_each_apis_torch_meaning():
    """tril(ones).bool(): causal for SDPA (True = attend), anti-causal for nn.MHA (True = blocked)."""
    torch.manual_seed(2)
    T, E = 4, 8
    theirs, ours = _mha_pair(E, 2)
    x = torch.randn(2, T, E, dtype=torch.float64)
    tril = torch.tril(torch.ones(T, T, dtype=torch.bool))
    # nn.MultiheadAttention and the seqlab twin: True = blocked, so ~tril is the causal mask
    torch.testing.assert_close(ours(x, x, x, attn_mask=~tril)[0], theirs(x, x, x, attn_mask=causal_mask(T).double())[0],
                               atol=1e-12, rtol=0)
    # the last query has no key left under tril-as-blocked: torch gives NaN there, seqlab attends nothing
    theirs_anti = theirs(x, x, x, attn_mask=tril)[0]
    assert torch.isnan(theirs_anti[:, -1]).all()
    torch.testing.assert_close(ours(x, x, x, attn_mask=tril)[0][:, :-1], theirs_anti[:, :-1], atol=1e-12, rtol=0)
    w = ours(x, x, x, attn_mask=tril)[1]  # anti-causal: query t attends only to keys t+1..T-1
    assert torch.equal(w.tril(), torch.zeros_like(w))
    torch.testing.assert_close(w[:, :-1].sum(-1), torch.ones(2, T - 1, dtype=torch.float64), atol=1e-12, rtol=0)
    # SDPA and seqlab's function: True = may attend, so tril is causal
    q, k, v = (torch.randn(2, 2, T, 4, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=tril), ref, atol=1e-12, rtol=0)
    out, P = scaled_dot_product_attention(q, k, v, attn_mask=tril, return_weights=True)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    assert torch.equal(P.triu(1), torch.zeros_like(P))


def test_padding_mask_means_the_same_as_bool_key_padding_mask():
    torch.manual_seed(3)
    theirs, ours = _mha_pair()
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 4])
    M = padding_mask(lengths, dtype=torch.float64)
    as_bool = M == NEG_INF  # True = padding, torch's key_padding_mask meaning
    ref_out, ref_w = theirs(x, x, x, key_padding_mask=as_bool)
    for mha in (theirs, ours):
        out, w = mha(x, x, x, key_padding_mask=M)
        torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=0)
        torch.testing.assert_close(w, ref_w, atol=1e-12, rtol=0)
    # as attn_mask for the SDPA-style APIs: (B, 1, 1, S)
    q, k, v = (torch.randn(3, 2, 5, 4, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=~as_bool[:, None, None, :])
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=M[:, None, None, :]), ref,
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=M[:, None, None, :]), ref,
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["float", "bool"])
@pytest.mark.parametrize("return_weights", [False, True])
def test_fully_masked_rows_give_zeros_and_finite_grads(kind, return_weights):
    torch.manual_seed(4)
    q, k, v = (torch.randn(2, 2, 4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    allowed = torch.rand(4, 4) > 0.3
    allowed[:, 0] = True
    allowed[2] = False  # query 2 may attend nothing
    mask = allowed if kind == "bool" else torch.zeros(4, 4, dtype=torch.float64).masked_fill(~allowed, NEG_INF)
    res = scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=return_weights)
    out = res[0] if return_weights else res
    assert torch.equal(out[:, :, 2], torch.zeros_like(out[:, :, 2]))
    if return_weights:
        assert torch.equal(res[1][:, :, 2], torch.zeros_like(res[1][:, :, 2]))
    # the other rows equal torch's
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out[:, :, [0, 1, 3]], ref[:, :, [0, 1, 3]], atol=1e-12, rtol=0)
    out.sin().sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert torch.equal(q.grad[:, :, 2], torch.zeros_like(q.grad[:, :, 2]))


def test_fully_masked_guard_for_non_cpu_kernels(monkeypatch):
    """The guard used on devices whose kernels may return NaN: rows neutralised, then zeroed."""
    torch.manual_seed(5)
    q, k, v = (torch.randn(1, 2, 3, 4, dtype=torch.float64) for _ in range(3))
    mask = torch.zeros(3, 3, dtype=torch.float64)
    mask[1] = NEG_INF

    def nan_rows_sdpa(q, k, v, attn_mask=None, *args, **kwargs):  # a kernel that gives NaN on blocked rows
        return torch.softmax(q @ k.transpose(-2, -1) / 2.0 + attn_mask, -1) @ v

    monkeypatch.setattr("seqlab.nn.attention._kernel_zeroes_blocked_rows", lambda device: False)
    monkeypatch.setattr("seqlab.nn.attention.F.scaled_dot_product_attention", nan_rows_sdpa)
    out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    monkeypatch.undo()
    assert torch.isnan(nan_rows_sdpa(q, k, v, mask)).any()  # the fake kernel does give NaN
    assert torch.isfinite(out).all()
    assert torch.equal(out[:, :, 1], torch.zeros_like(out[:, :, 1]))
    ref = scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=True)[0]
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)


def test_mha_fully_masked_query_gives_bias_only_not_nan():
    torch.manual_seed(6)
    ours = MultiHeadAttention(8, 2, batch_first=True)
    x = torch.randn(2, 3, 8)
    M = torch.zeros(3, 3)
    M[1] = NEG_INF
    out, w = ours(x, x, x, attn_mask=M)
    torch.testing.assert_close(out[:, 1], ours.out_proj.bias.expand(2, -1), atol=1e-7, rtol=0)
    assert torch.equal(w[:, 1], torch.zeros(2, 3))
    out2, _ = ours(x, x, x, attn_mask=M, need_weights=False)
    torch.testing.assert_close(out2, out, atol=1e-5, rtol=0)


def test_bad_mask_shapes_and_types_raise_data_error():
    ours = MultiHeadAttention(8, 2)
    x = torch.randn(3, 2, 8)
    with pytest.raises(DataError, match="attn_mask has shape"):
        ours(x, x, x, attn_mask=torch.zeros(2, 3))
    with pytest.raises(DataError, match="key_padding_mask has shape"):
        ours(x, x, x, key_padding_mask=torch.zeros(3, 2))
    with pytest.raises(DataError, match="bool or float"):
        ours(x, x, x, attn_mask=torch.zeros(3, 3, dtype=torch.long))
