"""Scalers fitted on the training part only, and sliding windows for forecasting.

Shapes: T time, N windows, W window length, K horizon.

    StandardScaler:  z = (x - mu) / sigma,          mu, sigma from the training part
    MinMaxScaler:    z = (x - lo) / (hi - lo)        lo, hi from the training part

Fit on the training part only (`scaler.fit(split.train)`), so the validation and test parts are
scaled with statistics they did not contribute to; fitting on all data leaks the future into the
past. A constant training part gets sigma = 1 (resp. hi - lo = 1) instead of a division by zero.
Scalers accept numpy arrays and torch tensors and return the same type; `to_dict`/`from_dict` are
JSON-able so a run folder can store the scaler next to the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _like(values: np.ndarray, like: Any) -> Any:
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(values, dtype=like.dtype if like.is_floating_point() else torch.float32,
                               device=like.device)
    return values


class _Scaler:
    kind = "base"
    _fields: tuple[str, str] = ("", "")

    def __init__(self) -> None:
        self.offset: float | None = None
        self.scale: float | None = None

    def _stats(self, x: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError

    def fit(self, x: Any) -> _Scaler:
        """Statistics of `x` (the training part only)."""
        x = _as_numpy(x)
        if x.size == 0:
            raise DataError(f"cannot fit a {type(self).__name__} on an empty series")
        if not np.isfinite(x).all():
            raise DataError(f"cannot fit a {type(self).__name__}: the series holds NaN or inf")
        with np.errstate(over="ignore", invalid="ignore"):
            offset, scale = self._stats(x)
        if not (math.isfinite(offset) and math.isfinite(scale)):
            raise DataError(f"cannot fit a {type(self).__name__}: the values are too large to standardise "
                            f"(largest magnitude {float(np.abs(x).max()):.3g})")
        self.offset, self.scale = float(offset), float(scale) if scale > 0 else 1.0
        return self

    def _check(self) -> None:
        if self.offset is None:
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit(train) first")

    def transform(self, x: Any) -> Any:
        self._check()
        return _like((_as_numpy(x) - self.offset) / self.scale, x)

    def inverse_transform(self, z: Any) -> Any:
        self._check()
        return _like(_as_numpy(z) * self.scale + self.offset, z)

    def fit_transform(self, x: Any) -> Any:
        return self.fit(x).transform(x)

    def to_dict(self) -> dict[str, Any]:
        self._check()
        a, b = self._fields
        return {"kind": self.kind, a: self.offset, b: self.scale}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Scaler:
        a, b = cls._fields
        s = cls()
        s.offset, s.scale = float(d[a]), float(d[b])
        return s


class StandardScaler(_Scaler):
    """z = (x - mean) / std (population std, ddof=0, like scikit-learn)."""

    kind = "standard"
    _fields = ("mean", "std")

    def _stats(self, x: np.ndarray) -> tuple[float, float]:
        return x.mean(), x.std()

    @property
    def mean(self) -> float | None:
        return self.offset

    @property
    def std(self) -> float | None:
        return self.scale


class MinMaxScaler(_Scaler):
    """z = (x - min) / (max - min), mapping the training range onto [0, 1]."""

    kind = "minmax"
    _fields = ("min", "range")

    def _stats(self, x: np.ndarray) -> tuple[float, float]:
        return x.min(), x.max() - x.min()


def scaler_from_dict(d: dict[str, Any]) -> _Scaler:
    kinds = {"standard": StandardScaler, "minmax": MinMaxScaler}
    if not isinstance(d, dict) or d.get("kind") not in kinds:
        raise DataError(f"not a seqlab scaler record: {d!r}"[:200])
    return kinds[d["kind"]].from_dict(d)


def sliding_windows(series: Any, window: int, horizon: int = 1, stride: int = 1) -> tuple[Any, Any]:
    """Inputs and targets for forecasting: X[n] = x[s : s+W], Y[n] = x[s+W : s+W+K], s = n * stride.

    Returns (X (N, W), Y (N, K)) with N = (T - W - K) // stride + 1, as numpy arrays for numpy
    input and as tensors (same dtype) for tensor input. DataError if the series is too short.
    """
    if window < 1 or horizon < 1 or stride < 1:
        raise ConfigError(f"window, horizon and stride must be >= 1, got {window}, {horizon}, {stride}")
    is_tensor = isinstance(series, torch.Tensor)
    x = series if is_tensor else np.asarray(series)
    if x.ndim != 1:
        raise DataError(f"sliding_windows expects a 1-D series (T,), got shape {tuple(x.shape)}")
    T = x.shape[0]
    if T < window + horizon:
        raise DataError(f"series of length {T} is too short for window {window} + horizon {horizon}")
    span = window + horizon
    if is_tensor:
        w = x.unfold(0, span, stride)                                      # (N, W + K)
        return w[:, :window].contiguous(), w[:, window:].contiguous()       # (N, W), (N, K)
    w = np.lib.stride_tricks.sliding_window_view(x, span)[::stride]        # (N, W + K)
    return w[:, :window].copy(), w[:, window:].copy()                     # (N, W), (N, K)
