"""A selective state-space block (Mamba's S6 block) in plain PyTorch.

Paper: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023):
eq. (1a)-(1b) the continuous SSM, eq. (2a)-(2b) its recurrence, eq. (4) the zero-order-hold
discretisation Ā = exp(ΔA), Algorithm 2 (S6: Δ, B, C computed from the input), §3.4 and Figure 3
(the block: projection, causal convolution, SiLU, SSM, gate, projection).

Shapes: B batch (written Bt where it could be confused with the SSM's B), T time, E = d_model,
D = d_inner = expand · E channels of the SSM, N = d_state, R = dt_rank, K = d_conv, C chunk length.

Two scans compute the same numbers from u, Δ, A, B, C (plain functions, each returning (y, h_T)):

    selective_scan(u, delta, A, B, C, D, h0)                   the recurrence, one step at a time
    selective_scan_chunked(u, delta, A, B, C, D, h0, C)        parallel inside chunks, carried across

The chunked scan runs the recurrence h_t = Ā_t ⊙ h_{t-1} + b_t (b_t = Δ_t B_t u_t) as an
associative scan over (Ā, b) pairs, (Ā_1, b_1) then (Ā_2, b_2) = (Ā_2 Ā_1, Ā_2 b_1 + b_2),
Hillis & Steele's doubling in ⌈log2 C⌉ vectorised steps; Ā <= 1, so no term can overflow (a
cumulative-sum-of-logs scan would divide by products of Ā that underflow). Chunks of C steps keep
the (Bt, C, D, N) temporaries small and the chunk's work in cache; the state h passes between
chunks.

B̄: Mamba's code, like this file, uses the Euler-style B̄ = ΔB (the paper's §3.5 simplification)
rather than eq. (4)'s (ΔA)^-1 (exp(ΔA) - I) ΔB; Ā is the exact exp(ΔA).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["SelectiveSSM", "SSMState", "selective_scan", "selective_scan_chunked"]

SCANS = ("chunked", "sequential")


class SSMState(NamedTuple):
    conv: Tensor  # (Bt, D, K-1) the last K-1 inputs of the causal convolution
    h: Tensor     # (Bt, D, N) SSM state


def _discretise(u: Tensor, delta: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """Ā = exp(Δ A) and b = Δ B u: u, delta (Bt, T, D); A (D, N); B (Bt, T, N) -> (Bt, T, D, N) each."""
    # Ā_t = exp(Δ_t A)                                             eq. (4), Algorithm 2 line 5
    A_bar = torch.exp(delta.unsqueeze(-1) * A)                                  # (Bt, T, D, N)
    # b_t = B̄_t u_t = Δ_t B_t u_t
    b = (delta * u).unsqueeze(-1) * B.unsqueeze(-2)                             # (Bt, T, D, N)
    return A_bar, b


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The S6 recurrence, one step at a time (eq. (2a)-(2b) with input-dependent Δ, B, C).

    u, delta (Bt, T, D); A (D, N); B, C (Bt, T, N); D (D,) skip or None; h0 (Bt, D, N) or None (zeros).
    Returns y (Bt, T, D) and h_T (Bt, D, N).
    """
    h = u.new_zeros(u.size(0), u.size(2), A.size(1)) if h0 is None else h0
    A_bar, b = _discretise(u, delta, A, B)
    ys = []
    for t in range(u.size(1)):
        # h_t = Ā_t h_{t-1} + B̄_t u_t                                eq. (2a)
        h = A_bar[:, t] * h + b[:, t]                                           # (Bt, D, N)
        # y_t = C_t h_t                                                eq. (2b)
        ys.append(h @ C[:, t].unsqueeze(-1))                                    # (Bt, D, 1)
    y = torch.cat(ys, dim=-1).transpose(1, 2) if ys else u.new_zeros(u.shape)   # (Bt, T, D)
    # + D u_t, the skip connection (Algorithm 2 leaves it to the block; Mamba adds it here)
    return (y if D is None else y + u * D), h


