"""Latent autoregressive models: RNN, LSTM and GRU language models and forecasters.

The past is summarised by a hidden state updated once per element,

    h_t = g(h_{t-1}, e(x_{t-1})),    P(x_t | x_<t) = emission(W_o h_t + b_o),

with e(x_{-1}) = e(BOS) a learned start input, g one of seqlab.nn.RNN / LSTM / GRU (stacked
`num_layers` deep), and the emission categorical over V tokens (tokens) or Gaussian (real values).

Tokens: e is an embedding table of V + 1 rows (row V is BOS). With `tie_weights` the output
layer reuses the first V rows, W_o = E[:V] (Press & Wolf 2017, "Using the Output Embedding to
Improve Language Models"); the logits are computed from the embedding weight directly, so the
state_dict holds one tensor (no shared storage) and saves to safetensors as is. When
hidden_size != embed_dim, a projection W_p (E x H) maps h_t to the embedding space first.
Real values: e(x) = w_in x + b_in (a projection of the scalar) and a learned start vector.

Shapes: B batch, T time, E embed_dim, H hidden_size, L num_layers, V vocab_size, P emission params.
Incremental state: h (L, B, H) for rnn/gru, (h, c) each (L, B, H) for lstm (batch axis 1), in the
parameters' dtype and device (a float64 or bfloat16 model decodes in float64 or bfloat16).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError
from seqlab.models.base import SequenceModel, build_config
from seqlab.models.emissions import GaussianHead

__all__ = ["RNNConfig", "RNNLM"]

CELLS = ("rnn", "lstm", "gru")


@dataclass
class RNNConfig:
    """vocab_size None means real values (Gaussian emission)."""

    vocab_size: int | None = None
    cell: str = "lstm"
    embed_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    tie_weights: bool = False

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("embed_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1 or None (real values), got {self.vocab_size}")
        if self.tie_weights and self.vocab_size is None:
            raise ConfigError("tie_weights needs a token model (vocab_size)")


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float):
    """seqlab.nn.RNN / LSTM / GRU, batch_first."""
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    layer = getattr(snn, cls)
    return layer(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                 dropout=dropout if num_layers > 1 else 0.0)


class RNNLM(SequenceModel):
    """RNN / LSTM / GRU sequence model; `RNNLM(vocab_size=V, cell="gru")` or `RNNLM(cfg)`."""

    config_class = RNNConfig
    state_batch_dim = 1

    def __init__(self, config: RNNConfig | dict | None = None, **fields):
        config = build_config(RNNConfig, config, fields)
        super().__init__(config)
        c = config
        E, H = c.embed_dim, c.hidden_size
        if c.vocab_size is not None:
            self.embed = nn.Embedding(c.vocab_size + 1, E)  # row V is BOS
        else:
            self.in_proj = nn.Linear(1, E)  # e(x) = w_in x + b_in
            self.bos = nn.Parameter(torch.randn(E) * 0.1)  # start input
        self.drop = nn.Dropout(c.dropout)
        self.rnn = recurrent_layer(c.cell, E, H, c.num_layers, c.dropout)
        if c.vocab_size is None:
            self.head = GaussianHead(H)
        elif c.tie_weights:
            self.proj = nn.Linear(H, E, bias=False) if H != E else None
            self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        else:
            self.head = nn.Linear(H, c.vocab_size)

    # ---------------------------------------------------------------- pieces
    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> e(x) (B, T, E)."""
        if self.config.vocab_size is not None:
            return self.embed(x)
        return self.in_proj(x.unsqueeze(-1).to(self.in_proj.weight.dtype))  # drawn values may be float32

    def _bos(self, B: int) -> torch.Tensor:
        """e(BOS) (B, 1, E)."""
        if self.config.vocab_size is not None:
            return self.embed.weight[self.config.vocab_size].expand(B, 1, -1)
        return self.bos.expand(B, 1, -1)

    def _emit(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., H) -> params (..., P)."""
        h = self.drop(h)
        if self.config.tie_weights:
            if self.proj is not None:
                h = self.proj(h)  # (..., E)
            # logits = h W_oᵀ + b_o with W_o = E[:V] (tied)
            return nn.functional.linear(h, self.embed.weight[: self.config.vocab_size], self.out_bias)
        return self.head(h)

    # ---------------------------------------------------------------- SequenceModel
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        inp = torch.cat([self._bos(B), self._inputs(x)], 1)  # (B, T+1, E)
        h, _ = self.rnn(self.drop(inp))  # (B, T+1, H)
        return self._emit(h)  # (B, T+1, P)

    def init_state(self, batch_size: int):
        c = self.config
        z = torch.zeros(c.num_layers, batch_size, c.hidden_size, device=self.device, dtype=self.dtype)  # (L, B, H)
        return (z, z.clone()) if c.cell == "lstm" else z

    def step(self, x_t, state):
        if x_t is None:
            B = state[0].shape[1] if isinstance(state, tuple) else state.shape[1]
            inp = self._bos(B)  # (B, 1, E)
        else:
            inp = self._inputs(x_t[:, None])  # (B, 1, E)
        h, state = self.rnn(self.drop(inp), state)  # (B, 1, H)
        return self._emit(h[:, 0]), state  # (B, P)

    def prefill(self, prompt: torch.Tensor):
        """Read the start symbol and the whole prompt in one pass of the recurrent layer."""
        B = prompt.shape[0]
        inp = torch.cat([self._bos(B), self._inputs(prompt)], 1)  # (B, T0+1, E)
        h, state = self.rnn(self.drop(inp), self.init_state(B))
        return self._emit(h[:, -1]), state
