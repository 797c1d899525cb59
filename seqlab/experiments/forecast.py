"""ForecastSetup -> ForecastResult: a real-valued model forecasts the held-out tail of a series.

Shapes: T series length, n training length, H horizon, B forecast origins, C context.

Data (seqlab.data.prepare.prepare_data, the one data rule): the series y (T,) is split in time
with fractions (1 - test_fraction, 0, test_fraction), i.e. a training part y[:n] and a held-out
tail y[n:] with no validation part (nothing is selected on held-out data: the step count is fixed
before training). The model sees z = (y - mu) / sigma with mu, sigma of the training part only.
A run loaded with `run` (trained by `seqlab train`, on values scaled the same way) keeps its own
scaler, re-derived by prepare_data from the run's data spec and recorded split; on its own data
spec it forecasts its recorded test part (n = the start of that part), which it never saw.

The model forecasts the H values after t = n from the last C values before it; the forecast is
compared with the truth in the units of y:

    MAE  = (1/H) Σ |y_t - ŷ_t|,    RMSE = sqrt((1/H) Σ (y_t - ŷ_t)^2),
    MASE = MAE / ((1/(n-1)) Σ_{t=2..n} |y_t - y_{t-1}|)     (Hyndman & Koehler 2006)

next to the naive forecast ŷ_t = y_n (the last training value), whose MASE is close to 1 when the
series is a random walk. One-step vs recursive error: from up to 48 origins t in the held-out
part, the recursive k-step forecast feeds the model's own draws back for k steps and is scored on
y_{t+k-1}; the one-step forecast of the same targets conditions on the true past. Recursive errors
compound, so their RMSE grows with k while the one-step RMSE stays flat. The held-out NLL is the
one scorer's (seqlab.train.scoring.evaluate: chain rule over windows of the training block size,
each from the start state), in nats per value of y (log sigma added).

Training (models trained here): seqlab.train.Trainer on an LMTask of the scaled training part,
`steps` steps of `batch_size` windows of `block` values (64, at most n - 1), AdamW (betas 0.9,
0.999; weight decay 0.01 on matrices), the rate rising linearly to `lr` over the first tenth of
the steps and constant after (the schedule of the models' quick `fit`), gradient norm clipped at
1; `ar` is fitted once in closed form (least squares on `order` lags). No run folder is written.

Paper: R. J. Hyndman and A. B. Koehler, "Another look at measures of forecast accuracy", 2006.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from seqlab.errors import ConfigError, DataError
from seqlab.experiments.forecast_metrics import mase_scale

__all__ = ["ForecastSetup", "ForecastResult", "ForecastErrors", "ErrorGrowth", "run_forecast",
           "forecast_errors", "train_forecaster", "MODELS"]

MODELS = ("ar", "rnn", "lstm", "gru", "transformer")
CONTEXT = 64   # default history length fed to the model at each origin
BLOCK = 64     # training window length


@dataclass
class ForecastSetup:
    """What `seqlab forecast` runs. Model-size fields apply to the families named next to them."""

    model: str = "lstm"                      # ar | rnn | lstm | gru | transformer (unused with `run`)
    data: str = "sine"                       # a series spec
    horizon: int = 64                        # H values forecast after the training part
    run: str | None = None                   # a run folder of a real-valued model to load instead
    test_fraction: float = 0.2               # held-out share of the series
    steps: int = 400                         # training steps (neural models)
    order: int | None = None                 # ar: lags tau (default 8)
    hidden_size: int | None = None           # rnn, lstm, gru: hidden size (default 32)
    context: int | None = None               # history length C at each origin (default 64)
    samples: int = 200                       # sample paths of recursive forecasts and intervals
    ks: tuple[int, ...] = (1, 4, 16, 64)     # k values of the error-growth table
    seed: int = 0
    batch_size: int = 16
    lr: float = 3e-3
    device: str = "auto"                     # training device (seqlab.train)
    progress: bool | None = False            # the Trainer's progress display (None: bar on a terminal, lines in a log)

    def __post_init__(self):
        self.ks = tuple(int(k) for k in self.ks)
        if self.run is None and self.model not in MODELS:
            raise ConfigError(f"unknown forecast model {self.model!r}; choose from {', '.join(MODELS)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test fraction must lie in (0, 1), got {self.test_fraction}")
        for name in ("horizon", "steps", "samples", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"forecast {name} must be >= 1, got {getattr(self, name)}")
        if not self.ks or min(self.ks) < 1:
            raise ConfigError(f"the k values must be >= 1, got {list(self.ks)}")
        if not self.lr > 0:
            raise ConfigError(f"forecast lr must be > 0, got {self.lr}")
        if self.run is None and self.order is not None and self.model != "ar":
            raise ConfigError("order applies to model ar only")
        if self.run is None and self.hidden_size is not None and self.model not in ("rnn", "lstm", "gru"):
            raise ConfigError("hidden size applies to rnn, lstm and gru only")


@dataclass(frozen=True)
class ForecastErrors:
    """Errors of a forecast in the units of y."""

    mae: float
    rmse: float
    mase: float


@dataclass
class ErrorGrowth:
    """RMSE (units of y) of one-step and recursive k-step forecasts, for each k that fits."""

    k: list[int]
    one_step_rmse: list[float]
    recursive_rmse: list[float]


@dataclass
class ForecastResult:
    """A forecast of y[n:n+H] and how good it is; arrays in the units of y."""

    setup: ForecastSetup
    model_name: str                     # the family (a loaded run's registry name)
    train_length: int                   # n: the forecast starts at t = n
    series_length: int                  # T
    context: int                        # C
    history: np.ndarray = field(repr=False)   # y[:n]
    truth: np.ndarray = field(repr=False)     # y[n:n+H]
    mean: np.ndarray = field(repr=False)      # forecast mean (H,)
    lower: np.ndarray = field(repr=False)     # 5% quantile (H,)
    upper: np.ndarray = field(repr=False)     # 95% quantile (H,)
    model_errors: ForecastErrors
    naive_errors: ForecastErrors
    interval_90_coverage: float         # share of truth inside [lower, upper]
    error_growth: ErrorGrowth
    test_score: object                  # seqlab.train.Score: NLL per value of y[n:]
    scaler_mean: float                  # mu of the scaler the model's inputs went through
    scaler_std: float                   # sigma
    train: object | None = None         # seqlab.train.TrainResult (None for a loaded run)

    @property
    def horizon(self) -> int:
        return len(self.truth)


def forecast_errors(truth: np.ndarray, pred: np.ndarray, scale: float) -> ForecastErrors:
    """MAE, RMSE and MASE (MAE / scale, scale = forecast_metrics.mase_scale of the training part)."""
    e = np.asarray(truth, float) - np.asarray(pred, float)
    mae = float(np.mean(np.abs(e)))
    return ForecastErrors(mae, float(np.sqrt(np.mean(e ** 2))), mae / scale)


def _build_model(setup: ForecastSetup):
    """The family at its forecast size (small: a 1000-point series fits in seconds)."""
    from seqlab.models.registry import build_model

    if setup.model == "ar":
        return build_model("ar", tau=setup.order or 8)
    if setup.model == "transformer":
        return build_model("transformer", vocab_size=None, d_model=32, n_layer=2, n_head=2, block_size=BLOCK)
    return build_model(setup.model, vocab_size=None, hidden_size=setup.hidden_size or 32, num_layers=1)


def train_forecaster(model, name: str, train_z, block: int, steps: int, batch_size: int, lr: float, seed: int,
                     device: str = "auto", progress: bool | None = False):
    """Train a real-valued model on a scaled training series -> TrainResult; the one training recipe
    of `seqlab forecast` and the series compare (seqlab.experiments.compare_series).

    seqlab.train.Trainer on an LMTask of train_z (windows of `block` values), `steps` steps of
    `batch_size` windows, AdamW (betas 0.9, 0.999; weight decay 0.01 on matrices), the rate rising
    linearly to `lr` over the first tenth of the steps and constant after, gradient norm clipped at 1.
    Closed-form models (LinearAR) are fitted once. No validation part: nothing is selected.
    """
    from seqlab.train.config import TrainConfig
    from seqlab.train.engine import Trainer
    from seqlab.train.tasks import LMTask

    config = TrainConfig(steps=steps, batch_size=batch_size, block_size=block, lr=lr, min_lr=lr,
                         warmup_steps=steps // 10, weight_decay=0.01, beta2=0.999, grad_clip=1.0,
                         eval_interval=steps, log_interval=max(1, steps // 10), seed=seed, device=device)
    return Trainer(model, LMTask(train_z, None, block_size=block), config, model_name=name, progress=progress).fit()


def _train(setup: ForecastSetup, train_z, log):
    """Build and train the model on the scaled training part -> (model, block, TrainResult)."""
    from seqlab.train.engine import seed_everything

    seed_everything(setup.seed)
    model = _build_model(setup)
    block = min(getattr(model.config, "block_size", None) or BLOCK, len(train_z) - 1)
    trained = train_forecaster(model, setup.model, train_z, block, setup.steps, setup.batch_size, setup.lr,
                               setup.seed, setup.device, setup.progress)
    if log:
        last = [r["train_loss"] for r in trained.history if r["train_loss"] is not None]
        log(f"trained {setup.model}: {trained.steps} steps"
            + (f", final training loss {last[-1]:.4f} nats per scaled value" if last else " (closed form)"))
    return model.cpu().eval(), block, trained


def _error_growth(model, z: np.ndarray, start: int, ks, context: int, samples: int, seed: int,
                  sigma: float) -> ErrorGrowth:
    """RMSE (units of y) of one-step and recursive k-step forecasts from origins in z[start:]."""
    import torch

    T = len(z)
    one, rec = {}, {}
    for k in ks:
        origins = np.arange(max(start, context), T - k + 1)  # forecast z[t .. t+k-1] from z[:t]
        if len(origins) == 0:
            continue
        origins = origins[np.linspace(0, len(origins) - 1, min(len(origins), 48)).astype(int)]
        hist = torch.tensor(np.stack([z[t - context:t] for t in origins]), dtype=torch.float32)  # (B, C)
        fc = model.forecast(hist, k, num_samples=samples, seed=seed)
        target = torch.tensor(z[origins + k - 1], dtype=torch.float32)  # (B,)
        rec[k] = float(((fc.mean[:, -1].cpu() - target) ** 2).mean().sqrt()) * sigma
        hist1 = torch.tensor(np.stack([z[t + k - 1 - context:t + k - 1] for t in origins]),
                             dtype=torch.float32)  # (B, C)
        fc1 = model.forecast(hist1, 1, num_samples=1, seed=seed)
        one[k] = float(((fc1.mean[:, 0].cpu() - target) ** 2).mean().sqrt()) * sigma
    return ErrorGrowth(list(one), list(one.values()), list(rec.values()))


def run_forecast(setup: ForecastSetup, log: Callable[[str], None] | None = None) -> ForecastResult:
    """Train (or load) the model, forecast y[n:n+H], score it against the truth and the naive forecast."""
    import torch

    from seqlab.data import data_kind
    from seqlab.data.prepare import prepare_data
    from seqlab.train.scoring import evaluate

    if data_kind(setup.data) != "series":
        raise DataError(f"forecast needs a series data spec (sine, sunspots, csv:PATH, ...), got {setup.data!r}")
    fractions = (1.0 - setup.test_fraction, 0.0, setup.test_fraction)
    trained, run = None, None
    if setup.run is not None:
        run = _load_run(setup.run)
        cfg = run.config
        own = prepare_data(cfg.data, cfg.tokenizer, cfg.split, split_record=run.record.get("split"))
        # the run's model reads values scaled with its own training part's scaler, whatever the data
        prepared = own if setup.data == cfg.data else prepare_data(setup.data, fractions=fractions, min_part=1)
        scaler, model, name, block = own.scaler, run.model, cfg.model, cfg.train.block_size
    else:
        prepared = prepare_data(setup.data, fractions=fractions, min_part=1)
        scaler, name = prepared.scaler, setup.model
    sp = prepared.split
    y = np.concatenate([np.asarray(p, dtype=np.float64) for p in sp.parts()])  # (T,)
    n = sp.boundaries[1]  # the held-out tail y[n:] is the test part
    H = setup.horizon
    if n < 8 or len(y) - n < 1:
        raise DataError(f"series {setup.data!r} of length {len(y)} is too short to hold out a test part")
    if H > len(y) - n:
        raise ConfigError(f"horizon {H} exceeds the held-out part ({len(y) - n} values); "
                          f"lower it or raise the test fraction")
    mu, sigma = float(scaler.mean), float(scaler.std)
    z = (y - mu) / sigma  # (T,)
    if run is None:
        model, block, trained = _train(setup, torch.tensor(z[:n], dtype=torch.float32), log)
    context = min(setup.context or CONTEXT, n, getattr(model.config, "block_size", None) or n)

    hist = torch.tensor(z[n - context:n], dtype=torch.float32)  # (C,)
    fc = model.forecast(hist, H, num_samples=setup.samples, quantiles=(0.05, 0.5, 0.95), seed=setup.seed)
    lo, hi = fc.interval(0.05, 0.95)
    mean, lower, upper = (v.detach().cpu().double().numpy() * sigma + mu for v in (fc.mean, lo, hi))  # (H,)
    truth = y[n:n + H]
    scale = mase_scale(y[:n])
    growth = _error_growth(model, z, n, [k for k in setup.ks if k <= len(y) - n], context,
                           min(setup.samples, 100), setup.seed, sigma)
    test = torch.tensor(z[n:], dtype=torch.float32)
    score = evaluate(model, test, block_size=block, offset=float(np.log(sigma)))
    return ForecastResult(
        setup=setup, model_name=name, train_length=n, series_length=len(y), context=context,
        history=y[:n], truth=truth, mean=mean, lower=lower, upper=upper,
        model_errors=forecast_errors(truth, mean, scale),
        naive_errors=forecast_errors(truth, np.full(H, y[n - 1]), scale),
        interval_90_coverage=float(np.mean((truth >= lower) & (truth <= upper))),
        error_growth=growth, test_score=score, scaler_mean=mu, scaler_std=sigma, train=trained)


def _load_run(run_dir: str):
    """A trained real-valued run (its best-validation weights, as `seqlab eval` scores them)."""
    from seqlab.train.checkpoint import load_run

    loaded = load_run(run_dir, which="best")
    if loaded.model.emission_kind != "gaussian":
        raise ConfigError(f"{run_dir} holds a token model; forecast needs a real-valued run")
    return loaded
