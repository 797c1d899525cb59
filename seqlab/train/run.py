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

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from seqlab.data.prepare import PARTS, Prepared, prepare_data
from seqlab.data.spec import recorded_spec
from seqlab.errors import ConfigError, DataError
from seqlab.train import checkpoint as ckpt
from seqlab.train import distributed as dist_
from seqlab.train import integrity
from seqlab.train.config import RunConfig
from seqlab.train.engine import Trainer, TrainResult, seed_everything
from seqlab.train.scoring import Score, evaluate
from seqlab.train.tasks import LMTask, Seq2SeqTask

__all__ = ["train_run", "eval_run"]


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
                  eval_tokens=t.eval_tokens, nll_offset=prepared.nll_offset)


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
              progress: bool | None = None, data: str | None = None) -> TrainResult:
    """Train `run_config` into the run folder `out_dir` (or continue it with resume=True).

    progress: None shows a bar when stderr is a terminal, else a plain line every ~10 s; True the
        bar always; False nothing.
    resume: `run_config` None continues as recorded; otherwise it may change only the train
        options in checkpoint.RESUME_OPTIONS (any other difference is a ConfigError). The spec
        recorded in config.json is untrusted (seqlab.data.spec.recorded_spec: no download, no
        cache_dir); `data` is a spec from the user to read instead, which must give the same data
        (the recorded split's fingerprint is checked).

    Under torchrun (WORLD_SIZE > 1) every rank calls this; rank 0 writes the folder.
    """
    out_dir = Path(out_dir)
    info = dist_.init_from_env(run_config.train.device if run_config is not None else "auto")
    if resume:
        record = ckpt.read_config(out_dir)
        if info.is_main:
            with integrity.run_lock(out_dir):  # fail fast if another process trains it (the Trainer holds it)
                pass
        integrity.verify_files(out_dir, ["config.json"] + (["tokenizer.json"] if record.get("tokenizer") else []))
        run_config = ckpt.resumed_config(RunConfig.from_dict(record["run"]), run_config)
        tokenizer = ckpt.load_tokenizer(out_dir, record)
        trust = contextlib.nullcontext() if data is not None else recorded_spec(out_dir / "config.json")
        if data is not None:
            run_config.data = data
        with trust:
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
             max_tokens: int | None = None) -> Score:
    """Loss (nats), bits per token and perplexity of a run on a part of its data (the one scorer,
    seqlab.train.scoring.evaluate, on the run's windows; a series' loss is in its own units).

    data_spec None: the run's own data with its recorded split (the data must be unchanged); the
    recorded spec is untrusted (seqlab.data.spec.recorded_spec: it never downloads).
    Otherwise `data_spec` is split with the run's fractions and encoded with the run's tokenizer.
    """
    if split not in PARTS:
        raise ConfigError(f"split must be one of {', '.join(PARTS)}, got {split!r}")
    run = ckpt.load_run(run_dir, which=which)
    cfg = run.config
    if data_spec is None:  # the recorded spec is untrusted: no download, no cache_dir
        with recorded_spec(Path(run_dir) / "config.json"):
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
    return evaluate(run.model, part, block_size=cfg.train.block_size, max_tokens=max_tokens,
                    offset=prepared.nll_offset)

