"""Figure of `seqlab attention`: one heatmap per (layer, head) of a Transformer's attention (or of
an encoder-decoder's attention over the source: target steps down, source tokens across).

Row i of a heatmap is the distribution query token i puts over key tokens j (each row sums to 1).
Cells the mask blocks (the causal mask's upper triangle) are drawn hatched grey, apart from
weights that are merely small; one colour bar (0..1) serves every panel. Layers run down the
grid, heads across. Token labels are shown for up to 64 tokens, in a font that shrinks with T.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from seqlab.plots._figure import plt, save_png

__all__ = ["plot_attention", "MAX_LABELS"]

MAX_LABELS = 64  # above this many tokens the axes carry positions only


def plot_attention(weights: np.ndarray, tokens: Sequence[str], path: str | Path, title: str = "",
                   mask: np.ndarray | None = None, keys: Sequence[str] | None = None) -> Path:
    """weights (L, h, T, S) attention probabilities; tokens: T query labels, also the key labels
    unless `keys` gives S of them (cross-attention: S source tokens); mask (T, S) bool, True where
    a query may not attend (default: none)."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4:
        raise ValueError(f"weights must be (layers, heads, T, S), got shape {weights.shape}")
    L, h, T, S = weights.shape
    blocked = np.zeros((T, S), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    n = max(T, S)
    size = min(4.0, max(1.8, 0.09 * n if n > 40 else 0.18 * n))
    fig, axes = plt.subplots(L, h, figsize=(size * h + 1.2, size * L + 0.9), squeeze=False,
                             layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")  # blocked cells: light grey, hatched below
    labels = [t.replace("\n", "\\n").replace(" ", "␣") for t in tokens]
    key_labels = labels if keys is None else [t.replace("\n", "\\n").replace(" ", "␣") for t in keys]
    fontsize = 6 if n <= 24 else max(3.5, 6 - (n - 24) / 16)
    image = None
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            shown = np.ma.masked_array(weights[layer, head], mask=blocked)
            image = ax.imshow(shown, vmin=0.0, vmax=1.0, cmap=cmap, aspect="equal", interpolation="nearest")
            if blocked.any():
                ax.contourf(np.arange(S), np.arange(T), blocked.astype(float), levels=[0.5, 1.5],
                            colors="none", hatches=["////"])
            ax.set_title(f"layer {layer} head {head}", fontsize=8)
            if head == 0:
                ax.set_ylabel("query", fontsize=7)
            if layer == L - 1:
                ax.set_xlabel("key", fontsize=7)
            if n <= MAX_LABELS:
                ax.set_xticks(range(S), key_labels, fontsize=fontsize, rotation=90)
                ax.set_yticks(range(T), labels, fontsize=fontsize)
            else:
                for set_ticks, m in ((ax.set_xticks, S), (ax.set_yticks, T)):
                    ticks = np.linspace(0, m - 1, 6).round().astype(int)
                    set_ticks(ticks, [str(t) for t in ticks], fontsize=6)
    bar = fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    if blocked.any():
        bar.ax.set_xlabel("grey: masked", fontsize=7)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
