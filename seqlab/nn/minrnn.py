"""minGRU and minLSTM: recurrent layers whose gates read x_t only, so training is a parallel scan.

Paper: Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?" (2024), §3.1
(minGRU), §3.2 (minLSTM) and the log-space pseudo-code of its appendix; the scan is Heinsen,
"Efficient Parallelization of a Ubiquitous Sequential Computation" (2023).

Shapes: B batch, T time, I input size, H hidden size, C scan chunk length.

Both layers are the linear recurrence h_t = a_t ⊙ h_{t-1} + b_t with a_t, b_t computed from x_t
alone. `forward(x, state)` computes every a_t, b_t in one GEMM and then all h_t at once with
`log_space_scan`; `step(x_t, state)` is the plain recurrence, one step, for decoding. Both return
`(out, state)` with `out` the hidden states (no output projection: that belongs to the model) and
`state = MinRNNState(h)`, h (B, H).

The log-space scan (Heinsen 2023): with a*_t = Σ_{k<=t} log a_k,

    h_t = exp(a*_t) ⊙ h_0 + exp(a*_t + logcumsumexp_{k<=t}(log b_k - a*_k))

which needs b_t > 0 (hence g(·) > 0 below) but not h_0 > 0: h_0 enters linearly, so any initial
state works. a*_t falls by about 0.7 per step with fresh weights and the second term cancels
a*_t against a sum of similar size, so float32 loses about |a*_t|·6e-8 relative precision; the scan
restarts every `chunk_size` steps (C, default 64) from the carried h, which bounds that loss and,
on CPU, was the fastest chunk length (the scan does O(C log C) work per chunk).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["MinGRU", "MinLSTM", "MinRNNState", "log_space_scan", "logcumsumexp"]


class MinRNNState(NamedTuple):
    h: Tensor  # (B, H) hidden state after the last step


def g(x: Tensor) -> Tensor:
    """g(x) = x + 1/2 for x >= 0, σ(x) otherwise: continuous, increasing and always > 0 (Feng et al. §3)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """log g(x), computed without forming g: log(x + 1/2) for x >= 0, -softplus(-x) = log σ(x) otherwise.

    The clamp keeps the unused branch finite, so its zero gradient stays zero (not 0 · inf = nan)."""
    return torch.where(x >= 0, torch.log(x.clamp(min=0) + 0.5), -F.softplus(-x))


def logcumsumexp(z: Tensor) -> Tensor:
    """log Σ_{k<=t} exp(z_k) along dim 1, as a parallel prefix of logaddexp (Hillis & Steele doubling).

    Equals torch.logcumsumexp (tested to 1e-10), but torch's CPU kernel is a scalar loop (~25 ns per
    element) while each doubling pass is one vectorised logaddexp: ⌈log2 C⌉ passes made the
    minGRU training step (B=8, T=2048, H=128, one thread) 370 -> 230 ms at C=256 and 160 ms at C=64.
    """
    shift = 1
    while shift < z.size(1):
        # element t absorbs the sum of the `shift` elements before its current window
        z = torch.cat([z[:, :shift], torch.logaddexp(z[:, shift:], z[:, :-shift])], dim=1)
        shift *= 2
    return z


def log_space_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk_size: int = 64) -> Tensor:
    """All h_t of h_t = a_t ⊙ h_{t-1} + b_t, t = 1..T, from log a_t, log b_t (B, T, H) and h_0 (B, H).

    Returns (B, T, H). Work O(T log C); T / C sequential chunks, each a parallel scan of depth log C.
    """
    outs, h = [], h0
    for la, lb in zip(log_a.split(chunk_size, dim=1), log_b.split(chunk_size, dim=1)):
        # a*_t = Σ_{k<=t} log a_k   (log of the product of the coefficients since the chunk start)
        a_star = la.cumsum(dim=1)                                               # (B, C, H)
        # log Σ_{k<=t} b_k Π_{k<j<=t} a_j = a*_t + logcumsumexp_{k<=t}(log b_k - a*_k)
        log_sum_b = a_star + logcumsumexp(lb - a_star)                          # (B, C, H)
        # h_t = exp(a*_t) ⊙ h_0 + exp(that)
        hs = a_star.exp() * h.unsqueeze(1) + log_sum_b.exp()                    # (B, C, H)
        outs.append(hs)
        h = hs[:, -1]                                                           # (B, H)
    return torch.cat(outs, dim=1)                                               # (B, T, H)


