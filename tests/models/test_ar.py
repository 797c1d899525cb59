"""LinearAR against statsmodels AutoReg / ar_select_order (oracle), plus the model's own invariants.

Tolerance 1e-6 (absolute, on values of order 1..100) for coefficients, sigma2, fitted values,
forecasts, prediction intervals and information criteria; all compared in float64.
"""

import math

import numpy as np
import pytest
import statsmodels.api as sm
import torch
from safetensors.torch import load_file, save_file
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from seqlab.errors import ConfigError, DataError
from seqlab.models import LinearAR, registry

TOL = dict(atol=1e-6, rtol=0)


def ar_series(phi, c=0.5, sigma=1.0, T=400, seed=0, burn=100):
    """A sample path of x_t = c + Σ phi_i x_{t-i} + sigma e_t (numpy float64)."""
    rng = np.random.default_rng(seed)
    p = len(phi)
    x = np.zeros(T + burn + p)
    e = rng.standard_normal(len(x)) * sigma
    for t in range(p, len(x)):
        x[t] = c + sum(phi[i] * x[t - 1 - i] for i in range(p)) + e[t]
    return x[burn + p:]


def sunspots():
    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)


SERIES = {"ar3": lambda: ar_series([0.5, -0.2, 0.15]), "sunspots": sunspots}


@pytest.mark.parametrize("tau", [0, 1, 3, 8])
@pytest.mark.parametrize("series", list(SERIES))
def test_equals_statsmodels_autoreg(series, tau):
    y = SERIES[series]()
    res = AutoReg(y, lags=tau, trend="c").fit()
    model = LinearAR.from_config(tau=tau).fit(y)
    np.testing.assert_allclose(model.coef.numpy(), res.params, **TOL)
    np.testing.assert_allclose(model.sigma2.item(), res.sigma2, **TOL)
    np.testing.assert_allclose(model.predict(y).numpy(), res.fittedvalues, **TOL)
    # the conditional log-likelihood given the first tau values is statsmodels' llf
    assert model.nobs.item() == res.nobs
    np.testing.assert_allclose(model.log_prob(torch.tensor(y)[None]).item(), res.llf, rtol=1e-6)
    # recursive multi-step forecasts and their Gaussian prediction intervals
    H = 12
    np.testing.assert_allclose(model.forecast(y, H).mean.numpy(), res.forecast(H), **TOL)
    pred = res.get_prediction(start=len(y), end=len(y) + H - 1)
    for alpha in (0.05, 0.2):
        f = model.forecast(y, H, quantiles=(alpha / 2, 1 - alpha / 2))
        np.testing.assert_allclose(f.quantiles.numpy(), pred.conf_int(alpha=alpha), **TOL)
    np.testing.assert_allclose(model.psi(H).pow(2).cumsum(0).mul(model.sigma2).sqrt().numpy(), pred.se_mean, **TOL)


def test_no_trend_equals_statsmodels():
    y = ar_series([0.7, -0.1], c=0.0, seed=3)
    res = AutoReg(y, lags=2, trend="n").fit()
    model = LinearAR.from_config(tau=2, trend="n").fit(y)
    assert model.intercept == 0.0
    np.testing.assert_allclose(model.phi.numpy(), res.params, **TOL)
    np.testing.assert_allclose(model.forecast(y, 5).mean.numpy(), res.forecast(5), **TOL)


@pytest.mark.parametrize("ic", ["aic", "bic"])
@pytest.mark.parametrize("series", list(SERIES))
def test_order_selection_equals_ar_select_order(series, ic):
    y = SERIES[series]()
    sel = ar_select_order(y, maxlag=10, ic=ic, trend="c")
    assert LinearAR.select_order(y, 10, ic=ic) == (max(sel.ar_lags) if sel.ar_lags else 0)
    ours = LinearAR.information_criteria(y, 10)
    theirs = sel.aic if ic == "aic" else sel.bic
    assert len(theirs) == 11
    for lags, value in theirs.items():
        p = len(lags) if lags else 0
        np.testing.assert_allclose(ours[p][ic], value, **TOL)


def test_recovers_ar_coefficients():
    phi, c, sigma = [0.6, -0.3], 1.0, 0.5
    y = ar_series(phi, c=c, sigma=sigma, T=20_000, seed=1)
    model = LinearAR.from_config(tau=2).fit(y)
    np.testing.assert_allclose(model.phi.numpy(), phi, atol=0.02)
    assert abs(model.intercept - c) < 0.05
    assert abs(model.sigma2.item() - sigma ** 2) < 0.01
    assert LinearAR.select_order(y, 6, ic="bic") == 2


