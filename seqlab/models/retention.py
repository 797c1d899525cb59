"""RetNet language model and forecaster: multi-scale retention, parallel to train, recurrent to decode.

Paper: Sun, Dong, Huang, Ma, Xia, Xue, Wang & Wei, "Retentive Network: A Successor to Transformer
for Large Language Models" (2023), §2.3 (the RetNet block); the layer is seqlab.nn.MultiScaleRetention
(seqlab/nn/retention.py: eq. (5) parallel, eq. (6) recurrent, eq. (8) gated multi-scale form, one
decay γ_i = 1 - 2^(-5-i) per head i = 0..h-1, rotary positions).

The past is summarised by L pre-norm blocks over the start symbol and the elements read:

    z_0 = e(BOS),  z_{t+1} = e(x_t)                                      (B, T+1, d)
    Y  = MSR(LN_1(z)) + z          MSR: o_n = Σ_{m<=n} γ^(n-m) (q_n k_mᵀ) v_m per head, gated
    z  = W_2 GELU(W_1 LN_2(Y) + b_1) + b_2 + Y                           L times
    P(x_t | x_<t) = emission(head(LN_f(z_t)))

F = dim_feedforward, 2 d when None: MSR with value_factor 2 holds 8 d² weights against attention's
4 d², and the paper halves the feed-forward width so that a block has a Transformer block's 12 d².
No positional table: rotary angles n θ come from the position n the state counts, so the model
takes any length. conditionals = the parallel form (the T x T decay-masked scores, like attention
and O(T²)); step = the recurrent form S_n = γ S_{n-1} + k_nᵀ v_n, O(1) per element.

e, e(BOS): seqlab.models.inputs (table std d^-1/2); head: seqlab.models.heads (tied by default,
tokens only).

Shapes: B batch, T time, d d_model, h n_head, d_k = d / h, d_v = 2 d_k, L n_layer, V vocab_size,
P emission params. State: RetNetState(S (B, L, h, d_k, d_v), n (B,)) (the state contract of
seqlab.models.base), S in the parameters' dtype and device, n (long) the elements read (BOS included).
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

__all__ = ["RetNetConfig", "RetNetLM", "RetNetState"]

VALUE_FACTOR = 2  # d_v = 2 d_k, the paper's choice


class RetNetState(NamedTuple):
    """Every layer's retention state and the position reached, batch first."""

    S: torch.Tensor  # (B, L, h, d_k, d_v)
    n: torch.Tensor  # (B,) long: positions read so far (BOS included), the rotary offset


@dataclass
class RetNetConfig:
    """vocab_size None means real values (Gaussian emission); dim_feedforward None = 2 d_model;
    tie_weights applies to tokens only."""

    vocab_size: int | None = None             # V, tokens (set from the tokenizer; none = real values)
    d_model: int = 64                         # d: width of the residual stream
    n_head: int = 4                           # h: retention heads, one decay γ each (d_model / h must be even)
    n_layer: int = 2                          # residual blocks
    dim_feedforward: int | None = None        # F: feed-forward width (none: 2 d_model)
    dropout: float = 0.0                      # dropout probability, in [0, 1)
    tie_weights: bool = True                  # share the output matrix with the token embedding (tokens only)

    def __post_init__(self):
        check_common_fields(self, ("d_model", "n_head", "n_layer"))
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ConfigError(f"d_model={self.d_model} must be n_head={self.n_head} times an even head size "
                              f"(rotary positions turn feature pairs)")
        if self.dim_feedforward is not None and self.dim_feedforward < 1:
            raise ConfigError(f"dim_feedforward must be >= 1 or None (2 d_model), got {self.dim_feedforward}")


class RetNetBlock(nn.Module):
    """Y = MSR(LN_1(z)) + z;  z = FF(LN_2(Y)) + Y. Weights: norm_1, retention (q/k/v/g/out_proj,
    group_norm), norm_2, linear1 (F, d), linear2 (d, F)."""

    def __init__(self, d: int, h: int, F: int, dropout: float):
        super().__init__()
        self.norm_1 = nn.LayerNorm(d)
        self.retention = snn.MultiScaleRetention(d, h, value_factor=VALUE_FACTOR)
        self.norm_2 = nn.LayerNorm(d)
        self.linear1, self.linear2 = nn.Linear(d, F), nn.Linear(F, d)
        self.drop = nn.Dropout(dropout)

    def _feed_forward(self, y: torch.Tensor) -> torch.Tensor:
        # z = W_2 GELU(W_1 LN_2(Y) + b_1) + b_2 + Y
        return y + self.drop(self.linear2(nn.functional.gelu(self.linear1(self.norm_2(y)))))

    def forward(self, z: torch.Tensor, state: snn.RetentionState | None = None):
        """Parallel form: z (B, n, d), state (None: zeros) -> (z (B, n, d), RetentionState after the n steps)."""
        o, state = self.retention(self.norm_1(z), state, form="parallel")  # (B, n, d)
        # Y = MSR(LN_1(z)) + z
        return self._feed_forward(z + self.drop(o)), state

    def step(self, z: torch.Tensor, state: snn.RetentionState):
        """Recurrent form: z (B, d) -> (z (B, d), RetentionState after the step)."""
        o, state = self.retention.step(self.norm_1(z), state)  # (B, d)
        return self._feed_forward(z + self.drop(o)), state


class RetNetLM(BlockStackLM):
    """RetNet sequence model; `RetNetLM(vocab_size=V)` or `RetNetLM(cfg)`.

    Weights: embed (InputEmbedding), blocks (RetNetBlock each), norm_f, head (OutputHead: tied,
    untied or Gaussian); buffers gamma (h,) and theta (d_k/2,) per layer, not saved. State: RetNetState.
    The stack, `conditionals`, `step` and `prefill`: seqlab.models.stack.BlockStackLM.
    """

    config_class = RetNetConfig

    def __init__(self, config: RetNetConfig | dict | None = None, **fields):
        c = build_config(RetNetConfig, config, fields)
        super().__init__(c, lambda: RetNetBlock(c.d_model, c.n_head, c.dim_feedforward or 2 * c.d_model, c.dropout))

    @property
    def num_layers(self) -> int:
        return self.config.n_layer

    def init_state(self, batch_size: int) -> RetNetState:
        c = self.config
        d_k = c.d_model // c.n_head
        S = torch.zeros(batch_size, c.n_layer, c.n_head, d_k, VALUE_FACTOR * d_k, device=self.device,
                        dtype=self.dtype)  # S_0 = 0, (B, L, h, d_k, d_v)
        return RetNetState(S, torch.zeros(batch_size, dtype=torch.long, device=self.device))

    def layer_state(self, state: RetNetState, layer: int) -> snn.RetentionState:
        return snn.RetentionState(state.S[:, layer], state.n)

    def stack_states(self, states: list, state: RetNetState) -> RetNetState:
        # every layer reads the same positions: n is shared (the last block's)
        return RetNetState(torch.stack([s.S for s in states], 1), states[-1].n)
