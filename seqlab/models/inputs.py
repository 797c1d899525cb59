"""The input of every sequence model: e(x) for an element and e(BOS) for the internal start symbol.

Every family reads x_<t after a start symbol (position 0 holds BOS), so one module serves them all:

    tokens       e(x) = E[x],          e(BOS) = E[V]      E (V+1, E_dim): row V is BOS
    real values  e(x) = w x + b,       e(BOS) = s         w (E_dim, 1), b (E_dim,), s (E_dim,)

One initialisation for every family: E ~ N(0, std²) with std = 1 (torch's nn.Embedding default)
unless the family states another (TransformerLM, whose positions set the scale); w, b as torch's
nn.Linear(1, E_dim); s ~ N(0, 0.1²), the start vector small next to a typical w x + b.

Weights (state_dict keys under the model's attribute, `embed` by convention): tokens `weight`;
real values `proj.weight`, `proj.bias`, `bos`. An output layer tied to the input reads
`table` = E[:V] (seqlab.models.heads).

Shapes: B batch, T time, E_dim embedding size, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["InputEmbedding", "START_STD"]

START_STD = 0.1  # std of the learned start vector s for real values


class InputEmbedding(nn.Module):
    """e(x) and e(BOS): a token table with a BOS row (vocab_size V) or a value projection with a
    learned start vector (vocab_size None). Inputs are cast to the weights' dtype (real values)."""

    def __init__(self, vocab_size: int | None, dim: int, std: float = 1.0):
        super().__init__()
        self.vocab_size, self.dim = vocab_size, dim
        if vocab_size is not None:
            self.weight = nn.Parameter(torch.empty(vocab_size + 1, dim))  # E (V+1, E_dim), row V = BOS
            nn.init.normal_(self.weight, std=std)
        else:
            self.proj = nn.Linear(1, dim)  # e(x) = w x + b
            self.bos = nn.Parameter(torch.randn(dim) * START_STD)  # s

    @property
    def tokens(self) -> bool:
        return self.vocab_size is not None

    @property
    def table(self) -> torch.Tensor:
        """E[:V] (V, E_dim): the token rows, what a tied output layer reads."""
        return self.weight[: self.vocab_size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (...) token ids or values -> e(x) (..., E_dim)."""
        if self.tokens:
            return nn.functional.embedding(x.long(), self.weight)
        return self.proj(x.unsqueeze(-1).to(self.proj.weight.dtype))  # drawn values may be float32

    def start(self, batch_size: int) -> torch.Tensor:
        """e(BOS) for a batch, (B, 1, E_dim)."""
        e = self.weight[self.vocab_size] if self.tokens else self.bos  # (E_dim,)
        return e.expand(batch_size, 1, -1)

    def with_start(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> (e(BOS), e(x_0), ..., e(x_{T-1})) (B, T+1, E_dim)."""
        return torch.cat([self.start(x.shape[0]), self(x)], 1)

    def extra_repr(self) -> str:
        kind = f"tokens={self.vocab_size}+BOS" if self.tokens else "real values + start vector"
        return f"{kind}, dim={self.dim}"
