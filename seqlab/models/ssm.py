"""Mamba language model and forecaster: a stack of selective state-space (S6) blocks.

Paper: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023), §3.4
(the block) and §4 (the language model: a stack of residual Mamba blocks with RMSNorm, no
attention and no MLP); the layer is seqlab.nn.SelectiveSSM (seqlab/nn/ssm.py, equations there).
Δ, B and C are computed from the input, so what the state keeps and forgets depends on what is
read (selection); the recurrence h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t is linear in h, so training runs
it as a parallel (chunked associative) scan and decoding one step at a time.

The past is summarised by L residual blocks over the start symbol and the elements read:

    z_0 = e(BOS),  z_{t+1} = e(x_t)                                      (B, T+1, d)
    z  <- z + Mamba(RMSNorm(z))          per channel: h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t, y_t = C_t h_t + D u_t
                                          (after a causal depthwise convolution of width K), L times
    P(x_t | x_<t) = emission(head(RMSNorm_f(z_t)))

conditionals = the parallel form (SelectiveSSM's chunked scan over the whole sequence); step = the
recurrent form (SelectiveSSM.step: the convolution window and h carried, O(D (K + N)) per element).
e, e(BOS): seqlab.models.inputs (table std d^-1/2); head: seqlab.models.heads (tied by default,
tokens only).

Shapes: B batch, T time, d d_model, D = expand·d inner channels, N d_state, K d_conv,
R dt_rank (⌈d/16⌉ when None), L n_layer, V vocab_size, P emission params.
State: MambaState(conv (B, L, D, K-1), h (B, L, D, N)) (the state contract of seqlab.models.base),
in the parameters' dtype and device.
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

__all__ = ["MambaConfig", "MambaLM", "MambaState"]


class MambaState(NamedTuple):
    """Every layer's convolution window and SSM state, batch first."""

    conv: torch.Tensor  # (B, L, D, K-1) the last K-1 inputs of each layer's causal convolution
    h: torch.Tensor     # (B, L, D, N)


@dataclass
class MambaConfig:
    """vocab_size None means real values (Gaussian emission); dt_rank None = ⌈d_model / 16⌉;
    tie_weights applies to tokens only."""

    vocab_size: int | None = None             # V, tokens (set from the tokenizer; none = real values)
    d_model: int = 64                         # d: width of the residual stream
    n_layer: int = 2                          # residual blocks
    d_state: int = 16                         # N: state size per channel of the selective scan
    d_conv: int = 4                           # width of the causal depthwise convolution
    expand: int = 2                           # inner width = expand x d_model
    dt_rank: int | None = None                # rank of the Δ projection (none: ceil(d_model / 16))
    dropout: float = 0.0                      # dropout probability, in [0, 1)
    tie_weights: bool = True                  # share the output matrix with the token embedding (tokens only)

    def __post_init__(self):
        check_common_fields(self, ("d_model", "n_layer", "d_state", "d_conv", "expand"))
        if self.dt_rank is not None and self.dt_rank < 1:
            raise ConfigError(f"dt_rank must be >= 1 or None (d_model / 16), got {self.dt_rank}")


class MambaBlock(nn.Module):
    """z <- z + Mamba(RMSNorm(z)). Weights: norm (d,), mixer (SelectiveSSM: in_proj, conv1d, x_proj,
    dt_proj, A_log, D, out_proj)."""

    def __init__(self, c: MambaConfig):
        super().__init__()
        self.norm = nn.RMSNorm(c.d_model)
        self.mixer = snn.SelectiveSSM(c.d_model, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
                                      dt_rank=c.dt_rank)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, z: torch.Tensor, state: snn.SSMState | None = None):
        """Parallel form: z (B, n, d), state (None: zeros) -> (z (B, n, d), SSMState after the n steps)."""
        y, state = self.mixer(self.norm(z), state, scan="chunked")  # (B, n, d)
        return z + self.drop(y), state

    def step(self, z: torch.Tensor, state: snn.SSMState):
        """Recurrent form: z (B, d) -> (z (B, d), SSMState after the step)."""
        y, state = self.mixer.step(self.norm(z), state)  # (B, d)
        return z + self.drop(y), state


class MambaLM(BlockStackLM):
    """Mamba sequence model; `MambaLM(vocab_size=V)` or `MambaLM(cfg)`.

    Weights: embed (InputEmbedding), blocks (MambaBlock each), norm_f (RMSNorm), head (OutputHead:
    tied, untied or Gaussian). State: MambaState.
    """

    config_class = MambaConfig

    def __init__(self, config: MambaConfig | dict | None = None, **fields):
        c = build_config(MambaConfig, config, fields)
        super().__init__(c, lambda: MambaBlock(c), norm_f=nn.RMSNorm)

    @property
    def num_layers(self) -> int:
        return self.config.n_layer

    def init_state(self, batch_size: int) -> MambaState:
        c = self.config
        D = c.expand * c.d_model
        kw = dict(device=self.device, dtype=self.dtype)
        return MambaState(torch.zeros(batch_size, c.n_layer, D, c.d_conv - 1, **kw),  # no input yet
                          torch.zeros(batch_size, c.n_layer, D, c.d_state, **kw))     # h_0 = 0

    def layer_state(self, state: MambaState, layer: int) -> snn.SSMState:
        return snn.SSMState(state.conv[:, layer], state.h[:, layer])

    def stack_states(self, states: list, state: MambaState) -> MambaState:
        return MambaState(torch.stack([s.conv for s in states], 1), torch.stack([s.h for s in states], 1))
