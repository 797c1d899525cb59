"""One step of a recurrent network: `RNNCell`, `LSTMCell`, `GRUCell`, drop-in twins of torch.nn's.

Shapes: B batch, I input size, H hidden size. Unbatched input (I,) with state (H,) also works.

References: Elman, "Finding structure in time" (1990); Hochreiter & Schmidhuber, "Long short-term
memory" (1997) with the forget gate of Gers et al. (2000); Cho et al., "Learning phrase
representations using RNN encoder-decoder" (2014) for the GRU, in torch's variant (b_hn inside
the reset product).

Each cell keeps torch's parameter names, shapes, gate order and initialisation
(U(-1/√H, 1/√H) for every parameter), so state dicts load both ways. `impl="fused"` calls torch's
cell kernel (`torch._VF.*_cell`) on these parameters; `impl="explicit"` runs the equations below as
written; `"auto"` (default) is fused unless gates are requested. `return_gates=True` forces the
explicit equations and returns `(usual result, gates)`, where `gates` is a named tuple of (B, H)
tensors: `RNNGates(a)` the pre-activation, `LSTMGates(i, f, g, o)`, `GRUGates(r, z, n)`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, _VF, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNNGates", "LSTMGates", "GRUGates", "unroll"]

IMPLS = ("auto", "fused", "explicit")


class RNNGates(NamedTuple):
    a: Tensor  # (B, H) pre-activation W_ih x + b_ih + W_hh h + b_hh


class LSTMGates(NamedTuple):
    i: Tensor  # (B, H) input gate
    f: Tensor  # (B, H) forget gate
    g: Tensor  # (B, H) candidate cell
    o: Tensor  # (B, H) output gate


class GRUGates(NamedTuple):
    r: Tensor  # (B, H) reset gate
    z: Tensor  # (B, H) update gate
    n: Tensor  # (B, H) candidate state


def check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ConfigError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    return impl


class _CellBase(nn.Module):
    """Parameters weight_ih (G, I), weight_hh (G, H), bias_ih (G,), bias_hh (G,) with G = gates·H."""

    def __init__(self, input_size, hidden_size, bias, num_gates, impl, device=None, dtype=None):
        super().__init__()
        if not isinstance(input_size, int) or input_size <= 0:
            raise ConfigError(f"input_size must be a positive int, got {input_size!r}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ConfigError(f"hidden_size must be a positive int, got {hidden_size!r}")
        kw = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.impl = check_impl(impl)
        G = num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G, **kw))
            self.bias_hh = nn.Parameter(torch.empty(G, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _batch(self, x: Tensor, states: tuple) -> tuple[Tensor, tuple, bool]:
        """Add the batch dim to unbatched input; zeros for missing states. -> (x (B, I), states, batched)."""
        if x.dim() not in (1, 2):
            raise DataError(f"{type(self).__name__}: expected input of 1 or 2 dims, got {x.dim()}")
        if x.shape[-1] != self.input_size:
            raise DataError(f"{type(self).__name__}: input size {x.shape[-1]} != input_size {self.input_size}")
        batched = x.dim() == 2
        x = x if batched else x.unsqueeze(0)  # (B, I)
        out = []
        for s in states:
            if s is None:
                s = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)
            else:
                if s.dim() != (2 if batched else 1):
                    raise DataError(f"{type(self).__name__}: state must have {2 if batched else 1} dims, got {s.dim()}")
                s = s if batched else s.unsqueeze(0)
                if s.shape != (x.shape[0], self.hidden_size):
                    raise DataError(f"{type(self).__name__}: state shape {tuple(s.shape)} != {(x.shape[0], self.hidden_size)}")
            out.append(s)
        return x, tuple(out), batched

    def _use_explicit(self, return_gates: bool) -> bool:
        return return_gates or self.impl == "explicit"


class RNNCell(_CellBase):
    """Elman cell:  h' = φ(W_ih x + b_ih + W_hh h + b_hh),  φ = tanh or relu.

    Inputs: x (B, I) or (I,); h (B, H) or (H,), zeros if None.  Output: h' (B, H) or (H,).
    Weights: weight_ih (H, I), weight_hh (H, H), bias_ih (H,), bias_hh (H,).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None, impl="auto"):
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, impl, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None, return_gates: bool = False):
        x, (h,), batched = self._batch(input, (hx,))
        if self._use_explicit(return_gates):
            # a = W_ih x + b_ih + W_hh h + b_hh
            a = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)  # (B, H)
            # h' = φ(a)
            h = torch.relu(a) if self.nonlinearity == "relu" else torch.tanh(a)  # (B, H)
            gates = RNNGates(a)
        else:
            kernel = _VF.rnn_relu_cell if self.nonlinearity == "relu" else _VF.rnn_tanh_cell
            h = kernel(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)  # (B, H)
        if not batched:
            h = h.squeeze(0)
            gates = RNNGates(*(g.squeeze(0) for g in gates)) if return_gates else None
        return (h, gates) if return_gates else h


