"""Small causal taggers for the long-memory probes of `seqlab probe` (seqlab.experiments.probe).

Shapes: B batch, T sequence length (the probe's total length), H hidden size, C classes (10 for
copy, the probe's vocabulary for the recall probes), h heads.

Every probe model reads x_1..x_T left to right and emits one output per step from a causal
summary of x_<=t, so none of them can look ahead:

    e_t = Embed(x_t)  (copy, recall: token embedding)  or  W_e x_t + b_e  (adding: 2 channels)
    s_t = RNN/LSTM/GRU(e_1..e_t)   or   causal Transformer encoder over e_1..e_t (+ positions)
          or LN(blocks(e)_t) with the residual blocks of the recurrent families
          (seqlab.models.minrnn.MinRNNBlock, retention.RetNetBlock, ssm.MambaBlock; parallel form)
    copy:   P(y_t | x_<=t) = softmax(W_o s_t + b_o)      loss: mean cross-entropy over all t (nats)
    recall: P(y_t | x_<=t) = softmax(W_o s_t + b_o)      loss: mean cross-entropy over the scored
            (selective-copying, induction-heads, mqar)     positions (the probe's mask)
    adding: ŷ = w_o · s_T + b_o                           loss: MSE of the last step

A probe tagger is not a `SequenceModel` (it maps inputs to per-step outputs, it does not model
P(x)); it follows the LM training contract `forward(x, y) -> (out, loss)`, so seqlab.train's
Trainer trains it with a RowsTask.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError

__all__ = ["ProbeTagger", "PROBE_MODELS", "PROBE_TASKS", "RECALL_TASKS"]

PROBE_MODELS = ("rnn", "lstm", "gru", "transformer", "mingru", "minlstm", "retnet", "mamba")
RECALL_TASKS = ("selective-copying", "induction-heads", "mqar")  # seqlab.data.probes.RecallProbe
PROBE_TASKS = ("copy", "adding", *RECALL_TASKS)


class ProbeTagger(nn.Module):
    """Causal per-step tagger (copy) or last-step regressor (adding) on a seqlab.nn core.

    kind: rnn | lstm | gru | transformer (pre-norm, causal mask, sinusoidal positions) | mingru |
    minlstm | retnet | mamba (pre-norm residual blocks, feed-forward width 2 H where a block has one,
    then LayerNorm); task: copy (x (B, T) ids in 0..9) | adding (x (B, T, 2) floats) | a recall
    probe (x (B, T) ids in 0..vocab_size-1, scored where `mask`); hidden_size H is the embedding,
    state and model width; max_len bounds T for the Transformer's positions; n_layer layers/blocks.
    """

    def __init__(self, kind: str, task: str, hidden_size: int = 64, max_len: int = 512,
                 n_head: int = 4, n_layer: int = 1, vocab_size: int = 10):
        super().__init__()
        if kind not in PROBE_MODELS:
            raise ConfigError(f"unknown probe model {kind!r}; choose from {', '.join(PROBE_MODELS)}")
        if task not in PROBE_TASKS:
            raise ConfigError(f"unknown probe task {task!r}; choose from {', '.join(PROBE_TASKS)}")
        self.kind, self.task = kind, task
        H = hidden_size
        classes = 10 if task == "copy" else vocab_size
        self.embed = nn.Linear(2, H) if task == "adding" else nn.Embedding(classes, H)
        if kind in ("mingru", "minlstm", "retnet", "mamba"):
            self.core = nn.ModuleList(_residual_block(kind, H, n_head) for _ in range(n_layer))
            self.norm = nn.LayerNorm(H)
        elif kind == "transformer":
            if H % n_head:
                raise ConfigError(f"hidden size {H} is not divisible by {n_head} heads")
            self.positions = snn.SinusoidalPositionalEncoding(H, max_len=max_len, batch_first=True)
            layer = snn.TransformerEncoderLayer(H, n_head, dim_feedforward=2 * H, dropout=0.0,
                                                batch_first=True, norm_first=True)
            self.core = snn.TransformerEncoder(layer, n_layer, norm=nn.LayerNorm(H))
        else:
            cls = {"rnn": snn.RNN, "lstm": snn.LSTM, "gru": snn.GRU}[kind]
            self.core = cls(H, H, num_layers=n_layer, batch_first=True)
        self.head = nn.Linear(H, 1 if task == "adding" else classes)

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) long or (B, T, 2) float -> e (B, T, H)."""
        return self.embed(x)

    def forward_embedded(self, e: torch.Tensor) -> torch.Tensor:
        """e (B, T, H) -> outputs (B, T, C) logits (copy, recall) or (B, T) predictions (adding)."""
        if isinstance(self.core, nn.ModuleList):
            z = e
            for block in self.core:
                z, _ = block(z)  # (B, T, H), the parallel form from the zero state
            s = self.norm(z)
        elif self.kind == "transformer":
            T = e.shape[1]
            s = self.core(self.positions(e), mask=snn.causal_mask(T, device=e.device), is_causal=True)
        else:
            s, _ = self.core(e)  # (B, T, H)
        out = self.head(s)  # (B, T, C) or (B, T, 1)
        return out[..., 0] if self.task == "adding" else out

    def loss(self, out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """copy: mean cross-entropy over all B T steps (nats); recall: over the positions where
        mask (B, T) is True; adding: MSE of the last step."""
        if self.task in RECALL_TASKS:
            if mask is None:
                raise ConfigError(f"the {self.task} probe is scored on its mask; pass mask=")
            return nn.functional.cross_entropy(out[mask], y[mask])  # logits[mask] (n, C)
        if self.task == "copy":
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return nn.functional.mse_loss(out[:, -1], y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        """x (B, T) or (B, T, 2), y (B, T) or (B,), mask (B, T) (recall) -> (outputs, loss or None)."""
        out = self.forward_embedded(self.embed_inputs(x))
        return out, (None if y is None else self.loss(out, y, mask))


def _residual_block(kind: str, H: int, n_head: int) -> nn.Module:
    """One block of a recurrent family's sequence model at width H: block(z) -> (z, state)."""
    from seqlab.models.minrnn import MinRNNBlock
    from seqlab.models.retention import RetNetBlock
    from seqlab.models.ssm import MambaBlock, MambaConfig

    if kind in ("mingru", "minlstm"):
        return MinRNNBlock(kind[3:], H, H, 2 * H, 0.0)
    if kind == "retnet":
        if H % n_head or (H // n_head) % 2:
            raise ConfigError(f"hidden size {H} must be {n_head} heads times an even head size (retnet)")
        return RetNetBlock(H, n_head, 2 * H, 0.0)
    return MambaBlock(MambaConfig(d_model=H))
