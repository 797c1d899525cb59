"""`seqlab seq2seq --task {copy,reverse,sort,addition,tsv:PATH} --model {rnn-attention,transformer}`.

Trains an encoder-decoder P(y | x) = Π_t P(y_t | y_<t, x) on (source, target) string pairs and
reports, on held-out pairs, the NLL per target token and the exact-match accuracy (the fraction of
sources whose whole decoded target equals the reference) for greedy decoding and for beam search.

Pairs are split 80/10/10 in order; one character vocabulary with `<eos>` (id 0), fitted on the
training pairs only. The experiment (data, training, scores) is seqlab/experiments/seq2seq.py;
this command parses, runs it with the run folder OUT/run, prints and writes the reports.
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
from seqlab.cli.options import parse_int, parse_positive_float, parse_positive_int

MODELS = ("rnn-attention", "transformer")

EXAMPLE = """examples:
  seqlab seq2seq --task reverse --model rnn-attention --steps 1500
  seqlab seq2seq --task addition --model transformer --beams 4
  seqlab seq2seq --task tsv:pairs.tsv --model transformer --steps 3000

writes: OUT/results.md (greedy vs beam exact match, examples), OUT/results.csv, OUT/results.json,
        OUT/run/ (the trained model as a run folder)
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder; exact match, greedy vs beam",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--task", metavar="SPEC", default="reverse",
                   help="copy, reverse, sort, addition or tsv:PATH (default: reverse)")
    p.add_argument("--model", choices=MODELS, default="rnn-attention",
                   help="encoder-decoder (default: rnn-attention)")
    p.add_argument("--n", type=parse_positive_int, default=4000, help="pairs for synthetic tasks (default: 4000)")
    p.add_argument("--steps", type=parse_positive_int, default=800, help="training steps (default: 800)")
    p.add_argument("--batch-size", type=parse_positive_int, default=64, help="batch size (default: 64)")
    p.add_argument("--lr", type=parse_positive_float, default=3e-3, help="learning rate (default: 0.003)")
    p.add_argument("--hidden-size", type=parse_positive_int, default=None,
                   help="hidden size (rnn-attention) or d_model (transformer)")
    p.add_argument("--beams", type=parse_positive_int, default=4, help="beam width (default: 4)")
    p.add_argument("--max-test", type=parse_positive_int, default=500, help="test pairs decoded (default: 500)")
    p.add_argument("--seed", type=parse_int, default=0, help="seed (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/seq2seq-<timestamp>)")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from seqlab.experiments.seq2seq import Seq2SeqSetup, run_seq2seq

    setup = Seq2SeqSetup(task=args.task, model=args.model, n=args.n, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, hidden_size=args.hidden_size,
                         beams=args.beams, max_test=args.max_test, seed=args.seed, progress=None)
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("seq2seq"))
    with atomic_output_dir(out) as tmp:
        r = run_seq2seq(dataclasses.replace(setup, run_root=tmp),
                        log=lambda line: print(line, file=sys.stderr, flush=True))
        results = [["greedy", 1, r.greedy_exact_match]]
        if r.beam_exact_match is not None:
            results.append(["beam search", args.beams, r.beam_exact_match])
        table = markdown_table(["decoding", "beams", "exact match"], results, digits=4)
        beam = r.beam_exact_match is not None
        ex_table = markdown_table(["source", "target", "greedy"] + (["beam"] if beam else []),
                                  [[e.source, e.target, e.greedy] + ([e.beam] if beam else []) for e in r.examples])
        nll = r.test_score
        (tmp / "results.md").write_text(
            f"# seqlab seq2seq: {args.model} on {r.spec}\n\n{r.train_pairs} training pairs, {args.steps} "
            f"steps, final training loss {r.final_train_loss:.4f} nats/token. Held-out NLL "
            f"{nll.loss_nats:.4f} nats/token over the test part ({nll.tokens} target tokens); exact match "
            f"on {r.test_pairs} held-out pairs:\n\n{table}\nExamples:\n\n{ex_table}", encoding="utf-8")
        (tmp / "results.csv").write_text(csv_text(["decoding", "beams", "exact_match"],
                                                  [[d, b, f"{v:.6f}"] for d, b, v in results]), encoding="utf-8")
        (tmp / "results.json").write_text(json.dumps({
            "task": args.task, "spec": r.spec, "model": args.model, "train_pairs": r.train_pairs,
            "test_pairs": r.test_pairs, "steps": args.steps, "final_train_loss": r.final_train_loss,
            "test_nll": nll.loss_nats, "exact_match": {d: v for d, _, v in results}, "beams": args.beams},
            indent=2) + "\n", encoding="utf-8")
    print(f"held-out NLL {nll.loss_nats:.4f} nats/token\n")
    print(table, end="")
    print(f"\nwrote {out}/results.md, results.csv, results.json, run/")
    source = r.examples[0].source if r.examples else "abc"
    print(f"next: seqlab attention {out}/run --text {shlex.quote(source)}   or   "
          f"seqlab compare --data {shlex.quote(args.task)}   (every encoder-decoder, with and without attention)")
    return 0
