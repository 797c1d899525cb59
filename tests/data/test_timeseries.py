"""Series sources: csv:, sine, ar: (statsmodels AutoReg oracle), statsmodels data sets, fills."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import fill_nonfinite, load_series
from seqlab.errors import DataError

pd = pytest.importorskip("pandas")


def _csv(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_header_picks_the_only_numeric_column(tmp_path):
    p = _csv(tmp_path, "date,value\n2020-01-01,1.5\n2020-01-02,2.5\n2020-01-03,-3\n")
    np.testing.assert_array_equal(load_series(f"csv:{p}"), [1.5, 2.5, -3.0])


def test_csv_column_by_name_or_index_and_no_header(tmp_path):
    p = _csv(tmp_path, "a;b;c\n1;10;100\n2;20;200\n")
    np.testing.assert_array_equal(load_series(f"csv:{p};column=b"), [10, 20])
    np.testing.assert_array_equal(load_series(f"csv:{p}", column=2), [100, 200])
    q = _csv(tmp_path, "1,10\n2,20\n3,30\n", "nohead.csv")
    np.testing.assert_array_equal(load_series(f"csv:{q};column=1"), [10, 20, 30])


def test_csv_ambiguous_or_unknown_column(tmp_path):
    p = _csv(tmp_path, "a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"choose a column.*numeric columns: a, b"):
        load_series(f"csv:{p}")
    with pytest.raises(DataError, match=r"no column 'z'; columns are a, b"):
        load_series(f"csv:{p};column=z")


def test_csv_date_column_orders_rows(tmp_path):
    p = _csv(tmp_path, "when,x\n2021-03-01,3\n2021-01-01,1\n2021-02-01,2\n")
    np.testing.assert_array_equal(load_series(f"csv:{p};date_column=when;column=x"), [1, 2, 3])
    bad = _csv(tmp_path, "when,x\n2021-03-01,3\nyesterday,1\n", "bad.csv")
    with pytest.raises(DataError, match="line 3: date 'yesterday'"):
        load_series(f"csv:{bad};date_column=when;column=x")


def test_csv_nan_row_is_named_unless_filled(tmp_path):
    p = _csv(tmp_path, "x\n1\n2\nNaN\n4\ninf\n")
    with pytest.raises(DataError) as e:
        load_series(f"csv:{p}")
    assert "line 4 of" in str(e.value) and "2 non-finite" in str(e.value) and "fill" in str(e.value)
    np.testing.assert_array_equal(load_series(f"csv:{p}", fill="drop"), [1, 2, 4])
    np.testing.assert_array_equal(load_series(f"csv:{p};fill=zero"), [1, 2, 0, 4, 0])
    np.testing.assert_array_equal(load_series(f"csv:{p};fill=ffill"), [1, 2, 2, 4, 4])
    np.testing.assert_array_equal(load_series(f"csv:{p};fill=interpolate"), [1, 2, 3, 4, 4])
    with pytest.raises(DataError, match="unknown fill"):
        load_series(f"csv:{p};fill=mean")


def test_csv_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_series(f"csv:{tmp_path / 'none.csv'}")
    p = _csv(tmp_path, "x\n1\nabc\n")
    with pytest.raises(DataError, match=r"line 3: column 'x' holds 'abc'"):
        load_series(f"csv:{p}")
    with pytest.raises(DataError, match="empty"):
        load_series(f"csv:{_csv(tmp_path, '', 'e.csv')}")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=40)
       .filter(lambda v: any(np.isfinite(v))))
def test_fills_match_pandas(values):
    x = np.array(values)
    s = pd.Series(x)
    np.testing.assert_allclose(fill_nonfinite(x, "ffill"), s.ffill().bfill().to_numpy())
    np.testing.assert_allclose(fill_nonfinite(x, "interpolate"),
                               s.interpolate(limit_direction="both").to_numpy(), rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(fill_nonfinite(x, "drop"), s.dropna().to_numpy())
    np.testing.assert_array_equal(fill_nonfinite(x, "zero"), s.fillna(0).to_numpy())


def test_sine_is_the_textbook_series():
    x = load_series("sine")
    assert x.shape == (1000,) and x.dtype == np.float64
    t = np.arange(1, 1001)
    noise = x - np.sin(0.01 * t)
    assert abs(noise.std() - 0.2) < 0.02 and abs(noise.mean()) < 0.03
    np.testing.assert_array_equal(x, load_series("sine;seed=0"))
    assert not np.array_equal(x, load_series("sine;seed=1"))


def test_ar_process_recovers_its_coefficients_with_statsmodels():
    ar = pytest.importorskip("statsmodels.tsa.ar_model")
    x = load_series("ar:0.5,-0.3", length=20000, seed=1)
    fit = ar.AutoReg(x, lags=2, trend="n").fit()
    np.testing.assert_allclose(fit.params, [0.5, -0.3], atol=0.02)
    assert abs(np.sqrt(fit.sigma2) - 1.0) < 0.02


def test_ar_bad_coefficients_and_divergence():
    with pytest.raises(DataError, match="numbers separated by commas"):
        load_series("ar:half")
    with pytest.raises(DataError, match="not stationary"):
        load_series("ar:3.0", length=2000)
    with pytest.raises(DataError, match="finite"):
        load_series("ar:nan")


@pytest.mark.parametrize("phi", ["1.0", "-1.0", "1.01", "0.5,0.5", "0.2,0.3,0.5", "0,0,0,1"])
def test_ar_non_stationary_processes_are_refused_even_when_they_stay_finite(phi):
    # a random walk (phi = 1) or a barely explosive AR(1) stays finite over 1200 steps; the
    # roots of 1 - sum_i phi_i z^i decide, not overflow
    with pytest.raises(DataError, match=r"not stationary: .* root with \|z\| = [0-9.]+ <= 1"):
        load_series(f"ar:{phi}")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2.0, 2.0).map(lambda v: round(v, 3)), min_size=1, max_size=4))
def test_ar_stationarity_agrees_with_statsmodels(phi):
    arima = pytest.importorskip("statsmodels.tsa.arima_process")
    roots = arima.ArmaProcess(ar=np.r_[1.0, -np.array(phi)]).arroots  # roots of 1 - sum phi_i z^i
    margin = np.abs(roots).min() - 1.0 if roots.size else np.inf
    if abs(margin) < 1e-6:  # on the circle up to rounding: either answer is defensible
        return
    if margin > 0:
        x = load_series(f"ar:{','.join(map(repr, phi))}", length=50)
        assert x.shape == (50,) and np.isfinite(x).all()
    else:
        with pytest.raises(DataError, match="not stationary"):
            load_series(f"ar:{','.join(map(repr, phi))}", length=50)


@pytest.mark.parametrize("name,module,column", [("sunspots", "sunspots", "SUNACTIVITY"),
                                                ("nile", "nile", "volume"),
                                                ("macrodata", "macrodata", "realgdp")])
def test_statsmodels_sets_equal_statsmodels_data(name, module, column):
    datasets = pytest.importorskip("statsmodels.datasets")
    expected = getattr(datasets, module).load_pandas().data[column].to_numpy()
    np.testing.assert_array_equal(load_series(name), expected)


def test_co2_gaps_are_interpolated_by_default_and_can_be_refused():
    datasets = pytest.importorskip("statsmodels.datasets")
    raw = datasets.co2.load_pandas().data["co2"]
    np.testing.assert_allclose(load_series("co2"), raw.interpolate(limit_direction="both").to_numpy())
    with pytest.raises(DataError, match=r"co2;fill=none: row 6 \(1958-05-10\)"):
        load_series("co2;fill=none")


def test_elnino_is_flattened_by_month():
    datasets = pytest.importorskip("statsmodels.datasets")
    frame = datasets.elnino.load_pandas().data
    x = load_series("elnino")
    assert x.shape == (12 * len(frame),)
    assert x[13] == frame["FEB"].iloc[1]


def test_missing_statsmodels_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels.datasets", None)
    with pytest.raises(DataError, match=r"pip install seqlab\[timeseries\]"):
        load_series("sunspots")
