"""Scaled dot-product attention and attention masks (multi-head attention: seqlab/nn/multihead.py).

Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, sections 3.2.1-3.2.2.

Shapes: B batch, h heads, T query steps (torch calls it L), S key steps, E embed_dim,
E_k / E_v key / value feature sizes (kdim / vdim), d_k query/key head dim, d_v value head dim.

The mask convention (the one place it is explained)
---------------------------------------------------
Attention scores are `A = Q K^T * scale + M`, weights `P = softmax(A)` over the keys.

* `causal_mask` and `padding_mask` return **additive float masks**: `M = 0` where a query may attend
  a key and `M = -inf` where it is blocked. A float mask is added to the scores by *every* API,
  so these masks mean the same to `nn.MultiheadAttention` (`attn_mask=`, `key_padding_mask=`),
  `nn.Transformer*`, `F.scaled_dot_product_attention`, and all their seqlab twins. Use them and
  the boolean question below never comes up.
* Boolean masks are where torch disagrees with itself, and seqlab keeps torch's meaning of each
  argument (that is what drop-in means):
  - `F.scaled_dot_product_attention` and `seqlab.nn.scaled_dot_product_attention`:
    `True` = **may attend**.
  - `nn.MultiheadAttention`, `nn.Transformer*` and seqlab's `MultiHeadAttention`,
    `Transformer*` (`attn_mask`, `key_padding_mask`, `src_mask`, `tgt_mask`, ...):
    `True` = **blocked**.
  The trap: `torch.tril(torch.ones(T, T)).bool()` is causal for SDPA but anti-causal for
  `nn.MultiheadAttention`. `causal_mask(T)` is causal for both.
* A query row whose keys are all blocked gets **zero** output and zero weights, never NaN
  (torch's `nn.MultiheadAttention` returns NaN there).
* Causal alignment: `causal_mask(T, S)` lets query `i` see keys `j <= i + (S - T)`: the last query
  lines up with the last key, which is what a KV cache needs (the first `S - T` keys are cached
  past steps). For `T == S` it equals `nn.Transformer.generate_square_subsequent_mask(T)` and
  `is_causal=True`. (`F.scaled_dot_product_attention(is_causal=True)` aligns top-left when T != S.)

KV cache: `MultiHeadAttention.forward(..., cache=KVCache())` appends this call's projected keys and
values to the cache and attends over everything cached, so decoding one new step costs O(S), not
a recomputation of the whole prefix. A `KVCache(static=True)` (cross-attention on a fixed memory)
is filled on its first use and reused afterwards.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["scaled_dot_product_attention", "causal_mask", "padding_mask"]

_NEG_INF = float("-inf")


# ---------------------------------------------------------------------------------------------
# masks


def causal_mask(T: int, S: int | None = None, *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Additive causal mask `M (T, S)`: `M[i, j] = 0` if `j <= i + (S - T)` else `-inf`.

    `S` defaults to `T`. The last query is aligned with the last key (see the module docstring).
    """
    S = T if S is None else S
    if T < 0 or S < 0:
        raise ConfigError(f"causal_mask needs non-negative sizes, got T={T}, S={S}")
    # block j > i + (S - T): the strictly upper triangle shifted right by S - T
    return torch.full((T, S), _NEG_INF, device=device, dtype=dtype).triu_(S - T + 1)  # (T, S)


