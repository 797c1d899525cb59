"""Figures of `seqlab forecast`: the series with its forecast and intervals, and error growth.

Panel 1 shows the last part of the training history, the held-out tail (truth), the forecast mean
and the central prediction interval (quantiles q_lo..q_hi). Panel 2 shows the error of one-step
forecasts (every step conditioned on the true past) against recursive k-step forecasts (the model
feeds its own predictions back for k steps), as RMSE against k: recursion compounds errors, so the
recursive curve grows with k while the one-step error stays flat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from seqlab.plots._figure import plt, save_png

__all__ = ["plot_forecast"]


def plot_forecast(
    history: np.ndarray,
    truth: np.ndarray,
    mean: np.ndarray,
    lower: np.ndarray | None,
    upper: np.ndarray | None,
    path: str | Path,
    *,
    interval_label: str = "90% interval",
    error_growth: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    title: str = "",
    context: int = 300,
) -> Path:
    """history (T0,), truth/mean/lower/upper (H,); error_growth[label] = (ks, rmse per k)."""
    history = np.asarray(history, dtype=float)
    T0, H = len(history), len(mean)
    panels = 2 if error_growth else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels + 1, 4.2), squeeze=False)
    ax = axes[0, 0]
    start = max(0, T0 - context)
    t_hist = np.arange(start, T0)
    t_fut = np.arange(T0, T0 + H)
    ax.plot(t_hist, history[start:], color="0.35", lw=1, label="history")
    ax.plot(t_fut, truth, color="black", lw=1, label="held-out truth")
    if lower is not None and upper is not None:
        ax.fill_between(t_fut, lower, upper, color="tab:blue", alpha=0.25, label=interval_label)
    ax.plot(t_fut, mean, color="tab:blue", lw=1.5, label="forecast mean")
    ax.axvline(T0 - 0.5, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("t")
    ax.set_title(title or "forecast of the held-out tail")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if error_growth:
        ax = axes[0, 1]
        for label, (ks, errors) in error_growth.items():
            ax.plot(ks, errors, marker="o", label=label)
        ax.set_xscale("log", base=2)
        ks = sorted({int(k) for ks_, _ in error_growth.values() for k in ks_})
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("steps ahead k")
        ax.set_ylabel("RMSE")
        ax.set_title("one-step vs recursive k-step error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_png(fig, path)
