"""Compare forecasters on one series by a rolling-origin backtest against the naive baselines.
`CompareSetup` (a series spec) -> `run_series_compare` -> `SeriesCompareResult`.

Shapes: T series length, K origins, H horizon, C context, S sample paths.

The protocol:
- origins: K forecast origins o_1 < ... < o_K over the last part of the series, one horizon apart,
  o_k = T - (K - k + 1) H, so the K test windows y[o_k : o_k + H] tile the last K·H values;
- at each origin every family is fitted on y[:o_k] only (the neural families' scaler
  z = (y - μ)/σ is fitted there too, seqlab.data.scaling.StandardScaler) and forecasts the next H
  values recursively from y[:o_k];
- entrants: `linear-ar` (order τ chosen by AIC on y[:o_k] among 1..max_lag, then least squares:
  statsmodels `AutoReg(trend="c")`, exact Gaussian intervals), the neural families `neural-ar`,
  `rnn`, `lstm`, `gru`, `transformer` (Gaussian emission, trained for the same training FLOPs,
  `budget`, with the training recipe of `seqlab forecast`, seqlab.experiments.forecast.train_forecaster;
  then sampled: S recursive paths), and the baselines `naive`,
  `seasonal-naive` (season m from `;season=M` in the spec or `season`, else detected from the
  autocorrelation of the differenced training part, and stated), `mean`, `drift`
  (seqlab.models.baselines);
- metrics per origin, in the series' units (seqlab.experiments.forecast_metrics): MASE (scaled by
  the in-sample one-step naive MAE of y[:o_k]), RMSE, sMAPE, coverage of the 80% and 95% central
  intervals, CRPS (closed form for Gaussian forecasts, from the S samples for the neural families);
- ranking: mean MASE over origins (and seeds for the neural families: one value per origin, the
  mean over seeds) ± its standard deviation over origins, with shared ranks (Welch's t-test at 5%
  over the origins' values, seqlab.experiments.stats).

Nothing is selected on the test windows: the neural families train for a step count fixed by the
budget, linear-ar's order is chosen by AIC on the data before the origin, the season on the same.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError
from seqlab.experiments.forecast_metrics import INTERVALS, ForecastScore, crps_gaussian, crps_samples, score_forecast
from seqlab.experiments.recipes import SERIES_RECIPES, SeriesRecipe
from seqlab.experiments.stats import Spread, shared_ranks, spread

__all__ = ["SERIES_MODELS", "SERIES_DEFAULT", "Origin", "SeriesFamilyResult", "SeriesCompareResult",
           "run_series_compare", "split_season", "default_horizon", "origins_for"]

NEURAL = ("neural-ar", "rnn", "lstm", "gru", "transformer", "mingru", "minlstm", "retnet", "mamba")
BASELINE_MODELS = ("naive", "seasonal-naive", "mean", "drift")
SERIES_MODELS = ("linear-ar", *NEURAL, *BASELINE_MODELS)  # every entrant compare accepts on a series
POST_LECTURE = ("mingru", "minlstm", "retnet", "mamba")  # on request (--models), not by default
SERIES_DEFAULT = tuple(m for m in SERIES_MODELS if m not in POST_LECTURE)
SAMPLES = 200          # sample paths of a neural forecast
MAX_LAG = 12           # linear-ar: AIC over orders 1..MAX_LAG (at most a quarter of the training part)
Z = {0.8: 1.2815515655446004, 0.95: 1.959963984540054}  # Φ⁻¹((1 + c) / 2)


def split_season(spec: str) -> tuple[str, int | None]:
    """`sunspots;season=11` -> ("sunspots", 11): the season is compare's option, not the loader's."""
    m = re.search(r";season=([^;]*)", spec)
    if not m:
        return spec, None
    try:
        season = int(m.group(1))
    except ValueError:
        raise ConfigError(f"{spec}: season must be an integer >= 1, got {m.group(1)!r}") from None
    if season < 1:
        raise ConfigError(f"{spec}: season must be an integer >= 1, got {season}")
    return spec[:m.start()] + spec[m.end():], season


def default_horizon(T: int) -> int:
    """H = T / 20 rounded, within 4..24 (sunspots 309 values: 15; nile 100: 5; co2 2284: 24)."""
    return int(min(24, max(4, round(T / 20))))


def origins_for(T: int, horizon: int, k: int) -> list[int]:
    """o_k = T - (K - k + 1) H for k = 1..K: the test windows tile the last K·H values."""
    return [T - (k - i) * horizon for i in range(k)]


@dataclass
class Origin:
    """One family's forecast at one origin (mean over seeds for the neural families)."""

    origin: int                  # index of the first forecast value
    score: ForecastScore
    mean: np.ndarray             # (H,) point forecast
    lower: dict                  # interval level -> (H,) lower bound
    upper: dict                  # interval level -> (H,) upper bound
    detail: str = ""             # linear-ar: the order; seasonal-naive: the season