def padding_mask(lengths: Tensor, max_len: int | None = None, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Additive key padding mask `M (B, S)`: `M[b, t] = 0` if `t < lengths[b]` else `-inf`.

    Pass it as `key_padding_mask=` to `nn.MultiheadAttention` / `MultiHeadAttention` /
    `nn.Transformer*`, or as `attn_mask=M[:, None, None, :]` (B, 1, 1, S) to
    `scaled_dot_product_attention`. `S = max_len` (default `lengths.max()`).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise DataError(f"lengths must be a 1-D integer tensor (B,), got dtype {lengths.dtype} "
                        f"shape {tuple(lengths.shape)}")
    longest = int(lengths.max()) if lengths.numel() else 0
    if lengths.numel() and int(lengths.min()) < 0:
        raise DataError(f"lengths must be >= 0, got {int(lengths.min())}")
    S = longest if max_len is None else int(max_len)
    if S < longest:
        raise DataError(f"max_len {S} is shorter than the longest sequence ({longest})")
    t = torch.arange(S, device=lengths.device)  # (S,)
    blocked = t[None, :] >= lengths[:, None]  # (B, S)
    return torch.zeros(blocked.shape, dtype=dtype, device=lengths.device).masked_fill_(blocked, _NEG_INF)


def _additive(mask: Tensor | None, dtype: torch.dtype, true_means_blocked: bool) -> Tensor | None:
    """A bool or float mask as an additive float mask of `dtype` (0 = attend, -inf = blocked)."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        blocked = mask if true_means_blocked else ~mask
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(blocked, _NEG_INF)
    if not mask.dtype.is_floating_point:
        raise DataError(f"attention masks must be bool or float, got {mask.dtype}")
    return mask.to(dtype)


def _top_left_causal(T: int, S: int, like: Tensor) -> Tensor:
    """torch's `is_causal` mask (T, S): query i sees keys j <= i (top-left aligned)."""
    return torch.full((T, S), _NEG_INF, device=like.device, dtype=like.dtype).triu_(1)


def _kernel_zeroes_blocked_rows(device: torch.device) -> bool:
    """torch's CPU kernel returns zeros (and finite gradients) for rows with every key blocked (tested)."""
    return device.type == "cpu"


def _blocked_rows(mask: Tensor) -> Tensor:
    """(..., T, 1) True where a query row of an additive or SDPA-bool mask has no key left."""
    if mask.dtype == torch.bool:
        return ~mask.any(-1, keepdim=True)
    return (mask == _NEG_INF).all(-1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# the attention core


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """`out = softmax(Q K^T * scale + M) V`, `scale = 1 / sqrt(d_k)` unless given.

    Same arguments and meaning as `F.scaled_dot_product_attention`: `attn_mask` is bool
    (True = may attend) or float (added to the scores), broadcastable to (..., h, T, S);
    `is_causal` applies a top-left causal mask (as torch; combined with `attn_mask` if both given);
    `enable_gqa` lets key/value have fewer heads h_kv that divide h.

    Inputs: query (..., h, T, d_k), key (..., h_kv, S, d_k), value (..., h_kv, S, d_v).
    Outputs: out (..., h, T, d_v); with `return_weights=True`, `(out, P)` with the weights
    P (..., h, T, S) after dropout, computed on the explicit softmax path. Without weights it runs
    torch's fused kernel (flash attention on CPU). Rows with every key blocked give zeros.
    """
    if query.size(-1) != key.size(-1):
        raise DataError(f"query and key must share d_k, got {query.size(-1)} and {key.size(-1)}")
    if key.size(-2) != value.size(-2):
        raise DataError(f"key and value must have the same length S, got {key.size(-2)} and {value.size(-2)}")
    T, S = query.size(-2), key.size(-2)
    if is_causal and attn_mask is not None:  # torch refuses both; seqlab applies both
        attn_mask = _additive(attn_mask, query.dtype, true_means_blocked=False) + _top_left_causal(T, S, query)
        is_causal = False
    if not return_weights:
        blocked = None
        if attn_mask is not None and not _kernel_zeroes_blocked_rows(query.device):
            # other backends may give NaN there: neutralise those rows before the kernel, zero after
            blocked = _blocked_rows(attn_mask)
            if bool(blocked.any()):
                is_bool = attn_mask.dtype == torch.bool
                attn_mask = attn_mask | blocked if is_bool else attn_mask.masked_fill(blocked, 0.0)
            else:
                blocked = None
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa
        )  # (..., h, T, d_v)
        return out if blocked is None else out.masked_fill(blocked, 0.0)

    if enable_gqa and key.size(-3) != query.size(-3):
        if query.size(-3) % key.size(-3):
            raise DataError(f"with enable_gqa, h={query.size(-3)} must be a multiple of h_kv={key.size(-3)}")
        group = query.size(-3) // key.size(-3)
        key = key.repeat_interleave(group, dim=-3)  # (..., h, S, d_k)
        value = value.repeat_interleave(group, dim=-3)  # (..., h, S, d_v)
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    M = _additive(attn_mask, query.dtype, true_means_blocked=False)
    if is_causal:
        M = _top_left_causal(T, S, query)  # (T, S)
    # A = Q K^T * scale + M
    A = (query * scale) @ key.transpose(-2, -1)  # (..., h, T, S)
    blocked = None
    if M is not None:
        blocked = _blocked_rows(M)  # (..., T, 1)
        if bool(blocked.any()):
            M = M.masked_fill(blocked, 0.0)  # keep softmax finite there (and its gradient)
        else:
            blocked = None
        # in place when shapes allow: autograd does not need the product A itself
        A = A.add_(M) if torch.broadcast_shapes(A.shape, M.shape) == A.shape else A + M
    # P = softmax(A) over the keys
    P = torch.softmax(A, dim=-1)  # (..., h, T, S)
    if blocked is not None:
        P = P.masked_fill(blocked, 0.0)
    if dropout_p > 0.0:
        P = F.dropout(P, p=dropout_p)
    # out = P V
    return P @ value, P  # (..., h, T, d_v), (..., h, T, S)
