"""The charts of `seqlab compare` on a series: the MASE leaderboard, the last origin's forecasts,
and error against the horizon step. Dates on the x axis when the series has them.

- `plot_series_leaderboard`: mean MASE over origins ± std per entrant, each origin as a dot, a line
  at MASE = 1 (the in-sample one-step naive error);
- `plot_last_origin`: the history before the last origin (windowed: the last 4 horizons, or more
  for a short series, so the forecast is not squeezed into the right edge), the truth, and the
  forecasts of the top three entrants and the naive baseline with 80% (dark) and 95% (light) bands;
- `plot_error_by_step`: mean absolute error at each horizon step over origins, per entrant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["plot_series_leaderboard", "plot_last_origin", "plot_error_by_step"]


def _x(result, t: np.ndarray):
    """Positions t as dates (datetime64 / years) when the series has an index."""
    if result.index is None:
        return t
    return result.index[t]


def plot_series_leaderboard(result, path: str | Path) -> Path:
    fams = result.families
    colours = dict(zip([f.name for f in fams], palette(len(fams))))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.9 * len(fams)), 4.5))
    x = np.arange(len(fams))
    ax.bar(x, [f.mase.mean for f in fams], yerr=[f.mase.std for f in fams], capsize=4,
           color=[colours[f.name] for f in fams], alpha=0.85)
    for i, f in enumerate(fams):
        ax.scatter([i] * f.mase.n, f.mase.values, color="black", s=10, zorder=3)
        ax.annotate(f"#{f.rank} {f.mase.mean:.2f}", (i, f.mase.mean + f.mase.std), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="MASE 1 (in-sample naive one-step)")
    ax.set_xticks(x, [f.name for f in fams], rotation=25)
    ax.set_ylabel("MASE (mean over origins; lower is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{result.spec}: {len(result.origins)} origins x horizon {result.horizon}")
    return save_png(fig, path)


def plot_last_origin(result, path: str | Path) -> Path:
    o, H, y = result.origins[-1], result.horizon, result.values
    start = max(0, o - max(4 * H, 40))
    shown = [f for f in result.families if f.name != "naive"][:3]
    naive = next((f for f in result.families if f.name == "naive"), None)
    if naive is not None:
        shown.append(naive)
    colours = palette(len(shown))
    fig, ax = plt.subplots(figsize=(10, 4.8))
    t_hist = np.arange(start, o + H)
    ax.plot(_x(result, t_hist), y[start:o + H], color="black", lw=1.2, label="truth")
    t_fc = np.arange(o, o + H)
    for fam, colour in zip(shown, colours):
        last = fam.origins[-1]
        ax.fill_between(_x(result, t_fc), last.lower[0.95], last.upper[0.95], color=colour, alpha=0.12)
        ax.fill_between(_x(result, t_fc), last.lower[0.8], last.upper[0.8], color=colour, alpha=0.22)
        ax.plot(_x(result, t_fc), last.mean, color=colour, lw=1.8, ls="--" if fam.name == "naive" else "-",
                label=f"{fam.label} (MASE {last.score.mase:.2f})")
    ax.axvline(_x(result, np.array([o]))[0], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("date" if result.index is not None else "t")
    ax.set_ylabel(result.spec)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    ax.set_title("last origin: forecasts with 80% and 95% intervals")
    return save_png(fig, path)


def plot_error_by_step(result, path: str | Path) -> Path:
    fams = result.families
    colours = palette(len(fams))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    steps = np.arange(1, result.horizon + 1)
    for fam, colour in zip(fams, colours):
        ax.plot(steps, fam.error_by_step(), color=colour, marker="o", ms=3, label=fam.name,
                ls="--" if fam.name in ("naive", "seasonal-naive", "mean", "drift") else "-")
    ax.set_xlabel("horizon step h")
    ax.set_ylabel(f"mean |y - ŷ| over origins ({result.spec} units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("error against horizon")
    return save_png(fig, path)
