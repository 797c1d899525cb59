"""Tiny models and data for the training-engine tests (the seqlab model contract, minimal).

BigramLM: P(x_t | x_<t) = softmax(W[x_{t-1}]) with W (V+1, V), row V the start state; a
`SequenceModel`, so forward / log_prob follow the same contract as every seqlab model.

Shapes: B batch, T time, V vocabulary.
"""

from dataclasses import dataclass

import torch
from torch import nn

from seqlab.models.base import SequenceModel

V = 6


@dataclass
class BigramConfig:
    vocab_size: int = V


class BigramLM(SequenceModel):
    def __init__(self, vocab_size: int = V):
        super().__init__(BigramConfig(vocab_size))
        self.table = nn.Embedding(vocab_size + 1, vocab_size)  # (V+1, V)
        self.bias = nn.Parameter(torch.zeros(vocab_size))       # (V,)  a 1-D parameter: no decay

    def conditionals(self, x):
        B = x.shape[0]
        prev = torch.cat([torch.full((B, 1), self.config.vocab_size, device=x.device), x], 1)  # (B, T+1)
        return self.table(prev) + self.bias  # (B, T+1, V)

    def init_state(self, batch_size):
        return torch.full((batch_size,), self.config.vocab_size, dtype=torch.long)

    def step(self, x_t, state):
        prev = state if x_t is None else x_t
        return self.table(prev) + self.bias, prev


def stream(n: int = 3000, seed: int = 0, vocab: int = V) -> torch.Tensor:
    """A Markov-chain token stream with structure a model can learn."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, dtype=torch.long)
    x = 0
    for i in range(n):
        x = (x + 1) % vocab if torch.rand((), generator=g) < 0.8 else int(torch.randint(0, vocab, (), generator=g))
        out[i] = x
    return out


def lstm(vocab: int = V):
    from seqlab.models import registry

    return registry.build_model("lstm", vocab_size=vocab, embed_dim=8, hidden_size=12)


def params(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
