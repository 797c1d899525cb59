"""Transformer encoder/decoder layers against nn.TransformerEncoderLayer / nn.TransformerDecoderLayer.

The layers call attention with need_weights=False, i.e. torch's fused F.scaled_dot_product_attention
for the attention core; every randomized case therefore runs twice, once as is (seqlab's layer
code around torch's kernel) and once under grad_oracle.explicit_attention (seqlab's own softmax
attention), so the oracle never only compares torch's kernel with itself.

Shapes: B batch, T target steps, S memory steps, E = d_model, F = dim_feedforward, h = nhead.
Tolerances: float64 1e-10 absolute, float32 1e-5 absolute.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grad_oracle import assert_twin
from seqlab.errors import ConfigError
from seqlab.nn import TransformerDecoderLayer, TransformerEncoderLayer, causal_mask

NEG_INF = float("-inf")


def _layout(x, batched, batch_first):
    """x (B, T, E) in the requested layout: (B, T, E), (T, B, E) or unbatched (T, E) (row 0)."""
    if not batched:
        return x[0]
    return x if batch_first else x.transpose(0, 1).contiguous()


def _masks(kind, T, S, B, lengths, causal, gen):
    """attn mask (T, S) and key padding mask (B, S) in torch's convention (bool True = blocked)."""
    if kind == "none":
        return None, None
    if causal:
        blocked = causal_mask(T, dtype=torch.float64) == NEG_INF
    else:
        blocked = torch.rand(T, S, generator=gen) < 0.3
        blocked[:, 0] = False
    pad = torch.arange(S)[None, :] >= lengths[:, None]
    if kind == "bool":
        return blocked, pad
    as_float = lambda b: torch.zeros(b.shape, dtype=torch.float64).masked_fill(b, NEG_INF)  # noqa: E731
    return as_float(blocked), as_float(pad)


layer_config = dict(
    h=st.sampled_from([1, 2]), d_head=st.sampled_from([2, 4]), ff=st.sampled_from([3, 8]),
    activation=st.sampled_from(["relu", "gelu", "callable"]), norm_first=st.booleans(), batch_first=st.booleans(),
    batched=st.booleans(), bias=st.booleans(), mask=st.sampled_from(["none", "bool", "float"]),
    use_kpm=st.booleans(), causal=st.booleans(), T=st.integers(1, 5), seed=st.integers(0, 2**16),
)


def _activation(name):
    return {"relu": "relu", "gelu": "gelu", "callable": F.silu}[name]


@settings(max_examples=25, deadline=None)
@given(**layer_config)
def test_encoder_layer_matches_torch(h, d_head, ff, activation, norm_first, batch_first, batched, bias, mask,
                                     use_kpm, causal, T, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    E, B = h * d_head, 3 if batched else 1
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=_activation(activation), layer_norm_eps=1e-5,
              batch_first=batch_first, norm_first=norm_first, bias=bias, dtype=torch.float64)
    theirs, ours = nn.TransformerEncoderLayer(E, h, **kw), TransformerEncoderLayer(E, h, **kw)
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    attn_mask, kpm = _masks(mask, T, T, B, lengths, causal, gen)
    kpm = kpm if (use_kpm and kpm is not None and batched) else None
    is_causal = causal and attn_mask is not None
    x = _layout(torch.randn(B, T, E, generator=gen, dtype=torch.float64), batched, batch_first)
    assert_twin(theirs, ours, lambda m, x: m(x, src_mask=attn_mask, src_key_padding_mask=kpm, is_causal=is_causal),
                [x], atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(S=st.integers(1, 6), memory_mask=st.booleans(), **layer_config)
def test_decoder_layer_matches_torch(h, d_head, ff, activation, norm_first, batch_first, batched, bias, mask,
                                     use_kpm, causal, T, seed, S, memory_mask):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    E, B = h * d_head, 3 if batched else 1
    kw = dict(dim_feedforward=ff, dropout=0.0, activation=_activation(activation), layer_norm_eps=1e-5,
              batch_first=batch_first, norm_first=norm_first, bias=bias, dtype=torch.float64)
    theirs, ours = nn.TransformerDecoderLayer(E, h, **kw), TransformerDecoderLayer(E, h, **kw)
    tgt_mask, tgt_kpm = _masks(mask, T, T, B, torch.randint(1, T + 1, (B,), generator=gen), causal, gen)
    mem_mask, mem_kpm = _masks(mask, T, S, B, torch.randint(1, S + 1, (B,), generator=gen), False, gen)
    mem_mask = mem_mask if memory_mask else None
    if not (use_kpm and batched):
        tgt_kpm = mem_kpm = None
    tgt_is_causal = causal and tgt_mask is not None
    tgt = _layout(torch.randn(B, T, E, generator=gen, dtype=torch.float64), batched, batch_first)
    mem = _layout(torch.randn(B, S, E, generator=gen, dtype=torch.float64), batched, batch_first)
    call = lambda m, tgt, mem: m(tgt, mem, tgt_mask=tgt_mask, memory_mask=mem_mask,  # noqa: E731
                                 tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=mem_kpm,
                                 tgt_is_causal=tgt_is_causal)
    assert_twin(theirs, ours, call, [tgt, mem], atol=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
def test_float32_within_1e5(norm_first):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=norm_first, activation="gelu")
    x, mem = torch.randn(3, 12, 32), torch.randn(3, 9, 32)
    M = causal_mask(12)
    assert_twin(nn.TransformerEncoderLayer(32, 4, **kw), TransformerEncoderLayer(32, 4, **kw),
                lambda m, x: m(x, src_mask=M, is_causal=True), [x], atol=1e-5)
    assert_twin(nn.TransformerDecoderLayer(32, 4, **kw), TransformerDecoderLayer(32, 4, **kw),
                lambda m, x, mem: m(x, mem, tgt_mask=M, tgt_is_causal=True), [x, mem], atol=1e-5)


@pytest.mark.parametrize("decoder", [False, True])
def test_dropout_shares_torchs_rng(decoder):
    torch.manual_seed(1)
    cls_t, cls_o = (nn.TransformerDecoderLayer, TransformerDecoderLayer) if decoder else \
        (nn.TransformerEncoderLayer, TransformerEncoderLayer)
    theirs, ours = cls_t(8, 2, 16, dropout=0.3), cls_o(8, 2, 16, dropout=0.3)
    ours.load_state_dict(theirs.state_dict())
    x, mem = torch.randn(5, 2, 8), torch.randn(4, 2, 8)
    args = (x, mem) if decoder else (x,)
    torch.manual_seed(9)
    a = theirs(*args)
    torch.manual_seed(9)
    b = ours(*args)
    torch.testing.assert_close(b, a, atol=1e-6, rtol=0)
    ours.eval()
    assert not torch.allclose(ours(*args), b, atol=1e-3)


def test_state_dict_keys_and_both_directions():
    for cls_t, cls_o in ((nn.TransformerEncoderLayer, TransformerEncoderLayer),
                         (nn.TransformerDecoderLayer, TransformerDecoderLayer)):
        theirs, ours = cls_t(8, 2, 16, bias=False), cls_o(8, 2, 16, bias=False)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.load_state_dict(theirs.state_dict())
        back = cls_t(8, 2, 16, bias=False)
        back.load_state_dict(ours.state_dict())
        assert all(torch.equal(back.state_dict()[k], v) for k, v in theirs.state_dict().items())


def test_bad_activation_raises_config_error():
    with pytest.raises(ConfigError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="tanh")
