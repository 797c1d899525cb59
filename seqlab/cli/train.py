"""`seqlab train --model M --data SPEC --out DIR [model options] [training options]`.

Trains one model into a run folder (the run folder is the checkpoint: weights in safetensors,
config, tokenizer, data spec and split as JSON, optimiser/scheduler/RNG state for `--resume`;
see docs/training.md). The options are derived from typed dataclass fields:

- training options: the fields of `seqlab.train.TrainConfig` (`--steps`, `--lr`, `--batch-size`,
  `--block-size`, `--time-budget`, `--patience`, ...);
- model options: the fields of the chosen model's config class, shown by
  `seqlab train --model NAME --help` (`--hidden-size`, `--num-layers`, `--d-model`, ...).

`vocab_size` comes from the tokenizer; `cell` (rnn/lstm/gru) and `arch` (seq2seq-*) come from the
model name. Multi-process training: `torchrun --nproc_per_node=N -m seqlab train ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seqlab.cli.options import add_dataclass_options, dataclass_from_args, given_values
from seqlab.errors import ConfigError

MODEL_NAMES = ("markov", "ar", "neural-ar", "rnn", "lstm", "gru", "transformer",
               "seq2seq-rnn", "seq2seq-transformer")
# fields the command fills in itself (from the tokenizer, the model name, or the training options)
_FIXED_FIELDS = ("vocab_size", "cell", "arch", "block_size")

EXAMPLE = """examples:
  seqlab train --model lstm --data pydoc --out runs/lstm --steps 2000 --hidden-size 256
  seqlab train --model transformer --data file:corpus.txt --out runs/gpt --d-model 128 --n-layer 4
  seqlab train --model markov --data pydoc --out runs/kn5 --order 5
  seqlab train --model gru --data sine --out runs/sine-gru --steps 500   # real-valued series
  seqlab train --model lstm --data pydoc --out runs/lstm --resume          # continue a run
  torchrun --nproc_per_node=2 -m seqlab train --model lstm --data pydoc --out runs/ddp

model options:  seqlab train --model NAME --help
writes: OUT/config.json, OUT/model.safetensors, OUT/tokenizer.json, OUT/metrics.jsonl,
        OUT/metrics.csv, OUT/loss.png and the resumable trainer state (see docs/training.md)
"""


def _peek_model(argv) -> str | None:
    """The value of --model in a `train` command line, if any (shapes the model options)."""
    if "train" not in argv:
        return None
    argv = argv[argv.index("train"):]
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def parse_fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fractions like 0.9,0.05,0.05, got {text!r}") from None
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected 2 or 3 fractions, got {text!r}")
    return values


def add_parser(subparsers, argv):
    model = _peek_model(argv)
    p = subparsers.add_parser("train", help="train one model into a run folder",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help="model family (required unless --resume)")
    p.add_argument("--data", metavar="SPEC", default=None,
                   help="data spec (default: pydoc); with --resume, read the run's data from this spec "
                        "instead of the one recorded in the run folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder to create")
    p.add_argument("--tokenizer", choices=["char", "word", "bpe"], default=None,
                   help="tokenizer for text data (default: char)")
    p.add_argument("--split", type=parse_fractions, default=None, metavar="F,F[,F]",
                   help="train,val[,test] fractions of the contiguous split (default: 0.9,0.05,0.05)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; of the other options only "
                        "--data and the training options in seqlab.train.checkpoint.RESUME_OPTIONS "
                        "(--steps, --time-budget, --patience, ...) may be given, and they are applied")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    from seqlab.train.config import TrainConfig

    taken = {a for action in p._actions for a in action.option_strings}
    group = p.add_argument_group("training options (seqlab.train.TrainConfig)")
    train_fields = add_dataclass_options(group, TrainConfig, dest_prefix="train_", taken=taken)
    model_fields: list[str] = []
    if model in MODEL_NAMES:
        from seqlab.models.registry import config_class

        cfg_cls = config_class(model)
        group = p.add_argument_group(f"model options ({cfg_cls.__name__} of {model})")
        model_fields = add_dataclass_options(group, cfg_cls, skip=_FIXED_FIELDS,
                                             dest_prefix="model_", taken=taken)
    p.set_defaults(handler=run, train_fields=train_fields, model_fields=model_fields)
    return p


def build_run_config(args: argparse.Namespace):
    """The RunConfig for a new run, or for --resume the stored one with every option given on the
    command line laid over it (None when none was given: continue exactly as configured);
    train_run then applies the ones a resume can apply and refuses the rest, by name."""
    import dataclasses

    from seqlab.data import parse_spec
    from seqlab.train.config import RunConfig, TrainConfig

    if args.data is not None:
        parse_spec(args.data)  # unknown spec -> DataError before anything is written
    if args.resume:
        from seqlab.train import read_config

        given = given_values(args, args.train_fields, dest_prefix="train_")
        model_config = given_values(args, args.model_fields, dest_prefix="model_")
        if not (given or model_config or args.model or args.tokenizer or args.split):
            return None
        stored = RunConfig.from_dict(read_config(args.out)["run"])
        laid = {"model": args.model, "tokenizer": args.tokenizer, "split": args.split,
                "model_config": {**stored.model_config, **model_config} if model_config else None}
        try:
            return dataclasses.replace(stored, **{k: v for k, v in laid.items() if v is not None},
                                       train=dataclasses.replace(stored.train, **given))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if args.model is None:
        raise ConfigError("--model is required (unless --resume continues a run)")
    train = dataclass_from_args(TrainConfig, args, args.train_fields, dest_prefix="train_")
    model_config = given_values(args, args.model_fields, dest_prefix="model_")
    return RunConfig(model=args.model, data=args.data or "pydoc", model_config=model_config,
                     tokenizer=args.tokenizer or "char", split=args.split or (0.9, 0.05, 0.05),
                     train=train)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume and not (out / "config.json").is_file():
        raise ConfigError(f"--resume: {out} is not a run folder to resume")
    run_config = build_run_config(args)
    from seqlab.train import train_run

    if not args.resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output folder already exists and is not empty: {out} (use --resume to continue it)")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    result = train_run(run_config, out, resume=args.resume, progress=progress,
                       data=args.data if args.resume else None)
    summary = _summary(result)
    what = "resumed" if args.resume else f"trained {args.model} on {run_config.data} ->"
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        print(f"{what} {out}" + (f"  ({summary})" if summary else ""))
    from seqlab.train import distributed

    distributed.finish(distributed.init_from_env())  # under torchrun: leave the group together and exit
    return 0


def _summary(result) -> str:
    """One line from the Trainer's result object (whatever of its fields are present)."""
    parts = []
    for attr, fmt in (("best_val_loss", "best val loss {:.4f} nats"), ("steps", "{} steps"),
                      ("seconds", "{:.1f} s"), ("tokens_per_second", "{:,.0f} tokens/s")):
        value = getattr(result, attr, None) if not isinstance(result, dict) else result.get(attr)
        if value is not None:
            parts.append(fmt.format(value))
    return ", ".join(parts)
