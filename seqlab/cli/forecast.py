"""`seqlab forecast --model M --data SERIES --horizon H`: forecast the held-out tail of a series.

Shapes: T series length, H horizon, B forecast origins, S sample paths, K the k values.

The series y (T,) is split in time: the first `1 - test_fraction` is the training part (the
scaler z = (y - mu) / sigma is fitted there only), the rest is held out. The model (trained here,
or loaded from a run folder with `--run`) forecasts the H values after the training part from the
last `context` values before it (a run loaded with `--run` was trained on raw values and, on its
own data spec, forecasts its recorded test part); the forecast is compared with the truth:

    MAE  = (1/H) Σ |y_t - ŷ_t|,    RMSE = sqrt((1/H) Σ (y_t - ŷ_t)^2),
    MASE = MAE / ((1/(n-1)) Σ_{t=2..n} |y_t - y_{t-1}|)     (n training values; Hyndman 2006)

next to the naive forecast ŷ_t = y_n (the last training value), whose MASE is close to 1 when the
series is a random walk. One-step vs recursive error: from every origin t in the held-out part,
the recursive k-step forecast feeds the model's own draws back for k steps and is scored on
y_{t+k-1}; the one-step forecast of the same targets always conditions on the true past. Recursive
errors compound, so their RMSE grows with k while the one-step RMSE stays flat.

Paper: R. J. Hyndman and A. B. Koehler, "Another look at measures of forecast accuracy", 2006.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, csv_text, default_out_dir, markdown_table
from seqlab.cli.options import parse_int, parse_int_list, parse_positive_float, parse_positive_int
from seqlab.errors import ConfigError, DataError

MODELS = ("ar", "rnn", "lstm", "gru", "transformer")
# small real-valued models that fit a 1000-point series in seconds
SIZES = {
    "ar": {"tau": 8},
    "rnn": {"hidden_size": 32, "num_layers": 1},
    "lstm": {"hidden_size": 32, "num_layers": 1},
    "gru": {"hidden_size": 32, "num_layers": 1},
    "transformer": {"d_model": 32, "n_layer": 2, "n_head": 2, "block_size": 64},
}
KS = (1, 4, 16, 64)

EXAMPLE = """examples:
  seqlab forecast --model lstm --data sine --horizon 64
  seqlab forecast --model ar --data sunspots --horizon 20 --order 9
  seqlab forecast --model gru --data "csv:prices.csv;column=close" --horizon 30 --steps 800

writes: OUT/forecast.png (series, forecast, interval; error growth), OUT/forecast.csv, OUT/metrics.json
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("forecast", help="train (or load) a real-valued model and forecast a series",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--model", choices=MODELS, default="lstm", help="model family (default: lstm)")
    p.add_argument("--data", metavar="SPEC", default="sine",
                   help="series spec: sine, sunspots, ar:0.5,-0.3, csv:PATH, ... (default: sine)")
    p.add_argument("--horizon", type=parse_positive_int, default=64, metavar="H",
                   help="steps to forecast after the training part (default: 64)")
    p.add_argument("--run", metavar="DIR", default=None, help="load a trained real-valued run instead of training")
    p.add_argument("--test-fraction", type=parse_positive_float, default=0.2, metavar="F",
                   help="held-out share of the series (default: 0.2)")
    p.add_argument("--steps", type=parse_positive_int, default=400, help="training steps (default: 400)")
    p.add_argument("--order", type=parse_positive_int, default=None, help="AR order tau, lags used (default: 8)")
    p.add_argument("--hidden-size", type=parse_positive_int, default=None, help="recurrent hidden size")
    p.add_argument("--context", type=parse_positive_int, default=None,
                   help="history length fed to the model at each origin (default: 64)")
    p.add_argument("--samples", type=parse_positive_int, default=200,
                   help="sample paths for recursive forecasts and intervals (default: 200)")
    p.add_argument("--ks", type=parse_int_list, default=list(KS), metavar="K,K,...",
                   help="k values of the error-growth table (default: 1,4,16,64)")
    p.add_argument("--seed", type=parse_int, default=0, help="seed (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/forecast-<timestamp>)")
    p.set_defaults(handler=run)
    return p


def mase_scale(train: np.ndarray) -> float:
    """Mean absolute one-step change of the training part (the naive forecast's in-sample MAE)."""
    if len(train) < 2:
        raise DataError("the training part needs at least 2 values for MASE")
    scale = float(np.mean(np.abs(np.diff(train))))
    return scale if scale > 0 else float("nan")


def errors(truth: np.ndarray, pred: np.ndarray, scale: float) -> dict:
    e = np.asarray(truth, float) - np.asarray(pred, float)
    mae = float(np.mean(np.abs(e)))
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(e ** 2))), "mase": mae / scale}


def build_and_train(args, train_z: np.ndarray):
    """Build the family at its forecast size and fit it on the scaled training part."""
    import torch

    from seqlab.models.registry import build_model

    fields = dict(SIZES[args.model])
    if args.order is not None:
        if args.model != "ar":
            raise ConfigError("--order applies to --model ar only")
        fields["tau"] = args.order
    if args.hidden_size is not None:
        if args.model not in ("rnn", "lstm", "gru"):
            raise ConfigError("--hidden-size applies to rnn, lstm and gru only")
        fields["hidden_size"] = args.hidden_size
    torch.manual_seed(args.seed)
    model = build_model(args.model, vocab_size=None, **fields) if args.model != "ar" else \
        build_model("ar", **fields)
    series = torch.tensor(train_z, dtype=torch.float32)  # (n,)
    if any(p.requires_grad for p in model.parameters()):
        block = min(fields.get("block_size", 64), len(series) - 1)
        model.fit(series, steps=args.steps, batch_size=16, block_size=block, lr=3e-3, seed=args.seed)
    else:
        model.fit(series)
    return model


