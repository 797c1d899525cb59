"""Transformer encoder/decoder layers, stacks and the full encoder-decoder: twins of torch.nn's.

Papers: Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (post-norm, section 3.1);
Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020 (pre-norm,
`norm_first=True`).

Shapes: B batch, T target (or encoder input) steps, S source/memory steps, E = d_model,
F = dim_feedforward, h = nhead. Inputs are (T, B, E), (B, T, E) with batch_first, or (T, E).
Masks follow seqlab.nn.attention (bool True = blocked here, as in torch; float masks are added).

Incremental decoding (beyond torch): every layer and stack takes a keyword-only `cache=`.
`cache = layer.new_cache()` (a `KVCache` for an encoder layer used as a GPT block, a
`DecoderLayerCache` for a decoder layer) or `cache = stack.new_cache()` (a list, one per layer);
then call with only the new steps and `is_causal=True` / `tgt_is_causal=True`, no attention mask.
Each call appends the new keys/values; the decoder's cross-attention keys/values of `memory` are
computed on the first call and reused. `len(cache[0])` is the number of steps seen, the `offset`
for positional encodings. Cached step-by-step outputs equal the full recompute (tested).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError
from seqlab.nn.attention import causal_mask
from seqlab.nn.multihead import KVCache, MultiHeadAttention

__all__ = [
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
    "DecoderLayerCache",
]


def _activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ConfigError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")


def _detect_causal(mask: Tensor | None, is_causal: bool | None, T: int) -> bool:
    """torch's rule: an explicit flag wins; otherwise a mask equal to causal_mask(T) counts as causal."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None or mask.shape != (T, T):
        return False
    return bool((mask == causal_mask(T, device=mask.device, dtype=mask.dtype)).all())


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.size(1) if (x.dim() == 3 and batch_first) else x.size(0)


def _static_cache() -> KVCache:
    return KVCache(static=True)


