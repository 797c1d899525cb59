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

__all__ = ["LMTask", "Seq2SeqTask", "evaluate", "step_generator", "metrics_from_sums",
           "model_device"]

IGNORE_INDEX = -100


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws step `step`'s global batch: a pure function of (seed, step)."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))


def metrics_from_sums(nll_sum: float, count: float) -> dict[str, float]:
    """{"loss_nats", "bits_per_token", "perplexity", "tokens"} from a summed NLL and its count."""
    if count <= 0:
        nan = float("nan")
        return {"loss_nats": nan, "bits_per_token": nan, "perplexity": nan, "tokens": 0}
    loss = nll_sum / count
    return {"loss_nats": loss, "bits_per_token": loss / math.log(2),
            "perplexity": math.exp(loss) if loss < 700 else float("inf"), "tokens": int(count)}


def model_device(model) -> torch.device:
    """Where a model's tensors live (parameters, else buffers, else CPU)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _to(t: torch.Tensor, device) -> torch.Tensor:
    """Copy a batch to `device`; through pinned memory, asynchronously, when it is a GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _scored(t: torch.Tensor) -> torch.Tensor:
    """(…) bool: the element counts in a loss (not -100 for tokens, not NaN for real values)."""
    return ~torch.isnan(t) if t.is_floating_point() else t != IGNORE_INDEX


class LMTask:
    """Next-element prediction on one 1-D stream (LongTensor of ids or FloatTensor of values)."""

    def __init__(self, train: torch.Tensor, val: torch.Tensor | None = None, block_size: int = 128,
                 eval_tokens: int = 32768):
        self.train = self._stream(train, "training")
        self.val = None if val is None or len(val) == 0 else self._stream(val, "validation")
        if self.train.numel() < 2:
            raise DataError(f"the training part has {self.train.numel()} elements; need at least 2")
        self.block_size = min(int(block_size), self.train.numel() - 1)  # T
        self.eval_tokens = int(eval_tokens)

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
        data = self.val[: self.eval_tokens]
        return [w for w in data.split(self.block_size) if w.numel() > 0]

    @torch.no_grad()
    def eval_sums(self, model, device, rank: int = 0, world_size: int = 1,
                  batch_size: int = 32) -> tuple[float, float]:
        """(Σ NLL nats, N scored) over this rank's share of the validation windows."""
        return _lm_sums(model, self.eval_windows()[rank::world_size], device, batch_size)


def _lm_sums(model, windows: list[torch.Tensor], device, batch_size: int) -> tuple[float, float]:
    nll, count = 0.0, 0.0
    full = [w for w in windows if w.numel() == (windows[0].numel() if windows else 0)]
    rest = [w for w in windows if w.numel() != (windows[0].numel() if windows else 0)]
    groups = [torch.stack(full[i:i + batch_size]) for i in range(0, len(full), batch_size)]
    groups += [w[None] for w in rest]
    for x in groups:  # (B, T)
        x = x.to(device)
        nll -= float(model.log_prob(x).double().sum())
        count += float(_scored(x).sum())
    return nll, count


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
        nll, count = 0.0, 0.0
        for i in range(0, rows.numel(), batch_size):
            r = rows[i:i + batch_size]
            s, t = src[r].to(device), tgt[r].to(device)
            nll -= float(model.log_prob(s, t).double().sum())
            count += float(_scored(t).sum())
        return nll, count


@torch.no_grad()
def evaluate(model, data, block_size: int | None = None, max_tokens: int | None = None,
             batch_size: int = 32) -> dict[str, float]:
    """Chain-rule loss of `model` on held-out data -> {loss_nats, bits_per_token, perplexity, tokens}.

    data: a 1-D stream (cut into non-overlapping windows of block_size, default: the model's
    config.block_size or 256), or a (src (N, S), tgt (N, T)) pair of padded tensors.
    """
    was_training = model.training
    model.eval()
    try:
        device = model_device(model)
        if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]) and data[0].dim() == 2:
            task = Seq2SeqTask(data, data, eval_tokens=max_tokens or 2 ** 62)
            task.val = task.train
            nll, count = task.eval_sums(model, device, batch_size=batch_size)
        else:
            stream = LMTask._stream(data, "evaluation")
            if block_size is None:
                block_size = getattr(getattr(model, "config", None), "block_size", None) or 256
            windows = [w for w in stream[: max_tokens or None].split(int(block_size)) if w.numel()]
            nll, count = _lm_sums(model, windows, device, batch_size)
    finally:
        model.train(was_training)
    return metrics_from_sums(nll, count)
