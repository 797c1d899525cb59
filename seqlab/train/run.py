"""`train_run` and `eval_run`: what `seqlab train` and `seqlab eval` do, as two functions.

train_run: data spec -> contiguous split -> tokenizer fitted on the training part -> model from
the registry -> Trainer -> run folder. Everything that can fail because of the input (unknown
model, data spec or option; data too short; an output folder in the way) fails before the first
file is written.

eval_run: a run folder -> the loss of its best weights on a part of the data it recorded,

    L = -(1/N) Σ log P(x_t | x_<t) nats,   bits per token = L / ln 2,   perplexity = exp(L).

Data kinds: text (tokens), series (real values, the model's Gaussian emission) and pairs
(seq2seq: targets end with an <eos> token). Shapes: N stream length or number of pairs,
S source length, T target length.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError
from seqlab.train import checkpoint as ckpt
from seqlab.train import distributed as dist_
from seqlab.train.config import RunConfig
from seqlab.train.engine import Trainer, TrainResult, seed_everything
from seqlab.train.tasks import LMTask, Seq2SeqTask, evaluate

__all__ = ["train_run", "eval_run", "Prepared", "prepare_data"]

EOS = "<eos>"
PARTS = ("train", "val", "test")


@dataclass
class Prepared:
    """A run's data, ready for a task: parts as tensors, the tokenizer and the split record."""

    data_kind: str                  # "text" | "series" | "pairs"
    parts: dict[str, Any]           # part name -> 1-D tensor, or (src (N, S), tgt (N, T))
    tokenizer: Any
    split: Any                      # seqlab.data.splits.Split (with data) or record
    model_fields: dict[str, Any]    # fields the data decides (vocab_size, eos_token_id)


