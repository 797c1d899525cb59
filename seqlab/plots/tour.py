"""Figures of `seqlab tour`: one or more PNGs per section, drawn from the section's typed result.

`draw_figures(result, out)` writes every figure of a TourResult into `out` and returns, per section
number, the (path, caption) pairs in display order. Each figure shows only measured values; the
thresholds the verdicts use are drawn as dashed lines where they are a value on the figure's axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlab.plots._figure import palette, plt, save_png

__all__ = ["draw_figures", "plot_checks", "plot_context", "plot_memory", "plot_gates", "plot_softmax_sweep",
           "plot_heads", "plot_positional", "plot_cross_attention"]

_FLOOR = 1e-18   # exact zeros are drawn here on log axes (and labelled "0")
DPI = 64         # report.html inlines every figure: small PNGs keep the page light (about 0.3 MB)


def _label(tokens) -> list[str]:
    return [t.replace("\n", "\\n").replace(" ", "␣") for t in tokens]


def plot_checks(panels, path, tolerance: float) -> Path:
    """panels: [(title, {family: value})]: one log-scale bar chart per panel, tolerance dashed."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False, layout="constrained")
    every = list(dict.fromkeys(n for _, values in panels for n in values))
    colour = dict(zip(every, palette(len(every))))  # one colour per family across panels
    for ax, (title, values) in zip(axes[0], panels):
        names = list(values)
        v = np.array([max(abs(values[n]), _FLOOR) for n in names])
        ax.bar(range(len(names)), v, color=[colour[n] for n in names])
        for i, n in enumerate(names):
            if values[n] == 0:
                ax.text(i, _FLOOR * 3, "0", ha="center", fontsize=8)
        ax.axhline(tolerance, ls="--", color="black", lw=1, label=f"threshold {tolerance:g}")
        ax.set_yscale("log")
        ax.set_ylim(max(_FLOOR, v.min() / 100), max(10 * tolerance, v.max() * 10))
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    return save_png(fig, path, dpi=DPI)


def plot_context(section, path) -> Path:
    """Test bits per character against τ (Markov, neural AR), latent models and the Transformer as
    horizontal lines; parameters / n-gram types on the right axis."""
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    taus = section.taus
    colours = palette(6)
    for family, colour in (("markov", colours[0]), ("neural-ar", colours[1])):
        bits = section.curve(family)
        keep = [i for i, b in enumerate(bits) if b is not None]
        ax.plot([taus[i] for i in keep], [bits[i] for i in keep], marker="o", color=colour,
                label=f"{'Markov (n-gram, order τ)' if family == 'markov' else 'neural AR(τ)'}")
    for family, colour in zip(("rnn", "lstm", "gru", "transformer"), colours[2:]):
        row = section.row(family)
        reads = "whole past" if family == "transformer" else "latent state"
        ax.axhline(row.test_bits, color=colour, lw=1.5, label=f"{family} ({reads})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(taus, [str(t) for t in taus])
    ax.set_xlabel("context length τ (characters)")
    ax.set_ylabel("test bits per character (lower is better)")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    for family, colour in (("markov", colours[0]), ("neural-ar", colours[1])):
        sizes = [section.row(family, t).size for t in taus]
        keep = [i for i, s in enumerate(sizes) if s]
        right.plot([taus[i] for i in keep], [sizes[i] for i in keep], ls=":", marker="x", color=colour,
                   label=f"{family} {'n-gram types' if family == 'markov' else 'parameters'}")
    right.set_yscale("log")
    right.set_ylabel("n-gram types / parameters (dotted)")
    lines = ax.get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc="upper right")
    ax.set_title("What P(x_t | x_<t) reads: bits per character against context")
    return save_png(fig, path, dpi=DPI)


