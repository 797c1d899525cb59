"""RNN encoder-decoder with additive attention (registry name seq2seq-rnn, arch="rnn").

Paper: Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to Align and
Translate", ICLR 2015.

A bidirectional RNN/LSTM/GRU encoder gives annotations m_s = [→h_s; ←h_s] (2H); the decoder state
s_t (top layer of a `num_layers` stack) attends with additive attention

    e_{t,s} = v_aᵀ tanh(W_a s_{t-1} + U_a m_s),   α_t = softmax_s(e_t)   (padding masked),
    c_t = Σ_s α_{t,s} m_s,   s_t = g(s_{t-1}, [e(y_{t-1}); c_t]),
    P(y_t | y_<t, x) = softmax(W_o [s_t; c_t; e(y_{t-1})] + b_o),

with e(y_{-1}) = e(BOS) (seqlab.models.inputs) and s_0 = tanh(W_init mean_s m_s) in every layer
(an LSTM's cell starts at 0). α_t is what `cross_attention` returns (one layer, one head)
and `alignments` for a batch.

Shapes: B batch, S source time, E embed_dim, H hidden_size (= the attention size), L num_layers,
V target vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seqlab.models.emissions import IGNORE_INDEX
from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding
from seqlab.models.rnn import RNNState, recurrent_layer
from seqlab.models.seq2seq.base import Seq2Seq

__all__ = ["Seq2SeqRNN", "AttentionState"]


class AttentionState(NamedTuple):
    """Decoder state of the attention RNN: the encoded source, s_{t-1} and the last α."""

    m: torch.Tensor  # (B, S, 2H) annotations
    keys: torch.Tensor  # (B, S, H) U_a m_s, computed once per source
    valid: torch.Tensor  # (B, S) bool, False on source padding
    s: RNNState  # s_{t-1}: h (B, L, H), c (B, L, H) for an LSTM
    alpha: torch.Tensor  # (B, S) α of the last step (zeros before BOS)


class Seq2SeqRNN(Seq2Seq):
    """Bahdanau encoder-decoder; `Seq2SeqRNN(vocab_size=V, cell="gru")` or `Seq2Seq(arch="rnn")`.

    Weights: src_embed (V_s, E), tgt_embed (InputEmbedding, V + 1 rows), encoder (bidirectional
    seqlab.nn RNN), init_proj W_init (H, 2H), W_a (H, H), U_a (H, 2H), v_a (1, H), decoder (E + 2H
    -> H), head W_o (V, H + 2H + E) (OutputHead, untied).
    """

    arch = "rnn"

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        c = self.config
        E, H = c.embed_dim, c.hidden_size
        self.drop = nn.Dropout(c.dropout)
        self.src_embed = nn.Embedding(self.src_vocab, E)
        self.tgt_embed = InputEmbedding(c.vocab_size, E)  # row V is BOS
        self.encoder = recurrent_layer(c.cell, E, H, c.num_layers, c.dropout, bidirectional=True)
        self.init_proj = nn.Linear(2 * H, H)  # W_init
        self.W_a = nn.Linear(H, H, bias=False)
        self.U_a = nn.Linear(2 * H, H)
        self.v_a = nn.Linear(H, 1, bias=False)
        self.decoder = recurrent_layer(c.cell, E + 2 * H, H, c.num_layers, c.dropout)
        self.head = OutputHead(H + 2 * H + E, c.vocab_size)  # W_o

    def _legacy_keys(self) -> dict[str, str]:
        return {"out.weight": "head.weight", "out.bias": "head.bias"}

    def encode(self, src, src_lengths=None) -> dict:
        """{"m": annotations (B, S, 2H), "keys": U_a m (B, S, H), "valid": (B, S), "s0": (B, H)}."""
        src, lengths, valid = self._src(src, src_lengths)
        e = self.drop(self.src_embed(src))  # (B, S, E)
        m, _ = self.encoder(e, lengths=lengths)  # (B, S, 2H), zero past each length
        m = self.drop(m)
        mean = m.sum(1) / lengths[:, None]  # (B, 2H)
        return {"m": m, "keys": self.U_a(m), "valid": valid, "s0": torch.tanh(self.init_proj(mean))}

    def init_state(self, memory: dict) -> AttentionState:
        c = self.config
        s0 = memory["s0"].unsqueeze(1).repeat(1, c.num_layers, 1)  # (B, L, H)
        s = RNNState(s0, torch.zeros_like(s0) if c.cell == "lstm" else None)
        return AttentionState(memory["m"], memory["keys"], memory["valid"], s,
                              torch.zeros_like(memory["m"][..., 0]))

    def _attend(self, s_prev: torch.Tensor, state: AttentionState):
        """Additive attention: s_prev (B, H) -> (c_t (B, 2H), α_t (B, S))."""
        # e_{t,s} = v_aᵀ tanh(W_a s_{t-1} + U_a m_s)
        e = self.v_a(torch.tanh(self.W_a(s_prev)[:, None] + state.keys))[..., 0]  # (B, S)
        e = e.masked_fill(~state.valid, float("-inf"))
        alpha = e.softmax(-1)  # (B, S)
        return torch.bmm(alpha[:, None], state.m)[:, 0], alpha  # c_t = Σ_s α_{t,s} m_s

    def step(self, y_t, state: AttentionState):
        B = state.m.shape[0]
        emb = self.drop(self.tgt_embed.start(B)[:, 0] if y_t is None else self.tgt_embed(y_t))  # (B, E)
        ctx, alpha = self._attend(state.s.h[:, -1], state)  # s_{t-1}: top layer (B, H)
        h, s = self.decoder(torch.cat([emb, ctx], -1)[:, None], state.s.to_layer())  # (B, 1, H)
        # P(y_t | y_<t, x) = softmax(W_o [s_t; c_t; e(y_{t-1})] + b_o)
        logits = self.head(self.drop(torch.cat([h[:, 0], ctx, emb], -1)))  # (B, V)
        return logits, state._replace(s=RNNState.from_layer(s), alpha=alpha)

    def _cross_attention(self, src, tgt, src_lengths) -> torch.Tensor:
        state = self.init_state(self.encode(src, src_lengths))
        alphas = []
        for y_t in [None, *tgt.unbind(1)]:
            _, state = self.step(y_t, state)
            alphas.append(state.alpha)
        return torch.stack(alphas, 1)[:, None, None]  # (B, 1, 1, T+1, S)

    @torch.no_grad()
    def alignments(self, src, tgt, src_lengths=None) -> torch.Tensor:
        """α (B, T+1, S) for a batch: row t is where the step predicting y_t looked in the source
        (t = T: the token after tgt); rows sum to 1 over each source's valid positions, 0 on padding."""
        tgt = self._check_tgt(tgt)
        w = self._cross_attention(src, torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt), src_lengths)
        return w[:, 0, 0]
