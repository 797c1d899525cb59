"""TransformerEncoder / TransformerDecoder / Transformer against torch.nn, KV caches, padding invariance.

The oracle comparisons (grad_oracle.assert_twin) run each case with torch's fused attention core
inside seqlab's layers and again with seqlab's own attention (the core is otherwise torch's kernel).

Shapes: B batch, T target steps, S source steps, E = d_model, h = nhead.
Tolerances: float64 1e-10 absolute, float32 1e-5 absolute.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grad_oracle import assert_twin
from seqlab.errors import ConfigError, DataError
from seqlab.nn import (
    SinusoidalPositionalEncoding,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    causal_mask,
    padding_mask,
)

F64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


@settings(max_examples=12, deadline=None)
@given(norm_first=st.booleans(), batch_first=st.booleans(), activation=st.sampled_from(["relu", "gelu"]),
       bool_masks=st.booleans(), T=st.integers(1, 5), S=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_full_transformer_matches_torch(norm_first, batch_first, activation, bool_masks, T, S, seed):
    torch.manual_seed(seed)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=12, dropout=0.0,
              activation=activation, batch_first=batch_first, norm_first=norm_first, dtype=F64)
    theirs, ours = nn.Transformer(**kw), Transformer(**kw)
    B = 3
    src, tgt = torch.randn(B, S, 8, dtype=F64), torch.randn(B, T, 8, dtype=F64)
    if not batch_first:
        src, tgt = src.transpose(0, 1), tgt.transpose(0, 1)
    src_kpm = padding_mask(torch.randint(1, S + 1, (B,)), S, dtype=F64)
    tgt_kpm = padding_mask(torch.randint(1, T + 1, (B,)), T, dtype=F64)
    tgt_mask = Transformer.generate_square_subsequent_mask(T, dtype=F64)
    if bool_masks:
        src_kpm, tgt_kpm, tgt_mask = src_kpm.isinf(), tgt_kpm.isinf(), tgt_mask.isinf()
    call = lambda m, src, tgt: m(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_kpm,  # noqa: E731
                                 tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=src_kpm)
    assert_twin(theirs, ours, call, [src, tgt], atol=1e-10)


def test_stacks_float32_unbatched_and_custom_parts():
    torch.manual_seed(1)
    layer_t = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0)
    layer_o = TransformerEncoderLayer(16, 4, 32, dropout=0.0)
    enc_t, enc_o = nn.TransformerEncoder(layer_t, 3, nn.LayerNorm(16)), TransformerEncoder(layer_o, 3, nn.LayerNorm(16))
    x = torch.randn(7, 16)  # unbatched (T, E)
    assert_twin(enc_t, enc_o, lambda m, x: m(x, mask=causal_mask(7)), [x], atol=1e-5)  # is_causal detected
    dec_t = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0), 2)
    dec_o = TransformerDecoder(TransformerDecoderLayer(16, 4, 32, dropout=0.0), 2)
    tgt, mem = torch.randn(5, 2, 16), torch.randn(6, 2, 16)
    assert_twin(dec_t, dec_o, lambda m, t, mem: m(t, mem, tgt_mask=causal_mask(5)), [tgt, mem], atol=1e-5)
    # custom encoder/decoder are used as given
    model = Transformer(16, 4, custom_encoder=enc_o, custom_decoder=dec_o, dropout=0.0)
    assert model.encoder is enc_o and model.decoder is dec_o


def _gpt(batch_first=True, norm_first=True):
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
                                    activation="gelu", dtype=F64)
    return TransformerEncoder(layer, 2, nn.LayerNorm(8, dtype=F64))


@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_as_gpt_cached_equals_full(batch_first):
    torch.manual_seed(2)
    gpt = _gpt(batch_first)
    pe = SinusoidalPositionalEncoding(8, max_len=32, batch_first=True, dtype=F64)
    x = torch.randn(3, 7, 8, dtype=F64)
    to = (lambda t: t) if batch_first else (lambda t: t.transpose(0, 1))
    full = to(gpt(to(pe(x)), is_causal=True))
    cache, pieces = gpt.new_cache(), []
    for n in (3, 1, 2, 1):
        t0 = len(cache[0])
        pieces.append(to(gpt(to(pe(x[:, t0:t0 + n], offset=t0)), is_causal=True, cache=cache)))
    assert len(cache[0]) == 7
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-10, rtol=0)


def test_decoder_cached_equals_full_and_reorder():
    torch.manual_seed(3)
    model = Transformer(8, 2, 2, 2, 16, dropout=0.0, batch_first=True, dtype=F64)
    src, tgt = torch.randn(3, 6, 8, dtype=F64), torch.randn(3, 5, 8, dtype=F64)
    src_kpm = padding_mask(torch.tensor([6, 4, 2]), dtype=F64)
    full = model(src, tgt, tgt_mask=causal_mask(5, dtype=F64), src_key_padding_mask=src_kpm,
                 memory_key_padding_mask=src_kpm)
    memory = model.encoder(src, src_key_padding_mask=src_kpm)
    cache = model.decoder.new_cache()
    steps = []
    for t in range(5):
        steps.append(model.decoder(tgt[:, t:t + 1], memory, memory_key_padding_mask=src_kpm, tgt_is_causal=True,
                                   cache=cache))
        if t == 2:  # beam-search style reordering mid-way: keep rows (2, 0, 1)
            order = torch.tensor([2, 0, 1])
            for c in cache:
                c.reorder(order)
            tgt, memory, src_kpm, full = tgt[order], memory[order], src_kpm[order], full[order]
            steps = [s[order] for s in steps]
    assert len(cache[0]) == 5 and len(cache[0].cross_attn) == 6
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-10, rtol=0)
    for c in cache:
        c.reset()
    assert len(cache[0]) == 0


@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=2, max_size=3), causal=st.booleans(), seed=st.integers(0, 999))
def test_padding_never_changes_a_sequences_outputs(lengths, causal, seed):
    """Each sequence alone (no padding) equals its valid rows in a padded batch with junk padding."""
    torch.manual_seed(seed)
    enc = _gpt(batch_first=True, norm_first=False)
    T = max(lengths)
    x = torch.randn(len(lengths), T, 8, dtype=F64) * 3  # junk beyond each length
    kpm = padding_mask(torch.tensor(lengths), dtype=F64)
    out = enc(x, src_key_padding_mask=kpm, is_causal=causal)
    for b, n in enumerate(lengths):
        alone = enc(x[b:b + 1, :n], is_causal=causal)
        torch.testing.assert_close(out[b:b + 1, :n], alone, atol=1e-10, rtol=0)


def test_errors():
    model = Transformer(8, 2, 1, 1, 16, batch_first=True)
    with pytest.raises(DataError, match="batch size"):
        model(torch.randn(2, 3, 8), torch.randn(3, 3, 8))
    with pytest.raises(DataError, match="d_model"):
        model(torch.randn(2, 3, 8), torch.randn(2, 3, 6))
    with pytest.raises(ConfigError, match="num_layers"):
        TransformerEncoder(TransformerEncoderLayer(8, 2), 0)
