"""The `seqlab` command: one subcommand per module in this package.

    seqlab compare      train every model family on the same data for the same time, print a leaderboard
    seqlab train        train one model into a run folder
    seqlab eval         loss (nats), bits per token and perplexity of a run folder on a split
    seqlab generate     sample or beam-search text from a run folder
    seqlab forecast     train a real-valued model on a series and forecast its held-out tail
    seqlab seq2seq      train an encoder-decoder on a toy task and report exact-match accuracy
    seqlab probe        long-memory probes (copy, adding) across sequence lengths
    seqlab attention    per-layer, per-head attention heatmaps of a Transformer run
    seqlab tour         the lecture's claims, each shown by a measured experiment, as report.html

Error contract (docs/architecture.md): anything the user can cause (a bad option, an unknown model
or data spec, a missing file, a folder that is not a run, an out-of-vocabulary prompt) ends with
exactly one line `seqlab: error: <message>` on stderr and exit status 2, and no partial output
folder. Ctrl-C ends with `seqlab: interrupted` and status 130. SIGTERM (`kill`, a job scheduler,
torchrun stopping its workers) is handled like Ctrl-C, so the same cleanup runs (staging folders
and temporary files removed, the last checkpoint intact), and ends with `seqlab: terminated` and
status 143. Programming errors still show their traceback, since hiding them would hide bugs.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Iterator, Sequence

from seqlab.cli.options import parse_positive_int
from seqlab.errors import SeqlabError

__all__ = ["main", "build_parser", "UsageError", "COMMANDS"]

# name -> module under seqlab.cli; each module defines `add_parser(subparsers, argv)` and `run(args)`.
COMMANDS = ("compare", "train", "eval", "generate", "forecast", "seq2seq", "probe", "attention", "tour")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed writer
EXIT_TERMINATED = 143   # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so every `except KeyboardInterrupt` / `finally` cleanup runs."""


def _raise_terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated (main thread only, where Python runs handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class UsageError(SeqlabError):
    """A command-line parse error (argparse's message, made one line)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors raised (not printed with the usage block) so main() prints one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D102 - argparse hook
        hint = f" (see '{self.prog} --help')"
        raise UsageError(" ".join(message.split()) + hint)


def _command_module(name: str):
    import importlib

    return importlib.import_module(f"seqlab.cli.{name}")


def build_parser(argv: Sequence[str] = ()) -> ArgumentParser:
    """The full parser. `argv` lets a command shape its options on what it sees (train adds the
    chosen model's config fields when `--model NAME` is present)."""
    try:
        from importlib.metadata import version

        __version__ = version("seqlab")
    except Exception:  # running from a source tree that was never installed
        __version__ = "unknown"

    parser = ArgumentParser(
        prog="seqlab",
        description="Sequence models from the chain rule to the Transformer.",
        epilog="Start with:  seqlab compare      (every model family, default corpus, < 5 minutes)\n"
               "Each command has --help with an example.",
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    parser.add_argument("--threads", type=parse_positive_int, default=None, metavar="N",
                        help="torch CPU threads (default: one per core, but 1 for compare); use 1 on a "
                             "machine busy with other work, where spinning threads slow torch down")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMANDS:
        _command_module(name).add_parser(subparsers, list(argv))
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and text.startswith("'"):
        text = text.strip("'")
    line = " ".join(text.split()) if text else type(exc).__name__
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """Run `seqlab` with `argv` (default sys.argv[1:]); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with _sigterm_as_interrupt():
        return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version: argparse already printed
            return int(exc.code or 0)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        return int(args.handler(args) or 0)
    except SeqlabError as exc:
        print(f"seqlab: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        name = exc.filename or _one_line(exc)
        print(f"seqlab: error: file not found: {name}", file=sys.stderr)
        return EXIT_USAGE
    except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"seqlab: error: {exc.strerror or _one_line(exc)}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("seqlab: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("seqlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `seqlab ... | head`: the reader left; stop quietly like other tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
