"""The one scorer: chain-rule NLL of held-out data, used by the Trainer's validation, `seqlab eval`
and every experiment (compare, forecast, seq2seq).

A stream (tokens or real values) is cut into non-overlapping windows of T elements (the last one
may be shorter), each scored from the model's start state:

    L = -(1 / N) Σ_w Σ_t log P(w_t | w_<t)      (N scored elements of all windows w)

Pairs (src, tgt) are scored as Σ log P(tgt | src) over the target tokens. Sums are accumulated in
float64 in a fixed order (full windows in batches of `batch_size`, then the short one), so the same
model on the same data gives the same number bit for bit, whoever calls it.

Shapes: B batch, T window length, N stream length or number of pairs, S source length.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

__all__ = ["Score", "score_from_sums", "stream_windows", "window_sums", "pair_sums", "evaluate",
           "model_device", "IGNORE_INDEX"]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Score:
    """Mean NLL per scored element and what follows from it."""

    loss_nats: float
    bits_per_token: float
    perplexity: float
    tokens: int              # scored elements N

    def to_dict(self) -> dict:
        return asdict(self)


def score_from_sums(nll_sum: float, count: float, offset: float = 0.0) -> Score:
    """A Score from a summed NLL (nats) and its count; `offset` nats are added per element (e.g.
    log sigma to express a scaled series' NLL in the data's own units)."""
    if count <= 0:
        nan = float("nan")
        return Score(nan, nan, nan, 0)
    loss = nll_sum / count + offset
    return Score(loss, loss / math.log(2), math.exp(loss) if loss < 700 else float("inf"), int(count))


def model_device(model) -> torch.device:
    """Where a model's tensors live (parameters, else buffers, else CPU)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def scored(t: torch.Tensor) -> torch.Tensor:
    """(…) bool: the element counts in a loss (not -100 for tokens, not NaN for real values)."""
    return ~torch.isnan(t) if t.is_floating_point() else t != IGNORE_INDEX


def stream_windows(stream: torch.Tensor, block_size: int, max_tokens: int | None = None) -> list[torch.Tensor]:
    """The first `max_tokens` elements of a 1-D stream (all if None) cut into windows of `block_size`."""
    data = stream[:max_tokens] if max_tokens is not None else stream
    return [w for w in data.split(int(block_size)) if w.numel() > 0]


@torch.no_grad()
def window_sums(model, windows: list[torch.Tensor], device=None, batch_size: int = 32) -> tuple[float, float]:
    """(Σ NLL nats, N scored) of windows, each scored from the start state by `model.log_prob`."""
    device = model_device(model) if device is None else device
    nll, count = 0.0, 0.0
    T = windows[0].numel() if windows else 0
    full = [w for w in windows if w.numel() == T]
    rest = [w for w in windows if w.numel() != T]
    groups = [torch.stack(full[i:i + batch_size]) for i in range(0, len(full), batch_size)]
    groups += [w[None] for w in rest]
    for x in groups:  # (B, T)
        x = x.to(device)
        nll -= float(model.log_prob(x).double().sum())
        count += float(scored(x).sum())
    return nll, count


@torch.no_grad()
def pair_sums(model, src: torch.Tensor, tgt: torch.Tensor, device=None, batch_size: int = 64) -> tuple[float, float]:
    """(Σ NLL nats, N scored target tokens) of pairs src (N, S), tgt (N, T) padded with -100."""
    device = model_device(model) if device is None else device
    nll, count = 0.0, 0.0
    for i in range(0, src.shape[0], batch_size):
        s, t = src[i:i + batch_size].to(device), tgt[i:i + batch_size].to(device)
        nll -= float(model.log_prob(s, t).double().sum())
        count += float(scored(t).sum())
    return nll, count


@torch.no_grad()
def evaluate(model, data, block_size: int | None = None, max_tokens: int | None = None,
             batch_size: int = 32, offset: float = 0.0) -> Score:
    """Chain-rule loss of `model` on held-out data (eval mode, no grad) -> Score.

    data: a 1-D stream (cut into windows of block_size, default: the model's config.block_size or
    256), or a (src (N, S), tgt (N, T)) pair of padded tensors (the first pairs holding at most
    `max_tokens` target tokens). offset: nats added per element (see score_from_sums).
    """
    was_training = model.training
    model.eval()
    try:
        if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]) and data[0].dim() == 2:
            src, tgt = (torch.as_tensor(t).long() for t in data)
            if max_tokens is not None:
                keep = int((scored(tgt).sum(1).cumsum(0) <= max_tokens).sum().clamp(min=1))
                src, tgt = src[:keep], tgt[:keep]
            nll, count = pair_sums(model, src, tgt, batch_size=2 * batch_size)
        else:
            stream = torch.as_tensor(data)
            stream = stream.float() if stream.is_floating_point() else stream.long()
            if block_size is None:
                block_size = getattr(getattr(model, "config", None), "block_size", None) or 256
            nll, count = window_sums(model, stream_windows(stream.reshape(-1), block_size, max_tokens),
                                     batch_size=batch_size)
    finally:
        model.train(was_training)
    return score_from_sums(nll, count, offset)
