"""Neural AR(tau): a fixed window of the last tau embeddings through an MLP (a neural n-gram).

Reference: Y. Bengio, R. Ducharme, P. Vincent, C. Jauvin, "A Neural Probabilistic Language Model",
JMLR 3 (2003) (without the direct input-to-output connections).

Shapes: B batch, T time, tau window, E embedding size, H hidden size, V vocabulary, P emission
parameters (V logits, or 2 = (mean, log_std) for real values).

    e_s   = C[x_s]                  (tokens: an embedding table; real values: C x_s + b)
    z_t   = (e_{t-tau}, ..., e_{t-1})          concatenated, (tau E,); e_s = e_BOS for s < 0
    h^(1) = tanh(W_1 z_t + b_1), ..., h^(L) = tanh(W_L h^(L-1) + b_L)      (dropout after each)
    params_t = W_o h^(L) + b_o      -> logits (V,) or (mean, log_std)

So P(x_t | x_<t) depends on the last tau elements only, like an order-tau Markov model, but shares
statistical strength between similar contexts through the embeddings. e_BOS is the learned start
input of seqlab.models.inputs (row V of the token table; a start vector for real values); the
output layer is seqlab.models.heads.OutputHead (untied logits, or Gaussian).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import build_config, SequenceModel
from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding

__all__ = ["NeuralAR", "NeuralARConfig", "NeuralARState"]


class NeuralARState(NamedTuple):
    """The window of the last tau input embeddings, oldest first."""

    window: torch.Tensor  # (B, tau, E)


@dataclasses.dataclass
class NeuralARConfig:
    """vocab_size V for tokens, None for real values; tau window; num_layers tanh layers (0: linear)."""

    vocab_size: int | None = 256              # V, tokens (set from the tokenizer; none = real values)
    tau: int = 3                              # τ: previous elements read (the window)
    embed_dim: int = 32                       # E: size of each element's embedding
    hidden_size: int = 128                    # H: units per hidden layer
    num_layers: int = 1                       # tanh hidden layers (0: linear in the window)
    dropout: float = 0.0                      # dropout probability on hidden layers, in [0, 1)

    def __post_init__(self):
        if self.vocab_size is not None and (not isinstance(self.vocab_size, int) or self.vocab_size < 1):
            raise ConfigError(f"vocab_size must be an integer >= 1 or None (real values), got {self.vocab_size!r}")
        for name in ("tau", "embed_dim", "hidden_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"neural-ar {name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.num_layers, int) or self.num_layers < 0:
            raise ConfigError(f"neural-ar num_layers must be an integer >= 0, got {self.num_layers!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.num_layers == 0 and self.dropout > 0:  # dropout acts after each tanh layer only
            raise ConfigError(f"neural-ar dropout={self.dropout} has no effect with num_layers=0 "
                              f"(a linear model); set dropout=0 or num_layers >= 1")


class NeuralAR(SequenceModel):
    """Bengio-style neural n-gram over tokens (categorical) or real values (Gaussian).

    Inputs: x (B, T) LongTensor ids in [0, V) or FloatTensor values.
    Weights: embed (seqlab.models.inputs.InputEmbedding: a (V+1, E) table, row V = BOS, or a value
    projection and start vector); mlp: num_layers x (Linear, Tanh, Dropout), the first from tau*E;
    head (seqlab.models.heads.OutputHead: Linear(H, V) logits or Gaussian).
    State (incremental decoding): NeuralARState(window (B, tau, E)).
    """

    config_class = NeuralARConfig

    def __init__(self, config: NeuralARConfig | dict | None = None, **fields):
        config = build_config(NeuralARConfig, config, fields)
        super().__init__(config)
        c = config
        self.tau = c.tau
        self.embed = InputEmbedding(c.vocab_size, c.embed_dim)
        layers, width = [], c.tau * c.embed_dim
        for _ in range(c.num_layers):
            layers += [nn.Linear(width, c.hidden_size), nn.Tanh(), nn.Dropout(c.dropout)]
            width = c.hidden_size
        self.mlp = nn.Sequential(*layers)
        self.head = OutputHead(width, c.vocab_size)

    def _legacy_keys(self) -> dict[str, str]:
        if self.embed.tokens:  # token weights kept their names
            return {}
        return {"embed.weight": "embed.proj.weight", "embed.bias": "embed.proj.bias", "bos": "embed.bos",
                "head.proj.weight": "head.weight", "head.proj.bias": "head.bias"}

    def _bos(self, batch_size: int) -> torch.Tensor:
        """The start window: tau copies of e_BOS, (B, tau, E)."""
        return self.embed.start(batch_size).expand(-1, self.tau, -1)

    def _head(self, z: torch.Tensor) -> torch.Tensor:
        """Windows z (..., tau*E) -> emission params (..., P)."""
        return self.head(self.mlp(z))

    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> params (B, T+1, P); params[:, t] from the window (x_{t-tau}..x_{t-1})."""
        B, T = x.shape
        e = torch.cat([self._bos(B), self.embed(x)], 1)  # (B, tau+T, E)
        z = e.unfold(1, self.tau, 1)  # (B, T+1, E, tau)
        z = z.transpose(2, 3).reshape(B, T + 1, -1)  # (B, T+1, tau*E): oldest first
        return self._head(z)

    def init_state(self, batch_size: int) -> NeuralARState:
        return NeuralARState(self._bos(batch_size).clone())  # (B, tau, E)

    def step(self, x_t, state: NeuralARState):
        """Read x_t (B,) (None: the start symbol) -> (params (B, P), NeuralARState)."""
        window = state.window
        if x_t is not None:
            window = torch.cat([window[:, 1:], self.embed(x_t)[:, None]], 1)  # (B, tau, E)
        return self._head(window.reshape(window.shape[0], -1)), NeuralARState(window)
