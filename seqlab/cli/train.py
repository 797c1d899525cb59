"""`seqlab train --model M --data SPEC [--out DIR] [model options] [training options]`.

Trains one model into a run folder (the run folder is the checkpoint: weights in safetensors,
config, tokenizer, data spec and split as JSON, optimiser/scheduler/RNG state for `--resume`;
see docs/training.md). The options are derived from typed dataclass fields:

- training options: the fields of `seqlab.train.TrainConfig` (`--steps`, `--lr`, `--batch-size`,
  `--block-size`, `--time-budget`, `--patience`, ...);
- model options: the fields of the chosen model's config class, shown by
  `seqlab train --model NAME --help` (`--hidden-size`, `--num-layers`, `--d-model`, ...).

`vocab_size` comes from the tokenizer; `cell` (rnn/lstm/gru) and `arch` (seq2seq-*) come from the
model name. Multi-process training: `torchrun --nproc_per_node=N -m seqlab train ...`.

Config files: `--config run.toml` (or .json, .yaml) holds the same keys as the flags (`steps =
2000`, `hidden_size = 256`, `split = [0.9, 0.05, 0.05]`); flags given as well override the file.
`--from DIR` starts a new run with the recorded config of the run in DIR (flags and --config
override it). `--print-config` prints the resolved config in the file format and trains nothing,
so `seqlab train ... --print-config > run.toml` writes a file to start from.

Progress: a bar on a terminal; when stderr is piped or logged, a line every ~10 s (step, loss,
tokens/s, ETA; seqlab.progress).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from seqlab.cli.common import default_out_dir
from seqlab.cli.config_file import command_args, peek_option
from seqlab.cli.options import add_dataclass_options, dataclass_from_args, given_values
from seqlab.errors import ConfigError

MODEL_NAMES = ("markov", "ar", "neural-ar", "rnn", "lstm", "gru", "transformer",
               "mingru", "minlstm", "retnet", "mamba", "seq2seq-rnn", "seq2seq-transformer", "seq2seq-rnn-noattn")
CLOSED_FORM = ("markov", "ar")  # fitted once; only these training options mean something for them
CLOSED_FORM_OPTIONS = {"block_size", "eval_tokens", "seed", "device"}
# fields the command fills in itself (from the tokenizer, the model name, or the training options)
_FIXED_FIELDS = ("vocab_size", "cell", "arch", "block_size")

EXAMPLE = """examples:
  seqlab train --model lstm --data pydoc --out runs/lstm --steps 2000 --hidden-size 256
  seqlab train --config run.toml --steps 500             # a config file, one value overridden
  seqlab train --model gru --steps 300 --print-config > run.toml   # write a config file
  seqlab train --from runs/lstm --seed 1                 # rerun a run with another seed
  seqlab train --model transformer --data file:corpus.txt --out runs/gpt --d-model 128 --n-layer 4
  seqlab train --model markov --data pydoc --out runs/kn5 --order 5
  seqlab train --model gru --data sine --out runs/sine-gru --steps 500   # real-valued series
  seqlab train --model lstm --data pydoc --out runs/lstm --resume          # continue a run
  torchrun --nproc_per_node=2 -m seqlab train --model lstm --data pydoc --out runs/ddp

model options:  seqlab train --model NAME --help
writes: OUT (default runs/train-<model>-<timestamp>): config.json, model.safetensors,
        best/model.safetensors, tokenizer.json, metrics.jsonl, metrics.csv, loss_curve.png (not
        for a model fitted in one pass, like markov), result.json, manifest.json and
        trainer_state.safetensors for --resume (see docs/training.md)
