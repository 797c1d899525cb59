"""`seqlab forecast --model M --data SERIES --horizon H`: forecast the held-out tail of a series.

The series y is split in time: the first `1 - test_fraction` is the training part (the scaler
z = (y - mu) / sigma is fitted there only), the rest is held out. The model (trained here, or
loaded from a run folder with `--run`, which keeps that run's own scaler and, on its own data
spec, forecasts its recorded test part) forecasts the H values after the training part from the
last `--context` values before it. Reported: MAE, RMSE and MASE of the model and of the naive
forecast (last value repeated), the 90% interval's coverage, one-step vs recursive k-step RMSE,
and the held-out NLL per value. The experiment, with its equations, is
seqlab/experiments/forecast.py; this command parses, runs it, prints and writes the files.

Paper: R. J. Hyndman and A. B. Koehler, "Another look at measures of forecast accuracy", 2006.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, default_out_dir
from seqlab.reports.tables import csv_text, markdown_table
from seqlab.cli.options import parse_int, parse_int_list, parse_positive_float, parse_positive_int
from seqlab.experiments.forecast import MODELS

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


def run(args: argparse.Namespace) -> int:
    from seqlab.experiments.forecast import ForecastSetup, run_forecast
    from seqlab.plots.forecast import plot_forecast

    setup = ForecastSetup(model=args.model, data=args.data, horizon=args.horizon, run=args.run,
                          test_fraction=args.test_fraction, steps=args.steps, order=args.order,
                          hidden_size=args.hidden_size, context=args.context, samples=args.samples,
                          ks=tuple(args.ks), seed=args.seed, progress=None)
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("forecast"))
    r = run_forecast(setup, log=lambda line: print(line, file=sys.stderr, flush=True))
    name, H, n, g = r.model_name, r.horizon, r.train_length, r.error_growth
    rows = [[label, e.mae, e.rmse, e.mase] for label, e in ((name, r.model_errors),
                                                             ("naive (last value)", r.naive_errors))]
    table = markdown_table(["forecast", "MAE", "RMSE", "MASE"], rows, digits=4)
    gtable = markdown_table(["k", "one-step RMSE", "recursive k-step RMSE"],
                            [list(row) for row in zip(g.k, g.one_step_rmse, g.recursive_rmse)], digits=4)
    with atomic_output_dir(out) as tmp:
        plot_forecast(r.history, r.truth, r.mean, r.lower, r.upper, tmp / "forecast.png",
                      error_growth={"one-step": (g.k, g.one_step_rmse), "recursive": (g.k, g.recursive_rmse)},
                      title=f"{name} on {args.data}: {H}-step forecast")
        (tmp / "forecast.csv").write_text(csv_text(
            ["t", "truth", "mean", "q05", "q95"],
            [[n + i, f"{r.truth[i]:.6g}", f"{r.mean[i]:.6g}", f"{r.lower[i]:.6g}", f"{r.upper[i]:.6g}"]
             for i in range(H)]), encoding="utf-8")
        record = {"data": args.data, "model": name, "run": args.run, "horizon": H, "train_length": n,
                  "series_length": r.series_length, "context": r.context,
                  "metrics": {"model": dataclasses.asdict(r.model_errors),
                              "naive": dataclasses.asdict(r.naive_errors)},
                  "interval_90_coverage": r.interval_90_coverage, "test_nll": r.test_score.loss_nats,
                  "scaler": {"mean": r.scaler_mean, "std": r.scaler_std},
                  "error_growth": {"k": g.k, "one_step_rmse": g.one_step_rmse,
                                   "recursive_rmse": g.recursive_rmse}}
        (tmp / "metrics.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{name} on {args.data}: forecast of the {H} values after t = {n} "
          f"(90% interval covers {100 * r.interval_90_coverage:.0f}% of them; "
          f"held-out NLL {r.test_score.loss_nats:.4f} nats per value)\n")
    print(table)
    print(gtable, end="")
    print(f"\nwrote {out}/forecast.png, forecast.csv, metrics.json")
    print(f"next: open {out}/forecast.png   or   seqlab compare --data {shlex.quote(args.data)}   "
          f"(every family in a rolling-origin backtest)")
    return 0