@dataclass
class SeriesFamilyResult:
    name: str
    origins: list[Origin]
    mase: Spread                 # one value per origin
    rank: int = 0
    parameters: int = 0
    steps: int = 0               # neural: optimiser steps per fit
    flops: float = 0.0           # neural: training FLOPs per fit
    seconds: float = 0.0         # fitting and forecasting wall clock, all origins and seeds
    seed_mase: tuple = ()        # neural: mean MASE over origins, per seed

    def _mean(self, attr: str) -> float:
        return float(np.mean([getattr(o.score, attr) for o in self.origins]))

    @property
    def rmse(self) -> float:
        return self._mean("rmse")

    @property
    def smape(self) -> float:
        return self._mean("smape")

    @property
    def coverage80(self) -> float:
        return self._mean("coverage80")

    @property
    def coverage95(self) -> float:
        return self._mean("coverage95")

    @property
    def crps(self) -> float:
        return self._mean("crps")

    @property
    def label(self) -> str:
        details = sorted({o.detail for o in self.origins if o.detail})
        return f"{self.name} ({', '.join(details)})" if details else self.name

    def error_by_step(self) -> np.ndarray:
        """(H,) mean absolute error at each horizon step over origins."""
        return np.mean([o.score.abs_errors for o in self.origins], axis=0)


@dataclass
class SeriesCompareResult:
    setup: object
    spec: str                    # the series spec as loaded (season option removed)
    values: np.ndarray           # (T,) the series
    index: np.ndarray | None     # (T,) its dates, or None
    horizon: int
    origins: list[int]
    season: int
    season_source: str           # "given" | "detected" | "none detected"
    families: list[SeriesFamilyResult]
    seconds: float

    def family(self, name: str) -> SeriesFamilyResult | None:
        return next((f for f in self.families if f.name == name), None)


# ----------------------------------------------------------------------------- the entrants

def _intervals(mean: np.ndarray, std: np.ndarray):
    return ({c: mean - Z[c] * std for c in INTERVALS}, {c: mean + Z[c] * std for c in INTERVALS})


def _gaussian_origin(y_train, truth, mean, std, o, detail="") -> Origin:
    lower, upper = _intervals(mean, std)
    score = score_forecast(truth, mean, lower, upper, crps_gaussian(truth, mean, std), y_train)
    return Origin(o, score, mean, lower, upper, detail)


def _baseline(name: str, y: np.ndarray, o: int, H: int, season: int) -> Origin:
    from seqlab.models.baselines import baseline_forecast

    fc = baseline_forecast(name, y[:o], H, season=season)
    return _gaussian_origin(y[:o], y[o:o + H], fc.mean, fc.std, o, f"m={season}" if name == "seasonal-naive" else "")


