"""`seqlab probe --task {copy,adding,selective-copying,induction-heads,mqar} --lengths ... --models ...`.

Measures the lecture's claim that a plain RNN cannot use the distant past: each model is trained
on the probe at each length T (copy after a delay of T, Arjovsky et al. 2016; the adding problem of
length T, Hochreiter & Schmidhuber 1997) and scored on fresh test examples against the memoryless
baseline (copy: 10 ln 8 / (T + 20) nats per step; adding: MSE 1/6). Then, at the largest T, the
gradient norm ||∂L/∂e_t|| of the last output's loss is plotted against the distance T - t.
The recall probes (selective copying, Gu & Dao 2023; induction heads, Olsson et al. 2022;
multi-query associative recall, Arora et al. 2023) are scored by test accuracy on the positions
that need the recalled token, against the accuracy of guessing (higher is better).
The experiment (training, scores, gradients) is seqlab/experiments/probe.py; the models are
seqlab/models/probe_tagger.py. This command parses, runs it, prints and writes the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, default_out_dir
from seqlab.reports.tables import csv_text, markdown_table
from seqlab.cli.options import (parse_int, parse_int_list, parse_name_list, parse_positive_float,
                                parse_positive_int)

EXAMPLE = """examples:
  seqlab probe --task copy --lengths 10,20,50,100 --models rnn,lstm,gru,transformer
  seqlab probe --task adding --lengths 50,100,200 --models rnn,lstm --steps 1000
  seqlab probe --task mqar --lengths 64,128 --models transformer,lstm,mingru,retnet,mamba --layers 2

writes: OUT/scores.md, OUT/scores.csv, OUT/scores.png (score vs T and the baseline; recall: accuracy),
        OUT/gradients.png (||dL/dx_t|| vs distance), OUT/probe.json
"""


def add_parser(subparsers, argv):
    from seqlab.models.probe_tagger import PROBE_TASKS

    p = subparsers.add_parser("probe", help="long-memory probes: score vs length, gradient vs distance",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--task", choices=list(PROBE_TASKS), default="copy", help="probe task (default: copy)")
    p.add_argument("--lengths", type=parse_int_list, default=[10, 20, 50, 100], metavar="T,T,...",
                   help="delays / sequence lengths (default: 10,20,50,100)")
    p.add_argument("--models", type=parse_name_list, default=["rnn", "lstm", "gru", "transformer"],
                   metavar="LIST", help="models (default: rnn,lstm,gru,transformer)")
    p.add_argument("--steps", type=parse_positive_int, default=300, help="training steps per model and T (default: 300)")
    p.add_argument("--hidden-size", type=parse_positive_int, default=64, help="hidden / model size (default: 64)")
    p.add_argument("--layers", type=parse_positive_int, default=1,
                   help="layers / blocks of every model (default: 1; induction heads needs 2 for a Transformer)")
    p.add_argument("--batch-size", type=parse_positive_int, default=32, help="batch size (default: 32)")
    p.add_argument("--lr", type=parse_positive_float, default=3e-3, help="Adam learning rate (default: 0.003)")
    p.add_argument("--n-train", type=parse_positive_int, default=2000, help="training examples (default: 2000)")
    p.add_argument("--n-test", type=parse_positive_int, default=256, help="test examples (default: 256)")
    p.add_argument("--seed", type=parse_int, default=0, help="seed (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/probe-<timestamp>)")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from seqlab.experiments.probe import ProbeSetup, run_probe
    from seqlab.plots.probe import plot_gradient_norms, plot_probe_scores

    setup = ProbeSetup(task=args.task, models=tuple(args.models), lengths=tuple(args.lengths),
                       steps=args.steps, hidden_size=args.hidden_size, n_layer=args.layers,
                       batch_size=args.batch_size,
                       lr=args.lr, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                       progress=None)
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir(f"probe-{args.task}"))
    result = run_probe(setup, log=lambda line: print(line, file=sys.stderr, flush=True))
    lengths, models = result.lengths, list(setup.models)
    recall = result.higher_is_better
    baseline = "random baseline" if recall else "memoryless baseline"
    better = "higher is better" if recall else "lower is better"
    headers = ["T", baseline] + models
    rows = [[T, result.baselines[i]] + [result.scores[m][i] for m in models] for i, T in enumerate(lengths)]
    table = markdown_table(headers, rows, digits=4)
    time_rows = [[T] + [result.seconds[m][i] for m in models] for i, T in enumerate(lengths)]
    times = markdown_table(["T"] + models, time_rows, digits=1)
    with atomic_output_dir(out) as tmp:
        (tmp / "scores.md").write_text(
            f"# seqlab probe: {args.task} ({result.metric}; {better})\n\n{table}\n"
            f"Training wall time, seconds ({args.steps} steps of {args.batch_size}):\n\n{times}", encoding="utf-8")
        (tmp / "scores.csv").write_text(csv_text(
            ["T", "baseline"] + models, [[r[0]] + [f"{v:.6f}" for v in r[1:]] for r in rows]), encoding="utf-8")
        plot_probe_scores(lengths, result.scores, result.baselines, tmp / "scores.png",
                          task=args.task, metric=result.metric, higher_is_better=recall)
        T = lengths[-1]
        # copy layout (seqlab.data.probes): inputs at t < 10, outputs at t >= T + 10; distance d = T + 19 - t
        regions = ({"output": (0, 9), "delay": (10, T + 9), "input": (T + 10, T + 19)}
                   if args.task == "copy" else None)
        plot_gradient_norms(result.grad_norms, tmp / "gradients.png", regions=regions,
                            title=f"{args.task}, T={T}: gradient of the last output's loss")
        record = {"task": args.task, "lengths": lengths, "metric": result.metric, "scores": result.scores,
                  "baselines": result.baselines,
                  "grad_norms": {m: [float(x) for x in g] for m, g in result.grad_norms.items()},
                  "higher_is_better": recall, "seconds": result.seconds,
                  "steps": args.steps, "hidden_size": args.hidden_size, "layers": args.layers, "seed": args.seed}
        (tmp / "probe.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    meaning = ("above the baseline = recalls what it read" if recall
               else "below the baseline = uses the distant past")
    print(f"{args.task} probe, {result.metric} ({better}; {meaning})\n")
    print(table, end="")
    print(f"\nwrote {out}/scores.md, scores.csv, scores.png, gradients.png, probe.json")
    other = {"copy": "adding", "adding": "copy", "mqar": "induction-heads"}.get(args.task, "mqar")
    print(f"next: open {out}/gradients.png   or   seqlab probe --task {other} --models {','.join(models)}")
    return 0
