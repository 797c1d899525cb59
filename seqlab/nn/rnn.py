"""Recurrent stacks `RNN`, `LSTM`, `GRU`: layers × directions × time, drop-in twins of torch.nn's.

Shapes: T time, B batch, I input size, H hidden size, P = proj_size if the LSTM projects else H,
L num_layers, D = 2 if bidirectional else 1, N = number of valid steps in a PackedSequence.

References: see `seqlab.nn.rnn_cells` (Elman 1990; Hochreiter & Schmidhuber 1997; Cho et al. 2014)
and, for the LSTM projection, Sak, Senior & Beaufays, "Long short-term memory recurrent neural
network architectures for large scale acoustic modeling" (2014).

The equations of one step live in the cells (`seqlab.nn.rnn_cells`); a stack runs layer l over the
whole sequence, feeds its outputs (both directions concatenated, dropout between layers in
training) to layer l+1, and returns the last layer's outputs and every layer's final states.

Two paths compute the same numbers:

* `"fused"`: torch's kernels (`torch._VF.lstm/gru/rnn_tanh/rnn_relu`: oneDNN on CPU, cuDNN on GPU)
  on seqlab's own parameters.
* `"explicit"`: seqlab's loop with a hand-written BPTT (`seqlab.nn._bptt`).

`impl="auto"` (default) picks, per cell and device, whichever was faster here (see `_pick_impl`);
a single time step (decoding) takes torch's cell kernels instead (`_forward_step`).

Beyond torch: `forward(x, hx, lengths=...)` takes padded input plus lengths (B,) as an alternative
to a PackedSequence: the same numbers, outputs past each length are zero, final states are taken at
each sequence's last valid step.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, _VF, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.errors import ConfigError, DataError
from seqlab.nn._bptt import gru_bptt, lstm_bptt, rnn_bptt
from seqlab.nn.rnn_cells import GRUCell, LSTMCell, RNNCell, check_impl

__all__ = ["RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_FUSED = {"RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu, "LSTM": _VF.lstm, "GRU": _VF.gru}


class _RecurrentStack(nn.Module):
    """Parameters per layer l and direction (suffix "" or "_reverse"), torch's names and shapes:
    weight_ih_l{l} (G, I or D·P), weight_hh_l{l} (G, P), bias_ih_l{l} (G,), bias_hh_l{l} (G,),
    weight_hr_l{l} (P, H) with proj_size; G = gates·H. All drawn from U(-1/√H, 1/√H)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None, impl="auto"):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a positive int, got {v!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ConfigError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if not isinstance(proj_size, int) or proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ConfigError(f"proj_size must be an int in [0, hidden_size), got {proj_size!r}")
        for name, v in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(v, bool):
                raise ConfigError(f"{name} must be a bool, got {v!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout acts between recurrent layers, so it does nothing with num_layers=1", stacklevel=3)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.impl = bidirectional, proj_size, check_impl(impl)
        kw = {"device": device, "dtype": dtype}
        G, H, P, D = _GATES[mode] * hidden_size, hidden_size, proj_size or hidden_size, 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {f"weight_ih{sfx}": (G, input_size if layer == 0 else D * P), f"weight_hh{sfx}": (G, P)}
                if bias:
                    shapes.update({f"bias_ih{sfx}": (G,), f"bias_hh{sfx}": (G,)})
                if proj_size:
                    shapes[f"weight_hr{sfx}"] = (P, H)
                for name, shape in shapes.items():
                    setattr(self, name, nn.Parameter(torch.empty(shape, **kw)))
                self._flat_weights_names.extend(shapes)
                self._all_weights.append(list(shapes))
        self.reset_parameters()

    # ---- torch.nn.RNNBase compatibility -------------------------------------------------------
    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """Kept for drop-in use; seqlab passes its parameters to the kernels as they are."""

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        defaults = {"proj_size": 0, "num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                    "bidirectional": False, "impl": "auto"}
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for k, v in defaults.items():
            if getattr(self, k) != v:
                s += f", {k}={getattr(self, k)!r}"
        return s

    def layer_cell(self, layer: int = 0, reverse: bool = False) -> nn.Module:
        """The cell of one layer and direction, sharing this stack's parameters (no copy), e.g. to
        look at gates over a sequence with `seqlab.nn.unroll(cell, x, return_gates=True)`."""
        D = 2 if self.bidirectional else 1
        if not 0 <= layer < self.num_layers or (reverse and D == 1):
            raise ConfigError(f"no layer {layer}{' reverse' if reverse else ''} in a {self.num_layers}-layer stack (D={D})")
        if self.proj_size:
            raise ConfigError("an LSTM with proj_size has no LSTMCell equivalent")
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        w_ih = getattr(self, "weight_ih" + sfx)
        kw = {"bias": self.bias, "device": w_ih.device, "dtype": w_ih.dtype}
        if self.mode.startswith("RNN"):
            cell = RNNCell(w_ih.shape[1], self.hidden_size, nonlinearity=self.nonlinearity, **kw)
        else:
            cell = (LSTMCell if self.mode == "LSTM" else GRUCell)(w_ih.shape[1], self.hidden_size, **kw)
        for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ()):
            setattr(cell, name, getattr(self, name + sfx))
        return cell

    # ---- forward ---------------------------------------------------------------------------------
    def forward(self, input, hx=None, lengths: Tensor | None = None):
        """input: (T, B, I) [(B, T, I) if batch_first], (T, I) unbatched, or a PackedSequence.
        hx: h_0 (L·D, B, P) (LSTM: a tuple (h_0, c_0 (L·D, B, H))), zeros if None; unbatched without B.
        lengths: (B,) valid steps per sequence of padded input, as an alternative to packing.
        Returns (output, h_n) (LSTM: (output, (h_n, c_n))), output (T, B, D·P) or a PackedSequence
        with the input's batch_sizes and indices."""
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ConfigError("give either a PackedSequence or lengths=, not both")
            x, batch_sizes = input.data, input.batch_sizes
            batched, B = True, int(batch_sizes[0])
            if x.dim() != 2:
                raise DataError(f"{type(self).__name__}: packed data must have 2 dims, got {x.dim()}")
        else:
            x = input
            if x.dim() not in (2, 3):
                raise DataError(f"{type(self).__name__}: expected input of 2 or 3 dims, got {x.dim()}")
            batched = x.dim() == 3
            if not batched:
                if lengths is not None:
                    raise ConfigError("lengths= needs batched input (B sequences)")
                x = x.unsqueeze(0 if self.batch_first else 1)
            B = x.shape[0 if self.batch_first else 1]
        if x.shape[-1] != self.input_size:
            raise DataError(f"{type(self).__name__}: input size {x.shape[-1]} != input_size {self.input_size}")
        if x.dtype != self.weight_ih_l0.dtype:
            raise DataError(f"{type(self).__name__}: input dtype {x.dtype} != weight dtype {self.weight_ih_l0.dtype}")
        h0, c0 = self._initial_states(hx, x, B, batched, is_lstm)
        if lengths is not None:
            lengths = self._check_lengths(lengths, B, x.shape[1 if self.batch_first else 0])
        impl = self._pick_impl(x)
        if not packed and lengths is None and self._one_step(x):
            out, h_n, c_n = self._forward_step(x, h0, c0)
        elif impl == "fused":
            out, h_n, c_n = self._forward_fused(input if packed else x, h0, c0, lengths)
        else:
            out, h_n, c_n = self._forward_explicit(input if packed else x, h0, c0, lengths)
        if not batched:
            out, h_n = out.squeeze(0 if self.batch_first else 1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if is_lstm else None
        return out, ((h_n, c_n) if is_lstm else h_n)

    def _initial_states(self, hx, x, B, batched, is_lstm):
        """h_0 (L·D, B, P) and c_0 (L·D, B, H) (None unless LSTM), zeros where not given."""
        LD, H = self.num_layers * (2 if self.bidirectional else 1), self.hidden_size
        P = self.proj_size or H
        if hx is None:
            h0 = x.new_zeros(LD, B, P)
            return h0, (x.new_zeros(LD, B, H) if is_lstm else None)
        states = tuple(hx) if is_lstm else (hx,)
        if is_lstm and len(states) != 2:
            raise DataError("LSTM: hx must be a tuple (h_0, c_0)")
        out = []
        for s, size, name in zip(states, (P, H), ("h_0", "c_0")):
            if not isinstance(s, Tensor) or s.dim() != (3 if batched else 2):
                dims = s.dim() if isinstance(s, Tensor) else type(s).__name__
                raise DataError(f"{type(self).__name__}: {name} must have {3 if batched else 2} dims, got {dims}")
            s = s if batched else s.unsqueeze(1)
            if tuple(s.shape) != (LD, B, size):
                raise DataError(f"{type(self).__name__}: {name} shape {tuple(s.shape)} != expected {(LD, B, size)}")
            if s.dtype != x.dtype:
                raise DataError(f"{type(self).__name__}: {name} dtype {s.dtype} != input dtype {x.dtype}")
            out.append(s)
        return out[0], (out[1] if is_lstm else None)

    @staticmethod
    def _check_lengths(lengths, B: int, T: int) -> Tensor:
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != B or lengths.is_floating_point():
            raise DataError(f"lengths must be an integer tensor of shape ({B},), got {tuple(lengths.shape)} {lengths.dtype}")
        if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
            raise DataError(f"lengths must lie in [1, {T}], got min {int(lengths.min())} max {int(lengths.max())}")
        return lengths.long()

    def _pick_impl(self, x: Tensor) -> str:
        """The faster path for this cell and device whenever both compute the same equation.

        Measured with `python benchmarks/bench_nn.py --only rnn` (torch 2.13, CPU, 2 threads, B=32,
        T=128/512, H=256/512; table in docs/nn-recurrent.md), explicit vs fused time:
        LSTM: oneDNN's fused kernel wins (explicit 1.2x training, 1.4-1.5x inference), so LSTM -> fused.
        GRU, RNN: torch has no fused CPU kernel for them (its C++ loop records autograd per op); the
        explicit loop and hand-written BPTT ran 0.70-0.83x torch's time for training and 0.72-0.96x
        for inference, so GRU/RNN -> explicit on CPU. On GPU the fused path is cuDNN -> fused.
        """
        if self.impl != "auto":
            return self.impl
        if x.device.type != "cpu" or self.mode == "LSTM":
            return "fused"
        return "explicit"

    # ---- one step (decoding): torch's cell kernels --------------------------------------------
    def _one_step(self, x: Tensor) -> bool:
        """Whether `forward` takes `_forward_step`: impl "auto", a single time step, one direction,
        no projection, and no dropout between layers in training (its draws follow the fused kernel's)."""
        T = x.shape[1 if self.batch_first else 0]
        return (self.impl == "auto" and T == 1 and not self.bidirectional and not self.proj_size
                and not (self.training and self.dropout and self.num_layers > 1))

    def _forward_step(self, x: Tensor, h0: Tensor, c0: Tensor | None):
        """x (1, B, I) or (B, 1, I) -> one step through every layer with torch's cell kernels
        (`_VF.lstm_cell`, `gru_cell`, `rnn_tanh_cell`, `rnn_relu_cell`: the cells' equations, two
        GEMMs and one fused pointwise pass). Decoding reads one element per call, and for one step
        the sequence kernels cost far more than the arithmetic: oneDNN's LSTM re-packs the weights
        on every call (~215 us for one step at H=256, B=1, vs ~25 us here), the explicit path builds
        its reordered weights and buffers."""
        inp = x.reshape(-1, x.shape[-1])  # (B, I): T = 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._weights(layer, 0)[:4]
            if self.mode == "LSTM":
                h, c = _VF.lstm_cell(inp, (h0[layer], c0[layer]), w_ih, w_hh, b_ih, b_hh)  # (B, H) each
                c_n.append(c)
            elif self.mode == "GRU":
                h = _VF.gru_cell(inp, h0[layer], w_ih, w_hh, b_ih, b_hh)  # (B, H)
            else:
                cell = _VF.rnn_tanh_cell if self.mode == "RNN_TANH" else _VF.rnn_relu_cell
                h = cell(inp, h0[layer], w_ih, w_hh, b_ih, b_hh)  # (B, H)
            h_n.append(h)
            inp = h
        out = inp.unsqueeze(1 if self.batch_first else 0)  # (B, 1, H) or (1, B, H)
        return out, torch.stack(h_n), (torch.stack(c_n) if c_n else None)

    # ---- the fused path: torch's kernels on our parameters -------------------------------------
    def _forward_fused(self, input, h0, c0, lengths):
        kernel, is_lstm = _FUSED[self.mode], self.mode == "LSTM"
        args = (self._flat_weights, self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
        if isinstance(input, PackedSequence) or lengths is not None:
            if lengths is not None:
                total = input.shape[1 if self.batch_first else 0]
                input = pack_padded_sequence(input, lengths.cpu(), self.batch_first, enforce_sorted=False)
            idx = input.sorted_indices
            hx = tuple(s if idx is None else s.index_select(1, idx) for s in ((h0, c0) if is_lstm else (h0,)))
            res = kernel(input.data, input.batch_sizes, hx if is_lstm else hx[0], *args)
            out = PackedSequence(res[0], input.batch_sizes, input.sorted_indices, input.unsorted_indices)
            back = input.unsorted_indices
            h_n, c_n = (s if back is None else s.index_select(1, back) for s in (res[1], res[2] if is_lstm else res[1]))
            if lengths is not None:
                out, _ = pad_packed_sequence(out, self.batch_first, total_length=total)
            return out, h_n, (c_n if is_lstm else None)
        res = kernel(input, (h0, c0) if is_lstm else h0, *args, self.batch_first)
        return res[0], res[1], (res[2] if is_lstm else None)

    # ---- the explicit path: seqlab's loop and hand-written BPTT ---------------------------------
    def _forward_explicit(self, input, h0, c0, lengths):
        if isinstance(input, PackedSequence):
            x, lengths = pad_packed_sequence(input)  # (T, B, I) in the caller's batch order
            order = input.sorted_indices if input.sorted_indices is not None else torch.arange(len(lengths))
            out, h_n, c_n = self._run_layers(x, h0, c0, lengths, order)
            return _repack(out, lengths, input), h_n, c_n
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        # the order pack_padded_sequence would sort the batch in (dropout then draws like torch's)
        order = None if lengths is None else torch.sort(lengths.cpu(), descending=True)[1]
        out, h_n, c_n = self._run_layers(x, h0, c0, lengths, order)
        return (out.transpose(0, 1) if self.batch_first else out), h_n, c_n

    def _run_layers(self, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: Tensor | None, order: Tensor | None):
        """x (T, B, I) -> out (T, B, D·P), h_n (L·D, B, P), c_n (L·D, B, H) or None.
        `order` (B,): the batch in packing order (by decreasing length), when lengths are given."""
        T, B, _ = x.shape
        D = 2 if self.bidirectional else 1
        mask = rev = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
            mask = (t < lengths).unsqueeze(-1)  # (T, B, 1): step t is valid for sequence b
            # reversing each sequence within its own length: t -> len_b - 1 - t, padding stays put
            rev = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B)
        h_n, c_n, layer_in = [], [], x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                w = self._weights(layer, d)
                inp = layer_in if d == 0 else _reverse(layer_in, rev)
                if self.mode == "LSTM":
                    out, h, c = lstm_bptt(inp, h0[k], c0[k], *w, mask=mask)
                    c_n.append(c)
                elif self.mode == "GRU":
                    out, h = gru_bptt(inp, h0[k], *w, mask=mask)
                else:
                    out, h = rnn_bptt(inp, h0[k], *w, mask=mask, relu=self.mode == "RNN_RELU")
                outs.append(out if d == 0 else _reverse(out, rev))  # (T, B, P)
                h_n.append(h)
            layer_in = outs[0] if D == 1 else torch.cat(outs, -1)  # (T, B, D·P)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = layer_in * self._dropout_noise(layer_in, mask, order)
        out = layer_in if mask is None else layer_in * mask  # (T, B, D·P), zero past each length
        return out, torch.stack(h_n), (torch.stack(c_n) if c_n else None)

    def _dropout_noise(self, y: Tensor, mask: Tensor | None, order: Tensor | None) -> Tensor:
        """Dropout multipliers for y (T, B, F), 0 or 1/(1-p), drawn in the same order as torch's kernels:
        over (T, B, F) for padded input, over the packed rows (N, F) for variable lengths."""
        if mask is None:
            return F.dropout(torch.ones_like(y), self.dropout, True)  # (T, B, F)
        valid = mask.squeeze(-1)[:, order.to(y.device)]  # (T, B) in packing order
        noise = y.new_zeros(y.shape)  # (T, B, F) in packing order
        noise[valid] = F.dropout(y.new_ones(int(valid.sum()), y.shape[-1]), self.dropout, True)  # (N, F)
        return noise[:, torch.argsort(order).to(y.device)]  # (T, B, F) in the caller's order

    def _weights(self, layer: int, d: int) -> list[Tensor | None]:
        """[w_ih, w_hh, b_ih, b_hh] (+ [w_hr] for LSTM), None where the layer has no such weight."""
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] + (["weight_hr"] if self.mode == "LSTM" else [])
        return [getattr(self, n + sfx, None) for n in names]


def _reverse(x: Tensor, rev: Tensor | None) -> Tensor:
    """Reverse time, each sequence within its own length when `rev` (T, B) is given. (T, B, F)."""
    if rev is None:
        return x.flip(0)
    return x.gather(0, rev.unsqueeze(-1).expand_as(x))


def _repack(out: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
    """Padded (T, B, F) in the caller's batch order -> PackedSequence laid out like `like`."""
    if like.sorted_indices is not None:
        out, lengths = out[:, like.sorted_indices.to(out.device)], lengths[like.sorted_indices.cpu()]
    valid = torch.arange(out.shape[0]).unsqueeze(1) < lengths  # (T, B) in packing (descending) order
    data = out[valid.to(out.device)]  # (N, F), row-major = time-major, the packed layout
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(_RecurrentStack):
    """Elman RNN stack. Per layer and direction:  h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),
    φ = tanh or relu (`nonlinearity`); x_t of layer l > 0 is layer l-1's output (dropout between).

    Weights: weight_ih_l{l} (H, I) for l = 0 else (H, D·H), weight_hh_l{l} (H, H), bias_ih_l{l},
    bias_hh_l{l} (H,); "_reverse" suffix for the backward direction.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, impl="auto"):
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype, impl)


class LSTM(_RecurrentStack):
    """LSTM stack. Per layer and direction, gates in torch's order i, f, g, o:

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)  o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                    h_t = o_t ⊙ tanh(c_t)   (h_t = W_hr h_t with proj_size)

    Weights: weight_ih_l{l} = (W_ii|W_if|W_ig|W_io) (4H, I or D·P), weight_hh_l{l} = (W_hi|W_hf|W_hg|W_ho)
    (4H, P), bias_ih_l{l}, bias_hh_l{l} (4H,), weight_hr_l{l} (P, H) when proj_size > 0.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, impl="auto"):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype, impl)


class GRU(_RecurrentStack):
    """GRU stack, torch's variant (b_hn inside the reset product), gates r, z, n:

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)     z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Weights: weight_ih_l{l} = (W_ir|W_iz|W_in) (3H, I or D·H), weight_hh_l{l} = (W_hr|W_hz|W_hn) (3H, H),
    bias_ih_l{l} = (b_ir|b_iz|b_in), bias_hh_l{l} = (b_hr|b_hz|b_hn) (3H,).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, impl="auto"):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype, impl)
