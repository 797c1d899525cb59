"""Linear autoregressive model AR(tau) with intercept, fitted in closed form by least squares.

Reference: G. E. P. Box, G. M. Jenkins, G. C. Reinsel, "Time Series Analysis: Forecasting and
Control" (ch. 3 and 5: AR models, forecast error variance from the psi weights); the estimator,
sigma2, information criteria and intervals follow statsmodels' `AutoReg(y, lags=tau, trend="c")`.

Shapes: B batch, T time, tau lags, H forecast horizon, Q quantile levels, S sample paths,
R regression rows.

    x_t = c + Σ_{i=1..tau} phi_i x_{t-i} + e_t,    e_t ~ N(0, sigma2)

Fit: ordinary least squares of x_t on (1, x_{t-1}, ..., x_{t-tau}) over t = tau..T-1 (float64,
`torch.linalg.lstsq`); sigma2 = SSR / nobs with nobs = T - tau (statsmodels' definition, the
maximum-likelihood variance), floored at SIGMA2_MIN = 1e-12 for a perfectly fitted series.
log_prob is the *conditional* log-likelihood given the first tau values,
Σ_{t>=tau} log N(x_t; mean_t, sigma2), which equals statsmodels' `llf` on the training series.
Positions t < tau have an incomplete lag window; where a prediction is still needed there
(`conditionals`, generation from a short prompt) the missing lags are the training mean y_mean.

Forecast h steps ahead (recursive): the mean feeds its own predictions back; the error variance is
sigma2 Σ_{i<h} psi_i², with psi_0 = 1, psi_i = Σ_{j=1..min(i,tau)} phi_j psi_{i-j} (the MA(inf) form),
so the intervals mean ± z_q sqrt(var) are exact Gaussian intervals (statsmodels' get_prediction).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError
from seqlab.models.base import build_config, SequenceModel
from seqlab.models.decoding import Forecast

__all__ = ["LinearAR", "LinearARConfig"]

TRENDS = ("c", "n")
SIGMA2_MIN = 1e-12


@dataclasses.dataclass
class LinearARConfig:
    """tau: number of lags (>= 0; 0 is white noise around c); trend: "c" (intercept c,
    statsmodels' default) or "n" (c = 0)."""

    tau: int = 2                              # τ: lags read (0: white noise around c)
    trend: str = dataclasses.field(default="c", metadata={"choices": TRENDS})                          # c: with intercept (statsmodels default), n: none

    def __post_init__(self):
        if not isinstance(self.tau, int) or self.tau < 0:
            raise ConfigError(f"ar tau (number of lags) must be an integer >= 0, got {self.tau!r}")
        if self.trend not in TRENDS:
            raise ConfigError(f"ar trend must be one of {', '.join(TRENDS)}, got {self.trend!r}")


def _f64(x) -> torch.Tensor:
    """A float64 tensor from a tensor, numpy array (copied: it may be read-only) or list."""
    return x.double() if torch.is_tensor(x) else torch.tensor(np.asarray(x, dtype=np.float64))


def _as_series(data) -> list[torch.Tensor]:
    """A 1-D series, a (B, T) tensor (NaN ends a row) or a list of 1-D series -> float64 series."""
    if isinstance(data, (list, tuple)) and data and not isinstance(data[0], (int, float)):
        seqs = [_f64(s).reshape(-1) for s in data]
    else:
        t = _f64(data)
        if t.dim() == 1:
            seqs = [t]
        elif t.dim() == 2:
            nan = torch.isnan(t)
            n = torch.where(nan.any(1), nan.int().argmax(1), t.shape[1])
            seqs = [row[:int(m)] for row, m in zip(t, n)]
        else:
            raise DataError(f"ar data must be a 1-D series or (B, T), got shape {tuple(t.shape)}")
    for s in seqs:
        if not bool(torch.isfinite(s).all()):
            raise DataError("ar data holds NaN or inf inside a series")
    return seqs


def _design(seqs: list[torch.Tensor], tau: int, hold_back: int, const: bool):
    """Regression rows of every series: X (R, const + tau) = (1, x_{t-1}, ..., x_{t-tau}), y (R,)."""
    xs, ys = [], []
    for s in seqs:
        if len(s) <= hold_back:
            continue
        w = s.unfold(0, tau + 1, 1)[hold_back - tau:]  # (R_s, tau+1): x_{t-tau}..x_t
        lags = w[:, :-1].flip(1)  # (R_s, tau): x_{t-1}..x_{t-tau}
        xs.append(torch.cat([torch.ones(len(w), 1, dtype=torch.float64), lags], 1) if const else lags)
        ys.append(w[:, -1])
    if not xs:
        raise DataError(f"ar needs a series longer than {hold_back} values to fit {tau} lags")
    return torch.cat(xs), torch.cat(ys)


def _shift(lags: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Append x (B,) to the lag window (B, tau) and drop the oldest value (also for tau = 0)."""
    return torch.cat([lags, x[:, None].to(lags.dtype)], 1)[:, 1:]


def _ols(X: torch.Tensor, y: torch.Tensor):
    """Least squares beta (P,), SSR, nobs (float64)."""
    if X.shape[1] == 0:  # no regressors (tau = 0, trend "n")
        return X.new_zeros(0), float(y @ y), len(y)
    beta = torch.linalg.lstsq(X, y[:, None], driver="gelsd").solution[:, 0]  # (P,)
    resid = y - X @ beta  # (R,)
    return beta, float(resid @ resid), len(y)


class LinearAR(SequenceModel):
    """AR(tau): x_t = c + Σ_i phi_i x_{t-i} + e_t, e_t ~ N(0, sigma2); Gaussian emission.

    Buffers: coef (1 + tau,) = (c, phi_1..phi_tau) float64; sigma2 (); y_mean (); nobs ().
    State (incremental decoding): the last tau values (B, tau), most recent last, y_mean-filled.
    """

    config_class = LinearARConfig

    def __init__(self, config: LinearARConfig | dict | None = None, **fields):
        config = build_config(LinearARConfig, config, fields)
        super().__init__(config)
        self.tau = config.tau
        self.register_buffer("coef", torch.zeros(1 + self.tau, dtype=torch.float64))
        self.register_buffer("sigma2", torch.ones((), dtype=torch.float64))
        self.register_buffer("y_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("nobs", torch.zeros((), dtype=torch.long))

    @property
    def intercept(self) -> float:
        return float(self.coef[0])

    @property
    def phi(self) -> torch.Tensor:
        """(tau,) lag coefficients phi_1..phi_tau."""
        return self.coef[1:]

    # ---------------------------------------------------------------- fitting and order selection
    @torch.no_grad()
    def fit(self, data) -> "LinearAR":
        """Closed-form least squares on one series or several (pooled rows); returns self."""
        seqs = _as_series(data)
        const = self.config.trend == "c"
        X, y = _design(seqs, self.tau, self.tau, const)
        beta, ssr, nobs = _ols(X, y)
        coef = beta if const else torch.cat([torch.zeros(1, dtype=torch.float64), beta])
        dev = self.coef.device
        self.coef.copy_(coef.to(dev))
        # sigma2 = SSR / nobs, floored so a perfectly fitted series keeps finite log-densities
        self.sigma2.fill_(max(ssr / nobs, SIGMA2_MIN))
        self.y_mean.fill_(float(torch.cat(seqs).mean()))
        self.nobs.fill_(nobs)
        return self

    @staticmethod
    def information_criteria(y, max_lag: int, trend: str = "c") -> dict[int, dict[str, float]]:
        """AIC and BIC of AR(p), p = 0..max_lag, all fitted on the same rows t >= max_lag.

        llf = -nobs/2 (log(2 pi sigma2_p) + 1), k = p + 1,
        aic = -2 llf + 2 k,  bic = -2 llf + log(nobs) k      (statsmodels' ar_select_order)
        """
        if not isinstance(max_lag, int) or max_lag < 1:
            raise ConfigError(f"max_lag must be an integer >= 1, got {max_lag!r}")
        LinearARConfig(tau=max_lag, trend=trend)  # validates trend
        seqs = _as_series(y)
        const = trend == "c"
        X, target = _design(seqs, max_lag, max_lag, const=True)  # (R, 1 + max_lag)
        out = {}
        for p in range(max_lag + 1):
            _, ssr, nobs = _ols(X[:, (0 if const else 1):1 + p], target)
            llf = -nobs / 2 * (math.log(2 * math.pi * ssr / nobs) + 1)
            k = p + 1
            out[p] = {"aic": -2 * llf + 2 * k, "bic": -2 * llf + math.log(nobs) * k}
        return out

    @classmethod
    def select_order(cls, y, max_lag: int, ic: str = "aic", trend: str = "c") -> int:
        """The lag order p in 0..max_lag minimising `ic` ("aic" or "bic")."""
        if ic not in ("aic", "bic"):
            raise ConfigError(f"ic must be 'aic' or 'bic', got {ic!r}")
        ics = cls.information_criteria(y, max_lag, trend)
        return min(ics, key=lambda p: ics[p][ic])

    # ---------------------------------------------------------------- core (float64)
    def _mean(self, lags: torch.Tensor) -> torch.Tensor:
        """lags (..., tau) with the most recent last -> c + Σ_i phi_i x_{t-i} (...)."""
        # x_{t-i} is lags[..., tau - i]
        return self.coef[0] + lags.double() @ self.phi.flip(0)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> the lag window of every position 0..T: (B, T+1, tau), y_mean before the start."""
        B = x.shape[0]
        fill = self.y_mean.expand(B, self.tau)
        padded = torch.cat([fill, x.double()], 1)  # (B, tau+T)
        return padded.unfold(1, self.tau, 1)  # (B, T+1, tau)

    def _params(self, mean: torch.Tensor) -> torch.Tensor:
        log_std = (0.5 * self.sigma2.log()).expand_as(mean)
        return torch.stack([mean, log_std], -1).float()  # (..., 2)

    def predict(self, x) -> torch.Tensor:
        """One-step predictions (float64) of x_t for t = tau..T-1: (B, T-tau) or (T-tau,) for 1-D x.

        These are statsmodels' `fittedvalues` when x is the training series.
        """
        x = _f64(x).to(self.coef.device)
        single = x.dim() == 1
        x = x[None] if single else x
        mean = self._mean(self._windows(x)[:, self.tau:-1])  # (B, T-tau)
        return mean[0] if single else mean

    # ---------------------------------------------------------------- SequenceModel interface
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> (mean, log_std) of x_t for t = 0..T: (B, T+1, 2)."""
        return self._params(self._mean(self._windows(x)))

    def _input(self, x) -> torch.Tensor:
        """Validated (B, T) input; float64 stays float64 (exact comparisons), others -> float32."""
        t = x if torch.is_tensor(x) else _f64(x)
        if t.dtype == torch.float64 and t.dim() == 2:
            return t.to(self.coef.device)
        return self._check_input(t)

    def _scored(self, x, lengths):
        """(B, T) bool: in the sequence, not NaN, and t >= tau (the conditional likelihood)."""
        mask = self._lengths_mask(x, lengths)
        return mask & (torch.arange(x.shape[1], device=x.device) >= self.tau)

    def _clean(self, x, lengths):
        """x with padding and NaN replaced by y_mean (as lags they stand for "unknown")."""
        ok = self._lengths_mask(x, lengths)
        return torch.where(ok, x.double(), self.y_mean)

    def log_prob(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Conditional log-likelihood Σ_{tau <= t < lengths[b]} log N(x_t; mean_t, sigma2) -> (B,)."""
        x = self._input(x)
        clean = self._clean(x, lengths)  # (B, T)
        mean = self._mean(self._windows(clean)[:, :-1])  # (B, T)
        # log N(x; mean, sigma2) = -(x - mean)² / (2 sigma2) - ½ log(2 pi sigma2)
        lp = -(clean - mean) ** 2 / (2 * self.sigma2) - 0.5 * torch.log(2 * math.pi * self.sigma2)
        return (lp * self._scored(x, lengths)).sum(1).float()

    def count(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> int:
        return int(self._scored(self._input(x), lengths).sum())

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """(mean, log_std) each (B, T) predicting targets; loss: mean NLL over the window
        (x_0, targets) elements at index >= tau (the conditional likelihood, like log_prob)."""
        x = self._check_input(x)
        params = self.conditionals(self._clean(x, None))[:, 1:]  # (B, T, 2)
        out = (params[..., 0], params[..., 1])
        if targets is None:
            return out, None
        targets = self._check_input(targets, "targets")
        if targets.shape != x.shape:
            raise DataError(f"targets shape {tuple(targets.shape)} differs from x shape {tuple(x.shape)}")
        window = torch.cat([x[:, :1], targets], 1)  # (B, T+1)
        return out, -self.log_prob(window).sum() / max(self.count(window), 1)

    def init_state(self, batch_size: int):
        return self.y_mean.expand(batch_size, self.tau).clone()  # (B, tau) float64

    def step(self, x_t, state):
        """Read x_t (B,) (None: start, nothing to shift) -> ((mean, log_std) (B, 2), state (B, tau))."""
        if x_t is not None:
            state = _shift(state, x_t.double().view(-1))  # (B, tau)
        return self._params(self._mean(state)), state

    # ---------------------------------------------------------------- forecasting
    def psi(self, horizon: int) -> torch.Tensor:
        """MA(inf) weights psi_0..psi_{H-1}: psi_0 = 1, psi_i = Σ_{j=1..min(i,tau)} phi_j psi_{i-j}."""
        phi = self.phi.tolist()  # a short recursion: Python floats beat per-element tensor ops
        psi = [1.0]
        for i in range(1, horizon):
            # psi_i = Σ_{j=1..min(i, tau)} phi_j psi_{i-j}
            psi.append(math.fsum(phi[j - 1] * psi[i - j] for j in range(1, min(i, self.tau) + 1)))
        return torch.tensor(psi[:horizon], dtype=torch.float64, device=self.coef.device)  # (H,)

    def _recurse(self, lags: torch.Tensor, horizon: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_{T+t} = c + Σ_i phi_i x_{T+t-i} (+ noise[:, t]) for t < horizon, from lags (N, tau) -> (N, H).

        The values are written into one (N, tau + H) buffer whose sliding slice is the lag window,
        so each step is one product and one write (no per-step concatenation).
        """
        N, tau = lags.shape
        buf = torch.cat([lags.double(), lags.new_empty(N, horizon, dtype=torch.float64)], 1)  # (N, tau + H)
        phi_rev = self.phi.flip(0)  # (tau,): x_{t-i} is window[:, tau - i]
        for t in range(horizon):
            # x_{T+t} = c + Σ_{i=1..tau} phi_i x_{T+t-i}
            x = self.coef[0] + buf[:, t:t + tau] @ phi_rev  # (N,)
            buf[:, tau + t] = x if noise is None else x + noise[:, t]
        return buf[:, tau:]

    @torch.no_grad()
    def forecast(self, history, horizon: int, num_samples: int = 200,
                 quantiles=(0.05, 0.5, 0.95), seed: int | None = None) -> Forecast:
        """Recursive h-step forecasts after `history` (T0,) or (B, T0), computed in float64 and
        returned in the history's float dtype (float64 for numpy input).

        mean (B, H) and quantiles (B, H, Q) are exact: mean_h by feeding predictions back,
        quantile_q = mean_h + Φ⁻¹(q) sqrt(sigma2 Σ_{i<h} psi_i²). samples (S, B, H) are simulated
        paths x_{t+1} = c + Σ phi_i x_{t+1-i} + sigma e (for uses that want paths), drawn from a
        generator seeded with `seed`, or from torch's global generator when seed is None.
        """
        if horizon < 1 or num_samples < 1:
            raise ConfigError("forecast: horizon and num_samples must be >= 1")
        levels = tuple(float(q) for q in quantiles)
        if any(not 0.0 < q < 1.0 for q in levels):
            raise ConfigError(f"quantiles must lie in (0, 1), got {levels}")
        out_dtype = history.dtype if torch.is_tensor(history) and history.is_floating_point() else torch.float64
        h = _f64(history).to(self.coef.device)
        single = h.dim() == 1
        h = h[None] if single else h
        if h.dim() != 2 or bool(torch.isnan(h).any()):
            raise DataError("history must be a (T,) or (B, T) series without NaN")
        B = h.shape[0]
        last = self._windows(h)[:, -1]  # (B, tau): the lags of the first forecast
        mean = self._recurse(last, horizon)  # (B, H)
        std = (self.sigma2 * self.psi(horizon).pow(2).cumsum(0)).sqrt()  # (H,)
        z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(levels, dtype=torch.float64))  # (Q,)
        quant = mean[..., None] + std[None, :, None] * z.to(mean.device)  # (B, H, Q)
        g = None  # seed None: torch's global generator, as in seqlab.models.decoding
        if seed is not None:
            g = torch.Generator(device=h.device)
            g.manual_seed(int(seed))
        eps = torch.randn(num_samples * B, horizon, generator=g, dtype=torch.float64, device=h.device)
        noise = self.sigma2.sqrt() * eps  # (S*B, H): sigma e
        samples = self._recurse(last.repeat(num_samples, 1), horizon, noise).view(num_samples, B, horizon)  # (S, B, H)
        mean, quant, samples = mean.to(out_dtype), quant.to(out_dtype), samples.to(out_dtype)
        if single:
            return Forecast(mean[0], quant[0], levels, samples[:, 0])
        return Forecast(mean, quant, levels, samples)
