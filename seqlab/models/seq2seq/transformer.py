"""Transformer encoder-decoder (registry name seq2seq-transformer, arch="transformer").

Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017; pre-norm layers (Xiong et al.,
2020).

    m = Enc(e_src(x) + p)                          pre-norm encoder, source padding masked
    z_0 = e(BOS) + p_0,  z_{t+1} = e(y_t) + p_{t+1}
    z  <- z + SA(LN_1(z)) (causal),  z <- z + CA(LN_2(z), m),  z <- z + FF(LN_3(z))    n_layer times
    P(y_t | y_<t, x) = softmax(E[:V] LN_f(z_t) + b_o)          output tied to the target table

CA(q, m) is multi-head attention of the decoder's queries over the encoder's keys/values; its
weights are what `cross_attention` returns, (n_layer, n_head, T+1, S) per pair. Teacher forcing
runs all target steps in one pass; decoding steps once per token with a TransformerDecoderState:
the self-attention keys/values of the steps so far and the cross-attention keys/values of the
source (projected on the first step, then reused), each stacked over layers with batch first.
e_src: a plain table of V_s rows (a source has no start symbol); e: seqlab.models.inputs; both
initialised at std 0.02; p: sinusoidal positions.

Shapes: B batch, S source time, T target time, d d_model, h n_head, d_k = d / h, L n_layer,
n target positions read, V target vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import DataError
from seqlab.models.emissions import IGNORE_INDEX
from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding
from seqlab.models.seq2seq.base import Seq2Seq
from seqlab.models.transformer import kv_caches, stack_caches

__all__ = ["Seq2SeqTransformer", "TransformerDecoderState"]


class TransformerDecoderState(NamedTuple):
    """The encoded source and the decoder's KV caches, batch first."""

    m: torch.Tensor  # (B, S, d) encoder output
    pad: torch.Tensor  # (B, S) additive source padding mask (0 or -inf)
    k: torch.Tensor  # (B, L, h, n, d_k) self-attention keys of the n target positions read
    v: torch.Tensor  # (B, L, h, n, d_k)
    ck: torch.Tensor  # (B, L, h, S, d_k) cross-attention keys of m ((B, L, h, 0, d_k) before BOS)
    cv: torch.Tensor  # (B, L, h, S, d_k)


class Seq2SeqTransformer(Seq2Seq):
    """Transformer encoder-decoder; `Seq2Seq(arch="transformer", d_model=64, n_head=4, n_layer=2)`.

    Weights: src_embed (V_s, d), tgt_embed (InputEmbedding, V + 1 rows), encoder / decoder (seqlab.nn
    TransformerEncoder / TransformerDecoder, torch's names), head (OutputHead, tied: bias (V,)).
    """

    arch = "transformer"

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        c = self.config
        d, ff = c.d_model, c.dim_feedforward or 4 * c.d_model
        self.head = OutputHead(d, c.vocab_size, tied=True)  # first, see seqlab.models.heads
        self.drop = nn.Dropout(c.dropout)
        self.src_embed = nn.Embedding(self.src_vocab, d)
        nn.init.normal_(self.src_embed.weight, std=0.02)
        self.tgt_embed = InputEmbedding(c.vocab_size, d, std=0.02)
        self.pos = snn.SinusoidalPositionalEncoding(d, max_len=c.max_len + 1, dropout=c.dropout, batch_first=True)
        kw = dict(dim_feedforward=ff, dropout=c.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = snn.TransformerEncoder(snn.TransformerEncoderLayer(d, c.n_head, **kw), c.n_layer,
                                              norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.decoder = snn.TransformerDecoder(snn.TransformerDecoderLayer(d, c.n_head, **kw), c.n_layer,
                                              norm=nn.LayerNorm(d))

    def _legacy_keys(self) -> dict[str, str]:
        return {"out_bias": "head.bias"}

    def encode(self, src, src_lengths=None) -> dict:
        """{"m": encoder output (B, S, d), "pad": additive padding mask (B, S)}."""
        src, lengths, _ = self._src(src, src_lengths)
        if src.shape[1] > self.config.max_len + 1:
            raise DataError(f"source of {src.shape[1]} tokens exceeds max_len={self.config.max_len}")
        e = self.drop(self.src_embed(src))  # (B, S, d)
        pad = snn.padding_mask(lengths, src.shape[1]).to(e.dtype)  # (B, S) additive
        return {"m": self.encoder(self.pos(e), src_key_padding_mask=pad), "pad": pad}

    def init_state(self, memory: dict) -> TransformerDecoderState:
        c = self.config
        m = memory["m"]
        kv = m.new_zeros(m.shape[0], c.n_layer, c.n_head, 0, c.d_model // c.n_head)  # (B, L, h, 0, d_k)
        return TransformerDecoderState(m, memory["pad"], kv, kv, kv, kv)

    def step(self, y_t, state: TransformerDecoderState):
        B, n = state.m.shape[0], state.k.shape[3]
        if n > self.config.max_len:
            raise DataError(f"target longer than max_len={self.config.max_len}")
        emb = self.tgt_embed.start(B) if y_t is None else self.tgt_embed(y_t[:, None])  # (B, 1, d)
        z = self.pos(self.drop(emb), offset=n)  # (B, 1, d)
        cache = [snn.DecoderLayerCache(s, x) for s, x in zip(kv_caches(state.k, state.v),
                                                               kv_caches(state.ck, state.cv, static=True))]
        z = self.decoder(z, state.m, memory_key_padding_mask=state.pad, tgt_is_causal=True, cache=cache)
        k, v = stack_caches([layer.self_attn for layer in cache])
        ck, cv = stack_caches([layer.cross_attn for layer in cache])
        return self.head(z[:, 0], self.tgt_embed), state._replace(k=k, v=v, ck=ck, cv=cv)

    def conditionals(self, src, tgt=None, src_lengths=None):
        """Teacher forcing in one causal pass: logits (B, T+1, V)."""
        if tgt is None:
            return super().conditionals(src, tgt, src_lengths)  # raises: needs (src, tgt)
        memory = self.encode(src, src_lengths)
        tgt = torch.as_tensor(tgt, device=self.device)
        tgt = torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt)  # padding: any valid id
        if tgt.shape[1] > self.config.max_len:
            raise DataError(f"target of {tgt.shape[1]} tokens exceeds max_len={self.config.max_len}")
        z = self.pos(self.drop(self.tgt_embed.with_start(tgt)))  # (B, T+1, d)
        mask = snn.causal_mask(z.shape[1], device=z.device)
        z = self.decoder(z, memory["m"], tgt_mask=mask, memory_key_padding_mask=memory["pad"], tgt_is_causal=True)
        return self.head(z, self.tgt_embed)  # (B, T+1, V)

    def _cross_attention(self, src, tgt, src_lengths) -> torch.Tensor:
        """Each decoder layer's CA weights on the teacher-forced pass: its inputs are captured as
        the layer saw them and the layer is re-run with need_weights (per head, not averaged)."""
        captured = []

        def grab(module, args, kwargs):
            captured.append((module, args, dict(kwargs)))

        handles = [layer.multihead_attn.register_forward_pre_hook(grab, with_kwargs=True)
                   for layer in self.decoder.layers]
        try:
            self.conditionals(src, tgt, src_lengths)
        finally:
            for h in handles:
                h.remove()
        weights = []
        for module, args, kwargs in captured:
            kwargs.update(need_weights=True, average_attn_weights=False)
            weights.append(module(*args, **kwargs)[1])  # (B, h, T+1, S)
        return torch.stack(weights, 1)  # (B, L, h, T+1, S)
