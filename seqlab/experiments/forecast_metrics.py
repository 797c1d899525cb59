"""Accuracy of a forecast against the truth, in the series' own units: point errors (MASE, RMSE,
sMAPE), interval coverage and the CRPS of the whole predictive distribution.

For truth y_1..y_H, point forecast ŷ_h and a training series x_1..x_n before the forecast origin:

    MASE   = (1/H) Σ |y_h - ŷ_h| / q,      q = (1/(n-1)) Σ_{t=2..n} |x_t - x_{t-1}|
             (q: the in-sample MAE of the one-step naive forecast; Hyndman & Koehler 2006)
    RMSE   = sqrt((1/H) Σ (y_h - ŷ_h)²)
    sMAPE  = (100/H) Σ 2 |y_h - ŷ_h| / (|y_h| + |ŷ_h|)     (in %, 0..200; a 0/0 term counts 0)
    coverage(c) = (1/H) Σ [lo_h <= y_h <= hi_h]          for the central c interval (80%, 95%)
    CRPS   = (1/H) Σ_h ∫ (F_h(z) - 1[z >= y_h])² dz     (Gneiting & Raftery 2007; lower is better)

CRPS of a Gaussian N(μ, σ²) in closed form, z = (y - μ)/σ:
    CRPS = σ (z (2Φ(z) - 1) + 2 φ(z) - 1/sqrt(π));
of an ensemble of S samples x_1..x_S (the empirical distribution):
    CRPS = (1/S) Σ_i |x_i - y| - (1/(2S²)) Σ_i Σ_j |x_i - x_j|,
with the mean pairwise distance (1/S²) Σ_i Σ_j |x_i - x_j| = (2/S²) Σ_i (2i - S - 1) x_(i) computed
from the sorted samples x_(1) <= ... <= x_(S) in O(S log S).

Shapes: H horizon, S samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqlab.errors import DataError

__all__ = ["ForecastScore", "mase_scale", "crps_gaussian", "crps_samples", "smape",
           "score_forecast", "INTERVALS"]

INTERVALS = (0.8, 0.95)  # central intervals whose coverage is reported


@dataclass(frozen=True)
class ForecastScore:
    """Metrics of one forecast (one family, one origin) in the series' units."""

    mase: float
    rmse: float
    smape: float
    coverage80: float
    coverage95: float
    crps: float
    abs_errors: tuple          # |y_h - ŷ_h| per horizon step, for error-against-horizon plots



def mase_scale(train) -> float:
    """q: mean absolute one-step change of the training series (NaN when it is constant)."""
    x = np.asarray(train, dtype=np.float64)
    if len(x) < 2:
        raise DataError("the training part needs at least 2 values for MASE")
    q = float(np.mean(np.abs(np.diff(x))))
    return q if q > 0 else float("nan")


def smape(truth, pred) -> float:
    y, f = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    den = np.abs(y) + np.abs(f)
    terms = np.divide(2 * np.abs(y - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * terms.mean())


def crps_gaussian(truth, mean, std) -> np.ndarray:
    """Per-step CRPS of N(mean, std²) at truth; a zero std gives |y - μ|."""
    y, mu, sd = (np.asarray(a, dtype=np.float64) for a in (truth, mean, std))
    out = np.abs(y - mu)
    ok = sd > 0
    z = np.where(ok, (y - mu) / np.where(ok, sd, 1.0), 0.0)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    gauss = sd * (z * (2 * Phi - 1) + 2 * phi - 1 / math.sqrt(math.pi))
    return np.where(ok, gauss, out)


def crps_samples(truth, samples) -> np.ndarray:
    """Per-step CRPS of the empirical distribution of samples (S, H) at truth (H,)."""
    y = np.asarray(truth, dtype=np.float64)
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)  # (S, H)
    S = x.shape[0]
    first = np.abs(x - y[None]).mean(0)  # (H,)
    i = np.arange(1, S + 1, dtype=np.float64)[:, None]  # (S, 1)
    spread = (2.0 / (S * S)) * ((2 * i - S - 1) * x).sum(0)  # E|X - X'|
    return first - 0.5 * spread


def score_forecast(truth, mean, lower: dict, upper: dict, crps: np.ndarray, train) -> ForecastScore:
    """Metrics of one forecast. lower/upper: interval level (0.8, 0.95) -> bound (H,)."""
    y, f = np.asarray(truth, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    err = np.abs(y - f)
    q = mase_scale(train)
    cover = {c: float(np.mean((y >= lower[c]) & (y <= upper[c]))) for c in INTERVALS}
    return ForecastScore(mase=float(err.mean() / q), rmse=float(np.sqrt(np.mean((y - f) ** 2))),
                         smape=smape(y, f), coverage80=cover[0.8], coverage95=cover[0.95],
                         crps=float(np.mean(crps)), abs_errors=tuple(float(e) for e in err))