def _scan_pairs(A_bar: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan over time (dim 1) of the pairs (Ā_t, b_t) under (a1, b1)∘(a2, b2) = (a2 a1, a2 b1 + b2).

    Returns (Π_{k<=t} Ā_k, Σ_{k<=t} (Π_{k<j<=t} Ā_j) b_k), both (Bt, C, D, N): Hillis-Steele doubling.
    """
    shift = 1
    while shift < A_bar.size(1):
        # element t absorbs element t - shift (the identity (1, 0) where t < shift)
        a_prev = F.pad(A_bar[:, :-shift], (0, 0, 0, 0, shift, 0), value=1.0)    # (Bt, C, D, N)
        b_prev = F.pad(b[:, :-shift], (0, 0, 0, 0, shift, 0))                   # (Bt, C, D, N)
        b = A_bar * b_prev + b
        A_bar = A_bar * a_prev
        shift *= 2
    return A_bar, b


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           h0: Tensor | None = None, chunk_size: int = 64) -> tuple[Tensor, Tensor]:
    """The same recurrence as `selective_scan`, as a parallel scan inside chunks of `chunk_size` steps.

    Per chunk, with (P_t, s_t) the scan of its (Ā, b) pairs: h_t = P_t h_start + s_t, y_t = C_t h_t.
    Same inputs and outputs as `selective_scan`.
    """
    h = u.new_zeros(u.size(0), u.size(2), A.size(1)) if h0 is None else h0
    ys = []
    for uc, dc, Bc, Cc in zip(*(t.split(chunk_size, dim=1) for t in (u, delta, B, C))):
        A_bar, b = _discretise(uc, dc, A, Bc)                                   # (Bt, C, D, N)
        P, s = _scan_pairs(A_bar, b)                                            # (Bt, C, D, N)
        # h_t = (Π_{k<=t} Ā_k) h_start + Σ_k (Π_{k<j<=t} Ā_j) B̄_k u_k
        hs = P * h.unsqueeze(1) + s                                             # (Bt, C, D, N)
        # y_t = C_t h_t
        ys.append((hs @ Cc.unsqueeze(-1)).squeeze(-1))                          # (Bt, C, D)
        h = hs[:, -1]                                                           # (Bt, D, N)
    y = torch.cat(ys, dim=1) if ys else u.new_zeros(u.shape)                    # (Bt, T, D)
    return (y if D is None else y + u * D), h


class SelectiveSSM(nn.Module):
    r"""Mamba's block (Gu & Dao 2023, §3.4, Figure 3) around the S6 selective SSM (Algorithm 2).

        x, z = split(W_in x_t)                                 in_proj, D channels each
        u = SiLU(conv1d_causal(x))                             depthwise, kernel K, over time
        Δ_raw, B, C = split(W_x u)                             x_proj: R, N, N features   (s_B, s_C)
        Δ = softplus(W_Δ Δ_raw + b_Δ)                          dt_proj                    (τ_Δ(s_Δ))
        A = -exp(A_log)                                        (D, N), negative real: a decaying state
        Ā_t = exp(Δ_t A),  B̄_t = Δ_t B_t                       eq. (4) (B̄ simplified, see module doc)
        h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t,  y_t = C_t h_t + D ⊙ u_t   eq. (2a)-(2b), per channel
        out = W_out (y ⊙ SiLU(z))                              gate, out_proj

    Initialisation as Mamba's: A_log = log(1..N) per channel (S4D-real), D = 1, b_Δ such that
    softplus(b_Δ) is log-uniform in [dt_min, dt_max], W_Δ ~ U(±R^-1/2); the rest nn.Linear / nn.Conv1d.

    Parameters: in_proj.weight (2D, E) = (W_in_x | W_in_z); conv1d.weight (D, 1, K), conv1d.bias (D,);
    x_proj.weight (R + 2N, D) = (W_Δ_raw | W_B | W_C); dt_proj.weight (D, R), dt_proj.bias (D,);
    A_log (D, N); D (D,); out_proj.weight (E, D). Biases on in/out_proj with `bias=True`.

    Inputs: x (Bt, T, E) to `forward`, x_t (Bt, E) to `step`; state SSMState(conv (Bt, D, K-1),
    h (Bt, D, N)), zeros when None. `forward(x, state, scan=...)` takes scan "chunked" (default,
    `chunk_size` steps) or "sequential"; both give the same result.
    Outputs: (out (Bt, T, E), state after the last step); `step` returns (out_t (Bt, E), state).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | None = None, dt_min: float = 1e-3, dt_max: float = 0.1, bias: bool = False,
                 conv_bias: bool = True, chunk_size: int = 64, device=None, dtype=None) -> None:
        super().__init__()
        dt_rank = math.ceil(d_model / 16) if dt_rank is None else dt_rank
        for name, val in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand),
                          ("dt_rank", dt_rank), ("chunk_size", chunk_size)):
            if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
                raise ConfigError(f"SelectiveSSM {name} must be a positive int, got {val!r}")
        if not 0 < dt_min <= dt_max:
            raise ConfigError(f"SelectiveSSM needs 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        kw = {"device": device, "dtype": dtype}
        D = expand * d_model
        self.d_model, self.d_state, self.d_conv, self.d_inner, self.dt_rank = d_model, d_state, d_conv, D, dt_rank
        self.chunk_size = chunk_size
        self.in_proj = nn.Linear(d_model, 2 * D, bias=bias, **kw)
        self.conv1d = nn.Conv1d(D, D, d_conv, groups=D, bias=conv_bias, **kw)  # applied without padding
        self.x_proj = nn.Linear(D, dt_rank + 2 * d_state, bias=False, **kw)
        self.dt_proj = nn.Linear(dt_rank, D, bias=True, **kw)
        self.A_log = nn.Parameter(torch.arange(1, d_state + 1, dtype=torch.float64).log().repeat(D, 1)
                                  .to(device=device, dtype=self.in_proj.weight.dtype))
        self.D = nn.Parameter(torch.ones(D, **kw))
        self.out_proj = nn.Linear(D, d_model, bias=bias, **kw)
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
            dt = torch.exp(torch.rand(D, **kw) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)

    def extra_repr(self) -> str:
        return f"{self.d_model}, d_state={self.d_state}, d_conv={self.d_conv}, d_inner={self.d_inner}"

    def initial_state(self, batch_size: int, device=None, dtype=None) -> SSMState:
        w = self.in_proj.weight
        kw = {"device": device or w.device, "dtype": dtype or w.dtype}
        return SSMState(torch.zeros(batch_size, self.d_inner, self.d_conv - 1, **kw),
                        torch.zeros(batch_size, self.d_inner, self.d_state, **kw))

    def _check(self, x: Tensor, state: SSMState | None, dims: int) -> SSMState:
        what = "(B, T, E)" if dims == 3 else "(B, E)"
        if x.dim() != dims or x.size(-1) != self.d_model:
            raise DataError(f"SelectiveSSM expects input {what} with E={self.d_model}, got shape {tuple(x.shape)}")
        if state is None:
            return self.initial_state(x.size(0), x.device, x.dtype)
        Bt = x.size(0)
        want = ((Bt, self.d_inner, self.d_conv - 1), (Bt, self.d_inner, self.d_state))
        if not isinstance(state, SSMState) or (tuple(state.conv.shape), tuple(state.h.shape)) != want:
            raise DataError(f"SelectiveSSM state must be SSMState(conv {want[0]}, h {want[1]})")
        return state

    def forward(self, x: Tensor, state: SSMState | None = None, scan: str = "chunked") -> tuple[Tensor, SSMState]:
        state = self._check(x, state, 3)
        if scan not in SCANS:
            raise ConfigError(f"SSM scan must be one of {', '.join(SCANS)}, got {scan!r}")
        # x, z = split(W_in x)
        xs, z = self.in_proj(x).chunk(2, dim=-1)                                # (Bt, T, D) each
        # u = SiLU(conv1d_causal(x)): the kernel sees the K-1 inputs before each step (state.conv)
        window = torch.cat([state.conv, xs.transpose(1, 2)], dim=-1)            # (Bt, D, K-1+T)
        u = F.silu(self.conv1d(window)).transpose(1, 2)                         # (Bt, T, D)
        conv = window[:, :, window.size(-1) - (self.d_conv - 1):]              # (Bt, D, K-1)
        # Δ_raw, B, C = split(W_x u)
        dt_raw, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        # Δ = softplus(W_Δ Δ_raw + b_Δ)
        delta = F.softplus(self.dt_proj(dt_raw))                                # (Bt, T, D)
        # A = -exp(A_log)
        A = -torch.exp(self.A_log)                                              # (D, N)
        # h_t = Ā_t h_{t-1} + B̄_t u_t,  y_t = C_t h_t + D u_t
        if scan == "chunked":
            y, h = selective_scan_chunked(u, delta, A, B, C, self.D, state.h, self.chunk_size)
        else:
            y, h = selective_scan(u, delta, A, B, C, self.D, state.h)           # (Bt, T, D), (Bt, D, N)
        # out = W_out (y ⊙ SiLU(z))
        out = self.out_proj(y * F.silu(z))                                      # (Bt, T, E)
        return out, SSMState(conv, h)

    def step(self, x_t: Tensor, state: SSMState | None = None) -> tuple[Tensor, SSMState]:
        """One decoding step: x_t (Bt, E) -> (out_t (Bt, E), state); O(D·(K + N)) whatever the context."""
        state = self._check(x_t, state, 2)
        out, state = self.forward(x_t.unsqueeze(1), state, scan="sequential")
        return out.squeeze(1), state