def test_pooled_fit_on_several_series_is_ols_on_all_rows():
    ys = [ar_series([0.5], seed=s, T=n) for s, n in [(0, 50), (1, 80), (2, 30)]]
    X = np.concatenate([np.stack([np.ones(len(y) - 1), y[:-1]], 1) for y in ys])
    target = np.concatenate([y[1:] for y in ys])
    beta = np.linalg.lstsq(X, target, rcond=None)[0]
    model = LinearAR.from_config(tau=1).fit([torch.tensor(y) for y in ys])
    np.testing.assert_allclose(model.coef.numpy(), beta, **TOL)
    # a NaN-padded (B, T) tensor is the same data
    padded = torch.full((3, 80), float("nan"), dtype=torch.float64)
    for b, y in enumerate(ys):
        padded[b, :len(y)] = torch.tensor(y)
    np.testing.assert_allclose(LinearAR.from_config(tau=1).fit(padded).coef.numpy(), beta, **TOL)


def fitted(tau=2, seed=0):
    return LinearAR.from_config(tau=tau).fit(ar_series([0.5, -0.2], seed=seed))


def test_log_prob_is_gaussian_conditional_likelihood():
    model = fitted()
    x = torch.randn(3, 10, dtype=torch.float64)
    mean = model.predict(x)  # (3, 8)
    ref = torch.distributions.Normal(mean, model.sigma2.sqrt()).log_prob(x[:, 2:]).sum(1)
    torch.testing.assert_close(model.log_prob(x), ref.float())
    assert model.count(x) == 3 * 8
    # chain rule through the incremental interface (steps from t = tau on)
    params, state = model.start(3)
    total = torch.zeros(3)
    for t in range(10):
        if t >= 2:
            total += model.emission.log_prob(params, x[:, t].float())
        params, state = model.step(x[:, t], state)
    torch.testing.assert_close(model.log_prob(x), total, atol=1e-4, rtol=1e-5)
    # forward's loss is the mean conditional NLL of the window (x_0, targets)
    _, loss = model(x[:, :-1].float(), x[:, 1:].float())
    torch.testing.assert_close(loss, -model.log_prob(x.float()).sum() / model.count(x), atol=1e-5, rtol=1e-5)


def test_variable_lengths_equal_one_at_a_time():
    model = fitted(tau=3)
    x = torch.randn(3, 9)
    lens = torch.tensor([9, 5, 2])
    padded = torch.where(torch.arange(9)[None] < lens[:, None], x, torch.randn(3, 9) * 100)
    single = torch.stack([model.log_prob(x[b:b + 1, :n])[0] for b, n in enumerate(lens.tolist())])
    torch.testing.assert_close(model.log_prob(padded, lens), single)
    assert single[2] == 0.0  # shorter than tau: nothing scored


def test_forecast_paths_match_exact_intervals():
    model = fitted()
    y = torch.tensor(ar_series([0.5, -0.2], seed=9, T=50))
    f = model.forecast(y, 4, num_samples=20_000, quantiles=(0.1, 0.5, 0.9), seed=0)
    assert f.samples.shape == (20_000, 4)
    torch.testing.assert_close(f.samples.mean(0), f.mean, atol=0.03, rtol=0)
    emp = torch.quantile(f.samples, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64), dim=0).T  # (H, Q)
    torch.testing.assert_close(emp, f.quantiles, atol=0.05, rtol=0)
    # one step: mean ± z sigma
    z = 1.2815515655446004
    sd = math.sqrt(model.sigma2.item())
    torch.testing.assert_close(f.quantiles[0], f.mean[0] + torch.tensor([-z, 0.0, z], dtype=torch.float64) * sd)


def test_save_load_round_trip(tmp_path):
    model = registry.build_model("ar", tau=3).fit(sunspots())
    save_file(model.state_dict(), tmp_path / "m.safetensors")
    clone = LinearAR.from_config(model.config)
    clone.load_state_dict(load_file(tmp_path / "m.safetensors"))
    assert torch.equal(clone.coef, model.coef) and torch.equal(clone.sigma2, model.sigma2)
    y = sunspots()[:40]
    torch.testing.assert_close(clone.forecast(y, 5).mean, model.forecast(y, 5).mean, atol=0, rtol=0)


def test_errors():
    with pytest.raises(ConfigError, match="tau"):
        LinearAR.from_config(tau=-1)
    with pytest.raises(ConfigError, match="trend"):
        LinearAR.from_config(trend="ct")
    with pytest.raises(DataError, match="longer than 3"):
        LinearAR.from_config(tau=3).fit([1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="NaN"):
        LinearAR.from_config(tau=1).fit([1.0, float("nan"), 3.0, 4.0])
    with pytest.raises(ConfigError, match="ic"):
        LinearAR.select_order(sunspots(), 4, ic="hqic")
    with pytest.raises(DataError, match="NaN"):
        fitted().forecast([1.0, float("nan")], 3)
