"""`seqlab forecast` end to end: metrics against the naive baseline, the intervals, the error-growth
table, the files it writes, and bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.cli.conftest import assert_one_line_error, png_size


def test_ar_on_noisy_sine(tmp_path, seqlab):
    out = tmp_path / "fc"
    result = seqlab("forecast", "--model", "ar", "--data", "sine", "--horizon", "32", "--order", "6",
                    "--samples", "100", "--out", out)
    assert result.code == 0, result
    record = json.loads((out / "metrics.json").read_text())
    growth = record["error_growth"]
    assert growth["k"] == [1, 4, 16, 64]
    # one-step forecasts of sin(0.01 t) + N(0, 0.2^2) cannot beat the noise: RMSE ~ 0.2
    assert 0.15 < growth["one_step_rmse"][0] < 0.3
    # at k = 1 the recursive forecast is the one-step forecast
    assert growth["recursive_rmse"][0] == pytest.approx(growth["one_step_rmse"][0], rel=1e-5)
    assert record["metrics"]["model"]["mase"] > 0 and record["metrics"]["naive"]["mase"] > 0
    assert 0.5 <= record["interval_90_coverage"] <= 1.0
    rows = list(csv.DictReader((out / "forecast.csv").open()))
    assert len(rows) == 32 and int(rows[0]["t"]) == record["train_length"] == 800
    for r in rows:
        assert float(r["q05"]) <= float(r["mean"]) <= float(r["q95"])
    w, h = png_size(out / "forecast.png")
    assert w > 600 and h > 200
    assert "MASE" in result.out and "naive" in result.out


def test_neural_forecast_trains_and_writes(tmp_path, seqlab):
    out = tmp_path / "fc"
    result = seqlab("forecast", "--model", "gru", "--data", "sine;length=300", "--horizon", "8",
                    "--steps", "3", "--hidden-size", "8", "--samples", "20", "--ks", "1,4",
                    "--out", out)
    assert result.code == 0, result
    record = json.loads((out / "metrics.json").read_text())
    assert record["error_growth"]["k"] == [1, 4]
    assert all(np.isfinite(v) for v in record["error_growth"]["recursive_rmse"])
    assert len(list(csv.DictReader((out / "forecast.csv").open()))) == 8


@pytest.mark.parametrize("argv, fragments", [
    (["--model", "markov"], ["--model", "'markov'"]),
    (["--data", "pydoc"], ["series data spec"]),
    (["--data", "csv:/nonexistent.csv"], ["/nonexistent.csv"]),
    (["--horizon", "-3"], ["--horizon"]),
    (["--horizon", "500"], ["horizon 500 exceeds"]),
    (["--order", "3", "--model", "lstm"], ["order applies to model ar only"]),
])
def test_bad_input(tmp_path, seqlab, argv, fragments):
    args = {"--model": "ar", "--data": "sine", "--horizon": "8"}
    for flag, value in zip(argv[::2], argv[1::2]):
        args[flag] = value
    flat = [x for kv in args.items() for x in kv]
    assert_one_line_error(seqlab("forecast", *flat, "--out", tmp_path / "fc"), *fragments)
    assert list(tmp_path.iterdir()) == []


def test_forecast_loads_a_trained_run(tmp_path, seqlab):
    run_dir = tmp_path / "sine-gru"
    spec = "sine;length=300"
    trained = seqlab("train", "--model", "gru", "--data", spec, "--out", run_dir, "--steps", "3",
                     "--batch-size", "4", "--block-size", "16", "--eval-interval", "3",
                     "--hidden-size", "8", "--no-progress")
    assert trained.code == 0, trained
    out = tmp_path / "fc"
    result = seqlab("forecast", "--run", run_dir, "--data", spec, "--horizon", "10", "--samples", "20",
                    "--out", out)
    assert result.code == 0, result
    record = json.loads((out / "metrics.json").read_text())
    assert record["train_length"] == 285  # the run's own test part (90/5/5 of 300) is forecast
    assert record["model"] == "gru" and record["run"] == str(run_dir)
    assert record["error_growth"]["k"] == [1, 4]
    evaluated = seqlab("eval", run_dir, "--json")  # the same held-out NLL, in the series' units
    assert json.loads(evaluated.out)["loss_nats"] == pytest.approx(record["test_nll"])
    text_run = seqlab("forecast", "--run", tmp_path, "--data", spec, "--out", tmp_path / "x")
    assert_one_line_error(text_run, "not a seqlab run folder")