def plot_gates(section, path, units: int = 32) -> Path:
    """One heatmap per gate: the `units` units whose gate varies most over the sentence, by time."""
    gates = section.gates
    T = len(section.labels)
    fig, axes = plt.subplots(len(gates), 1, figsize=(max(8, 0.19 * T + 1.5), 1.9 * len(gates) + 0.6),
                             squeeze=False, layout="constrained")
    for ax, g in zip(axes[:, 0], gates):
        order = np.argsort(-g.values.std(0), kind="stable")[:units]
        image = ax.imshow(g.values[:, order].T, vmin=0, vmax=1, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.set_ylabel(f"{g.model} {g.gate}\nunit", fontsize=8)
        ax.set_yticks([])
        ax.set_xticks(range(T), _label(section.labels), fontsize=7)
    fig.colorbar(image, ax=axes[:, 0], shrink=0.6, label="gate value")
    fig.suptitle(f"Gates reading {section.sentence!r} (the {units} most variable units of each gate)", fontsize=10)
    return save_png(fig, path, dpi=DPI)


def plot_softmax_sweep(section, path) -> Path:
    """Softmax entropy and largest gradient against d_k, with and without the 1/√d_k scale."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    d = section.d_ks
    a.plot(d, section.entropy_scaled, marker="o", label="q·k / √d_k")
    a.plot(d, section.entropy_unscaled, marker="s", label="q·k (unscaled)")
    a.axhline(np.log(section.keys), ls="--", color="black", lw=1, label=f"uniform: ln {section.keys}")
    a.set_ylabel("softmax entropy (nats)")
    b.plot(d, section.grad_scaled, marker="o", label="q·k / √d_k")
    b.plot(d, section.grad_unscaled, marker="s", label="q·k (unscaled)")
    b.set_yscale("log")
    b.set_ylabel("largest |∂p_i/∂s_j| (median)")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(d, [str(x) for x in d])
        ax.set_xlabel("d_k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"One query against {section.keys} keys, N(0, 1) entries", fontsize=10)
    return save_png(fig, path, dpi=DPI)


def plot_positional(section, path) -> Path:
    """The sinusoidal encoding matrix, and reverse accuracy with and without it."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4), width_ratios=(2, 1), layout="constrained")
    image = a.imshow(section.encoding, cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    a.set_xlabel("dimension i")
    a.set_ylabel("position")
    a.set_title("PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)", fontsize=9)
    fig.colorbar(image, ax=a, shrink=0.8)
    names = ["no positions", "sinusoidal"]
    acc = [section.accuracy_without, section.accuracy_with]
    exact = [section.exact_without, section.exact_with]
    x = np.arange(2)
    b.bar(x - 0.2, acc, 0.4, label="per-character accuracy")
    b.bar(x + 0.2, exact, 0.4, label="exact match")
    b.set_xticks(x, names)
    b.set_ylim(0, 1.05)
    b.set_title(f"reverse, n = {section.length} (test)", fontsize=9)
    b.legend(fontsize=8)
    b.grid(alpha=0.3, axis="y")
    return save_png(fig, path, dpi=DPI)


def plot_cross_attention(section, path) -> Path:
    """Cross-attention of every decoder layer and head on one pair: rows = target steps, columns =
    source characters."""
    w = np.asarray(section.weights)
    L, h, Tq, S = w.shape
    rows = [f"→{c}" for c in section.target] + ["→<eos>"]
    fig, axes = plt.subplots(L, h, figsize=(2.1 * h + 0.8, 2.1 * L + 0.9), squeeze=False, layout="constrained")
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            ax.imshow(w[layer, head], vmin=0, vmax=1, cmap="viridis", aspect="equal", interpolation="nearest")
            ax.set_title(f"layer {layer} head {head}", fontsize=8)
            ax.set_xticks(range(S), _label(section.source), fontsize=7)
            ax.set_yticks(range(Tq), rows[:Tq], fontsize=6)
    fig.suptitle(f"Decoder cross-attention on {section.source!r} -> {section.target!r} (rows: the target "
                 f"character being predicted; columns: source)", fontsize=9)
    return save_png(fig, path, dpi=DPI)


def plot_memory(section, path) -> Path:
    """Top: score / baseline against T for copy and adding (1 = memoryless); bottom: ||∂L/∂x_t|| of
    the last output against the distance, at the largest T (log scale; exact zeros not drawn)."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
    for col, task in enumerate(("copy", "adding")):
        probe = getattr(section, task)
        colours = palette(len(probe.scores))
        ax = axes[0, col]
        for (name, scores), colour in zip(probe.scores.items(), colours):
            ax.plot(probe.lengths, [v / b for v, b in zip(scores, probe.baselines)], marker="o", color=colour,
                    label=name)
        ax.axhline(1.0, ls="--", color="black", lw=1, label="memoryless baseline")
        ax.set_xscale("log")
        ax.set_xticks(list(probe.lengths), [str(t) for t in probe.lengths])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("T")
        ax.set_ylabel("test score / baseline (lower is better)")
        ax.set_title(f"{task}: score against T", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, col]
        for (name, g), colour in zip(probe.grad_norms.items(), colours):
            g = np.asarray(g, dtype=float)
            d = np.arange(len(g))
            ax.plot(d[g > 0], g[g > 0], color=colour, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("distance to the scored output (steps)")
        ax.set_ylabel("||∂L/∂x_t||")
        ax.set_title(f"{task}, T = {probe.lengths[-1]}: gradient against distance", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_png(fig, path, dpi=DPI)


def plot_heads(section, path) -> Path:
    """One attention map per (layer, head); rows: query character, columns: key character."""
    w = np.asarray(section.weights)
    L, h, T, _ = w.shape
    labels = _label(section.labels)
    fig, axes = plt.subplots(L, h, figsize=(3.3 * h, 3.4 * L + 0.5), squeeze=False, layout="constrained")
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            ax.imshow(w[layer, head], vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
            ax.set_title(f"layer {layer} head {head} (distance {section.distance[layer, head]:.1f})", fontsize=8)
            ax.set_xticks(range(T), labels, fontsize=4, rotation=90)
            ax.set_yticks(range(T), labels, fontsize=4)
    fig.suptitle(f"Trained Transformer on {section.sentence!r}", fontsize=10)
    return save_png(fig, path, dpi=DPI)


def draw_figures(result, out) -> dict:
    """Every figure of a TourResult into `out` -> {section number: [(path, caption)]}."""
    from seqlab.experiments.tour import probability

    out = Path(out)
    figures = {}
    s = result.sections
    if 1 in s:
        sec = s[1]
        figures[1] = [(plot_checks(
            [("log_prob in one pass vs Σ step-wise (nats)", {f.family: f.max_difference for f in sec.families}),
             ("|Σ P(x) - 1| over all 3^5 sequences",
              {f.family: f.total_probability - 1 for f in sec.families if f.total_probability is not None})],
            out / "1-chain-rule.png", probability.CHAIN_TOLERANCE),
            "Largest difference between one-pass and step-by-step scores, and how far Σ P is from 1, per family "
            "(log scale; dashed: the threshold)")]
    if 2 in s:
        sec = s[2]
        differences = {f.family: f.max_difference for f in sec.families}
        figures[2] = [(plot_checks([("padded batch vs alone (nats)", differences)],
                                   out / "2-variable-length.png", probability.CHAIN_TOLERANCE),
                       "Largest difference between a sequence's score in a padded batch and alone, per family")]
    if 3 in s:
        figures[3] = [(plot_context(s[3], out / "3-context.png"),
                       "Test bits per character against context length τ; horizontal lines: latent-state models "
                       "and the Transformer; dotted (right axis): Markov n-gram types and neural AR parameters")]
    if 4 in s:
        figures[4] = [(plot_memory(s[4], out / "4-memory.png"),
                       "Top: test score over the memoryless baseline against T (1 = no use of the distant past). "
                       "Bottom: gradient norm of the last output's loss against the distance to the input, at the "
                       "largest T (log scale; exact zeros are not drawn)")]
    if 5 in s:
        figures[5] = [(plot_gates(s[5], out / "5-gates.png"),
                       "LSTM input/forget/output and GRU update/reset gates of the trained language models, per "
                       "character of the sentence (0 closed, 1 open)")]
    if 6 in s:
        figures[6] = [(plot_softmax_sweep(s[6], out / "6-sqrt-dk.png"),
                       "Softmax entropy and largest gradient against d_k, with and without the 1/√d_k scale")]
    if 7 in s:
        figures[7] = [(plot_heads(s[7], out / "7-heads.png"),
                       "Per-head attention maps (rows: query character, columns: key character; causal), with each "
                       "head's mean attention distance in characters")]
    if 8 in s:
        figures[8] = [(plot_positional(s[8], out / "8-positions.png"),
                       "The sinusoidal encoding matrix (64 positions x 64 dimensions), and reverse with and "
                       "without it")]
    if 9 in s:
        figures[9] = [(plot_cross_attention(s[9], out / "9-cross-attention.png"),
                       "Cross-attention of the trained reverse model, every decoder layer and head")]
    return figures