def linear_ar_forecast(y_train: np.ndarray, H: int, max_lag: int = MAX_LAG):
    """(order, mean (H,), std (H,)): AIC order on y_train, least squares, exact Gaussian intervals."""
    from seqlab.models.ar import LinearAR

    max_lag = max(1, min(max_lag, len(y_train) // 4))
    tau = LinearAR.select_order(y_train, max_lag, ic="aic")
    model = LinearAR(tau=tau).fit(torch.tensor(y_train))
    psi = model.psi(H).double().numpy()  # (H,)
    std = math.sqrt(float(model.sigma2)) * np.sqrt(np.cumsum(psi ** 2))
    mean = model.forecast(torch.tensor(y_train), H, num_samples=1).mean.double().numpy()
    return tau, mean, std


def _linear_ar(y: np.ndarray, o: int, H: int) -> Origin:
    tau, mean, std = linear_ar_forecast(y[:o], H)
    return _gaussian_origin(y[:o], y[o:o + H], mean, std, o, f"τ={tau}")


@dataclass(frozen=True)
class _NeuralJob:
    family: str
    seed: int
    origin: int
    horizon: int
    budget: float
    recipe: SeriesRecipe


@dataclass
class _NeuralOut:
    family: str
    seed: int
    origin: int
    mean: np.ndarray
    samples: np.ndarray          # (S, H) in the series' units
    steps: int
    flops: float
    parameters: int
    seconds: float


def _fit_neural(job: _NeuralJob, values: np.ndarray) -> _NeuralOut:
    """Fit one neural family on y[:origin] (scaled there) and sample H-step forecasts."""
    from seqlab.data.scaling import StandardScaler
    from seqlab.experiments.flops import steps_or_refuse, train_flops_per_token
    from seqlab.experiments.forecast import train_forecaster
    from seqlab.models.registry import build_model

    t0 = time.perf_counter()
    y = values
    train = y[:job.origin]
    scaler = StandardScaler().fit(train)
    z = torch.tensor(scaler.transform(train), dtype=torch.float32)  # (o,)
    T = min(job.recipe.block_size, len(z) - 1)
    fields = dict(job.recipe.model)
    if job.family == "transformer":
        fields["block_size"] = T
    torch.manual_seed(job.seed)
    model = build_model(job.family, vocab_size=None, **fields)
    c = train_flops_per_token(model, T)
    B = job.recipe.batch_size
    steps = steps_or_refuse(job.family, c, job.budget, B, T)
    result = train_forecaster(model, job.family, z, T, steps, B, job.recipe.lr, job.seed, device="cpu")
    model = model.cpu().eval()
    context = z[-min(len(z), T):]  # (C,)
    fc = model.forecast(context, job.horizon, num_samples=SAMPLES, seed=job.seed)
    samples = scaler.inverse_transform(fc.samples.double().numpy())  # (S, H)
    return _NeuralOut(job.family, job.seed, job.origin, samples.mean(0), samples, result.steps,
                      result.tokens * c, sum(p.numel() for p in model.parameters()), time.perf_counter() - t0)


def _run_neural(jobs: list[_NeuralJob], values: np.ndarray, setup, log) -> list[_NeuralOut]:
    from seqlab.experiments.workers import run_jobs

    done = []

    def report(out: _NeuralOut) -> None:
        done.append(out)
        log(f"[{len(done)}/{len(jobs)}] {out.family} seed {out.seed} origin {out.origin}: {out.steps} steps, "
            f"{out.seconds:.1f} s")

    return run_jobs(_fit_neural, jobs, values, workers=setup.jobs, threads=setup.threads, on_done=report)


def _neural_origin(outs: list[_NeuralOut], y: np.ndarray, o: int, H: int) -> Origin:
    """Pool the seeds' sample paths: the forecast distribution is the mixture over seeds."""
    samples = np.concatenate([r.samples for r in outs], axis=0)  # (seeds S, H)
    mean = samples.mean(0)
    lower = {c: np.quantile(samples, (1 - c) / 2, axis=0) for c in INTERVALS}
    upper = {c: np.quantile(samples, (1 + c) / 2, axis=0) for c in INTERVALS}
    truth = y[o:o + H]
    score = score_forecast(truth, mean, lower, upper, crps_samples(truth, samples), y[:o])
    return Origin(o, score, mean, lower, upper)


# ----------------------------------------------------------------------------- the experiment

def run_series_compare(setup, log: Callable[[str], None] | None = None) -> SeriesCompareResult:
    """Backtest every entrant of `setup.models` on `setup.data` (see the module docstring)."""
    from seqlab.data import load_series_with_index
    from seqlab.models.baselines import detect_season

    log = log or (lambda line: None)
    t_start = time.perf_counter()
    spec, season = split_season(setup.data)
    season = setup.season if setup.season is not None else season
    values, index = load_series_with_index(spec)
    T = len(values)
    H = setup.horizon or default_horizon(T)
    K = setup.origins
    origins = origins_for(T, H, K)
    if origins[0] < max(3 * H, 20):
        raise DataError(f"{spec}: {T} values are too few for {K} origins of horizon {H} (the first origin "
                        f"would train on {max(0, origins[0])} values, need >= {max(3 * H, 20)}); lower --origins or --horizon")
    if season is not None:
        source = "given"
    else:
        season = detect_season(values[:origins[0]])
        source = "detected" if season > 1 else "none detected"
    unknown = [m for m in setup.models if m not in SERIES_MODELS]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r} for a series; choose from {', '.join(SERIES_MODELS)}")
    recipes = SERIES_RECIPES["tiny" if setup.size == "tiny" else "small"]
    log(f"compare {spec}: {T} values, {K} origins x horizon {H} (from t = {origins[0]}), season {season} "
        f"({source}); {len(setup.models)} entrants, {setup.seeds} seed(s) per neural family")
    previous = torch.get_num_threads()
    torch.set_num_threads(setup.threads)
    try:
        families: list[SeriesFamilyResult] = []
        for name in setup.models:
            if name in NEURAL:
                continue
            t0 = time.perf_counter()
            if name == "linear-ar":
                per = [_linear_ar(values, o, H) for o in origins]
            else:
                per = [_baseline(name, values, o, H, season) for o in origins]
            families.append(SeriesFamilyResult(name, per, spread([p.score.mase for p in per]),
                                               seconds=time.perf_counter() - t0))
            log(f"    {name}: mean MASE {families[-1].mase.mean:.3f}")
        jobs = [_NeuralJob(name, s, o, H, setup.budgets[-1], recipes[name])
                for name in setup.models if name in NEURAL for s in setup.seed_list() for o in origins]
        outs = _run_neural(jobs, values, setup, log)
        for name in setup.models:
            if name not in NEURAL:
                continue
            mine = [r for r in outs if r.family == name]
            per = [_neural_origin([r for r in mine if r.origin == o], values, o, H) for o in origins]
            seed_mase = []
            for s in setup.seed_list():
                runs = {r.origin: r for r in mine if r.seed == s}
                seed_mase.append(float(np.mean([_neural_origin([runs[o]], values, o, H).score.mase for o in origins])))
            families.append(SeriesFamilyResult(
                name, per, spread([p.score.mase for p in per]), parameters=mine[0].parameters,
                steps=mine[0].steps, flops=mine[0].flops, seconds=sum(r.seconds for r in mine),
                seed_mase=tuple(seed_mase)))
        order = {n: i for i, n in enumerate(setup.models)}
        families.sort(key=lambda f: order[f.name])
        for fam, rank in zip(families, shared_ranks([f.mase for f in families])):
            fam.rank = rank
        families.sort(key=lambda f: (f.rank, f.mase.mean))
        return SeriesCompareResult(setup, spec, values, index, H, origins, season, source, families,
                                   time.perf_counter() - t_start)
    finally:
        torch.set_num_threads(previous)
