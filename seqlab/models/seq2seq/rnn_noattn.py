"""RNN encoder-decoder without attention (registry name seq2seq-rnn-noattn, arch="rnn-noattn").

Papers: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
Machine Translation", EMNLP 2014; Sutskever, Vinyals & Le, "Sequence to Sequence Learning with
Neural Networks", NeurIPS 2014.

The whole source is squeezed into one vector: the decoder sees only the encoder's final state.

    h_s = g_enc(h_{s-1}, e_src(x_s)),  s = 1..S_b        (a num_layers stack; S_b the source length)
    c   = h_{S_b}                                          top layer, at each source's last token
    s_0 = tanh(W_init c)                                   every layer (an LSTM's cell starts at 0)
    s_t = g(s_{t-1}, [e(y_{t-1}); c]),
    P(y_t | y_<t, x) = softmax(W_o [s_t; c; e(y_{t-1})] + b_o),

with e(y_{-1}) = e(BOS) (seqlab.models.inputs). c enters the decoder's initial state and every
step (Cho et al.'s form), but it is the same c for every t: the decoder cannot look back at a
source position, which is why Bahdanau et al. let it attend (seqlab.models.seq2seq.rnn); long
sources then lose detail. `cross_attention` returns None: there is none.

Shapes: B batch, S source time, E embed_dim, H hidden_size, L num_layers, V target vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding
from seqlab.models.rnn import RNNState, recurrent_layer
from seqlab.models.seq2seq.base import Seq2Seq

__all__ = ["Seq2SeqRNNNoAttn", "ContextState"]


class ContextState(NamedTuple):
    """Decoder state: the context vector and s_{t-1}."""

    c: torch.Tensor  # (B, H) the encoder's final state
    s: RNNState  # s_{t-1}: h (B, L, H), c (B, L, H) for an LSTM


class Seq2SeqRNNNoAttn(Seq2Seq):
    """Encoder-decoder whose decoder reads one context vector; `Seq2Seq(arch="rnn-noattn")`.

    Weights: src_embed (V_s, E), tgt_embed (InputEmbedding, V + 1 rows), encoder (seqlab.nn RNN,
    E -> H), init_proj W_init (H, H), decoder (E + H -> H), head W_o (V, H + H + E) (OutputHead).
    """

    arch = "rnn-noattn"
    attends = False

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        c = self.config
        E, H = c.embed_dim, c.hidden_size
        self.drop = nn.Dropout(c.dropout)
        self.src_embed = nn.Embedding(self.src_vocab, E)
        self.tgt_embed = InputEmbedding(c.vocab_size, E)  # row V is BOS
        self.encoder = recurrent_layer(c.cell, E, H, c.num_layers, c.dropout)
        self.init_proj = nn.Linear(H, H)  # W_init
        self.decoder = recurrent_layer(c.cell, E + H, H, c.num_layers, c.dropout)
        self.head = OutputHead(H + H + E, c.vocab_size)  # W_o

    def encode(self, src, src_lengths=None) -> dict:
        """{"c": the context vector (B, H)}."""
        src, lengths, _ = self._src(src, src_lengths)
        e = self.drop(self.src_embed(src))  # (B, S, E)
        _, h_n = self.encoder(e, lengths=lengths)  # final states at each source's last token
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # an LSTM's (h, c): h (L, B, H)
        return {"c": self.drop(h_n[-1])}  # c = h_{S_b}, top layer (B, H)

    def init_state(self, memory: dict) -> ContextState:
        c = memory["c"]
        # s_0 = tanh(W_init c), in every layer
        s0 = torch.tanh(self.init_proj(c)).unsqueeze(1).repeat(1, self.config.num_layers, 1)  # (B, L, H)
        return ContextState(c, RNNState(s0, torch.zeros_like(s0) if self.config.cell == "lstm" else None))

    def step(self, y_t, state: ContextState):
        B = state.c.shape[0]
        emb = self.drop(self.tgt_embed.start(B)[:, 0] if y_t is None else self.tgt_embed(y_t))  # (B, E)
        # s_t = g(s_{t-1}, [e(y_{t-1}); c])
        h, s = self.decoder(torch.cat([emb, state.c], -1)[:, None], state.s.to_layer())  # (B, 1, H)
        # P(y_t | y_<t, x) = softmax(W_o [s_t; c; e(y_{t-1})] + b_o)
        logits = self.head(self.drop(torch.cat([h[:, 0], state.c, emb], -1)))  # (B, V)
        return logits, ContextState(state.c, RNNState.from_layer(s))
