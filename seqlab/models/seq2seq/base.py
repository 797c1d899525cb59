"""What every encoder-decoder shares: P(y | x) = Π_t P(y_t | y_<t, x), scored, decoded and fitted.

An architecture (one file each: rnn.py, rnn_noattn.py, transformer.py) supplies the context:

    encode(src, src_lengths)  -> memory: a dict of the encoder's tensors, batch on axis 0
    init_state(memory)        -> its typed NamedTuple decoder state before BOS (batch on axis 0)
    step(y_t, state)          -> (logits (B, V) of the next target token, state); y_t None = BOS
    _cross_attention(src, tgt, lengths) -> (B, L, h, T+1, S) weights over the source (or the class
                              sets attends = False)

and may override `conditionals` with a parallel teacher-forced pass (the Transformer). This base
derives the rest: forward(src, targets) -> (logits, loss); log_prob(src, tgt); nll /
bits_per_token / perplexity; generate(src, ...) and translate(src, ...) with greedy, sampling and
beam search (seqlab.models.decoding, state reordered by SequenceModel.reorder_state); stream; fit;
cross_attention. The source is padded with -100 (or given `src_lengths`); targets are padded with
-100. Decoding stops at `eos_token_id` if set.

`Seq2Seq(arch=...)` (or `Seq2Seq(config)`) builds the architecture `arch` names (ARCHS), so code
written before the split keeps working; `isinstance(model, Seq2Seq)` holds for every architecture.

Shapes: B batch, S source time, T target time, V target vocabulary, V_s source vocabulary,
L layers, h heads.
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from seqlab.errors import ConfigError, DataError
from seqlab.models import decoding
from seqlab.models.base import SequenceModel, build_config, trainer_fit
from seqlab.models.emissions import IGNORE_INDEX
from seqlab.models.rnn import CELLS

__all__ = ["Seq2SeqConfig", "Seq2Seq", "ARCHS", "architecture"]

# arch -> (module, class); the registry names are seq2seq-<arch>
ARCHS = {
    "rnn": ("seqlab.models.seq2seq.rnn", "Seq2SeqRNN"),
    "rnn-noattn": ("seqlab.models.seq2seq.rnn_noattn", "Seq2SeqRNNNoAttn"),
    "transformer": ("seqlab.models.seq2seq.transformer", "Seq2SeqTransformer"),
}


@dataclass
class Seq2SeqConfig:
    """One config for every architecture (each reads its own fields; config.json files of earlier
    versions load unchanged). vocab_size: target vocabulary; src_vocab_size None = the same.

    rnn, rnn-noattn: cell, embed_dim, hidden_size, num_layers. transformer: d_model, n_head,
    n_layer, dim_feedforward (None = 4 d_model), max_len. All: dropout, eos_token_id.
    """

    vocab_size: int = 16                      # V: target vocabulary (set from the tokenizer)
    src_vocab_size: int | None = None         # source vocabulary (none: the target's)
    arch: str = "rnn"                         # architecture (set from the model name)
    cell: str = "gru"                         # recurrent cell of the RNN architectures
    embed_dim: int = 32                       # E: embedding size (RNN architectures)
    hidden_size: int = 64                     # H: hidden size (RNN architectures)
    num_layers: int = 1                       # recurrent layers (RNN architectures)
    d_model: int = 64                         # d: model width (transformer)
    n_head: int = 4                           # h: attention heads (transformer)
    n_layer: int = 2                          # encoder and decoder layers (transformer)
    dim_feedforward: int | None = None        # F: feed-forward width (transformer; none: 4 d_model)
    max_len: int = 256                        # longest source or target in positions
    dropout: float = 0.0                      # dropout probability, in [0, 1)
    eos_token_id: int | None = None           # id of <eos>; decoding stops there (set from the tokenizer)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(map(repr, ARCHS))}, got {self.arch!r}")
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


def architecture(arch: str) -> type:
    """The Seq2Seq subclass of an arch name."""
    if arch not in ARCHS:
        raise ConfigError(f"arch must be one of {', '.join(map(repr, ARCHS))}, got {arch!r}")
    module, name = ARCHS[arch]
    return getattr(importlib.import_module(module), name)


@functools.cache
def _with_architecture(cls: type, arch_cls: type) -> type:
    """A subclass of Seq2Seq written before the split (it overrides, say, `encode`) on top of an
    architecture: class cls(Seq2Seq) built with arch="transformer" runs as (cls, Seq2SeqTransformer)."""
    return type(cls.__name__, (cls, arch_cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})


class Seq2Seq(SequenceModel):
    """Encoder-decoder base; `Seq2Seq(vocab_size=V, arch="rnn" | "rnn-noattn" | "transformer")`
    builds that architecture (see ARCHS)."""

    config_class = Seq2SeqConfig
    arch: ClassVar[str | None] = None  # set by each architecture
    attends: ClassVar[bool] = True  # whether the decoder attends over the source (cross_attention)

    def __new__(cls, config=None, **fields):
        if cls.arch is None:  # the factory
            arch_cls = architecture(build_config(Seq2SeqConfig, config, fields).arch)
            cls = arch_cls if cls is Seq2Seq else _with_architecture(cls, arch_cls)
        return super().__new__(cls)

    def __init__(self, config: Seq2SeqConfig | dict | None = None, **fields):
        config = build_config(Seq2SeqConfig, config, fields)
        if config.arch != self.arch:
            raise ConfigError(f"{type(self).__name__} is arch={self.arch!r}, got arch={config.arch!r}")
        super().__init__(config)
        self.src_vocab = config.src_vocab_size or config.vocab_size

    # ---------------------------------------------------------------- what an architecture supplies
    def encode(self, src, src_lengths=None) -> dict:
        """The decoder's read-only context for a source batch (tensors, batch on axis 0)."""
        raise NotImplementedError

    def init_state(self, memory: dict):
        """The decoder state (a NamedTuple, batch on axis 0) before BOS, for an encoded source."""
        raise NotImplementedError

    def step(self, y_t, state):
        """Read y_t (B,) (None = BOS) -> (logits (B, V) of the next target token, state)."""
        raise NotImplementedError

    def _cross_attention(self, src, tgt, src_lengths) -> torch.Tensor:
        """Teacher-forced attention weights over the source, (B, L, h, T+1, S), if `attends`."""
        raise NotImplementedError

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

    # ---------------------------------------------------------------- scoring
    def conditionals(self, src, tgt=None, src_lengths=None):
        """logits (B, T+1, V): [:, t] = P(y_t | y_<t, src), teacher-forced by a loop of `step`."""
        if tgt is None:
            raise ConfigError(f"{type(self).__name__}.conditionals needs (src, tgt)")
        state = self.init_state(self.encode(src, src_lengths))
        tgt = torch.as_tensor(tgt, device=self.device)
        tgt = torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt)
        params, state = self.step(None, state)
        out = [params]
        for y_t in tgt.unbind(1):
            params, state = self.step(y_t, state)
            out.append(params)
        return torch.stack(out, 1)

    def forward(self, src, targets=None, src_lengths=None):
        """src (B, S), targets (B, T) -> (logits (B, T, V), mean NLL over non -100 targets)."""
        if targets is None:
            raise ConfigError(f"{type(self).__name__}.forward needs targets (use generate to decode)")
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
        with decoding._inference(self):
            total = -self.log_prob(src, tgt, src_lengths, tgt_lengths).sum().item()
        return total / max(int(self._lengths_mask(self._check_tgt(tgt), tgt_lengths).sum()), 1)

    def bits_per_token(self, src, tgt, src_lengths=None, tgt_lengths=None) -> float:
        return self.nll(src, tgt, src_lengths, tgt_lengths) / math.log(2)

    def perplexity(self, src, tgt, src_lengths=None, tgt_lengths=None) -> float:
        return math.exp(self.nll(src, tgt, src_lengths, tgt_lengths))

    def cross_attention(self, src, tgt) -> torch.Tensor | None:
        """Where the decoder looked in the source, teacher-forced on one pair: src (S,) or (1, S)
        (padding -100 allowed), tgt (T,) or (1, T) -> weights (L, h, T, S); row t belongs to the step
        that predicts y_t and sums to 1 over the source's valid positions (0 on padding). The RNN's
        Bahdanau α_t has L = h = 1; an architecture without attention returns None."""
        if not self.attends:
            return None
        src, tgt = torch.as_tensor(src), self._check_tgt(tgt)
        src = src[None] if src.dim() == 1 else src
        if src.shape[0] != 1 or tgt.shape[0] != 1:
            raise DataError(f"cross_attention takes one pair, got {src.shape[0]} sources and {tgt.shape[0]} targets")
        with decoding._inference(self):
            w = self._cross_attention(src, torch.where(tgt == IGNORE_INDEX, torch.zeros_like(tgt), tgt), None)
        return w[0, :, :, :-1]  # (L, h, T, S): the last step predicts the token after tgt

    # ---------------------------------------------------------------- decoding
    def _decode_start(self, src, src_lengths):
        return self.step(None, self.init_state(self.encode(src, src_lengths)))

    def _decoder(self) -> decoding.Decoder:
        return decoding.Decoder(self.emission, self.step, self.reorder_state)

    @torch.no_grad()
    def generate(self, src, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, num_beams: int = 1, seed: int | None = None, src_lengths=None):
        """src (B, S) or (S,) -> target tokens (B, N) or (N,); after eos only eos follows."""
        decoding._check_args(max_new_tokens, temperature, num_beams)
        single = torch.as_tensor(src).dim() == 1
        eos = self.config.eos_token_id
        with decoding._inference(self):
            params, state = self._decode_start(src, src_lengths)
            if num_beams > 1 and max_new_tokens > 0:
                out, _ = decoding.beam_search(self._decoder(), params, state, max_new_tokens, num_beams, eos)
            else:
                g = decoding._generator(seed, self.device)
                toks = list(decoding.sample_tokens(self._decoder(), params, state, max_new_tokens, temperature,
                                                   top_k, top_p, g, eos))
                out = (torch.stack(toks, 1) if toks
                       else torch.zeros(params.shape[0], 0, dtype=torch.long, device=params.device))
                if out.shape[1] < max_new_tokens:  # every row finished early: pad with eos
                    out = torch.cat([out, out.new_full((out.shape[0], max_new_tokens - out.shape[1]), eos)], 1)
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
        with decoding._inference(self):
            params, state = self._decode_start(torch.as_tensor(src).reshape(1, -1), None)
            g = decoding._generator(seed, self.device)
            for tok in decoding.sample_tokens(self._decoder(), params, state, max_new_tokens, temperature,
                                              top_k, top_p, g, self.config.eos_token_id):
                yield tok.item()

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
