"""The output of every sequence model: features h_t -> the emission's parameters.

One head, three kinds (seqlab.models.emissions gives the distributions they parametrise):

    untied     params = W_o h + b_o                      logits (..., V)
    tied       params = E[:V] h + b_o                    logits (..., V); h of the table's width
                                                          (a family with other features projects them first)
    gaussian   (mean, log_std) = W h + b                 (..., 2); log_std clamped to
               [LOG_STD_MIN, LOG_STD_MAX] so σ = exp(log_std) never under- or overflows

Tied (Press & Wolf 2017, "Using the Output Embedding to Improve Language Models"): W_o is the
input table E[:V] of the model's seqlab.models.inputs.InputEmbedding, passed to `forward` rather
than stored, so the state_dict holds the table once (no shared tensors: safetensors-safe).

Weights (under the model's attribute `head`): untied `weight` (V, D), `bias` (V,) (initialised as
torch's nn.Linear); tied `bias` (V,) zeros; gaussian `weight` (2, D), `bias` (2,).
A tied head draws no random numbers, so a family may create it first: its parameters then come
first, where the families' own `out_bias` stood before (parameter order is what an optimizer state
is saved by).

Shapes: D input features, E_dim embedding size, V vocabulary.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.emissions import LOG_STD_MAX, LOG_STD_MIN

__all__ = ["OutputHead", "HEAD_KINDS", "LEGACY_KEYS"]

HEAD_KINDS = ("untied", "tied", "gaussian")

# {old key: key now} of RNNLM and TransformerLM weights saved before seqlab.models.inputs and heads
# (run folders of earlier versions), per head kind; their token tables and untied heads kept their keys
LEGACY_KEYS = {
    "gaussian": {"in_proj.weight": "embed.proj.weight", "in_proj.bias": "embed.proj.bias", "bos": "embed.bos",
                 "head.proj.weight": "head.weight", "head.proj.bias": "head.bias"},
    "tied": {"out_bias": "head.bias"},
    "untied": {},
}


class OutputHead(nn.Module):
    """h (..., D) -> params (..., P): `OutputHead(D, V)`, `OutputHead(E_dim, V, tied=True)` or
    `OutputHead(D, None)` (Gaussian, real values)."""

    def __init__(self, in_features: int, vocab_size: int | None, tied: bool = False, bias: bool = True):
        super().__init__()
        self.kind = "gaussian" if vocab_size is None else ("tied" if tied else "untied")
        if self.kind == "gaussian" and tied:
            raise ConfigError("a tied output needs a token model (vocab_size)")
        if self.kind == "tied":
            self.bias = nn.Parameter(torch.zeros(vocab_size))  # b_o
            return
        out = 2 if self.kind == "gaussian" else vocab_size
        self.weight = nn.Parameter(torch.empty(out, in_features))
        self.bias = nn.Parameter(torch.empty(out)) if bias else None
        # torch's nn.Linear initialisation: U(±1/sqrt(D)) for both (kaiming_uniform with a = sqrt 5)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, h: torch.Tensor, embedding: nn.Module | None = None) -> torch.Tensor:
        """h (..., D) -> params (..., P); `embedding` (an InputEmbedding) is read by a tied head."""
        if self.kind == "tied":
            if embedding is None:
                raise ConfigError("a tied output head needs the model's input embedding")
            # logits = h E[:V]ᵀ + b_o
            return nn.functional.linear(h, embedding.table, self.bias)
        p = nn.functional.linear(h, self.weight, self.bias)  # (..., P)
        if self.kind == "untied":
            return p
        return torch.stack([p[..., 0], p[..., 1].clamp(LOG_STD_MIN, LOG_STD_MAX)], dim=-1)

    def extra_repr(self) -> str:
        return self.kind
