"""Forecasting compare: the rolling-origin backtest against statsmodels and hand computations,
the CRPS formulas, dates kept through the outputs, and the command end to end."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from seqlab.experiments.compare import CompareSetup, run_compare
from seqlab.experiments.compare_series import default_horizon, linear_ar_forecast, origins_for, split_season
from seqlab.experiments.forecast_metrics import crps_gaussian, crps_samples, mase_scale, smape
from seqlab.models.baselines import baseline_forecast, detect_season


def _setup(data, **kw):
    base = dict(data=data, models=("linear-ar", "naive", "seasonal-naive", "mean", "drift"), size="tiny",
                seeds=1, origins=3, horizon=6, jobs=1)
    base.update(kw)
    return CompareSetup(**base)


def test_linear_ar_equals_statsmodels_autoreg_at_every_origin():
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order

    from seqlab.data import load_series

    y = load_series("sunspots")
    res = run_compare(_setup("sunspots", models=("linear-ar",), origins=4, horizon=8))
    fam = res.family("linear-ar")
    for origin in fam.origins:
        train = y[:origin.origin]
        sel = ar_select_order(train, maxlag=min(12, len(train) // 4), ic="aic", trend="c")
        lags = max(sel.ar_lags) if sel.ar_lags else 0
        assert origin.detail == f"τ={lags}"
        fit = AutoReg(train, lags=lags, trend="c").fit()
        pred = fit.get_prediction(start=len(train), end=len(train) + 7)
        np.testing.assert_allclose(origin.mean, pred.predicted_mean, rtol=0, atol=1e-6)
        lo, hi = pred.conf_int(alpha=0.05).T
        np.testing.assert_allclose(origin.lower[0.95], lo, atol=1e-6)
        np.testing.assert_allclose(origin.upper[0.95], hi, atol=1e-6)


def test_naive_and_seasonal_naive_metrics_by_hand():
    from seqlab.data import load_series

    y = load_series("ar:0.5;length=120;seed=3")
    res = run_compare(_setup("ar:0.5;length=120;seed=3;season=4", models=("naive", "seasonal-naive")))
    assert res.season == 4 and res.season_source == "given"
    for fam in res.families:
        for o in fam.origins:
            t = o.origin
            truth, train = y[t:t + 6], y[:t]
            if fam.name == "naive":
                pred = np.full(6, train[-1])
            else:  # y_{T+h-m(k+1)}, k = floor((h-1)/m), m = 4
                pred = np.array([train[len(train) + h - 4 * ((h - 1) // 4 + 1) - 1] for h in range(1, 7)])
            q = np.mean(np.abs(np.diff(train)))
            assert o.score.mase == pytest.approx(np.mean(np.abs(truth - pred)) / q, rel=1e-12)
            assert o.score.rmse == pytest.approx(math.sqrt(np.mean((truth - pred) ** 2)), rel=1e-12)
            assert o.score.smape == pytest.approx(100 * np.mean(2 * np.abs(truth - pred) / (np.abs(truth) + np.abs(pred))))
            np.testing.assert_allclose(o.mean, pred)
        assert fam.mase.mean == pytest.approx(np.mean([o.score.mase for o in fam.origins]))


def test_linear_ar_beats_naive_on_an_ar_series():
    # at 20 steps ahead an AR(1) with phi = 0.9 has mostly reverted to its mean; the naive forecast has not
    res = run_compare(_setup("ar:0.9;length=3000;seed=1", models=("linear-ar", "naive"), origins=30, horizon=20))
    assert res.family("linear-ar").mase.mean < res.family("naive").mase.mean
    assert res.families[0].name == "linear-ar"


def test_baseline_formulas():
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])
    fc = baseline_forecast("drift", y, 3)
    np.testing.assert_allclose(fc.mean, 6 + np.arange(1, 4) * (6 - 1) / 5)
    e = np.diff(y) - 1.0
    np.testing.assert_allclose(fc.std, math.sqrt(np.mean(e ** 2)) * np.sqrt(np.arange(1, 4) * (1 + np.arange(1, 4) / 5)))
    fc = baseline_forecast("mean", y, 2)
    np.testing.assert_allclose(fc.mean, [y.mean()] * 2)
    fc = baseline_forecast("seasonal-naive", y, 5, season=2)
    np.testing.assert_allclose(fc.mean, [4.0, 6.0, 4.0, 6.0, 4.0])
    np.testing.assert_allclose(fc.std / fc.std[0], np.sqrt([1, 1, 2, 2, 3]))


def test_season_detection():
    t = np.arange(600)
    rng = np.random.default_rng(0)
    assert detect_season(np.sin(2 * np.pi * t / 12) + 0.01 * t + 0.1 * rng.standard_normal(600)) == 12
    assert detect_season(rng.standard_normal(300)) == 1
    assert split_season("co2;season=52") == ("co2", 52)
    assert split_season("csv:x.csv;column=a;season=7") == ("csv:x.csv;column=a", 7)


def test_crps_formulas():
    rng = np.random.default_rng(0)
    mu, sd, y = 0.3, 1.7, np.array([-1.0, 0.3, 2.5])
    # closed form against numerical integration of (F(z) - 1[z >= y])^2
    F = lambda z: 0.5 * (1 + np.vectorize(math.erf)((z - mu) / (sd * math.sqrt(2))))  # noqa: E731
    left = [np.linspace(-20, v, 200001) for v in y]   # split at y, where the step function jumps
    right = [np.linspace(v, 20, 200001) for v in y]
    want = [np.trapezoid(F(a) ** 2, a) + np.trapezoid((F(b) - 1) ** 2, b) for a, b in zip(left, right)]
    np.testing.assert_allclose(crps_gaussian(y, np.full(3, mu), np.full(3, sd)), want, rtol=1e-5)
    # ensemble form against the O(S^2) definition
    x = rng.normal(size=(50, 3))
    brute = np.abs(x - y).mean(0) - 0.5 * np.abs(x[:, None] - x[None]).mean((0, 1))
    np.testing.assert_allclose(crps_samples(y, x), brute, rtol=1e-12)
    assert smape([0.0], [0.0]) == 0.0
    assert math.isnan(mase_scale([2.0, 2.0, 2.0]))


def test_origins_and_horizon_rules():
    assert default_horizon(309) == 15 and default_horizon(100) == 5 and default_horizon(2284) == 24
    assert origins_for(309, 15, 5) == [234, 249, 264, 279, 294]


def test_too_short_series_and_text_only_options_are_one_line_errors():
    from seqlab.errors import ConfigError, DataError

    with pytest.raises(DataError, match="too few"):
        run_compare(_setup("ar:0.5;length=30", origins=5, horizon=6))
    with pytest.raises(ConfigError, match="scaling study"):
        run_compare(_setup("sine", budgets=(1e9, 2e9)))
    with pytest.raises(ConfigError, match="unknown model 'markov' for series"):
        run_compare(_setup("sine", models=("markov",)))


@pytest.fixture(scope="module")
def dated_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("series") / "sales.csv"
    lines = ["date,sales"]
    value = 10.0
    for month in range(96):
        value = 0.8 * value + 2 + rng.normal()
        lines.append(f"{2010 + month // 12}-{month % 12 + 1:02d}-01,{value:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_command_end_to_end_with_dates(tmp_path, dated_csv):
    from seqlab.cli.main import main
    from tests.browser import render

    out = tmp_path / "board"
    code = main(["compare", "--data", f"csv:{dated_csv}", "--models", "linear-ar,rnn,naive,drift", "--size", "tiny",
                 "--seeds", "2", "--origins", "3", "--horizon", "4", "--budget", "2e7", "--jobs", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert {r["model"] for r in rows} == {"linear-ar", "rnn", "naive", "drift"}
    keys = [(int(r["rank"]), float(r["mase_mean"])) for r in rows]
    assert keys == sorted(keys)
    rnn = next(r for r in rows if r["model"] == "rnn")
    assert len(rnn["seed_mase"].split()) == 2 and float(rnn["flops"]) <= 2e7
    fc = list(csv.DictReader((out / "forecasts.csv").open()))
    assert len(fc) == 4 * 3 * 4  # entrants x origins x horizon
    assert fc[0]["date"].startswith("2017-") and fc[-1]["date"].startswith("2017-12")
    for r in fc:
        assert float(r["lo95"]) <= float(r["lo80"]) <= float(r["hi80"]) <= float(r["hi95"])
    setup = json.loads((out / "setup.json").read_text())
    assert setup["dates"][0].startswith("2010-01") and setup["kind"] == "series"
    page = render(out / "report.html")
    assert page.images == 3 and page.images_decoded == 3
    assert page.table_rows[0] == 4 and not page.external_urls
    # the same seeds give the same numbers
    out2 = tmp_path / "again"
    assert main(["compare", "--data", f"csv:{dated_csv}", "--models", "linear-ar,rnn,naive,drift", "--size", "tiny",
                 "--seeds", "2", "--origins", "3", "--horizon", "4", "--budget", "2e7", "--jobs", "2",
                 "--no-progress", "--out", str(out2)]) == 0
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(rows) == strip(list(csv.DictReader((out2 / "leaderboard.csv").open())))
