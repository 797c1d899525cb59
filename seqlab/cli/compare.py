"""`seqlab compare`: every model family on the same data, the same split, the same time budget.

The main job. Each family (Markov n-gram, neural AR(τ), RNN, LSTM, GRU, Transformer) is trained
on the training part of one contiguous 90/5/5 split of one corpus, with one tokenizer, for the same
wall-clock budget (the Trainer stops when `--budget` seconds are spent; Markov spends its budget
choosing its order k on validation). All families are then scored on the same fixed validation
slice, cut into the same windows, by the chain rule

    bits per token = -(1 / N) Σ_t log2 P(x_t | x_<t)      (N scored tokens of the slice)

and ranked. Lower is better; 0 would be a perfect predictor and log2 V a uniform guess.

Writes into the out folder (default `runs/compare-<timestamp>`; written to a temporary sibling
and renamed at the end, so an interrupted comparison leaves nothing behind):

    leaderboard.md    the table printed on stdout, plus the setup
    leaderboard.csv   one row per family (machine-readable)
    leaderboard.png   bits-per-token bars and validation loss against training seconds
    <family>/         a run folder per family (usable with seqlab eval / generate)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

from seqlab.cli.common import (atomic_output_dir, check_new_out_dir, csv_text, default_out_dir,
                               markdown_table)
from seqlab.cli.options import parse_int, parse_name_list, parse_positive_float, parse_positive_int
from seqlab.errors import ConfigError

DEFAULT_MODELS = ("markov", "neural-ar", "rnn", "lstm", "gru", "transformer")
COMPARABLE = DEFAULT_MODELS  # token models that compare.py knows how to size and train

EXAMPLE = """examples:
  seqlab compare                                   # pydoc corpus, 6 families, ~35 s each
  seqlab compare --data file:my.txt --models markov,lstm,transformer --budget 60
  seqlab compare --data tinyshakespeare --tokenizer char --out runs/shakespeare

