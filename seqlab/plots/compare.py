"""The `seqlab compare` chart: validation bits per token per family, and loss against wall clock.

Left panel: one bar per model family, the validation bits per token of the leaderboard (lower is
better), labelled with its value. Right panel: each family's validation loss in bits per token
against training seconds, so an equal time budget is visible as a common x range and a family that
learns fast but plateaus is told apart from one that is still improving when time runs out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["plot_compare"]


def plot_compare(
    names: Sequence[str],
    bits_per_token: Sequence[float],
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "",
) -> Path:
    """names[i] scored bits_per_token[i]; curves[name] = (seconds, val bits per token) points."""
    colours = dict(zip(names, palette(len(names))))
    has_curves = any(len(s) > 0 for s, _ in curves.values())
    fig, axes = plt.subplots(1, 2 if has_curves else 1, figsize=(12 if has_curves else 6.5, 4.5),
                             squeeze=False)
    ax = axes[0, 0]
    values = [b if b is not None and math.isfinite(b) else 0.0 for b in bits_per_token]
    bars = ax.bar(range(len(names)), values, color=[colours[n] for n in names])
    for bar, value in zip(bars, bits_per_token):
        label = f"{value:.3f}" if value is not None and math.isfinite(value) else "n/a"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("validation bits per token (lower is better)")
    ax.set_title("leaderboard")
    ax.grid(axis="y", alpha=0.3)
    if has_curves:
        ax = axes[0, 1]
        for name in names:
            seconds, bits = curves.get(name, ((), ()))
            if len(seconds) == 0:
                continue
            marker = "o" if len(seconds) < 3 else None
            ax.plot(seconds, bits, label=name, color=colours[name], marker=marker)
        ax.set_xlabel("training seconds")
        ax.set_ylabel("validation bits per token")
        ax.set_title("validation loss over wall-clock time")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
