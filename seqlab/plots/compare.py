"""The `seqlab compare` charts: the leaderboard, the compute frontier and the scaling study.

- `plot_leaderboard`: mean test bits per token per family with ± one standard deviation over seeds
  (the seeds themselves as dots), the uniform guess as a dashed line;
- `plot_frontier`: validation bits per token against training FLOPs (log x) for every family: the
  mean over seeds at each evaluation, each seed faintly; the test score marked at the end of the
  line (a star). Markov's points are its orders k = 1, 2, ... at its counting time converted at the
  measured matmul rate (FLOP-equivalents, labelled as such);
- `plot_scaling`: mean test bits against the budget (log x) per family, ± std, with Markov as a
  horizontal line: where a neural line crosses it, that family overtakes counting.

Each function takes a seqlab.experiments.compare result and writes one PNG atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["plot_leaderboard", "plot_frontier", "plot_scaling"]


def _colours(names) -> dict:
    return dict(zip(names, palette(len(names))))


def plot_leaderboard(result, path: str | Path, title: str = "") -> Path:
    """Bars: mean test bits per token ± std over seeds, in leaderboard order."""
    board = result.leaderboard
    names = [f.name for f in board.families]
    colours = _colours(result.setup.models)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    means = [f.test.mean for f in board.families]
    stds = [f.test.std for f in board.families]
    x = np.arange(len(names))
    ax.bar(x, means, yerr=stds, capsize=4, color=[colours[n] for n in names], alpha=0.85)
    for i, fam in enumerate(board.families):
        ax.scatter([i] * fam.test.n, fam.test.values, color="black", s=10, zorder=3)
        label = f"{fam.test.mean:.3f}" + (f"±{fam.test.std:.3f}" if fam.test.n > 1 and not fam.test.deterministic else "")
        ax.annotate(f"#{fam.rank}  {label}", (i, fam.test.mean + fam.test.std), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.axhline(result.uniform_bits, color="grey", ls="--", lw=1, label=f"uniform guess {result.uniform_bits:.2f}")
    ax.set_xticks(x, [f.label for f in board.families], rotation=20)
    ax.set_ylabel("test bits per token (lower is better)")
    finite = [m for m in means if math.isfinite(m)]
    if finite:
        ax.set_ylim(0, max(max(finite) * 1.25, 0.1))
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "leaderboard (mean ± std over seeds; dots: seeds)")
    return save_png(fig, path)


def plot_frontier(result, path: str | Path, title: str = "") -> Path:
    """Validation bits per token against training FLOPs (log x), every budget's runs."""
    colours = _colours(result.setup.models)
    fig, ax = plt.subplots(figsize=(8.5, 5))
    seen = set()
    for board in result.budgets:
        for fam in board.families:
            colour = colours[fam.name]
            if fam.name == "markov":
                if "markov" in seen:
                    continue
                run = fam.runs[0]
                ax.plot(run.curve.flops, run.curve.val_bits, color=colour, marker="s", ms=4, ls=":",
                        label="markov k=1.. (counting time x measured FLOP/s)")
                ax.scatter([run.flops], [run.test_bits], marker="*", s=140, color=colour, edgecolor="black", zorder=4)
                seen.add("markov")
                continue
            curves = [r.curve for r in fam.runs if r.curve.flops]
            if not curves:
                continue
            for c in curves:
                ax.plot(c.flops, c.val_bits, color=colour, alpha=0.25, lw=0.8)
            n = min(len(c.flops) for c in curves)
            mean_x = np.mean([c.flops[:n] for c in curves], axis=0)
            mean_y = np.mean([c.val_bits[:n] for c in curves], axis=0)
            label = fam.name if fam.name not in seen else None
            ax.plot(mean_x, mean_y, color=colour, lw=1.8, label=label)
            ax.scatter([fam.flops], [fam.test.mean], marker="*", s=140, color=colour, edgecolor="black", zorder=4)
            seen.add(fam.name)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (log scale)")
    ax.set_ylabel("validation bits per token")
    ax.grid(alpha=0.3, which="both")
    ax.scatter([], [], marker="*", s=100, color="white", edgecolor="black", label="test score (mean over seeds)")
    ax.legend(fontsize=8)
    ax.set_title(title or "compute frontier")
    return save_png(fig, path)


def plot_scaling(result, path: str | Path, title: str = "") -> Path:
    """Mean test bits per token ± std against the budget, per family; Markov as a line."""
    colours = _colours(result.setup.models)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    budgets = [b.budget for b in result.budgets]
    for name in result.setup.models:
        fams = [b.family(name) for b in result.budgets]
        if name == "markov":
            ax.axhline(fams[0].test.mean, color=colours[name], ls="--", label=f"markov (k={fams[0].detail})")
            continue
        ax.errorbar(budgets, [f.test.mean for f in fams], yerr=[f.test.std for f in fams], color=colours[name],
                    marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs per family and seed (log scale)")
    ax.set_ylabel("test bits per token")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "scaling: test bits per token against compute")
    return save_png(fig, path)
