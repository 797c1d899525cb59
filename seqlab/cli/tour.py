"""`seqlab tour`: every statement of the lecture notes shown by a measured experiment, as a report.

Nine sections, in the notes' order (seqlab/experiments/tour): the chain rule; variable length;
naive vs AR(τ) vs Markov vs latent AR; the RNN forgets the distant past; gates at work; attention's
five steps and why √d_k; multi-head attention; positional encoding; the decoder reads the encoder's
K and V. Each states its claim, runs its experiment, shows the figures and numbers and says whether
the measurement supports the claim, by a threshold stated next to the verdict.

`--quick` (CI sizes) takes about a minute on 2 cores, the full tour under 12 minutes; both give the
same numbers for the same seed at the same thread count. Writes into the out folder (default
`runs/tour-<timestamp>`; built in a temporary sibling and renamed at the end, so an interrupted tour
leaves nothing behind):

    report.html   one self-contained page (figures inline, nothing fetched, no script)
    report.md     the same report in markdown, linking the PNGs
    *.png         the figures, named <section>-<what>.png
    tour.json     every measured number, each verdict, the setup and the command
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, default_out_dir
from seqlab.cli.options import parse_int, parse_int_list

EXAMPLE = """examples:
  seqlab tour --quick                  # about a minute on 2 cores (CI)
  seqlab tour                          # the full tour, under 12 minutes
  seqlab tour --quick --sections 1,2,6 --out /tmp/tour

writes: OUT/report.html, OUT/report.md, OUT/<section>-*.png, OUT/tour.json
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("tour", help="the lecture's claims, each shown by a measured experiment (report.html)",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--quick", action="store_true", help="CI sizes: about a minute on 2 cores")
    p.add_argument("--seed", type=parse_int, default=0, help="seed of every model and batch (default: 0)")
    p.add_argument("--sections", type=parse_int_list, default=None, metavar="N,N,...",
                   help="run only these sections (1-9; default: all, in order)")
    p.add_argument("--data", metavar="SPEC", default="pydoc",
                   help="text corpus of sections 3, 5 and 7 (default: pydoc, embedded in Python)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/tour-<timestamp>)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress lines on stderr (default: on)")
    p.set_defaults(handler=run)
    return p


def build_setup(args: argparse.Namespace):
    from seqlab.experiments.tour import SECTIONS, TourSetup

    return TourSetup(quick=args.quick, seed=args.seed, data=args.data,
                     sections=tuple(args.sections) if args.sections else tuple(SECTIONS),
                     threads=getattr(args, "threads", None) or 1)


def write_outputs(out: Path, result) -> None:
    """Figures, report.md, report.html and tour.json of `result` into `out`."""
    import torch

    from seqlab.experiments.tour import numbers
    from seqlab.plots.tour import draw_figures
    from seqlab.reports import tour as report

    command = report.command_line(result.setup)
    figures = draw_figures(result, out)
    (out / "report.md").write_text(report.report_markdown(result, command, figures), encoding="utf-8")
    (out / "report.html").write_text(report.report_html(result, command, figures), encoding="utf-8")
    record = {
        "command": command, "setup": numbers(result.setup), "sizes": numbers(result.setup.sizes),
        "vocab_size": result.vocab_size, "sentence": result.sentence,
        "sections": {str(n): {"verdict": numbers(sec.verdict()), "result": numbers(sec),
                              "seconds": round(result.seconds[n], 2)} for n, sec in result.sections.items()},
        "total_seconds": round(result.total_seconds, 1), "python": platform.python_version(),
        "torch": torch.__version__,
    }
    (out / "tour.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    from seqlab.data import data_kind
    from seqlab.errors import DataError
    from seqlab.experiments.tour import run_tour
    from seqlab.reports.tour import closing_lines, terminal_summary

    setup = build_setup(args)  # bad options -> one-line error before any folder exists
    if data_kind(setup.data) != "text":
        raise DataError(f"tour needs a text data spec for --data, got {setup.data!r} ({data_kind(setup.data)})")
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("tour"))
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.progress else None  # noqa: E731
    with atomic_output_dir(out) as tmp:
        result = run_tour(setup, log=log)
        write_outputs(tmp, result)
    print(terminal_summary(result), end="")
    print()
    for line in closing_lines(result):
        print(line)
    print(f"\nwrote {out}/report.html, report.md, tour.json and {len(list(out.glob('*.png')))} figures "
          f"({result.total_seconds:.0f} s)")
    return 0
