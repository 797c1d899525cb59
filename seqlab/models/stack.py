"""The residual-stack language model shared by the post-lecture families (minGRU/minLSTM, RetNet,
Mamba): each of those files then holds only its blocks, its config and its state.

    z_0 = e(BOS),  z_{t+1} = e(x_t)                      the one input module (seqlab.models.inputs)
    z  <- block_l(z, s_l)   for l = 1..L                 parallel form over the sequence, or one step
    P(x_t | x_<t) = emission(head(norm_f(z_t)))          the one output head (seqlab.models.heads)

A block has `forward(z (B, n, d), s) -> (z, s')` (the parallel form, e.g. a scan or retention's
(QKᵀ ⊙ D)V) and `step(z (B, d), s) -> (z, s')` (the recurrent form). A family subclasses
`BlockStackLM` with:

    init_state(batch_size)           its typed state before anything was read (batch on axis 0)
    layer_state(state, l)            the block state of layer l
    stack_states(states, state)      the family state from the blocks' new states

so `conditionals` (parallel), `step` (recurrent) and `prefill` (one parallel pass that returns the
state) are written once, here.

Shapes: B batch, n positions, d d_model, P emission parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import SequenceModel
from seqlab.models.heads import OutputHead
from seqlab.models.inputs import InputEmbedding

__all__ = ["BlockStackLM", "check_common_fields"]


def check_common_fields(config, positive: tuple[str, ...]) -> None:
    """ConfigError unless every `positive` field is >= 1, dropout lies in [0, 1) and vocab_size is
    None (real values) or >= 1: the checks every stack family's config shares."""
    for name in positive:
        if int(getattr(config, name)) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(config, name)}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.vocab_size is not None and config.vocab_size < 1:
        raise ConfigError(f"vocab_size must be >= 1 or None (real values), got {config.vocab_size}")


class BlockStackLM(SequenceModel):
    """embed -> dropout -> blocks -> norm_f -> head. Weights: embed (InputEmbedding), blocks,
    norm_f, head (OutputHead: tied to the table for tokens when config.tie_weights, untied, or
    Gaussian for real values)."""

    def __init__(self, config, make_block, norm_f: type = nn.LayerNorm):
        """make_block(): one new block (called num_layers times, after the input module is built,
        so parameters are drawn in the order embed, blocks, norm_f, head)."""
        super().__init__(config)
        d = config.d_model
        self.embed = InputEmbedding(config.vocab_size, d, std=d**-0.5)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(make_block() for _ in range(self.num_layers))
        self.norm_f = norm_f(d)
        self.head = OutputHead(d, config.vocab_size, tied=config.vocab_size is not None and config.tie_weights)

    # ---------------------------------------------------------------- what a family supplies
    @property
    def num_layers(self) -> int:
        raise NotImplementedError

    def layer_state(self, state, layer: int):
        raise NotImplementedError

    def stack_states(self, states: list, state):
        raise NotImplementedError

    # ---------------------------------------------------------------- the stack
    def _emit(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., d) -> params (..., P)."""
        return self.head(self.norm_f(z), self.embed)

    def _blocks(self, z: torch.Tensor, state, recurrent: bool):
        """Every block on z (B, n, d) (parallel) or (B, d) (recurrent) after `state` -> (z, state)."""
        states = []
        for layer, block in enumerate(self.blocks):
            run = block.step if recurrent else block
            z, s = run(z, self.layer_state(state, layer))
            states.append(s)
        return z, self.stack_states(states, state)

    # ---------------------------------------------------------------- SequenceModel
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self._blocks(self.drop(self.embed.with_start(x)), self.init_state(x.shape[0]), False)
        return self._emit(z)  # (B, T+1, P)

    def step(self, x_t, state):
        B = next(iter(state)).shape[0]
        z = self.drop(self.embed.start(B)[:, 0] if x_t is None else self.embed(x_t))  # (B, d)
        z, state = self._blocks(z, state, True)
        return self._emit(z), state

    def prefill(self, prompt: torch.Tensor):
        """Read the start symbol and the prompt in one parallel pass that returns the state."""
        z, state = self._blocks(self.drop(self.embed.with_start(prompt)), self.init_state(prompt.shape[0]), False)
        return self._emit(z[:, -1]), state