writes: OUT/leaderboard.md, OUT/leaderboard.csv, OUT/leaderboard.png, OUT/<family>/ (run folders)
"""

HEADERS = ("rank", "model", "val bits/token", "val loss (nats)", "perplexity", "parameters",
           "train seconds", "tokens/s", "steps", "sample")


def add_parser(subparsers, argv):
    p = subparsers.add_parser(
        "compare", help="train every model family for the same time and print a leaderboard",
        description=__doc__, epilog=EXAMPLE)
    p.add_argument("--data", metavar="SPEC", default="pydoc",
                   help="text data spec (default: pydoc, the corpus embedded in Python)")
    p.add_argument("--models", type=parse_name_list, default=list(DEFAULT_MODELS), metavar="LIST",
                   help=f"comma-separated families (default: {','.join(DEFAULT_MODELS)})")
    p.add_argument("--budget", type=parse_positive_float, default=35.0, metavar="SECONDS",
                   help="training wall-clock seconds per family (default: 35)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/compare-<timestamp>)")
    p.add_argument("--tokenizer", choices=["char", "word", "bpe"], default="char",
                   help="tokenizer for every family (default: char)")
    p.add_argument("--size", choices=["tiny", "small"], default="small",
                   help="model sizes: small (default, learns in ~35 s on 2 cores) or tiny (smoke tests)")
    p.add_argument("--block-size", type=parse_positive_int, default=None, metavar="T",
                   help="training window and evaluation window length (default: per --size)")
    p.add_argument("--batch-size", type=parse_positive_int, default=None, metavar="B",
                   help="training windows per step for every neural family (default: per family)")
    p.add_argument("--val-tokens", type=parse_positive_int, default=32768, metavar="N",
                   help="size of the fixed validation slice every family is scored on (default: 32768)")
    p.add_argument("--max-order", type=parse_positive_int, default=8, metavar="K",
                   help="Markov tries orders 1..K on validation within its budget (default: 8)")
    p.add_argument("--sample-tokens", type=parse_int, default=80, metavar="N",
                   help="length of each family's generated sample (default: 80)")
    p.add_argument("--prompt", default=None,
                   help="text every family's sample continues (default: the corpus's first word)")
    p.add_argument("--seed", type=parse_int, default=0, help="seed for every family (default: 0)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    p.set_defaults(handler=run)
    return p


def check_models(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in COMPARABLE]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r} for compare; choose from {', '.join(COMPARABLE)}")
    return names


def _sample_cell(text: str, width: int = 60) -> str:
    flat = text.replace("\n", "⏎").replace("\t", " ")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def leaderboard_rows(results) -> list[list]:
    """Results sorted by validation bits per token -> table rows (HEADERS order)."""
    ranked = sorted(results, key=lambda r: (math.isnan(r.bits_per_token), r.bits_per_token))
    rows = []
    for rank, r in enumerate(ranked, 1):
        rows.append([rank, r.name + (f" (k={r.detail})" if r.detail else ""), r.bits_per_token,
                     r.loss_nats, r.perplexity, r.parameters, r.train_seconds,
                     int(round(r.tokens_per_second)), r.steps, r.sample])
    return rows


def write_outputs(out: Path, results, setup: dict) -> str:
    """leaderboard.md/.csv/.png and setup.json in `out`; returns the markdown table."""
    from seqlab.plots.compare import plot_compare

    rows = leaderboard_rows(results)
    md_rows = [r[:-1] + [_sample_cell(r[-1])] for r in rows]
    table = markdown_table(HEADERS, md_rows)
    lines = [
        "# seqlab compare: leaderboard", "",
        f"Data `{setup['data']}` ({setup['tokenizer']} tokenizer, V = {setup['vocab_size']}), "
        f"split {setup['split']}; train {setup['train_tokens']:,} tokens. Every family trained for "
        f"{setup['budget']:g} s of wall clock on {setup['threads']} CPU thread(s) and scored on the same "
        f"{setup['val_tokens']:,} validation tokens in windows of {setup['block_size']}. "
        f"A uniform guess scores log2 V = {math.log2(setup['vocab_size']):.3f} bits per token.", "",
        table,
        f"Samples (the prompt {setup['prompt']!r} continued at temperature 0.8, seed {setup['seed']}):",
        "",
    ]
    for r in rows:
        lines += [f"**{r[1]}**", "", "```", r[-1], "```", ""]
    (out / "leaderboard.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "leaderboard.csv").write_text(csv_text(
        ["rank", "model", "val_bits_per_token", "val_loss_nats", "perplexity", "parameters",
         "train_seconds", "tokens_per_second", "steps", "sample"],
        [[r[0], r[1], f"{r[2]:.6f}", f"{r[3]:.6f}", f"{r[4]:.6f}", r[5], f"{r[6]:.3f}",
          r[7], r[8], r[9]] for r in rows]), encoding="utf-8")
    (out / "setup.json").write_text(json.dumps(setup, indent=2) + "\n", encoding="utf-8")
    order = [r.name for r in sorted(results, key=lambda r: r.bits_per_token)]
    by_name = {r.name: r for r in results}
    plot_compare(order, [by_name[n].bits_per_token for n in order],
                 {n: by_name[n].curve for n in order}, out / "leaderboard.png",
                 title=f"seqlab compare on {setup['data']} ({setup['budget']:g} s per family)")
    return table


def _threads(args: argparse.Namespace) -> int:
    """compare trains with 1 torch thread unless `seqlab --threads N compare` asks for more.

    Measured here (docs/cli.md): with 2 threads on 2 cores that anything else also uses, spinning
    OpenMP threads made training steps 3-100x slower (an LSTM managed 8 steps in 35 s), which turns
    an equal time budget into a lottery; 1 thread loses at most the 2-thread speed-up on an idle
    machine (about 1.1-1.8x) and treats every family alike.
    """
    import torch

    if getattr(args, "threads", None) is None:
        torch.set_num_threads(1)
    return torch.get_num_threads()


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab.cli import compare_families as fam

    models = check_models(args.models)
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("compare"))
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    _threads(args)
    t_start = time.perf_counter()
    data = fam.prepare_data(args.data, args.tokenizer, args.val_tokens, args.size, args.block_size,
                            args.prompt)
    print(f"seqlab compare: {args.data} ({data.text_length:,} characters), {args.tokenizer} tokenizer "
          f"V={data.vocab_size}, train {len(data.train_ids):,} / val slice {data.eval_windows.numel():,} "
          f"tokens; {len(models)} families x {args.budget:g} s", file=sys.stderr)
    results = []
    with atomic_output_dir(out) as tmp:
        for name in models:
            print(f"[{len(results) + 1}/{len(models)}] {name} ...", file=sys.stderr, flush=True)
            result = fam.train_family(name, data, budget=args.budget, size=args.size,
                                      seed=args.seed, max_order=args.max_order,
                                      sample_tokens=args.sample_tokens, run_dir=tmp / name,
                                      progress=progress, batch_size=args.batch_size)
            print(f"    {result.bits_per_token:.3f} bits/token after {result.train_seconds:.1f} s "
                  f"({result.steps} steps)", file=sys.stderr, flush=True)
            results.append(result)
        setup = {
            "data": args.data, "tokenizer": args.tokenizer, "vocab_size": data.vocab_size,
            "split": "/".join(f"{f:g}" for f in data.split.fractions),
            "train_tokens": len(data.train_ids), "val_tokens": int(data.eval_windows.numel()),
            "val_part_tokens": int(data.val_ids.numel()),
            "block_size": data.block_size, "budget": args.budget, "size": args.size,
            "seed": args.seed, "prompt": data.prompt, "threads": torch.get_num_threads(), "models": models,
            "python": platform.python_version(), "torch": torch.__version__,
        }
        table = write_outputs(tmp, results, setup)
        setup["total_seconds"] = round(time.perf_counter() - t_start, 1)
        (tmp / "setup.json").write_text(json.dumps(setup, indent=2) + "\n", encoding="utf-8")
    print()
    print(table, end="")
    print(f"\nwrote {out}/leaderboard.md, leaderboard.csv, leaderboard.png "
          f"({time.perf_counter() - t_start:.0f} s in all)")
    return 0
