"""Benchmark seqlab.nn against torch.nn on CPU: forward and forward+backward, interleaved ratios.

    python benchmarks/bench_nn.py [--only rnn|attention] [--rounds N] [--threads N]

Cases come from benchmarks/cases_rnn.py (recurrent layers) and benchmarks/cases_attention.py
(attention and Transformer layers); each exposes `cases(quick: bool) -> list[Case]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import measure, table  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["rnn", "attention"], default=None)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    groups = []
    if args.only in (None, "rnn"):
        import cases_rnn

        groups.append(("Recurrent layers", cases_rnn.cases(args.quick)))
    if args.only in (None, "attention"):
        import cases_attention

        groups.append(("Attention and Transformer layers", cases_attention.cases(args.quick)))
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    for title, cases in groups:
        done = []
        for c in cases:
            measure(c, rounds=args.rounds)
            done.append(c)
            print(f"  {c.name}: " + ", ".join(f"{n} {c.ratio(n):.2f}x" for n in c.times), file=sys.stderr, flush=True)
        print(f"\n### {title}\n")
        print(table(done))


if __name__ == "__main__":
    main()
