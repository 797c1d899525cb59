"""The loss curve of a training run: train and validation loss (nats per element) against steps.

Reads the rows of metrics.jsonl (seqlab.train.metrics.COLUMNS): a row with `train_loss` is a
logged training point, a row with `val_loss` an evaluation. A second y axis shows bits (nats / ln 2).
A model fitted in one pass (Markov, closed-form AR) has no training curve: no figure is written
rather than a one-dot plot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from seqlab.plots._figure import plt, save_png

__all__ = ["plot_loss_curve"]


def plot_loss_curve(rows: Sequence[dict], path: str | Path, title: str | None = None) -> Path | None:
    """Write a PNG of train and validation loss against step; returns the path, or None (and
    writes nothing) when the rows hold no training curve. `title` should name the model and data."""
    train = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if not train:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if train:
        ax.plot(*zip(*train), label="train", color="tab:blue", linewidth=1.2)
    if val:
        best_step, best = min(val, key=lambda p: p[1])
        ax.plot(*zip(*val), color="tab:orange", marker="o", markersize=3,
                label=f"validation (best {best:.3f} nats = {best / math.log(2):.3f} bits, step {best_step})")
        ax.axhline(best, color="tab:orange", linestyle=":", linewidth=0.8)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (nats per element)")
    bits = ax.secondary_yaxis("right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2)))
    bits.set_ylabel("bits per element")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or "training loss")
    return save_png(fig, path)
