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
from seqlab.models.base import SequenceModel, build_config
from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding

__all__ = ["MambaConfig", "MambaLM", "MambaState"]


class MambaState(NamedTuple):
    """Every layer's convolution window and SSM state, batch first."""

    conv: torch.Tensor  # (B, L, D, K-1) the last K-1 inputs of each layer's causal convolution
    h: torch.Tensor     # (B, L, D, N)


@dataclass
class MambaConfig:
    """vocab_size None means real values (Gaussian emission); dt_rank None = ⌈d_model / 16⌉;
    tie_weights applies to tokens only."""

    vocab_size: int | None = None
    d_model: int = 64
    n_layer: int = 2
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None
    dropout: float = 0.0
    tie_weights: bool = True

    def __post_init__(self):
        for name in ("d_model", "n_layer", "d_state", "d_conv", "expand"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dt_rank is not None and self.dt_rank < 1:
            raise ConfigError(f"dt_rank must be >= 1 or None (d_model / 16), got {self.dt_rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1 or None (real values), got {self.vocab_size}")


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


class MambaLM(SequenceModel):
    """Mamba sequence model; `MambaLM(vocab_size=V)` or `MambaLM(cfg)`.

    Weights: embed (InputEmbedding), blocks (MambaBlock each), norm_f (RMSNorm), head (OutputHead:
    tied, untied or Gaussian). State: MambaState.
    """

    config_class = MambaConfig

    def __init__(self, config: MambaConfig | dict | None = None, **fields):
        config = build_config(MambaConfig, config, fields)
        super().__init__(config)
        c = config
        d = c.d_model
        tied = c.vocab_size is not None and c.tie_weights
        self.embed = InputEmbedding(c.vocab_size, d, std=d**-0.5)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(MambaBlock(c) for _ in range(c.n_layer))
        self.norm_f = nn.RMSNorm(d)
        self.head = OutputHead(d, c.vocab_size, tied=tied)

    def _emit(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., d) -> params (..., P)."""
        return self.head(self.norm_f(z), self.embed)

    def _blocks(self, z: torch.Tensor, state: MambaState, recurrent: bool):
        """Every block on z (B, n, d) (parallel) or (B, d) (recurrent) -> (z, MambaState)."""
        convs, hs = [], []
        for layer, block in enumerate(self.blocks):
            run = block.step if recurrent else block
            z, s = run(z, snn.SSMState(state.conv[:, layer], state.h[:, layer]))
            convs.append(s.conv)
            hs.append(s.h)
        return z, MambaState(torch.stack(convs, 1), torch.stack(hs, 1))

    # ---------------------------------------------------------------- SequenceModel
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self._blocks(self.drop(self.embed.with_start(x)), self.init_state(x.shape[0]), False)
        return self._emit(z)  # (B, T+1, P)

    def init_state(self, batch_size: int) -> MambaState:
        c = self.config
        D = c.expand * c.d_model
        kw = dict(device=self.device, dtype=self.dtype)
        return MambaState(torch.zeros(batch_size, c.n_layer, D, c.d_conv - 1, **kw),  # no input yet
                          torch.zeros(batch_size, c.n_layer, D, c.d_state, **kw))     # h_0 = 0

    def step(self, x_t, state: MambaState):
        B = state.h.shape[0]
        z = self.drop(self.embed.start(B)[:, 0] if x_t is None else self.embed(x_t))  # (B, d)
        z, state = self._blocks(z, state, True)
        return self._emit(z), state

    def prefill(self, prompt: torch.Tensor):
        """Read the start symbol and the prompt in one parallel pass that returns the states."""
        z, state = self._blocks(self.drop(self.embed.with_start(prompt)), self.init_state(prompt.shape[0]), False)
        return self._emit(z[:, -1]), state