@dataclass
class DecoderLayerCache:
    """Cache of one decoder layer: its self-attention steps and its cross-attention memory."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=_static_cache)

    def __len__(self) -> int:
        return len(self.self_attn)

    def reorder(self, index: Tensor) -> None:
        self.self_attn.reorder(index)
        self.cross_attn.reorder(index)

    def reset(self) -> None:
        self.self_attn.reset()
        self.cross_attn.reset()


def _norm_fn(norm: nn.Module) -> Callable[[Tensor], Tensor]:
    """`norm` as a plain call: torch.layer_norm on its parameters for an nn.LayerNorm (a module call
    costs more than normalising one position), else the module itself."""
    if type(norm) is nn.LayerNorm:
        shape, w, b, eps = norm.normalized_shape, norm.weight, norm.bias, norm.eps
        return lambda y: torch.layer_norm(y, shape, w, b, eps)
    return norm


class _Layer(nn.Module):
    """The feed-forward block shared by both layers: FF(x) = dropout2(W_2 dropout(act(W_1 x + b_1)) + b_2)."""

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))  # (.., E)

    def _init_ff(self, d_model, dim_feedforward, dropout, activation, bias, factory) -> None:
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)  # W_1 (F, E)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)  # W_2 (E, F)
        self.activation = _activation(activation)


class TransformerEncoderLayer(_Layer):
    """Self-attention and feed-forward, a drop-in twin of `nn.TransformerEncoderLayer`.

        post-norm (norm_first=False):   x = LN_1(x + SA(x));   x = LN_2(x + FF(x))
        pre-norm  (norm_first=True):    x = x + SA(LN_1(x));   x = x + FF(LN_2(x))
        SA(x) = dropout1(MultiHeadAttention(x, x, x))

    Parameters (torch's keys): self_attn.*, linear1 (W_1 (F, E)), linear2 (W_2 (E, F)), norm1, norm2.
    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, cache=None):
    with `cache` (a `KVCache`, `layer.new_cache()`) src holds only the new steps; use
    `is_causal=True` for a GPT block.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self._init_ff(d_model, dim_feedforward, dropout, activation, bias, factory)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def new_cache(self) -> KVCache:
        return KVCache()

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False, *, cache: KVCache | None = None) -> Tensor:
        x = src  # (T, B, E) / (B, T, E)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, cache)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal, cache))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, cache) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal, cache=cache)[0]
        return self.dropout1(x)

    def can_decode_step(self) -> bool:
        """Whether `decode_step` applies: packed q/k/v projections (in_proj_weight), no bias_k or
        zero attention, and no active dropout."""
        a = self.self_attn
        return (a.in_proj_weight is not None and a.bias_k is None and not a.add_zero_attn
                and not (self.training and (self.dropout.p > 0 or a.dropout > 0)))

    def decode_step(self, x: Tensor, k_buf: Tensor, v_buf: Tensor, n: int) -> Tensor:
        """The layer on one new position x (B, E) after n cached ones -> (B, E); the position's key
        and value are written to k_buf[:, :, n] (B, h, C, d_k) and v_buf[:, :, n] (B, h, C, d_v).

        The same numbers as `forward(x[:, None], is_causal=True, cache=KVCache.preallocated(k_buf,
        v_buf, n))` (the single query sees every cached key: no mask) in functional calls, without
        the general path's module calls, masks and checks: in decoding, one position per call, those
        cost more than the arithmetic (needs `can_decode_step()`).
        """
        a = self.self_attn
        B, h, d_k, d_v = x.shape[0], a.num_heads, a.d_k, a.d_v
        norm1, norm2 = _norm_fn(self.norm1), _norm_fn(self.norm2)
        y = norm1(x) if self.norm_first else x
        # SA(y): q, k, v = y (W_q | W_k | W_v)ᵀ + b;  softmax(q kᵀ / sqrt(d_k)) v W_oᵀ + b_o
        q, k, v = F.linear(y, a.in_proj_weight, a.in_proj_bias).split(a._split, dim=-1)  # (B, h d_k) ...
        k_buf.select(2, n).copy_(k.view(B, h, d_k))  # (B, h, d_k) into slot n
        v_buf.select(2, n).copy_(v.view(B, h, d_v))
        o = F.scaled_dot_product_attention(q.view(B, h, 1, d_k), k_buf.narrow(2, 0, n + 1),
                                           v_buf.narrow(2, 0, n + 1))  # (B, h, 1, d_v)
        sa = F.linear(o.view(B, h * d_v), a.out_proj.weight, a.out_proj.bias)  # (B, E)
        x = x + sa if self.norm_first else norm1(x + sa)
        y = norm2(x) if self.norm_first else x
        # FF(y) = W_2 act(W_1 y + b_1) + b_2
        ff = F.linear(self.activation(F.linear(y, self.linear1.weight, self.linear1.bias)),
                      self.linear2.weight, self.linear2.bias)  # (B, E)
        return x + ff if self.norm_first else norm2(x + ff)


