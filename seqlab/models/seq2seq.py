"""Encoder-decoders for sequence-to-sequence tasks: P(y | x) = Π_t P(y_t | y_<t, x).

Papers: Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to Align and
Translate", ICLR 2015 (arch="rnn"); Vaswani et al., "Attention Is All You Need", 2017
(arch="transformer").

arch="rnn": a bidirectional RNN/LSTM/GRU encoder gives annotations m_s = [→h_s; ←h_s] (2H); the
decoder state s_t (top layer of a `num_layers` stack) attends with additive attention

    e_{t,s} = v_aᵀ tanh(W_a s_{t-1} + U_a m_s),   α_t = softmax_s(e_t)   (padding masked),
    c_t = Σ_s α_{t,s} m_s,   s_t = g(s_{t-1}, [e(y_{t-1}); c_t]),
    P(y_t | y_<t, x) = softmax(W_o [s_t; c_t; e(y_{t-1})] + b_o),

with e(y_{-1}) = e(BOS) and s_0 = tanh(W_init mean_s m_s).
arch="transformer": pre-norm Transformer encoder on the source; a causal pre-norm decoder whose
cross-attention reads the encoder's keys/values (computed once per source, cached), output tied
to the target embedding.

Interface (the LM interface with a source first): forward(src, targets) -> (logits, loss);
log_prob(src, tgt); nll / bits_per_token / perplexity; generate(src, max_new_tokens, ...) and
translate(src, ...) with greedy, sampling and beam search; stream. The source is padded with -100
(or given `src_lengths`); targets are padded with -100. Decoding stops at `eos_token_id` if set.

Shapes: B batch, S source time, T target time, E embed_dim, H hidden_size, A attention size (= H),
d d_model, V target vocabulary, V_s source vocabulary, L num_layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError, DataError
from seqlab.models import decoding
from seqlab.models.base import SequenceModel, build_config, trainer_fit
from seqlab.models.emissions import IGNORE_INDEX
from seqlab.models.rnn import CELLS

__all__ = ["Seq2SeqConfig", "Seq2Seq"]


@dataclass
class Seq2SeqConfig:
    """vocab_size: target vocabulary; src_vocab_size None = the same vocabulary."""

    vocab_size: int = 16
    src_vocab_size: int | None = None
    arch: str = "rnn"
    cell: str = "gru"
    embed_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    d_model: int = 64
    n_head: int = 4
    n_layer: int = 2
    dim_feedforward: int | None = None
    max_len: int = 256
    dropout: float = 0.0
    eos_token_id: int | None = None

    def __post_init__(self):
        if self.arch not in ("rnn", "transformer"):
            raise ConfigError(f"arch must be 'rnn' or 'transformer', got {self.arch!r}")
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers", "d_model", "n_head",
                     "n_layer", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.src_vocab_size is not None and self.src_vocab_size < 1:
            raise ConfigError(f"src_vocab_size must be >= 1, got {self.src_vocab_size}")
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.eos_token_id is not None and not 0 <= self.eos_token_id < self.vocab_size:
            raise ConfigError(f"eos_token_id {self.eos_token_id} outside the vocabulary [0, {self.vocab_size})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class Seq2Seq(SequenceModel):
    """Encoder-decoder, arch="rnn" (Bahdanau attention) or "transformer"; `Seq2Seq(vocab_size=V)`."""

    config_class = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig | dict | None = None, **fields):
        config = build_config(Seq2SeqConfig, config, fields)
        super().__init__(config)
        c = config
        self.src_vocab = c.src_vocab_size or c.vocab_size
        self.drop = nn.Dropout(c.dropout)
        if c.arch == "rnn":
            E, H, rnn = c.embed_dim, c.hidden_size, {"rnn": snn.RNN, "lstm": snn.LSTM, "gru": snn.GRU}[c.cell]
            self.src_embed = nn.Embedding(self.src_vocab, E)
            self.tgt_embed = nn.Embedding(c.vocab_size + 1, E)  # row V is BOS
            self.encoder = rnn(E, H, num_layers=c.num_layers, batch_first=True, bidirectional=True,
                               dropout=c.dropout if c.num_layers > 1 else 0.0)
            self.init_proj = nn.Linear(2 * H, H)  # W_init
            self.W_a = nn.Linear(H, H, bias=False)
            self.U_a = nn.Linear(2 * H, H)
            self.v_a = nn.Linear(H, 1, bias=False)
            self.decoder = rnn(E + 2 * H, H, num_layers=c.num_layers, batch_first=True,
                               dropout=c.dropout if c.num_layers > 1 else 0.0)
            self.out = nn.Linear(H + 2 * H + E, c.vocab_size)  # W_o
        else:
            d, ff = c.d_model, c.dim_feedforward or 4 * c.d_model
            self.src_embed = nn.Embedding(self.src_vocab, d)
            self.tgt_embed = nn.Embedding(c.vocab_size + 1, d)
            for emb in (self.src_embed, self.tgt_embed):
                nn.init.normal_(emb.weight, std=0.02)
            self.pos = snn.SinusoidalPositionalEncoding(d, max_len=c.max_len + 1, dropout=c.dropout,
                                                        batch_first=True)
            kw = dict(dim_feedforward=ff, dropout=c.dropout, activation="gelu", batch_first=True, norm_first=True)
            self.encoder = snn.TransformerEncoder(snn.TransformerEncoderLayer(d, c.n_head, **kw), c.n_layer,
                                                  norm=nn.LayerNorm(d), enable_nested_tensor=False)
            self.decoder = snn.TransformerDecoder(snn.TransformerDecoderLayer(d, c.n_head, **kw), c.n_layer,
                                                  norm=nn.LayerNorm(d))
            self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))

    # ---------------------------------------------------------------- inputs
    def _src(self, src, src_lengths):
        """src (B, S) padded with -100 or given lengths -> (clean src, lengths (B,), valid (B, S))."""
        src = torch.as_tensor(src)
        if src.dim() == 1:
            src = src[None]
        if src.dim() != 2 or src.is_floating_point():
            raise DataError(f"src must be integer token ids of shape (batch, time), got {tuple(src.shape)}")
        src = src.to(self.device)
        if src_lengths is None:
            src_lengths = (src != IGNORE_INDEX).sum(1)
        lengths = torch.as_tensor(src_lengths, device=src.device).long()
        if lengths.shape != (src.shape[0],) or bool((lengths < 1).any()) or bool((lengths > src.shape[1]).any()):
            raise DataError(f"source lengths must be (B,) values in [1, {src.shape[1]}]")
        valid = torch.arange(src.shape[1], device=src.device) < lengths[:, None]  # (B, S)
        bad = valid & ((src < 0) | (src >= self.src_vocab))
        if bool(bad.any()):
            raise DataError(f"src holds token id {int(src[bad][0])} outside the source vocabulary [0, {self.src_vocab})")
        return torch.where(valid, src, torch.zeros_like(src)), lengths, valid

    # ---------------------------------------------------------------- encoder + decoder steps
    def encode(self, src, src_lengths=None) -> dict:
        """The decoder's read-only context for a source batch (batch axis 0 everywhere)."""
        src, lengths, valid = self._src(src, src_lengths)
        e = self.drop(self.src_embed(src))  # (B, S, E|d)
        if self.config.arch == "rnn":
            m, _ = self.encoder(e, lengths=lengths)  # (B, S, 2H), zero past each length
            m = self.drop(m)
            mean = m.sum(1) / lengths[:, None]  # (B, 2H)
            return {"m": m, "keys": self.U_a(m), "valid": valid, "s0": torch.tanh(self.init_proj(mean))}
        pad = snn.padding_mask(lengths, src.shape[1]).to(e.dtype)  # (B, S) additive
        if src.shape[1] > self.config.max_len + 1:
            raise DataError(f"source of {src.shape[1]} tokens exceeds max_len={self.config.max_len}")
        mem = self.encoder(self.pos(e), src_key_padding_mask=pad)  # (B, S, d)
        return {"m": mem, "pad": pad}

    def init_state(self, memory: dict):
        """Decoder state before BOS for an encoded source."""
        c = self.config
        if c.arch == "rnn":
            s0 = memory["s0"].unsqueeze(0).repeat(c.num_layers, 1, 1).contiguous()  # (L, B, H)
            s = (s0, torch.zeros_like(s0)) if c.cell == "lstm" else s0
            return {"mem": memory, "s": s}
        return {"mem": memory, "cache": self.decoder.new_cache()}

    def _attend(self, s_prev: torch.Tensor, mem: dict):
        """Additive attention: s_prev (B, H) -> (c_t (B, 2H), α_t (B, S))."""
        # e_{t,s} = v_aᵀ tanh(W_a s_{t-1} + U_a m_s)
        e = self.v_a(torch.tanh(self.W_a(s_prev)[:, None] + mem["keys"]))[..., 0]  # (B, S)
        e = e.masked_fill(~mem["valid"], float("-inf"))
        alpha = e.softmax(-1)  # (B, S)
        return torch.bmm(alpha[:, None], mem["m"])[:, 0], alpha  # c_t = Σ_s α_{t,s} m_s

    def step(self, y_t, state):
        """Read y_t (B,) (None = BOS) -> (logits (B, V) of the next target token, state)."""
        mem = state["mem"]
        B = mem["m"].shape[0]
        y = torch.full((B,), self.config.vocab_size, device=self.device) if y_t is None else y_t
        emb = self.drop(self.tgt_embed(y))  # (B, E|d)
        if self.config.arch == "rnn":
            s = state["s"]
            top = (s[0] if isinstance(s, tuple) else s)[-1]  # s_{t-1} (B, H)
            ctx, alpha = self._attend(top, mem)
            h, s = self.decoder(torch.cat([emb, ctx], -1)[:, None], s)  # (B, 1, H)
            logits = self.out(self.drop(torch.cat([h[:, 0], ctx, emb], -1)))  # (B, V)
            return logits, {"mem": mem, "s": s, "alpha": alpha}
        cache = state["cache"]
        offset = len(cache[0])
        if offset > self.config.max_len:
            raise DataError(f"target longer than max_len={self.config.max_len}")
        z = self.pos(emb[:, None], offset=offset)  # (B, 1, d)
        z = self.decoder(z, mem["m"], memory_key_padding_mask=mem["pad"], tgt_is_causal=True, cache=cache)
        return self._logits(z[:, 0]), state

    @torch.no_grad()
    def alignments(self, src, tgt, src_lengths=None) -> torch.Tensor:
        """arch="rnn": attention weights α (B, T+1, S); row t is where P(y_t | ...) looked in the
        source (rows sum to 1 over each source's valid positions, 0 on padding)."""
        if self.config.arch != "rnn":
            raise ConfigError("alignments are defined for arch='rnn' (use seqlab.cli.attention for Transformers)")
        tgt = self._check_tgt(tgt)
        state = self.init_state(self.encode(src, src_lengths))
        alphas = []
        for y_t in [None, *torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt).unbind(1)]:
            _, state = self.step(y_t, state)
            alphas.append(state["alpha"])
        return torch.stack(alphas, 1)

    def _logits(self, z):
        # tied output: logits = z W_oᵀ + b_o with W_o = E_tgt[:V]
        return nn.functional.linear(z, self.tgt_embed.weight[: self.config.vocab_size], self.out_bias)

    def reorder_state(self, state, index):
        mem = {k: v.index_select(0, index) for k, v in state["mem"].items()}
        if self.config.arch == "rnn":
            s = state["s"]
            s = tuple(t.index_select(1, index) for t in s) if isinstance(s, tuple) else s.index_select(1, index)
            return {"mem": mem, "s": s}
        for c in state["cache"]:
            c.reorder(index)
        return {"mem": mem, "cache": state["cache"]}

    def conditionals(self, src, tgt=None, src_lengths=None):
        """logits (B, T+1, V): [:, t] = P(y_t | y_<t, src); teacher-forced (all steps at once for
        the Transformer, a loop of `step` for the RNN, whose attention needs s_{t-1})."""
        if tgt is None:
            raise ConfigError("Seq2Seq.conditionals needs (src, tgt)")
        mem = self.encode(src, src_lengths)
        tgt = torch.as_tensor(tgt, device=self.device)
        tgt = torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt)
        if self.config.arch == "rnn":
            params, state = self.step(None, self.init_state(mem))
            out = [params]
            for y_t in tgt.unbind(1):
                params, state = self.step(y_t, state)
                out.append(params)
            return torch.stack(out, 1)
        if tgt.shape[1] > self.config.max_len:
            raise DataError(f"target of {tgt.shape[1]} tokens exceeds max_len={self.config.max_len}")
        bos = torch.full((tgt.shape[0], 1), self.config.vocab_size, device=self.device)
        z = self.pos(self.drop(self.tgt_embed(torch.cat([bos, tgt], 1))))  # (B, T+1, d)
        mask = snn.causal_mask(z.shape[1], device=z.device)
        z = self.decoder(z, mem["m"], tgt_mask=mask, memory_key_padding_mask=mem["pad"], tgt_is_causal=True)
        return self._logits(z)

    # ---------------------------------------------------------------- scoring
    def _check_tgt(self, tgt):
        tgt = torch.as_tensor(tgt, device=self.device)
        if tgt.dim() == 1:
            tgt = tgt[None]
        if tgt.dim() != 2 or tgt.is_floating_point():
            raise DataError(f"targets must be integer token ids of shape (batch, time), got {tuple(tgt.shape)}")
        bad = (tgt != IGNORE_INDEX) & ((tgt < 0) | (tgt >= self.config.vocab_size))
        if bool(bad.any()):
            raise DataError(f"target token id {int(tgt[bad][0])} outside the vocabulary [0, {self.config.vocab_size})")
        return tgt.long()

    def forward(self, src, targets=None, src_lengths=None):
        """src (B, S), targets (B, T) -> (logits (B, T, V), mean NLL over non -100 targets)."""
        if targets is None:
            raise ConfigError("Seq2Seq.forward needs targets (use generate to decode)")
        tgt = self._check_tgt(targets)
        logits = self.conditionals(src, tgt, src_lengths)[:, :-1]  # (B, T, V)
        lp = self.emission.log_prob(logits, tgt)
        n = self.emission.scored(tgt).sum().clamp(min=1)
        return logits, -lp.sum() / n

    def log_prob(self, src, tgt, src_lengths=None, tgt_lengths=None):
        """Σ_t log P(y_t | y_<t, src) over t < tgt_lengths[b] (and non -100) -> (B,) nats."""
        tgt = self._check_tgt(tgt)
        mask = self._lengths_mask(tgt, tgt_lengths)
        tgt = torch.where(mask, tgt, torch.zeros_like(tgt))
        lp = self.emission.log_prob(self.conditionals(src, tgt, src_lengths)[:, :-1], tgt)
        return (lp * mask).sum(1)

    @torch.no_grad()
    def nll(self, src, tgt, src_lengths=None, tgt_lengths=None) -> float:
        was = self.training
        self.eval()
        try:
            total = -self.log_prob(src, tgt, src_lengths, tgt_lengths).sum().item()
        finally:
            self.train(was)
        return total / max(int(self._lengths_mask(self._check_tgt(tgt), tgt_lengths).sum()), 1)

    def bits_per_token(self, src, tgt, src_lengths=None, tgt_lengths=None) -> float:
        return self.nll(src, tgt, src_lengths, tgt_lengths) / math.log(2)

    def perplexity(self, src, tgt, src_lengths=None, tgt_lengths=None) -> float:
        return math.exp(self.nll(src, tgt, src_lengths, tgt_lengths))

    # ---------------------------------------------------------------- decoding
    def _decode_start(self, src, src_lengths):
        mem = self.encode(src, src_lengths)
        return self.step(None, self.init_state(mem))

    @torch.no_grad()
    def generate(self, src, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, num_beams: int = 1, seed: int | None = None, src_lengths=None):
        """src (B, S) or (S,) -> target tokens (B, N) or (N,); after eos only eos follows."""
        decoding._check_args(max_new_tokens, temperature, num_beams)
        single = torch.as_tensor(src).dim() == 1
        was = self.training
        self.eval()
        try:
            params, state = self._decode_start(src, src_lengths)
            dec = decoding.Decoder(self.emission, self.step, self.reorder_state)
            eos = self.config.eos_token_id
            if num_beams > 1 and max_new_tokens > 0:
                out, _ = decoding.beam_search(dec, params, state, max_new_tokens, num_beams, eos)
            else:
                g = decoding._generator(seed, self.device)
                toks = list(decoding.sample_tokens(dec, params, state, max_new_tokens, temperature, top_k,
                                                   top_p, g, eos))
                out = (torch.stack(toks, 1) if toks
                       else torch.zeros(params.shape[0], 0, dtype=torch.long, device=params.device))
                if out.shape[1] < max_new_tokens:  # every row finished early: pad with eos
                    out = torch.cat([out, out.new_full((out.shape[0], max_new_tokens - out.shape[1]), eos)], 1)
        finally:
            self.train(was)
        return out[0] if single else out

    def translate(self, src, max_len: int = 64, num_beams: int = 1, **kw) -> list[list[int]]:
        """Decode each source (greedy by default: temperature 0) and cut at the first eos."""
        kw.setdefault("temperature", 0.0)
        out = self.generate(src, max_len, num_beams=num_beams, **kw)
        out = out[None] if out.dim() == 1 else out
        eos = self.config.eos_token_id
        rows = out.tolist()
        return [r[: r.index(eos)] if eos is not None and eos in r else r for r in rows]

    def stream(self, src, max_new_tokens: int, temperature: float = 1.0, top_k=None, top_p=None, seed=None):
        """Yield target tokens of one source (S,) one at a time (stops after eos)."""
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                params, state = self._decode_start(torch.as_tensor(src).reshape(1, -1), None)
                dec = decoding.Decoder(self.emission, self.step, self.reorder_state)
                g = decoding._generator(seed, self.device)
                for tok in decoding.sample_tokens(dec, params, state, max_new_tokens, temperature, top_k,
                                                  top_p, g, self.config.eos_token_id):
                    yield tok.item()
        finally:
            self.train(was)

    def fit(self, pairs, steps: int = 300, batch_size: int = 32, lr: float = 3e-3, weight_decay: float = 0.01,
            grad_clip: float = 1.0, seed: int | None = 0) -> list[float]:
        """Quick training on `pairs` = (src (N, S), tgt (N, T)) padded with -100: random rows, the
        steps of seqlab.train.Trainer (see seqlab.models.base.trainer_fit); returns each step's loss."""
        from seqlab.train.tasks import Seq2SeqTask

        src_all, tgt_all = (torch.as_tensor(t) for t in pairs)
        if src_all.dim() != 2 or tgt_all.dim() != 2 or src_all.shape[0] != tgt_all.shape[0]:
            raise DataError("fit: pairs must be (src (N, S), tgt (N, T)) with the same N")
        return trainer_fit(self, Seq2SeqTask((src_all, tgt_all)), steps, batch_size, lr, weight_decay,
                           grad_clip, seed)