def _pad(rows: list[list[int]]) -> torch.Tensor:
    """Stack id lists into (N, L) padded with -100."""
    out = torch.full((len(rows), max((len(r) for r in rows), default=0) or 1), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def prepare_data(spec: str, tokenizer_kind: str = "char", fractions=(0.9, 0.05, 0.05),
                 tokenizer_options: dict | None = None, split_record: dict | None = None,
                 tokenizer=None) -> Prepared:
    """Load `spec`, split it (or re-apply `split_record`), fit (or reuse) a tokenizer, encode."""
    import seqlab.data as data
    from seqlab.data.splits import Split, split

    kind = data.data_kind(spec)
    if kind == "probe":
        raise ConfigError(f"data spec {spec!r} is a memory probe; use `seqlab probe`")
    if kind == "text":
        raw = data.load_text(spec)
    elif kind == "series":
        raw = np.array(data.load_series(spec), dtype=np.float64)  # a writable copy (statsmodels arrays are read-only)
    else:
        raw = data.load_pairs(spec)
    if split_record is not None:
        sp = Split.from_dict(split_record).apply(raw)
    else:
        sp = split(raw, fractions, min_part=2)
    if kind == "series":
        parts = {p: torch.as_tensor(getattr(sp, p), dtype=torch.float32) for p in PARTS}
        return Prepared(kind, parts, None, sp, {"vocab_size": None})
    if tokenizer is None:
        from seqlab.data.tokenizers import build_tokenizer

        opts = dict(tokenizer_options or {})
        if kind == "pairs":
            text = "".join(s + t for s, t in sp.train)
            tokenizer = build_tokenizer(tokenizer_kind, text, specials=[EOS], **opts)
        else:
            tokenizer = build_tokenizer(tokenizer_kind, sp.train, **opts)
    if kind == "text":
        parts = {p: torch.tensor(tokenizer.encode(getattr(sp, p), errors="replace"), dtype=torch.long)
                 for p in PARTS}
        return Prepared(kind, parts, tokenizer, sp, {"vocab_size": tokenizer.vocab_size})
    eos = tokenizer.token_to_id(EOS)
    parts = {}
    for p in PARTS:
        pairs = getattr(sp, p)
        src = _pad([tokenizer.encode(s, errors="replace") for s, _ in pairs])
        tgt = _pad([tokenizer.encode(t, errors="replace") + [eos] for _, t in pairs])
        parts[p] = (src, tgt)
    return Prepared(kind, parts, tokenizer, sp, {"vocab_size": tokenizer.vocab_size, "eos_token_id": eos})


def _model_fields(name: str, run_config: RunConfig, prepared: Prepared) -> dict[str, Any]:
    """The model's config fields: the user's, plus what the data and the window decide."""
    from seqlab.models import registry

    known = {f.name for f in dataclasses.fields(registry.config_class(name))}
    fields = dict(run_config.model_config)
    for k, v in prepared.model_fields.items():
        if k in known:
            if k in fields and fields[k] != v and k == "vocab_size":
                raise ConfigError(f"model_config vocab_size={fields[k]} but the tokenizer has {v} tokens")
            fields[k] = v
    if "block_size" in known and "block_size" not in fields:
        fields["block_size"] = run_config.train.block_size
    return fields


def _task(prepared: Prepared, run_config: RunConfig):
    t = run_config.train
    if prepared.data_kind == "pairs":
        return Seq2SeqTask(prepared.parts["train"], prepared.parts["val"], eval_tokens=t.eval_tokens)
    val = prepared.parts["val"]
    return LMTask(prepared.parts["train"], val if len(val) else None, block_size=t.block_size,
                  eval_tokens=t.eval_tokens)


def _check_model_kind(model, prepared: Prepared, name: str) -> None:
    want = "gaussian" if prepared.data_kind == "series" else "categorical"
    if getattr(model, "emission_kind", want) != want:
        raise ConfigError(f"model {name!r} is not a {'real-valued' if want == 'gaussian' else 'token'} "
                          f"model, but the data is {prepared.data_kind}")
    is_s2s = name.startswith("seq2seq")
    if is_s2s != (prepared.data_kind == "pairs"):
        raise ConfigError(f"model {name!r} cannot train on {prepared.data_kind} data"
                          + ("; use a seq2seq-* model for pairs" if not is_s2s else ""))


def train_run(run_config: RunConfig | None, out_dir, resume: bool = False,
              progress: bool | None = None) -> TrainResult:
    """Train `run_config` into the run folder `out_dir` (or continue it with resume=True).

    progress: None shows the bar when stderr is a terminal; True always; False never.

    Under torchrun (WORLD_SIZE > 1) every rank calls this; rank 0 writes the folder.
    """
    out_dir = Path(out_dir)
    info = dist_.init_from_env(run_config.train.device if run_config is not None else "auto")
    if resume:
        record = ckpt.read_config(out_dir)
        stored = RunConfig.from_dict(record["run"])
        if run_config is not None:  # train longer / with another budget
            stored.train = dataclasses.replace(stored.train, steps=run_config.train.steps,
                                               time_budget=run_config.train.time_budget,
                                               patience=run_config.train.patience)
        run_config = stored
        tokenizer = None
        if record.get("tokenizer") is not None:
            from seqlab.data.tokenizers import Tokenizer

            tokenizer = Tokenizer.load(out_dir / "tokenizer.json")
        prepared = prepare_data(run_config.data, run_config.tokenizer, run_config.split,
                                run_config.tokenizer_options, split_record=record.get("split"),
                                tokenizer=tokenizer)
        model = ckpt.build_from_record(record)
    else:
        if run_config is None:
            raise ConfigError("train_run needs a run config (or resume=True)")
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise ConfigError(f"output folder already exists and is not empty: {out_dir} "
                              f"(use resume to continue it)")
        from seqlab.models import registry

        registry.get(run_config.model)  # unknown model -> ConfigError before loading data
        prepared = prepare_data(run_config.data, run_config.tokenizer, run_config.split,
                                run_config.tokenizer_options)
        seed_everything(run_config.train.seed)
        model = registry.build_model(run_config.model, **_model_fields(run_config.model, run_config, prepared))
    _check_model_kind(model, prepared, run_config.model)
    task = _task(prepared, run_config)
    run_config.train.micro_batch(info.world_size)  # indivisible batch -> ConfigError now
    trainer = Trainer(model, task, run_config.train, run_dir=out_dir, model_name=run_config.model,
                      run_config=run_config, tokenizer=prepared.tokenizer, split=prepared.split,
                      data_kind=prepared.data_kind, progress=progress, resume=resume,
                      stage=not resume, dist=info)
    return trainer.fit()


def eval_run(run_dir, data_spec: str | None = None, split: str = "test", which: str = "best",
             max_tokens: int | None = None) -> dict[str, float]:
    """Loss (nats), bits per token and perplexity of a run on a part of its data.

    data_spec None: the run's own data with its recorded split (the data must be unchanged).
    Otherwise `data_spec` is split with the run's fractions and encoded with the run's tokenizer.
    """
    if split not in PARTS:
        raise ConfigError(f"split must be one of {', '.join(PARTS)}, got {split!r}")
    run = ckpt.load_run(run_dir, which=which)
    cfg = run.config
    if data_spec is None:
        prepared = prepare_data(cfg.data, cfg.tokenizer, cfg.split, split_record=run.record.get("split"),
                                tokenizer=run.tokenizer)
    else:
        prepared = prepare_data(data_spec, cfg.tokenizer, cfg.split, tokenizer=run.tokenizer)
        if prepared.data_kind != run.data_kind:
            raise DataError(f"data spec {data_spec!r} gives {prepared.data_kind}, but the run was "
                            f"trained on {run.data_kind}")
    part = prepared.parts[split]
    if (part[0] if isinstance(part, tuple) else part).shape[0] == 0:
        raise DataError(f"the {split} part of the data is empty")
    if isinstance(part, tuple):
        return evaluate(run.model, part, max_tokens=max_tokens)
    return evaluate(run.model, part, block_size=cfg.train.block_size, max_tokens=max_tokens)

