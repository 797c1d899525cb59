"""`seqlab eval DIR [--data SPEC] [--split test]`: how well a trained run predicts held-out data.

Prints, for the best-validation weights (or `--last`, the same weights `seqlab generate` and
`seqlab.load` use), the mean negative log-likelihood
per token L in nats, bits per token L / ln 2 and perplexity exp(L) on the chosen part of the
run's recorded split (the same boundaries as in training, so "test" never overlaps what the model
was trained on). `--data` evaluates on another
data spec instead (its `--split` part, split with the run's fractions).
"""

from __future__ import annotations

import argparse
import json

from seqlab.cli.common import check_run_dir

EXAMPLE = """example:
  seqlab eval runs/lstm                 # test part of the run's own data
  seqlab eval runs/lstm --split val
  seqlab eval runs/lstm --data file:other.txt --json
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("eval", help="loss, bits per token and perplexity of a run",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("run_dir", metavar="DIR", help="a run folder written by seqlab train/compare")
    p.add_argument("--data", metavar="SPEC", default=None,
                   help="data spec to evaluate on (default: the run's own data)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test",
                   help="which part of the split (default: test)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--weights", choices=["best", "last"], default="best",
                         help="best-validation or last checkpoint weights (default: best)")
    weights.add_argument("--last", dest="weights", action="store_const", const="last",
                         help="the last weights (same as --weights last; generate and seqlab.load take it too)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(handler=run)
    return p


def format_metrics(score) -> str:
    """One line from a seqlab.train.Score."""
    return (f"loss {score.loss_nats:.4f} nats   bits/token {score.bits_per_token:.4f}   "
            f"perplexity {score.perplexity:.3f}")


def run(args: argparse.Namespace) -> int:
    check_run_dir(args.run_dir)
    if args.data is not None:
        from seqlab.data import parse_spec

        parse_spec(args.data)  # unknown spec -> DataError before any work
    from seqlab.train import eval_run

    metrics = eval_run(args.run_dir, data_spec=args.data, split=args.split, which=args.weights)
    if args.json:  # stdout is the JSON object alone
        print(json.dumps(metrics.to_dict()))
    else:
        print(f"{args.run_dir} [{args.split}]  {format_metrics(metrics)}")
        print(f"next: seqlab generate {args.run_dir} -n 200 --temperature 0.8   or, from Python, "
              f"seqlab.load({str(args.run_dir)!r})")
    return 0
