"""Figures of `seqlab probe`: score against sequence length T, and gradient norm against distance.

Score plot: one line per model of its test loss on the probe at each T, with the memoryless
baseline (the best a model that cannot use the distant past can do) as a dashed line; a model
below the baseline uses information from T steps back.

Gradient plot: ||∂L/∂x_t|| against the distance T_end - t between the input position and the
scored output (log scale); an exponential decay is the vanishing gradient of a plain RNN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["plot_probe_scores", "plot_gradient_norms"]


def plot_probe_scores(
    lengths: Sequence[int],
    scores: Mapping[str, Sequence[float]],
    baseline: Sequence[float],
    path: str | Path,
    *,
    task: str = "",
    metric: str = "loss",
) -> Path:
    """scores[model][i] is the score at lengths[i]; baseline[i] the memoryless score there."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (name, values), colour in zip(scores.items(), palette(len(scores))):
        ax.plot(lengths, values, marker="o", label=name, color=colour)
    ax.plot(lengths, baseline, ls="--", color="black", label="memoryless baseline")
    ax.set_xscale("log")
    ax.set_xticks(list(lengths), [str(t) for t in lengths])
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(metric)
    ax.set_title(f"{task} probe: score vs T (below the baseline = uses the distant past)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_gradient_norms(
    norms: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    title: str = "gradient norm vs distance",
) -> Path:
    """norms[model][d] = mean ||∂L/∂x_t|| at distance d = T_end - t (d = 0 is the last input)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (name, values), colour in zip(norms.items(), palette(len(norms))):
        values = np.asarray(values, dtype=float)
        d = np.arange(len(values))
        keep = values > 0
        ax.plot(d[keep], values[keep], label=name, color=colour)
    ax.set_yscale("log")
    ax.set_xlabel("distance T_end - t (steps back from the scored output)")
    ax.set_ylabel("||dL/dx_t||")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)
