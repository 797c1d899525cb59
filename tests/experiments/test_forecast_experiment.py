"""seqlab.experiments.forecast on tiny series: the metric definitions, the typed result, the scaler
fitted on the training part only, and a run from `seqlab train` forecast with its own scaler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqlab.data import load_series
from seqlab.errors import ConfigError, DataError
from seqlab.experiments.forecast import ErrorGrowth, ForecastErrors, ForecastSetup, forecast_errors, run_forecast
from seqlab.experiments.forecast_metrics import mase_scale
from seqlab.train import RunConfig, TrainConfig, eval_run, train_run

SPEC = "sine;length=300"


def test_metric_definitions():
    train = np.array([1.0, 3.0, 2.0, 5.0])  # |diffs| = 2, 1, 3 -> scale 2
    assert mase_scale(train) == 2.0
    e = forecast_errors(np.array([1.0, 2.0]), np.array([2.0, 4.0]), 2.0)  # errors -1, -2
    assert e == ForecastErrors(mae=1.5, rmse=pytest.approx(math.sqrt(2.5)), mase=0.75)


def test_ar_result_is_typed_and_scaled_on_the_training_part_only():
    r = run_forecast(ForecastSetup(model="ar", data=SPEC, horizon=8, order=3, samples=20, ks=(1, 4)))
    y = load_series(SPEC)
    n = 240  # round(300 * 0.8): the first 80% trains, the last 20% is held out
    assert r.train_length == n and r.series_length == 300 and r.horizon == 8
    # the scaler is the training part's (population std), not the whole series'
    assert r.scaler_mean == pytest.approx(y[:n].mean(), abs=1e-12)
    assert r.scaler_std == pytest.approx(y[:n].std(), rel=1e-12)
    assert abs(r.scaler_mean - y.mean()) > 1e-3
    np.testing.assert_array_equal(r.history, y[:n])
    np.testing.assert_array_equal(r.truth, y[n:n + 8])
    assert isinstance(r.model_errors, ForecastErrors) and isinstance(r.error_growth, ErrorGrowth)
    assert r.error_growth.k == [1, 4]
    # at k = 1 the recursive forecast is the one-step forecast
    assert r.error_growth.recursive_rmse[0] == pytest.approx(r.error_growth.one_step_rmse[0], rel=1e-5)
    assert np.all(r.lower <= r.mean) and np.all(r.mean <= r.upper)
    assert r.train.stop_reason == "fit"  # closed-form AR, fitted once by the Trainer
    assert r.test_score.tokens == 300 - n and math.isfinite(r.test_score.loss_nats)
    # the naive forecast repeats the last training value
    last = np.full(8, y[n - 1])
    assert r.naive_errors == forecast_errors(y[n:n + 8], last, mase_scale(y[:n]))


def test_neural_model_trains_for_the_fixed_step_count():
    r = run_forecast(ForecastSetup(model="gru", data=SPEC, horizon=4, steps=3, hidden_size=8, samples=10,
                                   ks=(1,)))
    assert r.train.steps == 3 and r.train.stop_reason == "steps"
    assert r.mean.shape == (4,) and np.isfinite(r.mean).all() and math.isfinite(r.test_score.loss_nats)


@pytest.mark.parametrize("kw, message", [
    ({"model": "markov"}, "unknown forecast model"),
    ({"order": 3}, "order applies to model ar only"),
    ({"test_fraction": 1.0}, "test fraction"),
])
def test_bad_setup(kw, message):
    with pytest.raises(ConfigError, match=message):
        ForecastSetup(**kw)


def test_bad_data():
    with pytest.raises(DataError, match="series data spec"):
        run_forecast(ForecastSetup(model="ar", data="copy"))
    with pytest.raises(ConfigError, match="horizon 100 exceeds the held-out part"):
        run_forecast(ForecastSetup(model="ar", data=SPEC, horizon=100, test_fraction=0.1))


def _train_gru(spec: str, out):
    cfg = RunConfig(model="gru", data=spec, model_config={"hidden_size": 8},
                    train=TrainConfig(steps=3, batch_size=4, block_size=16, eval_interval=3, device="cpu"))
    train_run(cfg, out, progress=False)
    return out


def test_a_train_run_forecasts_with_its_own_scaler(tmp_path):
    # a series far from 0: a model fed unscaled values, or forecasts left in z units, would be ~1000 off
    t = np.arange(300)
    y = 1000 + 10 * np.sin(t / 5) + np.random.default_rng(0).normal(0, 1, 300)
    path = tmp_path / "y.csv"
    path.write_text("y\n" + "\n".join(f"{v:.6f}" for v in y) + "\n")
    spec = f"csv:{path};column=y"
    run_dir = _train_gru(spec, tmp_path / "run")
    r = run_forecast(ForecastSetup(run=str(run_dir), data=spec, horizon=10, samples=20, ks=(1, 4)))
    # the run's split is 90/5/5: its scaler is that of y[:270], its test part starts at 285
    assert r.train_length == 285 and r.model_name == "gru" and r.train is None
    assert r.scaler_mean == pytest.approx(y[:270].mean(), rel=1e-6)
    assert r.scaler_std == pytest.approx(y[:270].std(), rel=1e-4)
    assert np.all(np.abs(r.mean - 1000) < 50)  # back in the units of y
    # the held-out NLL is the one `seqlab eval` gives the run on its test part (units of y)
    assert r.test_score.loss_nats == pytest.approx(eval_run(run_dir).loss_nats, rel=1e-6)
    # on another series the run still reads values through its own scaler
    other = tmp_path / "z.csv"
    other.write_text("y\n" + "\n".join(f"{v:.6f}" for v in y[::-1]) + "\n")
    r2 = run_forecast(ForecastSetup(run=str(run_dir), data=f"csv:{other};column=y", horizon=5, samples=10,
                                    ks=(1,)))
    assert r2.train_length == 240 and r2.scaler_mean == r.scaler_mean and r2.scaler_std == r.scaler_std
