"""Figures of `seqlab probe`: score against sequence length T, and gradient norm against distance.

Score plot: one line per model of its test loss on the probe at each T as a ratio to the
memoryless baseline (the best a model that cannot use the distant past can do), so 1 is the
baseline (dashed) and 0 a perfect score; a model below 1 uses information from T steps back.
Recall probes (higher is better): the test accuracy itself on [0, 1] at each T, with the accuracy
of guessing dashed; a model above it recalls what it read.

Gradient plot: ||∂L/∂x_t|| against the distance T_end - t between the input position and the
scored output (log scale); an exponential decay is the vanishing gradient of a plain RNN. The
probe's input, delay and output regions are shaded when given, and a distance where a model's
gradient underflows to 0 (no longer representable) is marked with a cross on the bottom axis.
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
    higher_is_better: bool = False,
) -> Path:
    """scores[model][i] is the score at lengths[i]; baseline[i] the memoryless score there (the
    random-guess accuracy when higher_is_better: then accuracies are plotted as they are)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    base = np.asarray(baseline, dtype=float)
    if higher_is_better:
        for (name, values), colour in zip(scores.items(), palette(len(scores))):
            ax.plot(lengths, np.asarray(values, dtype=float), marker="o", label=name, color=colour)
        ax.plot(lengths, base, ls="--", color="black", label="random baseline")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(metric)
        ax.set_title(f"{task} probe: accuracy on the scored positions (above the dashed line = recalls)",
                     fontsize=9)
        return _finish(ax, fig, lengths, path)
    with np.errstate(divide="ignore", invalid="ignore"):
        for (name, values), colour in zip(scores.items(), palette(len(scores))):
            ax.plot(lengths, np.asarray(values, dtype=float) / base, marker="o", label=name, color=colour)
    ax.axhline(1.0, ls="--", color="black", label="memoryless baseline")
    ax.set_ylabel(f"{metric} / baseline {metric}")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{task} probe: score relative to the memoryless baseline (below 1 = uses the distant past)",
                 fontsize=9)
    return _finish(ax, fig, lengths, path)


def _finish(ax, fig, lengths: Sequence[int], path: str | Path) -> Path:
    ax.set_xscale("log")
    ax.set_xticks(list(lengths), [str(t) for t in lengths])
    ax.set_xlabel("sequence length T")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def plot_gradient_norms(
    norms: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    title: str = "gradient norm vs distance",
    regions: Mapping[str, tuple[float, float]] | None = None,
) -> Path:
    """norms[model][d] = mean ||∂L/∂x_t|| at distance d = T_end - t (d = 0 is the last input);
    regions: {"input": (d0, d1), "delay": ..., "output": ...} distance ranges to shade."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    shades = {"input": "tab:green", "delay": "0.6", "output": "tab:red"}
    for name, (lo, hi) in (regions or {}).items():
        ax.axvspan(lo, hi, color=shades.get(name, "0.8"), alpha=0.12, lw=0)
        ax.text((lo + hi) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=7)
    underflow_label = "gradient underflows to 0"
    for (name, values), colour in zip(norms.items(), palette(len(norms))):
        values = np.asarray(values, dtype=float)
        d = np.arange(len(values))
        keep = values > 0
        ax.plot(d[keep], values[keep], label=name, color=colour)
        if (~keep).any():
            ax.plot(d[~keep], np.zeros((~keep).sum()), "x", color=colour, ms=5, clip_on=False,
                    transform=ax.get_xaxis_transform(), label=underflow_label)
            underflow_label = None
    ax.set_yscale("log")
    ax.set_xlabel("distance T_end - t (steps back from the scored output)")
    ax.set_ylabel("||dL/dx_t||")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)
