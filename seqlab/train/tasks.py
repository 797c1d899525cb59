"""What one training step reads and how a model is scored: language modelling and seq2seq.

A task turns "step s of a run with seed σ" into a global batch of example indices, cuts it into
per-rank, per-micro-step slices, builds the model inputs for a slice, and scores held-out data.

LMTask (tokens or real values): the training part is one 1-D stream c_0..c_{N-1}; an example is
the window starting at i, x = c_i..c_{i+T-1}, targets = c_{i+1}..c_{i+T}. The model's training
loss (seqlab.models.base.SequenceModel.forward) also scores x_0 under the start state, so a full
window has T + 1 scored elements. Validation is the chain rule on fixed windows,

    L = -(1 / N) Σ_w Σ_t log P(w_t | w_<t)      (N scored elements of all windows w)

with the first `eval_tokens` elements of the validation part cut into non-overlapping windows of
T (the last one may be shorter), each starting from the model's start state.

Seq2SeqTask: examples are rows of (src (N, S), tgt (N, T)) padded with -100; the loss is the
mean NLL of the target tokens given the source.

Micro-batch weighting: the model returns the mean loss l_m over its n_m scored elements; the
step minimises Σ_m (n_m / N_step) l_m, N_step the scored elements of the whole global batch, so
the gradient equals that of one big batch regardless of grad_accum and the number of ranks
(times world_size, which DDP's gradient averaging divides out).

Shapes: B batch, T time, S source time, N stream length or number of pairs.
"""

from __future__ import annotations

import math
import torch

from seqlab.errors import DataError
from seqlab.train.scoring import pair_sums, scored as _scored, stream_windows, window_sums

__all__ = ["LMTask", "Seq2SeqTask", "step_generator"]

IGNORE_INDEX = -100


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws step `step`'s global batch: a pure function of (seed, step)."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))


def _to(t: torch.Tensor, device) -> torch.Tensor:
    """Copy a batch to `device`; through pinned memory, asynchronously, when it is a GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class LMTask:
    """Next-element prediction on one 1-D stream (LongTensor of ids or FloatTensor of values)."""

    def __init__(self, train: torch.Tensor, val: torch.Tensor | None = None, block_size: int = 128,
                 eval_tokens: int = 32768, nll_offset: float = 0.0):
        self.train = self._stream(train, "training")
        self.val = None if val is None or len(val) == 0 else self._stream(val, "validation")
        n = self.train.numel()
        if n < 2:
            raise DataError(f"the training part has {n} elements; need at least 2")
        if int(block_size) > n - 1:  # a window reads T + 1 elements (inputs and the shifted targets)
            raise DataError(f"block size {int(block_size)} needs at least {int(block_size) + 1} training "
                            f"elements, but the training part has {n}; use a block size of at most {n - 1} "
                            f"(--block-size) or more data")
        self.block_size = int(block_size)  # T
        self.eval_tokens = int(eval_tokens)
        self.nll_offset = float(nll_offset)  # nats per element added to validation losses (log sigma of a scaled series)

    @staticmethod
    def _stream(data, name: str) -> torch.Tensor:
        t = torch.as_tensor(data)
        if t.dim() != 1:
            raise DataError(f"the {name} data must be one 1-D stream, got shape {tuple(t.shape)}")
        return t.float() if t.is_floating_point() else t.long()

    @property
    def has_validation(self) -> bool:
        return self.val is not None

    def global_batch(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        """Start indices (B,) of step `step`'s windows."""
        high = self.train.numel() - self.block_size
        return torch.randint(0, high, (batch_size,), generator=step_generator(seed, step))

    def inputs(self, starts: torch.Tensor, device) -> dict[str, torch.Tensor]:
        """Model keyword inputs for windows starting at `starts` (B,): x and targets (B, T)."""
        idx = starts[:, None] + torch.arange(self.block_size + 1)  # (B, T+1)
        w = _to(self.train[idx], device)  # (B, T+1)
        return {"x": w[:, :-1], "targets": w[:, 1:]}

    def count(self, starts: torch.Tensor) -> int:
        """Scored elements of these windows in the model's training loss (targets and x_0)."""
        idx = starts[:, None] + torch.arange(self.block_size + 1)  # (B, T+1)
        ok = _scored(self.train[idx])  # (B, T+1)
        return int(ok[:, 1:].sum() + (ok[:, 0] & ok[:, 1]).sum())

    def tokens(self, starts: torch.Tensor) -> int:
        return int(starts.numel() * self.block_size)

    def eval_windows(self) -> list[torch.Tensor]:
        """The fixed validation windows (each (T,) or shorter at the end)."""
        if self.val is None:
            return []
        return stream_windows(self.val, self.block_size, self.eval_tokens)

    @torch.no_grad()
    def eval_sums(self, model, device, rank: int = 0, world_size: int = 1,
                  batch_size: int = 32) -> tuple[float, float]:
        """(Σ NLL nats, N scored) over this rank's share of the validation windows."""
        return window_sums(model, self.eval_windows()[rank::world_size], device, batch_size)


