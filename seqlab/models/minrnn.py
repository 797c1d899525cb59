"""minGRU and minLSTM language models and forecasters: recurrent, yet trained as a parallel scan.

Paper: Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?" (2024); the layers
are seqlab.nn.MinGRU / MinLSTM (seqlab/nn/minrnn.py, equations there). Their gates read the
current input only, so h_t = a_t ⊙ h_{t-1} + b_t is a linear recurrence that the log-space scan
computes for all t at once (training, scoring) and `step` one t at a time (decoding).

The past is summarised by L residual blocks over the start symbol and the elements read (pre-norm,
as the paper's language models and Mamba's, with a feed-forward sublayer as a Transformer's):

    z_0 = e(BOS),  z_{t+1} = e(x_t)                                      (B, T+1, d)
    h   = MinRNN(LN_1(z))        h_t = a_t ⊙ h_{t-1} + b_t, (a_t, b_t) from LN_1(z_t) only
    z  <- z + W_o h                                                      W_o (d, H), no bias
    z  <- z + W_2 GELU(W_1 LN_2(z) + b_1) + b_2                          L times
    P(x_t | x_<t) = emission(head(LN_f(z_t)))

e, e(BOS): seqlab.models.inputs (table std d^-1/2: unit-norm rows); head: seqlab.models.heads
(tied to the table by default, tokens only). conditionals = the parallel form (every layer's scan
over the whole sequence); step = the recurrent form (MinGRU.step / MinLSTM.step, one element).

Shapes: B batch, T time, d d_model, H hidden_size, L num_layers, F dim_feedforward (4 d when None),
V vocab_size, P emission params. State: MinRNNLMState(h (B, L, H)) (the state contract of
seqlab.models.base), in the parameters' dtype and device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError
from seqlab.models.base import build_config
from seqlab.models.stack import BlockStackLM, check_common_fields

__all__ = ["MinRNNConfig", "MinRNNLM", "MinRNNLMState"]

CELLS = ("gru", "lstm")


class MinRNNLMState(NamedTuple):
    """Every layer's hidden state after the last element read, batch first."""

    h: torch.Tensor  # (B, L, H)


@dataclass
class MinRNNConfig:
    """vocab_size None means real values (Gaussian emission); tie_weights applies to tokens only."""

    vocab_size: int | None = None             # V, tokens (set from the tokenizer; none = real values)
    cell: str = "gru"                         # minGRU or minLSTM (set from the model name)
    d_model: int = 64                         # d: width of the residual stream
    hidden_size: int = 128                    # H: size of the recurrent state h_t
    num_layers: int = 2                       # residual blocks
    dim_feedforward: int | None = None        # F: feed-forward width (none: 4 d_model)
    dropout: float = 0.0                      # dropout probability, in [0, 1)
    tie_weights: bool = True                  # share the output matrix with the token embedding (tokens only)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        check_common_fields(self, ("d_model", "hidden_size", "num_layers"))
        if self.dim_feedforward is not None and self.dim_feedforward < 1:
            raise ConfigError(f"dim_feedforward must be >= 1 or None (4 d_model), got {self.dim_feedforward}")


class MinRNNBlock(nn.Module):
    """z <- z + W_o MinRNN(LN_1(z));  z <- z + FF(LN_2(z)). Weights: norm_1, rnn (weight_ih, bias_ih),
    out_proj (d, H), norm_2, linear1 (F, d), linear2 (d, F)."""

    def __init__(self, cell: str, d: int, H: int, F: int, dropout: float):
        super().__init__()
        self.norm_1 = nn.LayerNorm(d)
        self.rnn = snn.MinGRU(d, H) if cell == "gru" else snn.MinLSTM(d, H)
        self.out_proj = nn.Linear(H, d, bias=False)
        self.norm_2 = nn.LayerNorm(d)
        self.linear1, self.linear2 = nn.Linear(d, F), nn.Linear(F, d)
        self.drop = nn.Dropout(dropout)

    def _feed_forward(self, z: torch.Tensor) -> torch.Tensor:
        # z <- z + W_2 GELU(W_1 LN_2(z) + b_1) + b_2
        return z + self.drop(self.linear2(nn.functional.gelu(self.linear1(self.norm_2(z)))))

    def forward(self, z: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Parallel form: z (B, n, d), h0 (B, H) (None: zeros) -> (z (B, n, d), h_n (B, H))."""
        state = None if h0 is None else snn.MinRNNState(h0)
        h, state = self.rnn(self.norm_1(z), state)  # (B, n, H): the log-space scan
        # z <- z + W_o h
        return self._feed_forward(z + self.drop(self.out_proj(h))), state.h

    def step(self, z: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent form: z (B, d), h0 (B, H) -> (z (B, d), h_t (B, H))."""
        h, _ = self.rnn.step(self.norm_1(z), snn.MinRNNState(h0))  # (B, H)
        return self._feed_forward(z + self.drop(self.out_proj(h))), h


class MinRNNLM(BlockStackLM):
    """minGRU / minLSTM sequence model; `MinRNNLM(vocab_size=V, cell="lstm")` or `MinRNNLM(cfg)`.

    Weights: embed (InputEmbedding), blocks (MinRNNBlock each), norm_f, head (OutputHead: tied,
    untied or Gaussian). State: MinRNNLMState. The stack, `conditionals`, `step` and `prefill`:
    seqlab.models.stack.BlockStackLM.
    """

    config_class = MinRNNConfig

    def __init__(self, config: MinRNNConfig | dict | None = None, **fields):
        c = build_config(MinRNNConfig, config, fields)
        super().__init__(c, lambda: MinRNNBlock(c.cell, c.d_model, c.hidden_size,
                                                c.dim_feedforward or 4 * c.d_model, c.dropout))

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def init_state(self, batch_size: int) -> MinRNNLMState:
        c = self.config
        return MinRNNLMState(torch.zeros(batch_size, c.num_layers, c.hidden_size, device=self.device,
                                         dtype=self.dtype))  # h_0 = 0, (B, L, H)

    def layer_state(self, state: MinRNNLMState, layer: int) -> torch.Tensor:
        return state.h[:, layer]  # (B, H)

    def stack_states(self, states: list, state: MinRNNLMState) -> MinRNNLMState:
        return MinRNNLMState(torch.stack(states, 1))  # (B, L, H)