class LSTMCell(_CellBase):
    """LSTM cell, torch's gate order i, f, g, o:

        (z_i | z_f | z_g | z_o) = W_ih x + b_ih + W_hh h + b_hh
        i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    Inputs: x (B, I) or (I,); hx = (h, c) each (B, H), zeros if None.  Output: (h', c').
    Weights: weight_ih = (W_ii|W_if|W_ig|W_io) (4H, I), weight_hh = (W_hi|W_hf|W_hg|W_ho) (4H, H),
    bias_ih, bias_hh (4H,).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, impl="auto"):
        super().__init__(input_size, hidden_size, bias, 4, impl, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None, return_gates: bool = False):
        x, (h, c), batched = self._batch(input, (None, None) if hx is None else tuple(hx))
        if self._use_explicit(return_gates):
            # (z_i | z_f | z_g | z_o) = W_ih x + b_ih + W_hh h + b_hh
            z = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
            z_i, z_f, z_g, z_o = z.chunk(4, 1)  # (B, H) each
            i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
            # c' = f ⊙ c + i ⊙ g
            c = f * c + i * g  # (B, H)
            # h' = o ⊙ tanh(c')
            h = o * torch.tanh(c)  # (B, H)
            gates = LSTMGates(i, f, g, o)
        else:
            h, c = _VF.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            h, c = h.squeeze(0), c.squeeze(0)
            gates = LSTMGates(*(t.squeeze(0) for t in gates)) if return_gates else None
        return ((h, c), gates) if return_gates else (h, c)


class GRUCell(_CellBase):
    """GRU cell, torch's variant (b_hn inside the reset product), gate order r, z, n:

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 - z) ⊙ n + z ⊙ h

    Inputs: x (B, I) or (I,); h (B, H), zeros if None.  Output: h' (B, H).
    Weights: weight_ih = (W_ir|W_iz|W_in) (3H, I), weight_hh = (W_hr|W_hz|W_hn) (3H, H),
    bias_ih = (b_ir|b_iz|b_in), bias_hh = (b_hr|b_hz|b_hn) (3H,).
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, impl="auto"):
        super().__init__(input_size, hidden_size, bias, 3, impl, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None, return_gates: bool = False):
        x, (h,), batched = self._batch(input, (hx,))
        if self._use_explicit(return_gates):
            gx_r, gx_z, gx_n = F.linear(x, self.weight_ih, self.bias_ih).chunk(3, 1)  # (B, H) each
            gh_r, gh_z, gh_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)  # (B, H) each
            # r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
            r, z = torch.sigmoid(gx_r + gh_r), torch.sigmoid(gx_z + gh_z)
            # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
            n = torch.tanh(gx_n + r * gh_n)
            # h' = (1 - z) ⊙ n + z ⊙ h
            h = (1 - z) * n + z * h  # (B, H)
            gates = GRUGates(r, z, n)
        else:
            h = _VF.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)  # (B, H)
        if not batched:
            h = h.squeeze(0)
            gates = GRUGates(*(t.squeeze(0) for t in gates)) if return_gates else None
        return (h, gates) if return_gates else h


def unroll(cell: nn.Module, x: Tensor, hx=None, lengths: Tensor | None = None, return_gates: bool = False):
    """Run any cell with the torch cell signature over time, with autograd through the loop.

    The slow, general path: for custom cells (a subclass with another equation) and for gates over a
    whole sequence. x (T, B, I); hx the cell's state (h (B, H), or (h, c) for an LSTM cell), zeros
    if None; lengths (B,) holds each sequence's state past its length, as the stacks do.
    Returns (out (T, B, H), final state), plus gates stacked over time (each (T, B, H)) when
    `return_gates`. Outputs past each length are zero.
    """
    T = x.shape[0]
    mask = None if lengths is None else (torch.arange(T, device=x.device).unsqueeze(1) < lengths.to(x.device))  # (T, B)
    outs, gates = [], []
    state = hx
    for t, x_t in enumerate(x.unbind(0)):
        if return_gates:
            new, g = cell(x_t, state, return_gates=True)
            gates.append(g)
        else:
            new = cell(x_t, state)
        if mask is not None and state is not None:
            m = mask[t].unsqueeze(-1)  # (B, 1)
            new = tuple(torch.where(m, a, b) for a, b in zip(new, state)) if isinstance(new, tuple) else torch.where(m, new, state)
        elif mask is not None:  # zero initial state
            m = mask[t].unsqueeze(-1)
            new = tuple(a * m for a in new) if isinstance(new, tuple) else new * m
        state = new
        h = state[0] if isinstance(state, tuple) else state  # (B, H)
        outs.append(h if mask is None else h * mask[t].unsqueeze(-1))
    out = torch.stack(outs)  # (T, B, H)
    if not return_gates:
        return out, state
    stacked = type(gates[0])(*(torch.stack(g) for g in zip(*gates)))  # each (T, B, H)
    return out, state, stacked