class Seq2SeqTask:
    """Source -> target pairs: rows of src (N, S) and tgt (N, T), both padded with -100."""

    def __init__(self, train: tuple[torch.Tensor, torch.Tensor],
                 val: tuple[torch.Tensor, torch.Tensor] | None = None, eval_tokens: int = 32768):
        self.train = self._pairs(train, "training")
        self.val = None if val is None or len(val[0]) == 0 else self._pairs(val, "validation")
        self.eval_tokens = int(eval_tokens)

    @staticmethod
    def _pairs(pairs, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = (torch.as_tensor(t).long() for t in pairs)
        if src.dim() != 2 or tgt.dim() != 2 or src.shape[0] != tgt.shape[0] or src.shape[0] == 0:
            raise DataError(f"the {name} pairs must be (src (N, S), tgt (N, T)) with the same N > 0")
        return src, tgt

    @property
    def has_validation(self) -> bool:
        return self.val is not None

    def global_batch(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        return torch.randint(0, self.train[0].shape[0], (batch_size,), generator=step_generator(seed, step))

    def inputs(self, rows: torch.Tensor, device) -> dict[str, torch.Tensor]:
        src, tgt = self.train[0][rows], self.train[1][rows]  # (B, S), (B, T)
        return {"src": _to(src, device), "targets": _to(tgt, device)}

    def count(self, rows: torch.Tensor) -> int:
        return int(_scored(self.train[1][rows]).sum())

    def tokens(self, rows: torch.Tensor) -> int:
        return int(_scored(self.train[0][rows]).sum()) + self.count(rows)

    @torch.no_grad()
    def eval_sums(self, model, device, rank: int = 0, world_size: int = 1,
                  batch_size: int = 64) -> tuple[float, float]:
        if self.val is None:
            return 0.0, 0.0
        src, tgt = self.val
        keep = int((_scored(tgt).sum(1).cumsum(0) <= self.eval_tokens).sum().clamp(min=1))
        rows = torch.arange(keep)[rank::world_size]
        return pair_sums(model, src[rows], tgt[rows], device, batch_size)


class RowsTask:
    """Examples are the rows of aligned tensors (a probe's (x, y), padded sequences for `fit`).

    Step s draws B row indices; the model reads {name: column[rows]} as keyword inputs and
    returns (out, loss), loss the mean over the scored elements of those rows. weights (N,) holds
    how many scored elements each row contributes to that mean (default 1), so micro-batches are
    weighted n_m / N_step as in the other tasks. There is no validation part.
    """

    def __init__(self, columns: dict[str, torch.Tensor], weights: torch.Tensor | None = None):
        self.columns = {k: torch.as_tensor(v) for k, v in columns.items()}
        sizes = {v.shape[0] if v.dim() else 0 for v in self.columns.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise DataError(f"the training rows must share one leading size N > 0, got "
                            f"{ {k: tuple(v.shape) for k, v in self.columns.items()} }")
        (n,) = sizes
        self.weights = torch.ones(n) if weights is None else torch.as_tensor(weights).reshape(-1).double()
        if self.weights.numel() != n:
            raise DataError(f"weights hold {self.weights.numel()} values for {n} rows")

    has_validation = False

    def global_batch(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        """Row indices (B,) of step `step`."""
        return torch.randint(0, self.weights.numel(), (batch_size,), generator=step_generator(seed, step))

    def inputs(self, rows: torch.Tensor, device) -> dict[str, torch.Tensor]:
        return {k: _to(v[rows], device) for k, v in self.columns.items()}

    def count(self, rows: torch.Tensor) -> int:
        return int(self.weights[rows].sum())

    def tokens(self, rows: torch.Tensor) -> int:
        return self.count(rows)

    def eval_sums(self, model, device, rank: int = 0, world_size: int = 1,
                  batch_size: int = 32) -> tuple[float, float]:
        return 0.0, 0.0


__all__.append("RowsTask")
