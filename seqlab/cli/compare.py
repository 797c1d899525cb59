"""`seqlab compare`: every model family on the same text, at the same training compute, over
several seeds; checkpoints chosen on validation, families ranked on test.

The main job. The protocol (seqlab/experiments/compare.py): one contiguous 90/5/5 split, one
tokenizer fitted on the training part; every neural family (neural AR(τ), RNN, LSTM, GRU,
Transformer) trained for the same number of training FLOPs per run (`--budget`, counted from each
family's forward+backward cost per token, so the result does not depend on the machine or its
load), `--seeds` times; Markov's order and each run's best checkpoint chosen on the validation part;
every family scored on the whole test part by the chain rule,

    bits per token = -(1 / N) Σ_t log2 P(x_t | x_<t)      (N test tokens, windows of T)

and ranked by the mean over seeds. Families whose difference is not significant (Welch's t-test at
5%) share a rank. Lower is better; a uniform guess scores log2 V.

Writes into the out folder (default `runs/compare-<timestamp>`; built in a temporary sibling and
renamed at the end, so an interrupted comparison leaves nothing behind):

    report.html       one self-contained page: setup, command, table, figures, samples
    leaderboard.md    the table printed on stdout, the setup, the command, the samples
    leaderboard.csv   one row per family (mean and std of test and validation bits, FLOPs, ...)
    runs.csv          one row per run (family, seed, budget)
    leaderboard.png   mean test bits per token ± std per family
    frontier.png      validation bits per token against training FLOPs
    scaling.md/.csv/.png   with several --budgets: the test score of each family at each budget
    setup.json        the setup and versions
    <family>/seed-<s>/ a run folder per neural run; markov/ (usable with seqlab eval / generate)
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, default_out_dir
from seqlab.cli.config_file import apply_defaults, command_args, peek_option, read_setup_record
from seqlab.cli.options import (parse_int, parse_name_list, parse_positive_float, parse_positive_int)
from seqlab.errors import ConfigError

EXAMPLE = """examples:
  seqlab compare                                   # pydoc corpus, 6 families, 3 seeds, 1e12 FLOPs each
  seqlab compare --data file:my.txt --models markov,lstm,transformer --budget 4e12 --seeds 5
  seqlab compare --budgets 1e12,4e12,1.6e13 --seeds 2 # a scaling study: who overtakes counting, when
  seqlab compare --data tinyshakespeare --budget-seconds 60   # wall-clock budget (not reproducible)

writes: OUT/report.html, OUT/leaderboard.md, OUT/leaderboard.csv, OUT/runs.csv, OUT/leaderboard.png,
        OUT/frontier.png, OUT/setup.json, OUT/<family>/seed-<s>/ and OUT/markov/ (run folders)
