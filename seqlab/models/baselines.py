"""The benchmark forecasters every forecasting model is judged against: mean, naive, seasonal
naive and drift, each with Gaussian prediction intervals.

Reference: R. J. Hyndman and G. Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed.,
section 5.2 (the methods) and section 5.5, table 5.2 (the h-step standard deviations).

For a training series y_1..y_T and a horizon step h = 1..H (σ̂² is the mean squared in-sample
one-step residual e_t of each method, over the t where e_t is defined):

    mean             ŷ_{T+h} = ȳ                                   σ_h = σ̂ sqrt(1 + 1/T)
                     e_t = y_t - ȳ
    naive            ŷ_{T+h} = y_T                                 σ_h = σ̂ sqrt(h)
                     e_t = y_t - y_{t-1}
    seasonal naive   ŷ_{T+h} = y_{T+h-m(k+1)},  k = floor((h-1)/m)  σ_h = σ̂ sqrt(k + 1)
                     e_t = y_t - y_{t-m}             (m the season; m = 1 is the naive method)
    drift            ŷ_{T+h} = y_T + h b,  b = (y_T - y_1) / (T - 1)  σ_h = σ̂ sqrt(h (1 + h/(T - 1)))
                     e_t = y_t - y_{t-1} - b

A forecast is the Gaussian N(ŷ_{T+h}, σ_h²) at each step, so its intervals and CRPS are closed form.

Shapes: T training length, H horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqlab.errors import ConfigError, DataError

__all__ = ["GaussianForecast", "BASELINES", "baseline_forecast", "detect_season"]

BASELINES = ("naive", "seasonal-naive", "mean", "drift")


@dataclass(frozen=True)
class GaussianForecast:
    """A predictive distribution N(mean_h, std_h²) per horizon step h (both (H,) float64)."""

    mean: np.ndarray
    std: np.ndarray


def _sigma(residuals: np.ndarray) -> float:
    r = residuals[np.isfinite(residuals)]
    return float(math.sqrt(np.mean(r ** 2))) if r.size else 0.0


def baseline_forecast(name: str, y, horizon: int, season: int = 1) -> GaussianForecast:
    """The `name` method's forecast of the `horizon` values after y (T,) (see the module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    T, H = len(y), int(horizon)
    if H < 1:
        raise ConfigError(f"horizon must be >= 1, got {horizon}")
    if T < 2:
        raise DataError(f"{name} needs at least 2 training values, got {T}")
    h = np.arange(1, H + 1, dtype=np.float64)  # (H,)
    if name == "mean":
        return GaussianForecast(np.full(H, y.mean()), np.full(H, _sigma(y - y.mean()) * math.sqrt(1 + 1 / T)))
    if name == "naive":
        return GaussianForecast(np.full(H, y[-1]), _sigma(np.diff(y)) * np.sqrt(h))
    if name == "seasonal-naive":
        m = int(season)
        if m < 1:
            raise ConfigError(f"season must be >= 1, got {season}")
        if T <= m:
            raise DataError(f"seasonal naive with season {m} needs more than {m} training values, got {T}")
        k = np.floor((h - 1) / m)  # (H,)
        idx = (T - 1 + h - m * (k + 1)).astype(int)  # 0-based index of y_{T+h-m(k+1)}
        return GaussianForecast(y[idx], _sigma(y[m:] - y[:-m]) * np.sqrt(k + 1))
    if name == "drift":
        b = (y[-1] - y[0]) / (T - 1)
        return GaussianForecast(y[-1] + h * b, _sigma(np.diff(y) - b) * np.sqrt(h * (1 + h / (T - 1))))
    raise ConfigError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def detect_season(y, max_lag: int | None = None, threshold: float = 0.3) -> int:
    """The season m: the lag >= 2 of the highest local peak of the autocorrelation of the
    first-differenced series, if that peak exceeds `threshold`; 1 (no season) otherwise.

    Differencing removes a trend, which would otherwise make every small lag look seasonal.
    max_lag: default min(T // 3, 400).
    """
    y = np.asarray(y, dtype=np.float64)
    d = np.diff(y)
    n = len(d)
    max_lag = min(n // 3, 400) if max_lag is None else min(int(max_lag), n - 1)
    if max_lag < 3:
        return 1
    d = d - d.mean()
    denom = float(np.dot(d, d))
    if denom == 0.0:
        return 1
    acf = np.array([np.dot(d[:n - k], d[k:]) / denom for k in range(max_lag + 1)])  # (max_lag + 1,)
    best, best_val = 1, threshold
    for k in range(2, max_lag):
        if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] > best_val:
            best, best_val = k, float(acf[k])
    return best
