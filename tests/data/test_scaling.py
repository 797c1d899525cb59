"""Scalers fitted on the training part only; sliding windows."""

import json

import numpy as np
import pytest
import torch

from seqlab.data import MinMaxScaler, StandardScaler, scaler_from_dict, sliding_windows, split
from seqlab.errors import ConfigError, DataError


def test_standard_scaler_uses_train_statistics_only():
    x = np.concatenate([np.random.default_rng(0).normal(5, 2, 900), np.full(100, 1000.0)])
    parts = split(x, (0.9, 0.1))
    sc = StandardScaler().fit(parts.train)
    assert sc.mean == pytest.approx(parts.train.mean()) and sc.std == pytest.approx(parts.train.std())
    z = sc.transform(parts.train)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    np.testing.assert_allclose(sc.inverse_transform(sc.transform(x)), x)


def test_minmax_and_constant_series():
    sc = MinMaxScaler().fit([2.0, 4.0, 6.0])
    np.testing.assert_allclose(sc.transform([2.0, 6.0, 8.0]), [0.0, 1.0, 1.5])
    const = StandardScaler().fit([3.0, 3.0])
    np.testing.assert_array_equal(const.transform([3.0, 4.0]), [0.0, 1.0])


def test_tensors_stay_tensors_and_records_round_trip():
    t = torch.tensor([1.0, 2.0, 3.0, 4.0])
    sc = StandardScaler().fit(t)
    out = sc.transform(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    again = scaler_from_dict(json.loads(json.dumps(sc.to_dict())))
    assert torch.allclose(again.transform(t), out)
    assert isinstance(scaler_from_dict(MinMaxScaler().fit(t).to_dict()), MinMaxScaler)


def test_scaler_errors():
    with pytest.raises(ConfigError, match="not fitted"):
        StandardScaler().transform([1.0])
    with pytest.raises(DataError, match="NaN"):
        StandardScaler().fit([1.0, float("nan")])
    with pytest.raises(DataError):
        scaler_from_dict({"kind": "robust"})


@pytest.mark.parametrize("window,horizon,stride", [(3, 1, 1), (4, 2, 1), (2, 3, 2)])
def test_sliding_windows_match_an_explicit_loop(window, horizon, stride):
    x = np.arange(12.0)
    X, Y = sliding_windows(x, window, horizon, stride)
    starts = range(0, len(x) - window - horizon + 1, stride)
    np.testing.assert_array_equal(X, [x[s:s + window] for s in starts])
    np.testing.assert_array_equal(Y, [x[s + window:s + window + horizon] for s in starts])
    Xt, Yt = sliding_windows(torch.from_numpy(x), window, horizon, stride)
    np.testing.assert_array_equal(Xt.numpy(), X)
    np.testing.assert_array_equal(Yt.numpy(), Y)


def test_sliding_windows_errors():
    with pytest.raises(DataError, match="too short"):
        sliding_windows(np.arange(3.0), 3, 1)
    with pytest.raises(ConfigError):
        sliding_windows(np.arange(3.0), 0)
    with pytest.raises(DataError, match="1-D"):
        sliding_windows(np.zeros((2, 5)), 2)


def test_values_too_large_to_standardise_are_a_data_error():
    from seqlab.data import StandardScaler
    from seqlab.errors import DataError

    with pytest.raises(DataError, match="too large to standardise"):
        StandardScaler().fit(np.array([1e200, -1e200, 3e200]))
