"""Full-history model: a decoder-only (causal) Transformer language model and forecaster.

Paper: Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019, on
Vaswani et al., "Attention Is All You Need", 2017; pre-norm blocks (Xiong et al., 2020).

The past is summarised by causal attention over every earlier element (the lecture's "naive"
model that keeps the whole history), read after an internal start symbol at position 0:

    z_0 = s·e(BOS) + p_0,   z_{t+1} = s·e(x_t) + p_{t+1}              (B, T+1, d)
    z   <- z + SA(LN_1(z)) (causal),   z <- z + FF(LN_2(z))             n_layer times
    P(x_t | x_<t) = emission(W_o LN_f(z_t) + b_o)

e, e(BOS): seqlab.models.inputs (a token table of V + 1 rows, row V is BOS, or for real values
w_in x + b_in with a learned start vector); p: sinusoidal or learned positions; s = sqrt(d) with
sinusoidal positions on tokens (Vaswani et al. sec. 3.4), else 1. W_o, b_o: seqlab.models.heads;
with `tie_weights`, W_o = E[:V] is read from the embedding weight directly, so the state_dict has
no shared tensors (safetensors-safe).

Incremental decoding: the state is a TransformerState (the state contract of seqlab.models.base):
every layer's cached keys and values stacked into two tensors with batch first, and the elements
read so far; each step feeds one element at position n (the positions cached). The context is
`block_size` elements (+ BOS): once full, generation slides the window (recomputes the caches on
the last block_size elements, as nanoGPT crops its context); `conditionals`/`log_prob` take at
most block_size (+1 for log_prob) elements and raise DataError beyond. The state is kept in the
parameters' dtype and device.

Shapes: B batch, T time, d d_model, h n_head, d_k = d / h, L n_layer, n positions cached,
F dim_feedforward, V vocab_size, P emission params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError, DataError
from seqlab.models.base import SequenceModel, build_config
from seqlab.models.heads import LEGACY_KEYS, OutputHead
from seqlab.models.inputs import InputEmbedding

__all__ = ["TransformerConfig", "TransformerLM", "TransformerState", "kv_caches", "stack_caches"]


class TransformerState(NamedTuple):
    """KV cache of every layer and the elements read so far, batch first."""

    k: torch.Tensor  # (B, L, h, n, d_k) keys of the n positions read (BOS included)
    v: torch.Tensor  # (B, L, h, n, d_k) values
    x: torch.Tensor  # (B, n - 1) the elements read after BOS ((B, 0) before and after BOS)


def kv_caches(k: torch.Tensor, v: torch.Tensor, static: bool = False) -> list[snn.KVCache]:
    """Stacked keys/values k, v (B, L, h, n, d) -> one seqlab.nn KVCache per layer (empty if n = 0).

    The caches are fresh objects over views of k and v: appending to them never changes k or v.
    """
    caches = [snn.KVCache(static=static) for _ in range(k.shape[1])]
    if k.shape[3]:
        for layer, cache in enumerate(caches):
            cache.k, cache.v = k[:, layer], v[:, layer]  # (B, h, n, d)
    return caches


def stack_caches(caches: list[snn.KVCache]) -> tuple[torch.Tensor, torch.Tensor]:
    """One KVCache per layer, each holding (B, h, n, d) -> k, v (B, L, h, n, d)."""
    return torch.stack([c.k for c in caches], 1), torch.stack([c.v for c in caches], 1)


@dataclass
class TransformerConfig:
    """vocab_size None means real values (Gaussian emission); dim_feedforward None = 4 d_model;
    tie_weights applies to token models only (real values have no embedding table to tie)."""

    vocab_size: int | None = None             # V, tokens (set from the tokenizer; none = real values)
    block_size: int = 128                     # T: longest context in positions (set from --block-size)
    d_model: int = 64                         # d: width of the residual stream
    n_head: int = 4                           # h: attention heads (d_model must divide by it)
    n_layer: int = 2                          # decoder blocks
    dim_feedforward: int | None = None        # F: feed-forward width (none: 4 d_model)
    dropout: float = 0.0                      # dropout probability, in [0, 1)
    positions: str = field(default="sinusoidal", metadata={"choices": ("sinusoidal", "learned")})  # positional encoding added to the inputs
    tie_weights: bool = True                  # share the output matrix with the token embedding (tokens only)
    bias: bool = True                         # biases in the linear layers and layer norms

    def __post_init__(self):
        for name in ("block_size", "d_model", "n_head", "n_layer"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.positions not in ("sinusoidal", "learned"):
            raise ConfigError(f"positions must be 'sinusoidal' or 'learned', got {self.positions!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1 or None (real values), got {self.vocab_size}")


class TransformerLM(SequenceModel):
    """Decoder-only Transformer; `TransformerLM(vocab_size=V, block_size=64)` or `TransformerLM(cfg)`.

    Weights: embed (InputEmbedding), pos (learned positions only), blocks (seqlab.nn
    TransformerEncoder, causal), head (OutputHead: tied, untied or Gaussian). State: TransformerState.
    """

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig | dict | None = None, **fields):
        config = build_config(TransformerConfig, config, fields)
        super().__init__(config)
        c = config
        d, ff = c.d_model, c.dim_feedforward or 4 * c.d_model
        # Sinusoidal positions have amplitude 1, so, as in Vaswani et al. (sec. 3.4), token
        # embeddings are scaled by sqrt(d) (initialised at std d^-1/2, i.e. unit scale after
        # scaling); at GPT's std 0.02 the positions drown the tokens and training stalls at the
        # unigram loss. Learned positions start as small as the embeddings and need no scale.
        sinusoidal = c.positions == "sinusoidal"
        tokens = c.vocab_size is not None
        tied = tokens and c.tie_weights
        if tied:  # created first, see seqlab.models.heads (the parameter order of earlier versions)
            self.head = OutputHead(d, c.vocab_size, tied=True)
        self.emb_scale = d**0.5 if sinusoidal and tokens else 1.0
        self.embed = InputEmbedding(c.vocab_size, d, std=d**-0.5 if sinusoidal else 0.02)
        n_pos = c.block_size + 1  # BOS + block_size elements
        if sinusoidal:
            self.pos = snn.SinusoidalPositionalEncoding(d, max_len=n_pos, dropout=c.dropout, batch_first=True)
        else:
            self.pos = snn.LearnedPositionalEncoding(n_pos, d, dropout=c.dropout, batch_first=True)
        layer = snn.TransformerEncoderLayer(d, c.n_head, ff, c.dropout, activation="gelu",
                                            batch_first=True, norm_first=True, bias=c.bias)
        self.blocks = snn.TransformerEncoder(layer, c.n_layer, norm=nn.LayerNorm(d, bias=c.bias),
                                             enable_nested_tensor=False)
        if not tied:
            self.head = OutputHead(d, c.vocab_size, bias=c.bias)

    def _legacy_keys(self) -> dict[str, str]:
        return LEGACY_KEYS[self.head.kind]

    # ---------------------------------------------------------------- pieces
    def _embed(self, x: torch.Tensor, with_bos: bool) -> torch.Tensor:
        """x (B, T) -> s·e(x) (B, T, d), with s·e(BOS) prepended when with_bos."""
        e = self.embed.with_start(x) if with_bos else self.embed(x)  # (B, T(+1), d)
        return e * self.emb_scale

    def _emit(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., d) -> params (..., P); z is already final-normed by the encoder stack."""
        return self.head(z, self.embed)

    def _run(self, e: torch.Tensor, cache, offset: int) -> torch.Tensor:
        """Positions + blocks on new steps e (B, n, d), appending to `cache` if given."""
        z = self.pos(e, offset=offset)  # (B, n, d)
        if cache is None:
            mask = snn.causal_mask(z.shape[1], device=z.device)
            return self.blocks(z, mask=mask, is_causal=True)  # (B, n, d)
        return self.blocks(z, is_causal=True, cache=cache)

    # ---------------------------------------------------------------- SequenceModel
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.config.block_size:
            raise DataError(f"sequence of {x.shape[1]} elements exceeds block_size={self.config.block_size}")
        return self._emit(self._run(self._embed(x, True), None, 0))  # (B, T+1, P)

    def log_prob(self, x, lengths=None):
        x = torch.as_tensor(x)
        if x.dim() == 2 and x.shape[1] > self.config.block_size + 1:
            raise DataError(f"sequence of {x.shape[1]} elements exceeds block_size+1="
                            f"{self.config.block_size + 1}; score it in windows")
        return super().log_prob(x, lengths)

    def init_state(self, batch_size: int) -> TransformerState:
        c = self.config
        kv = torch.zeros(batch_size, c.n_layer, c.n_head, 0, c.d_model // c.n_head, device=self.device,
                         dtype=self.dtype)  # (B, L, h, 0, d_k)
        dtype = torch.long if self.embed.tokens else self.dtype  # real values in the parameters' dtype
        return TransformerState(kv, kv.clone(), torch.zeros(batch_size, 0, dtype=dtype, device=self.device))

    def step(self, x_t, state: TransformerState):
        if x_t is None:  # read BOS
            cache = kv_caches(state.k, state.v)
            z = self._run(self._embed(state.x[:, :0], True), cache, 0)  # (B, 1, d)
            return self._emit(z[:, -1]), TransformerState(*stack_caches(cache), state.x)
        seen = torch.cat([state.x, x_t[:, None].to(state.x.dtype)], 1)  # (B, n)
        n = state.k.shape[3]
        if n < self.config.block_size + 1:
            k_buf, v_buf = self._kv_buffers(state)  # (B, L, h, C, d_k), C > n
            k_layers, v_layers = k_buf.unbind(1), v_buf.unbind(1)  # L x (B, h, C, d_k) views
            if self.blocks.can_decode_step():  # the one-position path: no module calls or masks
                e = self.pos(self._embed(x_t[:, None], False), offset=n)[:, 0]  # (B, d)
                z = self.blocks.decode_step(e, k_layers, v_layers, n)  # (B, d)
            else:
                cache = [snn.KVCache.preallocated(k, v, n) for k, v in zip(k_layers, v_layers)]
                z = self._run(self._embed(x_t[:, None], False), cache, n)[:, -1]  # (B, d)
            k_buf._seqlab_filled = v_buf._seqlab_filled = n + 1  # slot n belongs to the state returned
            return self._emit(z), TransformerState(k_buf.narrow(3, 0, n + 1), v_buf.narrow(3, 0, n + 1), seen)
        else:  # context full: slide the window to the last block_size elements and rebuild
            cache = kv_caches(state.k[:, :, :, :0], state.v[:, :, :, :0])
            z = self._run(self._embed(seen[:, -self.config.block_size:], True), cache, 0)
        return self._emit(z[:, -1]), TransformerState(*stack_caches(cache), seen)

    def _kv_buffers(self, state: TransformerState) -> tuple[torch.Tensor, torch.Tensor]:
        """Buffers k, v (B, L, h, C, d_k), C > n, whose first n steps are the state's keys and values
        and whose slot n may be written.

        A step writes the new position into the buffers in place (KVCache.preallocated), so decoding
        does not copy the whole cache every token. States stay values: the state's k, v are views
        [:n] of the buffers, a later step writes only slot n, and it may do so only while no state
        sees that slot, i.e. while the buffers are filled up to exactly n (`_seqlab_filled`, set by
        `step`). Otherwise (a state stepped twice, a reordered beam, the first step after prefill) the
        steps are copied into fresh buffers with room for min(2 n + 16, block_size + 1) positions, so
        copies happen at doublings of the context: O(1) per token amortised.
        """
        k, v = state.k, state.v  # (B, L, h, n, d_k)
        n = k.shape[3]
        kb, vb = k._base, v._base
        if (kb is not None and vb is not None and getattr(kb, "_seqlab_filled", -1) == n
                and getattr(vb, "_seqlab_filled", -1) == n and kb.dim() == 5 and kb.shape[3] > n
                and kb.shape[:3] == k.shape[:3] and vb.shape[:3] == v.shape[:3]
                and k.data_ptr() == kb.data_ptr() and v.data_ptr() == vb.data_ptr()
                and k.stride() == kb.stride() and v.stride() == vb.stride()):
            return kb, vb
        C = min(2 * n + 16, self.config.block_size + 1)
        bufs = []
        for t in (k, v):
            buf = t.new_empty(*t.shape[:3], C, t.shape[4])  # (B, L, h, C, d_k)
            buf[:, :, :, :n] = t
            bufs.append(buf)
        return bufs[0], bufs[1]

    def prefill(self, prompt: torch.Tensor):
        """Read BOS and the prompt in one causal pass that fills the caches."""
        B, T0 = prompt.shape
        if T0 > self.config.block_size:
            params, state = self.prefill(prompt[:, :0])
            for x_t in prompt.unbind(1):
                params, state = self.step(x_t, state)
            return params, state
        state = self.init_state(B)
        cache = kv_caches(state.k, state.v)
        z = self._run(self._embed(prompt, True), cache, 0)  # (B, T0+1, d)
        return self._emit(z[:, -1]), TransformerState(*stack_caches(cache), prompt.to(state.x.dtype))
