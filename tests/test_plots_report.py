"""Figures fit for a report: attention heatmaps (colour bar, masked cells apart from zero weight,
labels up to 64 tokens), probe plots (ratio to the memoryless baseline, shaded regions, gradient
underflow marked) and loss curves (none for a model without a training curve)."""

from __future__ import annotations

import numpy as np
import pytest

import seqlab.plots.attention as attention_plot
import seqlab.plots.probe as probe_plot
from seqlab.plots.training import plot_loss_curve


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions would save."""
    figs = []

    def keep(fig, path, dpi=110):
        figs.append(fig)
        return path

    monkeypatch.setattr(attention_plot, "save_png", keep)
    monkeypatch.setattr(probe_plot, "save_png", keep)
    return figs


@pytest.mark.parametrize("T, labelled", [(64, True), (65, False)])
def test_attention_heatmap_has_a_colour_bar_masked_cells_and_labels(captured, T, labelled):
    w = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]  # causal uniform rows
    w[5, 2] = 0.0  # a zero weight the mask does not explain
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    attention_plot.plot_attention(w[None, None], [f"t{i}" for i in range(T)], "x.png", mask=mask)
    fig = captured[0]
    heat, bar = fig.axes[0], fig.axes[-1]
    assert bar.get_ylabel() == "attention weight"
    data = heat.images[0].get_array()
    assert (np.ma.getmaskarray(data) == mask).all() and data[5, 2] == 0.0 and not np.ma.is_masked(data[5, 2])
    rgba = heat.images[0].to_rgba(data)
    assert not np.allclose(rgba[0, T - 1], rgba[5, 2])  # masked is drawn apart from zero weight
    labels = [t.get_text() for t in heat.get_xticklabels()]
    assert (labels == [f"t{i}" for i in range(T)]) if labelled else len(labels) <= 6


def test_probe_scores_are_ratios_to_the_baseline(captured):
    probe_plot.plot_probe_scores([10, 20, 40], {"lstm": [0.5, 1.0, 2.0]}, [1.0, 2.0, 2.0], "s.png", task="copy")
    ax = captured[0].axes[0]
    lstm = next(line for line in ax.get_lines() if line.get_label() == "lstm")
    assert list(lstm.get_ydata()) == [0.5, 0.5, 1.0]
    base = next(line for line in ax.get_lines() if line.get_label() == "memoryless baseline")
    assert list(base.get_ydata()) == [1.0, 1.0]


def test_gradient_plot_shades_regions_and_marks_underflow(captured):
    norms = {"rnn": np.array([1.0, 0.1, 0.01, 0.0, 0.0]), "lstm": np.array([1.0, 0.5, 0.4, 0.3, 0.2])}
    probe_plot.plot_gradient_norms(norms, "g.png", regions={"output": (0, 1), "delay": (1, 3), "input": (3, 4)})
    ax = captured[0].axes[0]
    assert len(ax.patches) == 3 and {t.get_text() for t in ax.texts} == {"output", "delay", "input"}
    under = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(under) == 1 and list(under[0].get_xdata()) == [3, 4]


def test_no_loss_plot_without_a_training_curve(tmp_path):
    assert plot_loss_curve([{"step": 0, "val_loss": 1.0, "train_loss": None}], tmp_path / "l.png") is None
    assert not (tmp_path / "l.png").exists()
    rows = [{"step": s, "train_loss": 2.0 / s, "val_loss": None} for s in (1, 2, 3)]
    assert plot_loss_curve(rows, tmp_path / "l.png", title="gru on pydoc: loss").is_file()
