"""Positional encodings: fixed sinusoids and learned position embeddings, added to the input.

Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5 (sinusoids);
learned absolute positions as in GPT-2 (Radford et al., 2019).

Shapes: B batch, T time, E = d_model features, P = max_len positions.
Both classes take x (T, B, E), (B, T, E) with batch_first, or (T, E) unbatched, and return
`dropout(x + PE[offset : offset + T])` of the same shape. `offset` is the position of x's first
step: while decoding one step at a time with a KV cache, pass `offset=len(cache)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigError, DataError

__all__ = ["SinusoidalPositionalEncoding", "LearnedPositionalEncoding"]


class _AddPositions(nn.Module):
    """Shared forward: x + PE[offset : offset + T], then dropout."""

    d_model: int
    max_len: int
    batch_first: bool

    def _table(self) -> Tensor:  # (P, E)
        raise NotImplementedError

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        if x.dim() not in (2, 3) or x.size(-1) != self.d_model:
            raise DataError(f"expected input (T, {self.d_model}) or 3-D with {self.d_model} features, "
                            f"got shape {tuple(x.shape)}")
        time_dim = 1 if (self.batch_first and x.dim() == 3) else 0
        T = x.size(time_dim)
        offset = int(offset)
        if offset < 0 or offset + T > self.max_len:
            raise DataError(f"positions {offset}..{offset + T - 1} exceed max_len={self.max_len}; "
                            f"construct the encoding with a larger max_len")
        pe = self._table()[offset : offset + T]  # (T, E)
        if x.dim() == 3 and not self.batch_first:
            pe = pe.unsqueeze(1)  # (T, 1, E) broadcast over B
        return self.dropout(x + pe.to(x.dtype))


class SinusoidalPositionalEncoding(_AddPositions):
    """Fixed sinusoidal positions added to the input.

        PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
        PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

    The table PE (max_len, d_model) is a non-persistent buffer: it follows `.to(device)` but is not
    in the state_dict (it is recomputed, never learned). Odd d_model is allowed (the last column
    is a sine).
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ConfigError(f"d_model and max_len must be positive, got {d_model} and {max_len}")
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = nn.Dropout(dropout)
        pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (P, 1)
        two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(E/2),)
        angle = pos / 10000.0 ** (two_i / d_model)  # (P, ceil(E/2))  pos / 10000^(2i/d)
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(angle)  # PE(pos, 2i)
        pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # PE(pos, 2i+1)
        self.register_buffer("pe", pe.to(device=device, dtype=dtype or torch.get_default_dtype()),
                             persistent=False)

    def _table(self) -> Tensor:
        return self.pe

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEncoding(_AddPositions):
    """Learned absolute positions added to the input: `x_t + W[offset + t]`.

    Parameter `weight` (max_len, d_model), initialised N(0, 0.02^2) as in GPT-2.
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0, batch_first: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ConfigError(f"d_model and max_len must be positive, got {d_model} and {max_len}")
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = nn.Dropout(dropout)
        self.weight = nn.Parameter(torch.empty(max_len, d_model, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)

    def _table(self) -> Tensor:
        return self.weight

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"