def load_model(run_dir: str):
    """A trained real-valued run -> (model, its data spec, its recorded split or None)."""
    from seqlab.cli.common import check_run_dir
    from seqlab.train import load_run

    loaded = load_run(check_run_dir(run_dir))
    if loaded.model.emission_kind != "gaussian":
        raise ConfigError(f"{run_dir} holds a token model; forecast needs a real-valued run")
    return loaded.model, loaded.config.data, loaded.split, loaded.config.model


def error_growth(model, z: np.ndarray, start: int, ks, context: int, samples: int, seed: int,
                 sigma: float) -> dict:
    """RMSE (original units) of one-step and recursive k-step forecasts from origins in z[start:]."""
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
        rec[k] = float(((fc.mean[:, -1] - target) ** 2).mean().sqrt()) * sigma
        hist1 = torch.tensor(np.stack([z[t + k - 1 - context:t + k - 1] for t in origins]),
                             dtype=torch.float32)  # (B, C)
        fc1 = model.forecast(hist1, 1, num_samples=1, seed=seed)
        one[k] = float(((fc1.mean[:, 0] - target) ** 2).mean().sqrt()) * sigma
    return {"k": list(one), "one_step_rmse": list(one.values()), "recursive_rmse": list(rec.values())}


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab.data import StandardScaler, data_kind, load_series
    from seqlab.plots.forecast import plot_forecast

    if not 0.0 < args.test_fraction < 1.0:
        raise ConfigError(f"--test-fraction must lie in (0, 1), got {args.test_fraction}")
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("forecast"))
    if data_kind(args.data) != "series":
        raise DataError(f"forecast needs a series data spec (sine, sunspots, csv:PATH, ...), got {args.data!r}")
    y = load_series(args.data)  # (T,)
    n = int(round(len(y) * (1 - args.test_fraction)))
    loaded = load_model(args.run) if args.run else None
    if loaded is not None and loaded[1] == args.data and loaded[2] is not None:
        n = loaded[2].boundaries[1]  # forecast the run's own test part, which it never saw
    H = args.horizon
    if n < 8 or len(y) - n < 1:
        raise DataError(f"series {args.data!r} of length {len(y)} is too short to hold out a test part")
    if H > len(y) - n:
        raise ConfigError(f"--horizon {H} exceeds the held-out part ({len(y) - n} values); "
                          f"lower it or raise --test-fraction")
    # models trained here see z = (y - mu) / sigma (mu, sigma of the training part only);
    # runs from `seqlab train` were trained on raw y, so they get mu = 0, sigma = 1
    mu, sigma = 0.0, 1.0
    if loaded is None:
        scaler = StandardScaler().fit(y[:n])
        mu, sigma = float(scaler.mean), float(scaler.std)
    z = (y - mu) / sigma  # (T,)
    model = loaded[0] if loaded is not None else build_and_train(args, z[:n])
    name = loaded[3] if loaded is not None else args.model
    block = getattr(model.config, "block_size", None)
    context = min(args.context or 64, n, block or n)

    hist = torch.tensor(z[n - context:n], dtype=torch.float32)  # (C,)
    fc = model.forecast(hist, H, num_samples=args.samples, quantiles=(0.05, 0.5, 0.95), seed=args.seed)
    lo, hi = fc.interval(0.05, 0.95)
    to_y = lambda v: v.detach().double().numpy() * sigma + mu  # noqa: E731  (H,) in units of y
    mean, lower, upper = to_y(fc.mean), to_y(lo), to_y(hi)
    truth = y[n:n + H]
    scale = mase_scale(y[:n])
    metrics = {"model": errors(truth, mean, scale), "naive": errors(truth, np.full(H, y[n - 1]), scale)}
    inside = float(np.mean((truth >= lower) & (truth <= upper)))
    growth = error_growth(model, z, n, [k for k in args.ks if k <= len(y) - n], context,
                          min(args.samples, 100), args.seed, sigma)

    rows = [[name, m["mae"], m["rmse"], m["mase"]] for name, m in
            ((name, metrics["model"]), ("naive (last value)", metrics["naive"]))]
    table = markdown_table(["forecast", "MAE", "RMSE", "MASE"], rows, digits=4)
    gtable = markdown_table(["k", "one-step RMSE", "recursive k-step RMSE"],
                            [[k, a, b] for k, a, b in zip(growth["k"], growth["one_step_rmse"],
                                                          growth["recursive_rmse"])], digits=4)
    with atomic_output_dir(out) as tmp:
        plot_forecast(y[:n], truth, mean, lower, upper, tmp / "forecast.png",
                      error_growth={"one-step": (growth["k"], growth["one_step_rmse"]),
                                    "recursive": (growth["k"], growth["recursive_rmse"])},
                      title=f"{name} on {args.data}: {H}-step forecast")
        (tmp / "forecast.csv").write_text(csv_text(
            ["t", "truth", "mean", "q05", "q95"],
            [[n + i, f"{truth[i]:.6g}", f"{mean[i]:.6g}", f"{lower[i]:.6g}", f"{upper[i]:.6g}"]
             for i in range(H)]), encoding="utf-8")
        record = {"data": args.data, "model": name, "run": args.run, "horizon": H, "train_length": n,
                  "series_length": len(y), "context": context, "metrics": metrics,
                  "interval_90_coverage": inside, "error_growth": growth}
        (tmp / "metrics.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{name} on {args.data}: forecast of the {H} values after t = {n} "
          f"(90% interval covers {100 * inside:.0f}% of them)\n")
    print(table)
    print(gtable, end="")
    print(f"\nwrote {out}/forecast.png, forecast.csv, metrics.json")
    return 0