"""


def _parse_budgets(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FLOP counts like 1e12,4e12, got {text!r}") from None
    if not values or not all(v > 0 and v == v and v != float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected positive FLOP counts like 1e12,4e12, got {text!r}")
    return values


def add_parser(subparsers, argv):
    from seqlab.experiments.compare import DEFAULT_BUDGETS, DEFAULT_MODELS
    from seqlab.experiments.recipes import SIZES
    from seqlab.experiments.compare_series import POST_LECTURE, SERIES_DEFAULT

    d = _defaults()
    p = subparsers.add_parser(
        "compare", help="every model family at equal compute over seeds; ranked on test",
        description=__doc__, epilog=EXAMPLE)
    p.add_argument("--data", metavar="SPEC", default=d.data,
                   help=f"text or series data spec (default: {d.data}, the corpus embedded in Python); "
                        f"a series spec may end in ;season=M")
    p.add_argument("--models", type=parse_name_list, default=None, metavar="LIST",
                   help=f"comma-separated families (default, text: {','.join(DEFAULT_MODELS)}; "
                        f"series: {','.join(SERIES_DEFAULT)}; also on request: {','.join(POST_LECTURE)})")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--budget", type=parse_positive_float, default=None, metavar="FLOPS",
                       help=f"training FLOPs per family and seed (default: {DEFAULT_BUDGETS['text']:g} for "
                            f"text, {DEFAULT_BUDGETS['series']:g} per fit for a series)")
    group.add_argument("--budgets", type=_parse_budgets, default=None, metavar="F,F,...",
                       help="several budgets: a scaling study (table and plot per budget)")
    group.add_argument("--budget-seconds", type=parse_positive_float, default=None, metavar="S",
                       help="train each run for S wall-clock seconds instead (not reproducible)")
    p.add_argument("--seeds", type=parse_positive_int, default=d.seeds, metavar="N",
                   help=f"runs per neural family, seeds SEED..SEED+N-1 (default: {d.seeds})")
    p.add_argument("--seed", type=parse_int, default=d.seed, help=f"first seed (default: {d.seed})")
    p.add_argument("--jobs", type=parse_positive_int, default=None, metavar="N",
                   help="worker processes for the neural runs; results do not depend on it "
                        "(default: the number of CPU cores, at most 2)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/compare-<timestamp>)")
    p.add_argument("--tokenizer", choices=["char", "word", "bpe"], default=d.tokenizer,
                   help=f"tokenizer for every family, fitted on the training part (default: {d.tokenizer})")
    p.add_argument("--size", choices=list(SIZES), default=d.size,
                   help="model sizes: small (default) or tiny (smoke tests)")
    p.add_argument("--block-size", type=parse_positive_int, default=None, metavar="T",
                   help="training and scoring window length in tokens (default: per --size)")
    p.add_argument("--batch-size", type=parse_positive_int, default=None, metavar="B",
                   help="training windows per step for every neural family (default: per family)")
    p.add_argument("--val-tokens", type=parse_positive_int, default=d.val_tokens, metavar="N",
                   help=f"validation tokens used for selection (default: {d.val_tokens})")
    p.add_argument("--max-order", type=parse_positive_int, default=d.max_order, metavar="K",
                   help=f"Markov tries orders 1..K on validation (default: {d.max_order})")
    p.add_argument("--sample-tokens", type=parse_int, default=d.sample_tokens, metavar="N",
                   help=f"length of each family's generated sample, >= 0 (default: {d.sample_tokens})")
    p.add_argument("--prompt", default=None,
                   help="text every family's sample continues (default: the corpus's first word)")
    series = p.add_argument_group("series (rolling-origin backtest)")
    series.add_argument("--horizon", type=parse_positive_int, default=None, metavar="H",
                        help="values forecast at each origin (default: length / 20, within 4..24)")
    series.add_argument("--origins", type=parse_positive_int, default=d.origins, metavar="K",
                        help=f"forecast origins over the end of the series (default: {d.origins})")
    series.add_argument("--season", type=parse_positive_int, default=None, metavar="M",
                        help="season of seasonal-naive (default: ;season= in the spec, else detected)")
    pairs = p.add_argument_group("pairs (encoder-decoders on held-out pairs)")
    pairs.add_argument("--steps", type=parse_positive_int, default=None, metavar="N",
                       help="training steps per run (default: 800 small, 60 tiny)")
    pairs.add_argument("--beams", type=parse_positive_int, default=d.beams, metavar="K",
                       help=f"beam width of the beam-search scores, 1 = greedy only (default: {d.beams})")
    pairs.add_argument("--max-test", type=parse_positive_int, default=d.max_test, metavar="N",
                       help=f"test pairs decoded (default: {d.max_test})")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress lines on stderr (default: on)")
    p.add_argument("--from", dest="from_dir", metavar="DIR", default=None,
                   help="rerun the comparison in DIR (its setup.json); options given as well override it")
    p.set_defaults(handler=run, recorded_data=None)
    argv = command_args(argv, "compare")
    if peek_option(argv, "--from") is not None:  # every recorded value checked as its flag's would be
        values, origin = read_setup_record(peek_option(argv, "--from"), skip=("jobs", "threads", "run_root"))
        recorded = values.pop("budgets", None)
        if values.get("budget_seconds") is None and recorded:  # wall-clock runs and pairs record none
            # one budget is --budget's default, so a --budget given as well overrides it
            values["budget" if len(recorded) == 1 else "budgets"] = recorded[0] if len(recorded) == 1 else recorded
        apply_defaults(p, values, origin, "compare")
        p.set_defaults(recorded_data=(origin, values.get("data", d.data)))
    return p


def _defaults():
    from seqlab.experiments.compare import CompareSetup

    return CompareSetup()


def default_jobs() -> int:
    import os

    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def build_setup(args: argparse.Namespace, run_root: Path | None = None):
    """The CompareSetup of a command line."""
    from seqlab.experiments.compare import CompareSetup

    if args.budgets is not None:
        budgets = tuple(args.budgets)
    elif args.budget is not None:
        budgets = (args.budget,)
    else:
        budgets = None  # the data kind's default
    if args.sample_tokens < 0:
        raise ConfigError(f"--sample-tokens must be >= 0, got {args.sample_tokens}")
    return CompareSetup(
        data=args.data, models=None if args.models is None else tuple(args.models), tokenizer=args.tokenizer,
        size=args.size, budgets=budgets, horizon=args.horizon, origins=args.origins, season=args.season,
        steps=args.steps, beams=args.beams, max_test=args.max_test,
        budget_seconds=args.budget_seconds, seeds=args.seeds, seed=args.seed, block_size=args.block_size,
        batch_size=args.batch_size, val_tokens=args.val_tokens, max_order=args.max_order,
        sample_tokens=args.sample_tokens, prompt=args.prompt,
        jobs=args.jobs if args.jobs is not None else default_jobs(),
        threads=getattr(args, "threads", None) or 1, run_root=run_root)


def _write_texts(folder: Path, texts: dict) -> list[str]:
    """Write {file name: text} into `folder`; the names, in order."""
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return list(texts)


def _setup_json(record: dict) -> str:
    return json.dumps(record, indent=2) + "\n"


def _wrote(out: Path, names: list[str], t0: float) -> str:
    """The 'wrote' line: report.html first, then every other file written."""
    names = ["report.html"] + [n for n in names if n != "report.html"]
    return f"wrote {out}/{', '.join(names)} ({time.perf_counter() - t0:.0f} s in all)"


def write_outputs(out: Path, result) -> list[str]:
    """Every report file of `result` into `out`; returns the names written."""
    import torch

    from seqlab.experiments.compare import setup_dict
    from seqlab.plots.compare import plot_frontier, plot_leaderboard, plot_scaling
    from seqlab.reports import compare as report

    command = report.command_line(result.setup)
    budget = (f"{result.setup.budget_seconds:g} s per run" if result.setup.budget_seconds is not None
              else f"{result.leaderboard.budget:.3g} FLOPs per run")
    figures = {
        f"Mean test bits per token ± std over {result.setup.seeds} seed(s) ({budget})":
            plot_leaderboard(result, out / "leaderboard.png"),
        "Compute frontier: validation bits per token against training FLOPs; stars mark test scores":
            plot_frontier(result, out / "frontier.png"),
    }
    texts = {}
    if len(result.budgets) > 1:
        figures["Scaling: test bits per token against the training budget"] = plot_scaling(result, out / "scaling.png")
        texts = {"scaling.md": report.scaling_markdown(result), "scaling.csv": report.scaling_csv(result)}
    record = {"setup": setup_dict(result.setup), "command": command, "vocab_size": result.vocab_size,
              "train_tokens": result.train_tokens, "val_tokens": result.val_tokens,
              "test_tokens": result.test_tokens, "prompt": result.prompt,
              "flops_per_token": result.flops_per_token,
              "matmul_flops_per_second": result.matmul_flops_per_second,
              "total_seconds": round(result.seconds, 1), "python": platform.python_version(),
              "torch": torch.__version__}
    texts.update({"leaderboard.md": report.leaderboard_markdown(result, command),
                  "leaderboard.csv": report.leaderboard_csv(result), "runs.csv": report.runs_csv(result),
                  "report.html": report.report_html(result, command, figures), "setup.json": _setup_json(record)})
    return _write_texts(out, texts) + [p.name for p in figures.values()]


def run(args: argparse.Namespace) -> int:
    if args.recorded_data is not None and args.data == args.recorded_data[1]:
        from seqlab.data.spec import recorded_spec

        with recorded_spec(args.recorded_data[0]):  # a spec read from setup.json never downloads
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from seqlab.data import data_kind, parse_spec
    from seqlab.experiments.compare import run_compare
    from seqlab.experiments.compare_series import split_season

    setup = build_setup(args)  # bad options -> one-line error before any folder exists
    spec, _ = split_season(args.data)
    parse_spec(spec)
    kind = data_kind(spec)
    setup.resolved(kind)
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("compare"))
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.progress else None  # noqa: E731
    t0 = time.perf_counter()
    if kind == "series":
        return _run_series(args, out, log, t0)
    if kind == "pairs":
        return _run_pairs(args, out, log, t0)
    from seqlab.reports.compare import terminal_table

    with atomic_output_dir(out) as tmp:
        result = run_compare(build_setup(args, run_root=tmp), log=log)
        names = write_outputs(tmp, result)
    print()
    print(terminal_table(result), end="")
    print()
    for fam in result.leaderboard.families:
        if fam.sample:
            print(f"{fam.label:>16}: {fam.sample!r}")
    print("\n" + _wrote(out, names, t0))
    print(f"next: open {out}/report.html   or   seqlab eval {out}/{result.leaderboard.families[0].runs[0].run_dir}"
          f" --split test")
    return 0


def _run_series(args, out: Path, log, t0: float) -> int:
    from seqlab.experiments.compare import run_compare
    from seqlab.plots.compare_series import plot_error_by_step, plot_last_origin, plot_series_leaderboard
    from seqlab.reports import compare_series as report

    with atomic_output_dir(out) as tmp:
        result = run_compare(build_setup(args, run_root=tmp), log=log)
        command = report.command_line(result.setup)
        figures = {
            "Mean MASE over origins ± std per entrant (dots: origins)": plot_series_leaderboard(result, tmp / "leaderboard.png"),
            "The last origin: the top three and the naive forecast against the truth, 80% and 95% intervals":
                plot_last_origin(result, tmp / "forecast.png"),
            "Mean absolute error against the horizon step": plot_error_by_step(result, tmp / "horizon.png"),
        }
        names = _write_texts(tmp, {
            "leaderboard.md": report.leaderboard_markdown(result, command),
            "leaderboard.csv": report.leaderboard_csv(result), "origins.csv": report.origins_csv(result),
            "forecasts.csv": report.forecasts_csv(result), "report.html": report.report_html(result, command, figures),
            "setup.json": _setup_json(report.setup_record(result, command))})
    print()
    print(report.terminal_table(result), end="")
    print("\n" + _wrote(out, names + [p.name for p in figures.values()], t0))
    best = next((f.name for f in result.families if f.name in ("rnn", "lstm", "gru", "transformer")), "lstm")
    print(f"next: open {out}/report.html   or   seqlab forecast --model {best} --data {shlex.quote(result.spec)}")
    return 0


def _run_pairs(args, out: Path, log, t0: float) -> int:
    from seqlab.experiments.compare import run_compare
    from seqlab.plots.compare_pairs import plot_cross_attention, plot_pairs_leaderboard
    from seqlab.reports import compare_pairs as report

    with atomic_output_dir(out) as tmp:
        result = run_compare(build_setup(args, run_root=tmp), log=log)
        command = report.command_line(result.setup)
        figures = {"Exact match on held-out pairs: greedy (± std over seeds), beam search, longer sources":
                   plot_pairs_leaderboard(result, tmp / "leaderboard.png")}
        if result.attention:
            figures["Cross-attention of each attention entrant on a test pair"] = plot_cross_attention(
                result, tmp / "attention.png")
        names = _write_texts(tmp, {
            "leaderboard.md": report.leaderboard_markdown(result, command),
            "leaderboard.csv": report.leaderboard_csv(result), "runs.csv": report.runs_csv(result),
            "report.html": report.report_html(result, command, figures),
            "setup.json": _setup_json(report.setup_record(result, command))})
    print()
    print(report.terminal_table(result), end="")
    best = result.families[0]
    print("\n" + _wrote(out, names + [p.name for p in figures.values()], t0))
    print(f"next: open {out}/report.html   or   seqlab attention {out}/{best.runs[0].run_dir} --text "
          f"{shlex.quote(best.runs[0].examples[0][0]) if best.runs[0].examples else 'abc'}")
    return 0