class _MinRNN(nn.Module):
    """Shared: one input projection `weight_ih` (G·H, I), `bias_ih` (G·H,), nn.Linear's init."""

    num_gates: int

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, chunk_size: int = 64,
                 device=None, dtype=None) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("chunk_size", chunk_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{type(self).__name__} {name} must be a positive int, got {v!r}")
        self.input_size, self.hidden_size, self.chunk_size = input_size, hidden_size, chunk_size
        lin = nn.Linear(input_size, self.num_gates * hidden_size, bias=bias, device=device, dtype=dtype)
        self.weight_ih = lin.weight  # U(-1/√I, 1/√I), as nn.Linear
        self.register_parameter("bias_ih", lin.bias)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"

    def initial_state(self, batch_size: int, device=None, dtype=None) -> MinRNNState:
        """h_0 = 0."""
        w = self.weight_ih
        return MinRNNState(torch.zeros(batch_size, self.hidden_size, device=device or w.device, dtype=dtype or w.dtype))

    def _check(self, x: Tensor, state: MinRNNState | None, dims: int) -> MinRNNState:
        what = "(B, T, I)" if dims == 3 else "(B, I)"
        if x.dim() != dims or x.size(-1) != self.input_size:
            raise DataError(f"{type(self).__name__} expects input {what} with I={self.input_size}, "
                            f"got shape {tuple(x.shape)}")
        if state is None:
            return self.initial_state(x.size(0), x.device, x.dtype)
        if not isinstance(state, MinRNNState) or state.h.shape != (x.size(0), self.hidden_size):
            got = tuple(state.h.shape) if isinstance(state, MinRNNState) else type(state).__name__
            raise DataError(f"{type(self).__name__} state must be MinRNNState(h (B, H) = "
                            f"{(x.size(0), self.hidden_size)}), got {got}")
        return state

    def _coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """log a_t, log b_t (..., H) of the recurrence h_t = a_t ⊙ h_{t-1} + b_t."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: MinRNNState | None = None) -> tuple[Tensor, MinRNNState]:
        """x (B, T, I) -> (h_1..h_T (B, T, H), MinRNNState(h_T)): the parallel (training) form."""
        state = self._check(x, state, 3)
        if x.size(1) == 0:
            return x.new_zeros(x.size(0), 0, self.hidden_size), state
        log_a, log_b = self._coefficients(x)                                    # (B, T, H) each
        out = log_space_scan(log_a, log_b, state.h, self.chunk_size)            # (B, T, H)
        return out, MinRNNState(out[:, -1])

    def step(self, x_t: Tensor, state: MinRNNState | None = None) -> tuple[Tensor, MinRNNState]:
        """x_t (B, I) -> (h_t (B, H), MinRNNState(h_t)): the recurrent (decoding) form, one step."""
        raise NotImplementedError


class MinGRU(_MinRNN):
    r"""minGRU (Feng et al. 2024, §3.1): a GRU whose update gate and candidate read x_t only.

        z_t = σ(W_iz x_t + b_iz)                         update gate
        h̃_t = g(W_ih x_t + b_ih)                         candidate state, g(x) > 0 (see `g`)
        h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    so a_t = 1 - z_t and b_t = z_t ⊙ h̃_t, and in log space (the appendix's log-space form):
        log a_t = log(1 - σ(k)) = -softplus(k),   log z_t = -softplus(-k),   k = W_iz x_t + b_iz
        log b_t = log z_t + log g(W_ih x_t + b_ih)

    Parameters: weight_ih (2H, I) = (W_iz | W_ih), bias_ih (2H,) = (b_iz | b_ih).
    Inputs: x (B, T, I) to `forward`, x_t (B, I) to `step`; state MinRNNState(h (B, H)), zeros when None.
    Outputs: (h_1..h_T (B, T, H), MinRNNState(h_T)) from `forward`; (h_t (B, H), MinRNNState(h_t)) from `step`.
    """

    num_gates = 2

    def _coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, pre_h = F.linear(x, self.weight_ih, self.bias_ih).chunk(2, dim=-1)   # (..., H) each
        # log a_t = log(1 - z_t) = -softplus(k)
        log_a = -F.softplus(k)
        # log b_t = log z_t + log h̃_t = -softplus(-k) + log g(W_ih x_t + b_ih)
        log_b = -F.softplus(-k) + log_g(pre_h)
        return log_a, log_b

    def step(self, x_t: Tensor, state: MinRNNState | None = None) -> tuple[Tensor, MinRNNState]:
        state = self._check(x_t, state, 2)
        pre_z, pre_h = F.linear(x_t, self.weight_ih, self.bias_ih).chunk(2, dim=-1)  # (B, H) each
        # z_t = σ(W_iz x_t + b_iz)
        z = torch.sigmoid(pre_z)
        # h̃_t = g(W_ih x_t + b_ih)
        h_tilde = g(pre_h)
        # h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
        h = (1 - z) * state.h + z * h_tilde
        return h, MinRNNState(h)


class MinLSTM(_MinRNN):
    r"""minLSTM (Feng et al. 2024, §3.2): an LSTM whose gates read x_t only, with no output gate.

        f_t = σ(W_if x_t + b_if),   i_t = σ(W_ii x_t + b_ii)      forget and input gates
        h̃_t = g(W_ih x_t + b_ih)                                  candidate state
        f'_t = f_t / (f_t + i_t),   i'_t = i_t / (f_t + i_t)      normalised gates (time-independent scale)
        h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

    so a_t = f'_t and b_t = i'_t ⊙ h̃_t. In log space, with d = softplus(-k_f) - softplus(-k_i)
    = log i_t - log f_t:
        log f'_t = -softplus(d),   log i'_t = -softplus(-d),   log b_t = log i'_t + log g(W_ih x_t + b_ih)

    Parameters: weight_ih (3H, I) = (W_if | W_ii | W_ih), bias_ih (3H,) = (b_if | b_ii | b_ih).
    Inputs, outputs and state as `MinGRU`.
    """

    num_gates = 3

    def _coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, pre_h = F.linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=-1)  # (..., H) each
        # d = log i_t - log f_t = softplus(-k_f) - softplus(-k_i)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        # log a_t = log f'_t = log(f / (f + i)) = -softplus(d)
        log_a = -F.softplus(d)
        # log b_t = log i'_t + log h̃_t = -softplus(-d) + log g(W_ih x_t + b_ih)
        log_b = -F.softplus(-d) + log_g(pre_h)
        return log_a, log_b

    def step(self, x_t: Tensor, state: MinRNNState | None = None) -> tuple[Tensor, MinRNNState]:
        state = self._check(x_t, state, 2)
        pre_f, pre_i, pre_h = F.linear(x_t, self.weight_ih, self.bias_ih).chunk(3, dim=-1)  # (B, H) each
        # f_t = σ(W_if x_t + b_if),  i_t = σ(W_ii x_t + b_ii)
        f, i = torch.sigmoid(pre_f), torch.sigmoid(pre_i)
        # h̃_t = g(W_ih x_t + b_ih)
        h_tilde = g(pre_h)
        # f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
        f_n, i_n = f / (f + i), i / (f + i)
        # h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t
        h = f_n * state.h + i_n * h_tilde
        return h, MinRNNState(h)
