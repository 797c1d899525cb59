"""Multi-scale retention (RetNet): attention without softmax, with a per-head exponential decay.

Paper: Sun, Dong, Huang, Ma, Xia, Xue, Wang & Wei, "Retentive Network: A Successor to Transformer
for Large Language Models" (2023): eq. (5) parallel form, eq. (6) recurrent form, eq. (7)
chunkwise form, eq. (8) gated multi-scale retention.

Shapes: B batch, T time, E = embed_dim, h heads, d_k = E / h key size per head, d_v value size per
head (value_factor · d_k), C chunk length, n position (1-based in the equations).

The three forms compute the same numbers; the retention core is three plain functions on projected
q, k, v (B, h, T, d) and a decay γ (h,), each returning `(o, S_T)`:

    retention(q, k, v, gamma, S_0)                     parallel, O(T²): training
    retention_recurrent(q, k, v, gamma, S_0)           one step at a time, O(1) per step: decoding
    retention_chunkwise(q, k, v, gamma, S_0, C)        parallel inside chunks, recurrent across them

With a state S_0 the parallel form continues from it: unrolling S_n = γ S_{n-1} + k_nᵀ v_n gives
S_n = γ^n S_0 + Σ_{m<=n} γ^{n-m} k_mᵀ v_m, hence the γ^n q_n S_0 term. The chunkwise form is the
parallel form applied to each chunk with the state carried between chunks (eq. (7)).

Left out: the paper's score normalisations (§3.3: D divided by √(Σ D), QKᵀ⊙D divided by
max(|row sum|, 1)). They exist for numerical range; GroupNorm after them makes the output almost
invariant to them, and without them the three forms are equal exactly, not up to GroupNorm's eps.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["MultiScaleRetention", "RetentionState", "retention", "retention_recurrent", "retention_chunkwise",
           "retnet_gammas"]

FORMS = ("parallel", "chunkwise", "recurrent")


class RetentionState(NamedTuple):
    S: Tensor  # (B, h, d_k, d_v) retention state after the last step
    n: Tensor  # (B,) long: steps seen so far, the rotation's position offset


def retnet_gammas(num_heads: int) -> Tensor:
    """γ = 1 - 2^(-5 - arange(h)) (eq. (8)): head 0 decays slowest, 1/32 per step."""
    return 1 - torch.pow(2.0, -5.0 - torch.arange(num_heads, dtype=torch.float64))


def _zero_state(q: Tensor, v: Tensor) -> Tensor:
    return q.new_zeros(q.size(0), q.size(1), q.size(-1), v.size(-1))  # (B, h, d_k, d_v)


def retention(q: Tensor, k: Tensor, v: Tensor, gamma: Tensor, S0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Parallel form (eq. (5)): o = (QKᵀ ⊙ D) V + γ^n Q S_0, and S_T.

    q, k (B, h, T, d_k); v (B, h, T, d_v); gamma (h,); S0 (B, h, d_k, d_v) or None (zeros).
    Returns o (B, h, T, d_v), S_T (B, h, d_k, d_v).
    """
    T = q.size(-2)
    S0 = _zero_state(q, v) if S0 is None else S0
    log_g = gamma.to(q.dtype).log().view(-1, 1, 1)                              # (h, 1, 1)
    t = torch.arange(T, device=q.device)
    # D_nm = γ^(n-m) for n >= m, 0 otherwise
    diff = (t.view(-1, 1) - t.view(1, -1)).to(q.dtype)                          # (T, T) n - m
    D = torch.where(diff >= 0, log_g * diff, float("-inf")).exp()               # (h, T, T)
    # (QKᵀ ⊙ D) V
    o = (q @ k.transpose(-2, -1) * D) @ v                                       # (B, h, T, d_v)
    # + γ^n Q S_0, n = 1..T: what the state before this block contributes
    decay_in = (log_g * (t + 1).to(q.dtype).view(1, -1, 1)).exp()               # (h, T, 1)
    o = o + decay_in * (q @ S0)                                                 # (B, h, T, d_v)
    # S_T = γ^T S_0 + Σ_m γ^(T-m) k_mᵀ v_m
    decay_out = (log_g * (T - 1 - t).to(q.dtype).view(1, -1, 1)).exp()          # (h, T, 1)
    S = (log_g * T).exp() * S0 + (k * decay_out).transpose(-2, -1) @ v          # (B, h, d_k, d_v)
    return o, S