"""


def recorded_values(run_dir) -> dict:
    """The train options that rebuild the run in `run_dir` (its config.json), keyed as flags."""
    from seqlab.train import read_config

    record = read_config(run_dir)
    run = record["run"]
    if run.get("tokenizer_options"):
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: the run has tokenizer options "
                          f"{run['tokenizer_options']!r}, which no flag sets; rebuild it from Python")
    values = {"model": run["model"], "data": run.get("data"), "tokenizer": run.get("tokenizer"),
              "split": list(run.get("split") or ()) or None}
    values.update({k: v for k, v in (run.get("train") or {}).items()})
    values.update({k: v for k, v in (run.get("model_config") or {}).items() if k not in _FIXED_FIELDS})
    return {k: v for k, v in values.items() if v is not None}


def _file_values(argv: list[str]) -> list[tuple[dict, str]]:
    """[(values, origin)] from --from DIR then --config FILE (the later wins)."""
    from seqlab.cli.config_file import read_config_file

    sources = []
    source = peek_option(argv, "--from")
    if source is not None:
        sources.append((recorded_values(source), str(Path(source) / "config.json")))
    config = peek_option(argv, "--config")
    if config is not None:
        sources.append((read_config_file(config), config))
    return sources


def parse_fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fractions like 0.9,0.05,0.05, got {text!r}") from None
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected 2 or 3 fractions, got {text!r}")
    return values


def add_parser(subparsers, argv):
    argv = command_args(argv, "train")
    sources = _file_values(argv) if argv is not None else []
    model = peek_option(argv or [], "--model") or next((v["model"] for v, _ in reversed(sources) if "model" in v), None)
    p = subparsers.add_parser("train", help="train one model into a run folder",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--config", metavar="FILE", default=None,
                   help="TOML, JSON or YAML file of options (keys as the flags without '--'); "
                        "flags given as well override it")
    p.add_argument("--from", dest="from_dir", metavar="DIR", default=None,
                   help="start a new run with the recorded config of the run folder DIR "
                        "(flags and --config override it)")
    p.add_argument("--print-config", nargs="?", const="toml", default=None, choices=["toml", "json", "yaml"],
                   help="print the resolved config (default format: toml) and exit without training")
    p.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help="model family (required unless --resume)")
    p.add_argument("--data", metavar="SPEC", default=None,
                   help="data spec (default: pydoc); with --resume, read the run's data from this spec "
                        "instead of the one recorded in the run folder")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="run folder to create (default: runs/train-<model>-<timestamp>)")
    p.add_argument("--tokenizer", choices=["char", "word", "bpe"], default=None,
                   help="tokenizer for text data (default: char)")
    p.add_argument("--split", type=parse_fractions, default=None, metavar="F,F[,F]",
                   help="train,val[,test] fractions of the contiguous split (default: 0.9,0.05,0.05)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; of the other options only "
                        "--data and the training options in seqlab.train.checkpoint.RESUME_OPTIONS "
                        "(--steps, --time-budget, --patience, ...) may be given, and they are applied")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="--progress: a progress bar on stderr even when it is not a terminal; "
                        "--no-progress: none (default: a bar on a terminal, else a line every ~10 s)")
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
    p.set_defaults(handler=run, train_fields=train_fields, model_fields=model_fields, recorded_data=None)
    from seqlab.cli.config_file import apply_defaults

    for values, origin in sources:
        apply_defaults(p, values, origin, "train")
        if "data" in values:  # a spec read from a run folder is untrusted (recorded_spec)
            p.set_defaults(recorded_data=(origin, values["data"]) if origin.endswith("config.json") else None)
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
    if args.model in CLOSED_FORM:  # fitted once by counting / least squares: the loop's options do nothing
        unused = sorted(set(given_values(args, args.train_fields, dest_prefix="train_")) - CLOSED_FORM_OPTIONS)
        if unused:
            flags = ", ".join("--" + name.replace("_", "-") for name in unused)
            raise ConfigError(f"{args.model} is fitted in closed form, not by gradient steps: {flags} "
                              f"would be ignored; drop {'it' if len(unused) == 1 else 'them'}")
    train = dataclass_from_args(TrainConfig, args, args.train_fields, dest_prefix="train_")
    model_config = given_values(args, args.model_fields, dest_prefix="model_")
    return RunConfig(model=args.model, data=args.data or "pydoc", model_config=model_config,
                     tokenizer=args.tokenizer or "char", split=args.split or (0.9, 0.05, 0.05),
                     train=train)


def resolved_config(args: argparse.Namespace, run_config) -> dict[str, dict]:
    """The options a run uses, in sections, keyed as the flags (what --print-config writes)."""
    import dataclasses

    from seqlab.models.registry import config_class

    run = {"model": run_config.model, "data": run_config.data, "tokenizer": run_config.tokenizer,
           "split": list(run_config.split)}
    if args.out is not None:
        run["out"] = str(args.out)
    cfg_cls = config_class(run_config.model)
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    model = {}
    for name in args.model_fields or [n for n in fields if n not in _FIXED_FIELDS]:
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else None
        model[name] = run_config.model_config.get(name, default)
    return {"run": run, "training options (TrainConfig)": run_config.train.to_dict(),
            f"model options ({cfg_cls.__name__} of {run_config.model})": model}


def run(args: argparse.Namespace) -> int:
    if args.resume and args.out is None:
        raise ConfigError("--resume needs --out DIR, the run folder to continue")
    if args.resume and args.from_dir is not None:
        raise ConfigError("--resume continues the run in --out; --from starts a new one: give one of them")
    if args.resume and not (args.out / "config.json").is_file():
        raise ConfigError(f"--resume: {args.out} is not a run folder to resume")
    run_config = build_run_config(args)
    if args.print_config:
        from seqlab.cli.config_file import to_text

        if run_config is None:
            raise ConfigError("--print-config with --resume needs an option that changes the run")
        sys.stdout.write(to_text(resolved_config(args, run_config), args.print_config))
        return 0
    out = Path(args.out) if args.out is not None else default_out_dir(f"train-{run_config.model}")
    from seqlab.train import train_run

    if not args.resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output folder already exists and is not empty: {out} (use --resume to continue it)")
    trust = contextlib.nullcontext()
    if args.recorded_data is not None and run_config.data == args.recorded_data[1]:
        from seqlab.data.spec import recorded_spec

        trust = recorded_spec(args.recorded_data[0])  # a spec from a run folder never downloads
    with trust:
        result = train_run(run_config, out, resume=args.resume, progress=args.progress,
                           data=args.data if args.resume else None)
    summary = _summary(result)
    model = run_config.model if run_config is not None else "the run"
    what = "resumed" if args.resume else f"trained {model} on {run_config.data} ->"
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        print(f"{what} {out}" + (f"  ({summary})" if summary else ""))
        print(next_line(out))
    from seqlab.train import distributed

    distributed.finish(distributed.init_from_env())  # under torchrun: leave the group together and exit
    return 0


def next_line(out: Path) -> str:
    """The natural follow-up of a finished run, as a "next:" line."""
    from seqlab.train import read_config

    kind = read_config(out).get("data_kind", "text")
    if kind == "series":
        return f"next: seqlab eval {out}   (the loss on the test part of the series)"
    if kind == "pairs":
        return f"next: seqlab generate {out} --prompt SOURCE   or   seqlab eval {out}"
    return f"next: seqlab generate {out} -n 200 --temperature 0.8   or   seqlab eval {out}"


def _summary(result) -> str:
    """One line from the Trainer's result object (whatever of its fields are present); a loss that
    was never measured (no validation part) is left out rather than printed as nan."""
    import math

    parts = []
    for attr, fmt in (("best_val_loss", "best val loss {:.4f} nats"), ("steps", "{} steps"),
                      ("seconds", "{:.1f} s"), ("tokens_per_second", "{:,.0f} tokens/s")):
        value = getattr(result, attr, None) if not isinstance(result, dict) else result.get(attr)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(fmt.format(value))
    if isinstance(getattr(result, "best_val_loss", None), float) and math.isnan(result.best_val_loss):
        parts.insert(0, "no validation part")
    return ", ".join(parts)
