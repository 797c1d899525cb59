"""Figure of `seqlab attention`: one heatmap per (layer, head) of a Transformer's attention.

Row i of a heatmap is the distribution query token i puts over key tokens j (each row sums to 1;
the causal mask makes the upper triangle zero). Layers run down the grid, heads across.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from seqlab.plots._figure import plt, save_png

__all__ = ["plot_attention"]


def plot_attention(weights: np.ndarray, tokens: Sequence[str], path: str | Path, title: str = "") -> Path:
    """weights (L, h, T, T) attention probabilities; tokens: T labels for both axes."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4:
        raise ValueError(f"weights must be (layers, heads, T, T), got shape {weights.shape}")
    L, h, T, _ = weights.shape
    size = min(3.2, max(1.8, 0.18 * T))
    fig, axes = plt.subplots(L, h, figsize=(size * h + 0.6, size * L + 0.9), squeeze=False,
                             layout="constrained")
    labels = [t.replace("\n", "\\n").replace(" ", "␣") for t in tokens]
    show_labels = T <= 40
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            ax.imshow(weights[layer, head], vmin=0.0, vmax=1.0, cmap="viridis", aspect="equal")
            ax.set_title(f"layer {layer} head {head}", fontsize=8)
            if head == 0:
                ax.set_ylabel("query", fontsize=7)
            if layer == L - 1:
                ax.set_xlabel("key", fontsize=7)
            if show_labels:
                ax.set_xticks(range(T), labels, fontsize=6, rotation=90)
                ax.set_yticks(range(T), labels, fontsize=6)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
