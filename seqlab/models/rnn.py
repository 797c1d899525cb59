"""Latent autoregressive models: RNN, LSTM and GRU language models and forecasters.

The past is summarised by a hidden state updated once per element,

    h_t = g(h_{t-1}, e(x_{t-1})),    P(x_t | x_<t) = emission(W_o h_t + b_o),

with e(x_{-1}) = e(BOS) a learned start input, g one of seqlab.nn.RNN / LSTM / GRU (stacked
`num_layers` deep), and the emission categorical over V tokens (tokens) or Gaussian (real values).

e and e(BOS) come from seqlab.models.inputs (tokens: a table of V + 1 rows, row V is BOS; real
values: e(x) = w_in x + b_in and a learned start vector); the output layer W_o, b_o is
seqlab.models.heads.OutputHead. With `tie_weights` (tokens) it reuses the first V rows of the
table, W_o = E[:V] (Press & Wolf 2017); when hidden_size != embed_dim a projection W_p (E x H)
maps h_t to the embedding space first.

Shapes: B batch, T time, E embed_dim, H hidden_size, L num_layers, V vocab_size, P emission params.
Incremental state: RNNState(h (B, L, H), c (B, L, H) for lstm, None for rnn/gru) (batch first, the
state contract of seqlab.models.base; seqlab.nn's layers take (L, B, H), transposed at the call),
in the parameters' dtype and device (a float64 or bfloat16 model decodes in float64 or bfloat16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError
from seqlab.models.base import SequenceModel, build_config
from seqlab.models.heads import LEGACY_KEYS, OutputHead
from seqlab.models.inputs import InputEmbedding

__all__ = ["RNNConfig", "RNNLM", "RNNState"]

CELLS = ("rnn", "lstm", "gru")


class RNNState(NamedTuple):
    """Hidden state of a stacked recurrent layer, batch first: h (B, L, H); c (B, L, H) for an
    LSTM's cell, None otherwise."""

    h: torch.Tensor
    c: torch.Tensor | None = None

    @classmethod
    def from_layer(cls, state) -> "RNNState":
        """From seqlab.nn's (L, B, H) state (a tensor, or (h, c) for an LSTM)."""
        if isinstance(state, tuple):
            return cls(state[0].transpose(0, 1), state[1].transpose(0, 1))
        return cls(state.transpose(0, 1))

    def to_layer(self):
        """To seqlab.nn's (L, B, H) state (contiguous)."""
        h = self.h.transpose(0, 1).contiguous()
        return h if self.c is None else (h, self.c.transpose(0, 1).contiguous())


@dataclass
class RNNConfig:
    """vocab_size None means real values (Gaussian emission)."""

    vocab_size: int | None = None             # V, tokens (set from the tokenizer; none = real values)
    cell: str = "lstm"                        # recurrent cell (set from the model name)
    embed_dim: int = 64                       # E: size of the input embedding
    hidden_size: int = 128                    # H: size of the hidden state h_t
    num_layers: int = 1                       # stacked recurrent layers
    dropout: float = 0.0                      # dropout probability between layers, in [0, 1)
    tie_weights: bool = False                 # share the output matrix with the token embedding (tokens only)

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


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
                    bidirectional: bool = False):
    """seqlab.nn.RNN / LSTM / GRU, batch_first (dropout between layers only)."""
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    layer = getattr(snn, cls)
    return layer(input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                 dropout=dropout if num_layers > 1 else 0.0)


class RNNLM(SequenceModel):
    """RNN / LSTM / GRU sequence model; `RNNLM(vocab_size=V, cell="gru")` or `RNNLM(cfg)`.

    Weights: embed (InputEmbedding), rnn (seqlab.nn.RNN/LSTM/GRU, torch's names), head
    (OutputHead: untied, tied or Gaussian), proj W_p (E, H) when tied and H != E. State: RNNState.
    """

    config_class = RNNConfig

    def __init__(self, config: RNNConfig | dict | None = None, **fields):
        config = build_config(RNNConfig, config, fields)
        super().__init__(config)
        c = config
        E, H = c.embed_dim, c.hidden_size
        if c.tie_weights:  # created first, see seqlab.models.heads (the parameter order of earlier versions)
            self.head = OutputHead(E, c.vocab_size, tied=True)
        self.embed = InputEmbedding(c.vocab_size, E)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = recurrent_layer(c.cell, E, H, c.num_layers, c.dropout)
        if c.tie_weights:
            self.proj = nn.Linear(H, E, bias=False) if H != E else None  # W_p
        else:
            self.head = OutputHead(H, c.vocab_size)

    def _legacy_keys(self) -> dict[str, str]:
        return LEGACY_KEYS[self.head.kind]

    def _emit(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., H) -> params (..., P)."""
        h = self.drop(h)
        if self.config.tie_weights and self.proj is not None:
            h = self.proj(h)  # W_p h (..., E)
        return self.head(h, self.embed)

    # ---------------------------------------------------------------- SequenceModel
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.drop(self.embed.with_start(x)))  # (B, T+1, H)
        return self._emit(h)  # (B, T+1, P)

    def init_state(self, batch_size: int) -> RNNState:
        c = self.config
        z = torch.zeros(batch_size, c.num_layers, c.hidden_size, device=self.device, dtype=self.dtype)  # (B, L, H)
        return RNNState(z, z.clone() if c.cell == "lstm" else None)

    def step(self, x_t, state: RNNState):
        B = state.h.shape[0]
        inp = self.embed.start(B) if x_t is None else self.embed(x_t[:, None])  # (B, 1, E)
        h, s = self.rnn(self.drop(inp), state.to_layer())  # (B, 1, H)
        return self._emit(h[:, 0]), RNNState.from_layer(s)  # (B, P)

    def prefill(self, prompt: torch.Tensor):
        """Read the start symbol and the whole prompt in one pass of the recurrent layer."""
        h, s = self.rnn(self.drop(self.embed.with_start(prompt)), self.init_state(prompt.shape[0]).to_layer())
        return self._emit(h[:, -1]), RNNState.from_layer(s)
