"""Multi-head attention (a drop-in twin of nn.MultiheadAttention) and its KV cache.

Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.2.2.
The attention core (`scaled_dot_product_attention`) and the mask convention live in
seqlab/nn/attention.py; this file adds the projections, the heads and the cache.

Shapes: B batch, h heads, T query steps, S key steps, E embed_dim, E_k / E_v key / value feature
sizes (kdim / vdim), d_k query/key head dim, d_v value head dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError
from seqlab.nn.attention import _additive, causal_mask, scaled_dot_product_attention

__all__ = ["KVCache", "MultiHeadAttention"]


# ---------------------------------------------------------------------------------------------
# KV cache


class KVCache:
    """Projected keys and values of the steps seen so far, for one attention layer.

    State: `k (B, h, S, d_k)` and `v (B, h, S, d_v)`, both None while empty; `len(cache) = S`.
    A normal cache grows by the new steps on every call (self-attention while decoding); a
    `static=True` cache holds the keys/values of a fixed memory (cross-attention): filled on its
    first use, then reused and the key/value inputs ignored. Keys are cached before `bias_k` /
    zero attention are appended, so a cached run equals the full recompute.

    `KVCache.preallocated(k_buf, v_buf, n)` holds the first n steps of buffers (B, h, capacity, d)
    and writes later steps into the buffers in place while they fit (then it grows by `torch.cat`):
    appending one step costs O(1) instead of a copy of the whole cache. Its k, v are views of the
    buffers, so the caller owns them (seqlab.models.transformer decides when a buffer may be written).
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self._k_buf: Tensor | None = None  # preallocated (B, h, capacity, d_k) storage, or None
        self._v_buf: Tensor | None = None

    @classmethod
    def preallocated(cls, k_buf: Tensor, v_buf: Tensor, n: int) -> "KVCache":
        """A cache holding steps [0, n) of k_buf (B, h, C, d_k), v_buf (B, h, C, d_v); steps n.. are
        written into the buffers in place while n + new <= C."""
        if not 0 <= n <= k_buf.size(-2) or k_buf.size(-2) != v_buf.size(-2):
            raise DataError(f"KVCache.preallocated: {n} steps do not fit buffers of {k_buf.size(-2)} and "
                            f"{v_buf.size(-2)} steps")
        cache = cls()
        cache._k_buf, cache._v_buf = k_buf, v_buf
        cache.k, cache.v = k_buf[..., :n, :], v_buf[..., :n, :]  # (B, h, n, d)
        return cache

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.size(-2)

    def __repr__(self) -> str:
        return f"KVCache(len={len(self)}, static={self.static})"

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append this call's k (B, h, T, d_k), v (B, h, T, d_v); return all cached (B, h, S, .)."""
        if self._k_buf is not None:
            n, T = self.k.size(-2), k.size(-2)
            if n + T <= self._k_buf.size(-2) and k.size(0) == self._k_buf.size(0):
                self._k_buf[..., n:n + T, :] = k  # written in place: no copy of the n cached steps
                self._v_buf[..., n:n + T, :] = v
                self.k, self.v = self._k_buf[..., :n + T, :], self._v_buf[..., :n + T, :]  # (B, h, S, d)
                return self.k, self.v
            self._k_buf = self._v_buf = None  # full: grow by concatenation below
        if self.k is None:
            self.k, self.v = k, v
        elif self.static:
            raise DataError("a static KVCache is filled once; call reset() before using another memory")
        else:
            if k.size(0) != self.k.size(0):
                raise DataError(f"KVCache holds batch size {self.k.size(0)}, got {k.size(0)} new rows")
            self.k = torch.cat([self.k, k], dim=-2)  # (B, h, S, d_k)
            self.v = torch.cat([self.v, v], dim=-2)  # (B, h, S, d_v)
        return self.k, self.v

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows `index` (LongTensor (B',)) in that order: beam search reordering."""
        self._k_buf = self._v_buf = None
        if self.k is not None:
            self.k = self.k.index_select(0, index)
            self.v = self.v.index_select(0, index)

    def reset(self) -> None:
        self.k = self.v = self._k_buf = self._v_buf = None


# ---------------------------------------------------------------------------------------------
# multi-head attention



class MultiHeadAttention(nn.Module):
    r"""Multi-head attention, a drop-in twin of `nn.MultiheadAttention`.

    For each head i = 1..h, with inputs x_q (queries), x_k (keys), x_v (values):

        q_i = x_q W_q^i + b_q^i,  k_i = x_k W_k^i + b_k^i,  v_i = x_v W_v^i + b_v^i
        head_i = softmax(q_i k_i^T / sqrt(d_k) + M) v_i
        out = concat(head_1, ..., head_h) W_o^T + b_o

    Weights (torch's names and layout, so state_dicts copy both ways):
        in_proj_weight (2 h d_k + h d_v, E) = (W_q | W_k | W_v) when kdim == vdim == E, else
        q_proj_weight (h d_k, E), k_proj_weight (h d_k, E_k), v_proj_weight (h d_v, E_v);
        in_proj_bias (2 h d_k + h d_v) = (b_q | b_k | b_v); out_proj.weight (E, h d_v), out_proj.bias (E);
        bias_k (1, 1, h d_k), bias_v (1, 1, h d_v) with add_bias_kv (an extra key/value every query sees).
    Beyond torch: keyword-only `qk_dim` (d_k) and `v_dim` (d_v), the per-head sizes of q/k and v,
    which may differ; both default to E / h, the torch layout.

    Inputs of forward: query (T, B, E), (B, T, E) with batch_first, or (T, E) unbatched; key
    (S, B, E_k), value (S, B, E_v) likewise; key_padding_mask (B, S) or (S,); attn_mask (T, S) or
    (B h, T, S). Bool masks: True = blocked (torch's meaning for this class); float masks are
    added; see the module docstring. `is_causal=True` without attn_mask applies
    `causal_mask(T, S)` (torch requires the mask; seqlab builds it); with attn_mask it is torch's
    hint that attn_mask is causal. `cache` (keyword-only, a `KVCache`): append this call's keys
    and values to it and attend over all cached steps; key_padding_mask and attn_mask must then
    cover all S cached keys.
    Outputs: out shaped like query; weights (B, T, S) averaged over heads, (B, h, T, S) with
    average_attn_weights=False (no B when unbatched), or None when need_weights=False. With
    need_weights=False the fused kernel runs (torch's `F.scaled_dot_product_attention`).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
        *,
        qk_dim: int | None = None,
        v_dim: int | None = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ConfigError(f"embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
        if (qk_dim is None or v_dim is None) and embed_dim % num_heads:
            raise ConfigError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ConfigError(f"dropout must be in [0, 1], got {dropout}")
        factory = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.head_dim = embed_dim // num_heads
        self.d_k = self.head_dim if qk_dim is None else qk_dim
        self.d_v = self.head_dim if v_dim is None else v_dim
        if self.d_k <= 0 or self.d_v <= 0:
            raise ConfigError(f"qk_dim and v_dim must be positive, got {self.d_k} and {self.d_v}")
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        h = num_heads
        self._split = [h * self.d_k, h * self.d_k, h * self.d_v]  # rows of W_q | W_k | W_v
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(sum(self._split), embed_dim, **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(h * self.d_k, embed_dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(h * self.d_k, self.kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(h * self.d_v, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(sum(self._split), **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(h * self.d_v, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, h * self.d_k, **factory))
            self.bias_v = nn.Parameter(torch.empty(1, 1, h * self.d_v, **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        for W in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if W is not None:
                nn.init.xavier_uniform_(W)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, d_k={self.d_k}, d_v={self.d_v}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x_q W_q^T + b_q, x_k W_k^T + b_k, x_v W_v^T + b_v; one GEMM when inputs are shared."""
        b_q, b_k, b_v = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.split(self._split)
        if self.in_proj_weight is not None:
            if query is key and key is value:  # self-attention: one (2 h d_k + h d_v)-row GEMM
                return F.linear(query, self.in_proj_weight, self.in_proj_bias).split(self._split, dim=-1)
            W_q, W_k, W_v = self.in_proj_weight.split(self._split)
        else:
            W_q, W_k, W_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, W_q, b_q), F.linear(key, W_k, b_k), F.linear(value, W_v, b_v)

    def _heads(self, x: Tensor, d: int, bf: bool) -> Tensor:
        """(B, T, h d) or (T, B, h d) -> (B, h, T, d), a view."""
        x = x.unflatten(-1, (self.num_heads, d))  # (B, T, h, d) or (T, B, h, d)
        return x.transpose(1, 2) if bf else x.permute(1, 2, 0, 3)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None,
        value: Tensor | None,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        *,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        if query.dim() not in (2, 3):
            raise DataError(f"query must be (T, E) or 3-D, got shape {tuple(query.shape)}")
        batched = query.dim() == 3
        reuse = cache is not None and cache.static and len(cache) > 0  # cross-attention k/v already cached
        if not batched:  # add a batch of one, keeping the self-attention identities
            self_attn, shared_kv = key is query, value is key
            query = query.unsqueeze(0)
            if key is not None and not reuse:
                key = query if self_attn else key.unsqueeze(0)
            if value is not None and not reuse:
                value = key if shared_kv else value.unsqueeze(0)
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
        bf = self.batch_first or not batched  # internal layout of the inputs
        if query.size(-1) != self.embed_dim:
            raise DataError(f"query has {query.size(-1)} features, expected embed_dim={self.embed_dim}")
        B, T = query.shape[:2] if bf else query.shape[1::-1]
        h = self.num_heads

        if reuse:
            q = self._heads(self._project_query(query), self.d_k, bf)  # (B, h, T, d_k)
            k, v = cache.k, cache.v  # (B, h, S, d_k), (B, h, S, d_v)
        else:
            self._check_kv(query, key, value, bf)
            q, k, v = self._project(query, key, value)
            q = self._heads(q, self.d_k, bf)  # (B, h, T, d_k)
            k = self._heads(k, self.d_k, bf)  # (B, h, S, d_k)
            v = self._heads(v, self.d_v, bf)  # (B, h, S, d_v)
            if cache is not None:
                k, v = cache.update(k, v)  # all cached steps
        S = k.size(2)

        M = self._attn_mask(attn_mask, q, B, T, S)  # additive, (T, S) or (B, h, T, S)
        n_extra = (self.bias_k is not None) + self.add_zero_attn
        use_flag = False  # let the fused kernel apply causality
        if is_causal and (M is None or (key_padding_mask is None and not need_weights and cache is None)):
            M = None
            if T == S and n_extra == 0 and key_padding_mask is None:
                use_flag = True
            elif T > 1 or S == 0:  # a single new query after cached steps sees every key
                M = causal_mask(T, S, device=q.device, dtype=q.dtype)  # (T, S)

        if self.bias_k is not None:  # one learned key/value appended to every sequence
            k = torch.cat([k, self.bias_k.view(1, h, 1, self.d_k).expand(B, -1, -1, -1)], dim=2)
            v = torch.cat([v, self.bias_v.view(1, h, 1, self.d_v).expand(B, -1, -1, -1)], dim=2)
        if self.add_zero_attn:  # one all-zero key/value appended
            k = torch.cat([k, k.new_zeros(B, h, 1, self.d_k)], dim=2)  # (B, h, S', d_k)
            v = torch.cat([v, v.new_zeros(B, h, 1, self.d_v)], dim=2)  # (B, h, S', d_v)
        if M is not None and n_extra:
            M = F.pad(M, (0, n_extra))  # the extra keys are never masked
        kpm = _additive(key_padding_mask, q.dtype, true_means_blocked=True)
        if kpm is not None:
            if kpm.shape != (B, S):
                raise DataError(f"key_padding_mask has shape {tuple(kpm.shape)}, expected (B, S) = {(B, S)}")
            kpm = F.pad(kpm, (0, n_extra)).view(B, 1, 1, S + n_extra)  # (B, 1, 1, S')
            M = kpm if M is None else M + kpm  # (B, h or 1, T, S')

        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            out, P = scaled_dot_product_attention(q, k, v, M, p, use_flag, return_weights=True)
            weights = P.mean(dim=1) if average_attn_weights else P  # (B, T, S') or (B, h, T, S')
        else:
            out = scaled_dot_product_attention(q, k, v, M, p, use_flag)  # (B, h, T, d_v)
        out = out.transpose(1, 2) if bf else out.permute(2, 0, 1, 3)  # (B, T, h, d_v) / (T, B, h, d_v)
        out = self.out_proj(out.flatten(-2))  # (B, T, E) / (T, B, E)
        if not batched:
            out = out.squeeze(0)
            weights = None if weights is None else weights.squeeze(0)
        return out, weights

    def _project_query(self, query: Tensor) -> Tensor:
        W_q = self.in_proj_weight[: self._split[0]] if self.in_proj_weight is not None else self.q_proj_weight
        b_q = None if self.in_proj_bias is None else self.in_proj_bias[: self._split[0]]
        return F.linear(query, W_q, b_q)

    def _check_kv(self, query: Tensor, key: Tensor | None, value: Tensor | None, bf: bool) -> None:
        if key is None or value is None:
            raise DataError("key and value are required (only a filled static KVCache may omit them)")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise DataError(f"query, key and value must all be batched or all unbatched, got {query.dim()}-D, "
                            f"{key.dim()}-D and {value.dim()}-D")
        if key.size(-1) != self.kdim or value.size(-1) != self.vdim:
            raise DataError(f"key/value have {key.size(-1)}/{value.size(-1)} features, expected kdim={self.kdim}, "
                            f"vdim={self.vdim}")
        if key.shape[:2] != value.shape[:2]:
            raise DataError(f"key and value disagree in batch/length: {tuple(key.shape)} vs {tuple(value.shape)}")
        b = 0 if bf else 1
        if key.size(b) != query.size(b):
            raise DataError(f"query has batch size {query.size(b)} but key has {key.size(b)}")

    def _attn_mask(self, attn_mask: Tensor | None, q: Tensor, B: int, T: int, S: int) -> Tensor | None:
        """attn_mask (T, S) or (B h, T, S), bool True = blocked, as additive (T, S) or (B, h, T, S)."""
        M = _additive(attn_mask, q.dtype, true_means_blocked=True)
        if M is None:
            return None
        if M.dim() == 2 and M.shape == (T, S):
            return M
        if M.dim() == 3 and M.shape == (B * self.num_heads, T, S):
            return M.view(B, self.num_heads, T, S)
        raise DataError(f"attn_mask has shape {tuple(M.shape)}, expected (T, S) = {(T, S)} or "
                        f"(B*num_heads, T, S) = {(B * self.num_heads, T, S)}")
