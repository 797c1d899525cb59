"""Figures (matplotlib, Agg backend), one module per subject; each writes a PNG atomically.

    training.py    loss curve of a training run (train and validation loss against steps)
    compare.py     the `seqlab compare` leaderboard chart
    forecast.py    a series, its forecast and the forecast intervals
    probe.py       memory-probe scores and gradient norms against distance
    attention.py   per-layer, per-head attention heatmaps

Import the module you need (`from seqlab.plots.training import plot_loss_curve`); this package
imports nothing itself, so importing seqlab.plots never loads matplotlib.
"""