class TransformerDecoderLayer(_Layer):
    """Self-attention, cross-attention on the memory, feed-forward: twin of `nn.TransformerDecoderLayer`.

        post-norm:  x = LN_1(x + SA(x));  x = LN_2(x + CA(x, m));  x = LN_3(x + FF(x))
        pre-norm:   x = x + SA(LN_1(x));  x = x + CA(LN_2(x), m);  x = x + FF(LN_3(x))
        CA(x, m) = dropout2(MultiHeadAttention(x, m, m))   (queries from x, keys/values from memory m)

    Parameters: self_attn.*, multihead_attn.*, linear1, linear2, norm1, norm2, norm3.
    forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
    tgt_is_causal=False, memory_is_causal=False, *, cache=None); `cache = layer.new_cache()`
    (a `DecoderLayerCache`) for step-by-step decoding with `tgt_is_causal=True`.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **factory)
        self._init_ff(d_model, dim_feedforward, dropout, activation, bias, factory)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def new_cache(self) -> DecoderLayerCache:
        return DecoderLayerCache()

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False, *, cache: DecoderLayerCache | None = None) -> Tensor:
        self_cache, cross_cache = (None, None) if cache is None else (cache.self_attn, cache.cross_attn)
        x = tgt  # (T, B, E) / (B, T, E)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal, self_cache)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal, cross_cache)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, self_cache))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal, cross_cache))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, cache) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal, cache=cache)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal, cache) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal, cache=cache)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(layer: nn.Module, n: int) -> nn.ModuleList:
    return nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(nn.Module):
    """A stack of `num_layers` deep copies of `encoder_layer`, then `norm`: twin of `nn.TransformerEncoder`.

    Keys: layers.N.*, norm.*. `is_causal=None` detects a causal `mask` as torch does.
    `enable_nested_tensor` and `mask_check` are accepted for compatibility; seqlab has no
    nested-tensor path, so padded positions get ordinary (ignorable) outputs, never zeros.
    `cache=encoder.new_cache()` (a list of `KVCache`) decodes step by step (GPT use).
    """

    def __init__(self, encoder_layer: nn.Module, num_layers: int, norm: nn.Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1, got {num_layers}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def new_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.layers]

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None, *, cache: list[KVCache] | None = None) -> Tensor:
        is_causal = _detect_causal(mask, is_causal, _seq_len(src, self.layers[0].self_attn.batch_first))
        caches = [None] * self.num_layers if cache is None else cache
        x = src
        for layer, c in zip(self.layers, caches, strict=True):
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal, cache=c)
        return x if self.norm is None else self.norm(x)

    def can_decode_step(self) -> bool:
        return all(layer.can_decode_step() for layer in self.layers)

    def decode_step(self, x: Tensor, k_bufs: list[Tensor], v_bufs: list[Tensor], n: int) -> Tensor:
        """One new position x (B, E) after n cached ones through every layer (see
        `TransformerEncoderLayer.decode_step`; layer l's keys/values go to k_bufs[l], v_bufs[l])."""
        for layer, k_buf, v_buf in zip(self.layers, k_bufs, v_bufs, strict=True):
            x = layer.decode_step(x, k_buf, v_buf, n)
        return x if self.norm is None else _norm_fn(self.norm)(x)


class TransformerDecoder(nn.Module):
    """A stack of `num_layers` deep copies of `decoder_layer`, then `norm`: twin of `nn.TransformerDecoder`.

    Keys: layers.N.*, norm.*. `cache=decoder.new_cache()` (a list of `DecoderLayerCache`) decodes
    one step at a time; memory keys/values are projected once per layer.
    """

    def __init__(self, decoder_layer: nn.Module, num_layers: int, norm: nn.Module | None = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1, got {num_layers}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def new_cache(self) -> list[DecoderLayerCache]:
        return [DecoderLayerCache() for _ in self.layers]

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False, *, cache: list[DecoderLayerCache] | None = None) -> Tensor:
        tgt_is_causal = _detect_causal(tgt_mask, tgt_is_causal, _seq_len(tgt, self.layers[0].self_attn.batch_first))
        caches = [None] * self.num_layers if cache is None else cache
        x = tgt
        for layer, c in zip(self.layers, caches, strict=True):
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                      memory_is_causal=memory_is_causal, cache=c)
        return x if self.norm is None else self.norm(x)


class Transformer(nn.Module):
    """Encoder-decoder Transformer, a drop-in twin of `nn.Transformer`.

        memory = Encoder(src);  out = Decoder(tgt, memory)

    Keys: encoder.layers.N.*, encoder.norm.*, decoder.layers.N.*, decoder.norm.*. Weight matrices
    are re-initialised Xavier-uniform as in torch. For incremental decoding, call
    `model.encoder(src)` once and `model.decoder(tgt_step, memory, tgt_is_causal=True,
    cache=model.decoder.new_cache())` per step.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, custom_encoder: nn.Module | None = None,
                 custom_decoder: nn.Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args, **factory), num_encoder_layers,
                                              nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args, **factory), num_decoder_layers,
                                              nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        b = 0 if self.batch_first else 1
        if src.dim() == 3 and src.size(b) != tgt.size(b):
            raise DataError(f"src and tgt must have the same batch size, got {src.size(b)} and {tgt.size(b)}")
        if src.size(-1) != self.d_model or tgt.size(-1) != self.d_model:
            raise DataError(f"src and tgt must have d_model={self.d_model} features, got {src.size(-1)} "
                            f"and {tgt.size(-1)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The additive causal mask (sz, sz): 0 on and below the diagonal, -inf above."""
        return causal_mask(sz, device=device, dtype=dtype or torch.get_default_dtype())