def retention_recurrent(q: Tensor, k: Tensor, v: Tensor, gamma: Tensor,
                        S0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Recurrent form (eq. (6)): S_n = γ S_{n-1} + k_nᵀ v_n,  o_n = q_n S_n, one step at a time.

    Same inputs and outputs as `retention`.
    """
    S = _zero_state(q, v) if S0 is None else S0
    g = gamma.to(q.dtype).view(-1, 1, 1)                                        # (h, 1, 1)
    outs = []
    for n in range(q.size(-2)):
        q_n, k_n, v_n = q[:, :, n], k[:, :, n], v[:, :, n]                      # (B, h, d)
        # S_n = γ S_{n-1} + k_nᵀ v_n
        S = g * S + k_n.unsqueeze(-1) * v_n.unsqueeze(-2)                       # (B, h, d_k, d_v)
        # o_n = q_n S_n
        outs.append((q_n.unsqueeze(-2) @ S).squeeze(-2))                        # (B, h, d_v)
    o = torch.stack(outs, dim=2) if outs else v.new_zeros(v.shape)              # (B, h, T, d_v)
    return o, S


def retention_chunkwise(q: Tensor, k: Tensor, v: Tensor, gamma: Tensor, S0: Tensor | None = None,
                        chunk_size: int = 64) -> tuple[Tensor, Tensor]:
    """Chunkwise form (eq. (7)): the parallel form inside each chunk of C steps, the state across.

    Per chunk i: o_[i] = (Q_[i] K_[i]ᵀ ⊙ D) V_[i] + γ^j Q_[i] S_{i-1} (j = 1..C inside the chunk),
    S_i = γ^C S_{i-1} + Σ_j γ^(C-j) k_jᵀ v_j. Cost O(T·C) instead of O(T²). Same inputs and
    outputs as `retention`.
    """
    S = _zero_state(q, v) if S0 is None else S0
    outs = []
    for qc, kc, vc in zip(q.split(chunk_size, -2), k.split(chunk_size, -2), v.split(chunk_size, -2)):
        o, S = retention(qc, kc, vc, gamma, S)
        outs.append(o)
    return (torch.cat(outs, dim=-2) if outs else v.new_zeros(v.shape)), S


def _rotate(x: Tensor, angle: Tensor) -> Tensor:
    """x e^{i n θ}: each feature pair (2j, 2j+1) of x (B, h, T, d) turned by angle (B, 1, T, d/2)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)                                # (B, h, T, d/2) each
    cos, sin = angle.cos(), angle.sin()
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class MultiScaleRetention(nn.Module):
    r"""Gated multi-scale retention (RetNet eq. (8)), with parallel, chunkwise and recurrent forms.

    For each head i = 1..h with its own decay γ_i = 1 - 2^(-5-i+1) (`retnet_gammas`):

        Q = (X W_Q) ⊙ Θ,  K = (X W_K / √d_k) ⊙ Θ̄,  V = X W_V       Θ_n = e^{inθ} (eq. (5); `rotary`)
        head_i = Retention(Q_i, K_i, V_i; γ_i)                      (QKᵀ ⊙ D) V,  D_nm = γ^(n-m)
        Y = GroupNorm_h(Concat(head_1, ..., head_h))                one group per head
        MSR(X) = (swish(X W_G) ⊙ Y) W_O

    Θ rotates feature pairs (2j, 2j+1) by n θ_j, θ_j = 10000^(-j / (d_k/2 - 1)) (RetNet's xPos
    angles), so q_n k_mᵀ depends on n - m only. 1/√d_k scales K, as in the paper's code.

    Parameters: q_proj, k_proj (h d_k, E); v_proj, g_proj (h d_v, E); out_proj (E, h d_v), all
    nn.Linear (biases with `bias=True`); group_norm (GroupNorm(h, h d_v) weight and bias).
    Buffers: gamma (h,), theta (d_k/2,).

    Inputs: x (B, T, E) to `forward`, x_t (B, E) to `step`; state RetentionState(S (B, h, d_k, d_v),
    n (B,)), zeros when None. `forward(x, state, form=...)` takes form "parallel" (default),
    "chunkwise" (`chunk_size` steps at a time) or "recurrent"; all three give the same result.
    Outputs: (out (B, T, E), state after the last step); `step` returns (out_t (B, E), state).
    """

    def __init__(self, embed_dim: int, num_heads: int, value_factor: int = 2, bias: bool = False,
                 rotary: bool = True, chunk_size: int = 64, eps: float = 1e-5, device=None, dtype=None) -> None:
        super().__init__()
        for name, val in (("embed_dim", embed_dim), ("num_heads", num_heads), ("value_factor", value_factor),
                          ("chunk_size", chunk_size)):
            if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
                raise ConfigError(f"MultiScaleRetention {name} must be a positive int, got {val!r}")
        if embed_dim % num_heads:
            raise ConfigError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        d_k = embed_dim // num_heads
        if rotary and d_k % 2:
            raise ConfigError(f"rotary retention needs an even head size, got d_k={d_k}")
        kw = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.d_k, self.d_v = embed_dim, num_heads, d_k, value_factor * d_k
        self.rotary, self.chunk_size = rotary, chunk_size
        hv = num_heads * self.d_v
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.v_proj = nn.Linear(embed_dim, hv, bias=bias, **kw)
        self.g_proj = nn.Linear(embed_dim, hv, bias=bias, **kw)
        self.out_proj = nn.Linear(hv, embed_dim, bias=bias, **kw)
        self.group_norm = nn.GroupNorm(num_heads, hv, eps=eps, **kw)
        self.register_buffer("gamma", retnet_gammas(num_heads).to(device=device), persistent=False)
        half = max(d_k // 2, 1)
        theta = 1.0 / 10000 ** torch.linspace(0, 1, half, dtype=torch.float64)
        self.register_buffer("theta", theta.to(device=device), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.embed_dim}, num_heads={self.num_heads}, d_v={self.d_v}, rotary={self.rotary}"

    def initial_state(self, batch_size: int, device=None, dtype=None) -> RetentionState:
        w = self.q_proj.weight
        S = torch.zeros(batch_size, self.num_heads, self.d_k, self.d_v, device=device or w.device,
                        dtype=dtype or w.dtype)
        return RetentionState(S, torch.zeros(batch_size, dtype=torch.long, device=S.device))

    def _check(self, x: Tensor, state: RetentionState | None, dims: int) -> RetentionState:
        what = "(B, T, E)" if dims == 3 else "(B, E)"
        if x.dim() != dims or x.size(-1) != self.embed_dim:
            raise DataError(f"MultiScaleRetention expects input {what} with E={self.embed_dim}, "
                            f"got shape {tuple(x.shape)}")
        B = x.size(0)
        if state is None:
            return self.initial_state(B, x.device, x.dtype)
        want = (B, self.num_heads, self.d_k, self.d_v)
        if not isinstance(state, RetentionState) or state.S.shape != want or state.n.shape != (B,):
            raise DataError(f"MultiScaleRetention state must be RetentionState(S {want}, n ({B},))")
        return state

    def _qkv(self, x: Tensor, n0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Projected, rotated and split into heads: q, k (B, h, T, d_k), v (B, h, T, d_v)."""
        B, T, _ = x.shape
        h = self.num_heads
        q = self.q_proj(x).view(B, T, h, self.d_k).transpose(1, 2)              # (B, h, T, d_k)
        k = self.k_proj(x).view(B, T, h, self.d_k).transpose(1, 2) * self.d_k ** -0.5  # (B, h, T, d_k)
        v = self.v_proj(x).view(B, T, h, self.d_v).transpose(1, 2)              # (B, h, T, d_v)
        if self.rotary:
            # Θ_n = e^{inθ}, n = the absolute position (state.n + t)
            pos = (n0.view(B, 1) + torch.arange(T, device=x.device)).to(x.dtype)  # (B, T)
            angle = (pos.unsqueeze(-1) * self.theta.to(x.dtype)).unsqueeze(1)  # (B, 1, T, d_k/2)
            q, k = _rotate(q, angle), _rotate(k, angle)  # q ⊙ Θ and k ⊙ Θ̄ make q_n k_mᵀ turn by (n-m)θ
        return q, k, v

    def forward(self, x: Tensor, state: RetentionState | None = None,
                form: str = "parallel") -> tuple[Tensor, RetentionState]:
        state = self._check(x, state, 3)
        if form not in FORMS:
            raise ConfigError(f"retention form must be one of {', '.join(FORMS)}, got {form!r}")
        B, T, _ = x.shape
        q, k, v = self._qkv(x, state.n)
        if form == "parallel":
            o, S = retention(q, k, v, self.gamma, state.S)                      # (B, h, T, d_v)
        elif form == "chunkwise":
            o, S = retention_chunkwise(q, k, v, self.gamma, state.S, self.chunk_size)
        else:
            o, S = retention_recurrent(q, k, v, self.gamma, state.S)
        # Y = GroupNorm_h(Concat(head_1..head_h)), normalised per step and head
        y = o.transpose(1, 2).reshape(B * T, -1)                                # (B T, h d_v)
        y = self.group_norm(y).view(B, T, -1)                                   # (B, T, h d_v)
        # MSR(X) = (swish(X W_G) ⊙ Y) W_O
        out = self.out_proj(F.silu(self.g_proj(x)) * y)                         # (B, T, E)
        return out, RetentionState(S, state.n + T)

    def step(self, x_t: Tensor, state: RetentionState | None = None) -> tuple[Tensor, RetentionState]:
        """One decoding step in the recurrent form: x_t (B, E) -> (out_t (B, E), state)."""
        state = self._check(x_t, state, 2)
        out, state = self.forward(x_t.unsqueeze(1), state, form="recurrent")
        return out.squeeze(1), state
