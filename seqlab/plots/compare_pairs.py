"""The charts of `seqlab compare` on pairs: exact match per entrant (greedy ± std over seeds, beam,
longer sources), and one cross-attention map per attention entrant on a test pair (the reverse
task shows the anti-diagonal: target position t reads source position S - 1 - t).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["plot_pairs_leaderboard", "plot_cross_attention"]


def plot_pairs_leaderboard(result, path: str | Path) -> Path:
    fams = result.families
    x = np.arange(len(fams))
    width = 0.27
    colours = palette(3)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 * len(fams)), 4.5))
    ax.bar(x - width, [f.exact.mean for f in fams], width, yerr=[f.exact.std for f in fams], capsize=3,
           color=colours[0], label="greedy (± std over seeds)")
    for i, f in enumerate(fams):
        ax.scatter([i - width] * f.exact.n, f.exact.values, color="black", s=8, zorder=3)
    ax.bar(x, [f.beam_exact or 0.0 for f in fams], width, color=colours[1], label="beam search")
    ax.bar(x + width, [f.long_exact or 0.0 for f in fams], width, color=colours[2], label="longer sources (greedy)")
    ax.set_xticks(x, [f"#{f.rank} {f.name}" for f in fams], rotation=10)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("exact match (higher is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{result.spec}: held-out pairs")
    return save_png(fig, path)


def plot_cross_attention(result, path: str | Path) -> Path:
    """One panel per entrant with attention: weights (T, S) of its first test pair."""
    items = list(result.attention.items())
    fig, axes = plt.subplots(1, len(items), figsize=(5.2 * len(items), 4.4), squeeze=False, layout="constrained")
    for ax, (name, (source, target, w)) in zip(axes[0], items):
        im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-6), aspect="auto")
        ax.set_xticks(range(len(source)), list(source))
        ax.set_yticks(range(w.shape[0]), list(target)[: w.shape[0]])
        ax.set_xlabel("source")
        ax.set_ylabel("target (decoder step)")
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle("cross-attention on a test pair (last layer, mean over heads)")
    return save_png(fig, path)
