"""Typed configurations of a training run: `TrainConfig` (the optimiser and loop) and `RunConfig`.

A `RunConfig` composes everything `seqlab train` needs to rebuild a run from scratch: the model
name (a `seqlab.models.registry` name) and its config fields, the data spec, the tokenizer kind,
the split fractions and a `TrainConfig`. It round-trips through JSON (`to_dict` / `from_dict`),
and `config.json` in a run folder is this dict plus what training resolved (vocabulary size,
split boundaries and fingerprint).

Batch convention: `batch_size` is the *global* batch, the number of windows per optimiser step
summed over gradient-accumulation micro-steps and distributed ranks. Each of the
`grad_accum * world_size` micro-batches holds `batch_size / (grad_accum * world_size)` windows,
so changing `grad_accum` or the number of processes never changes what one step computes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from seqlab.errors import ConfigError

__all__ = ["TrainConfig", "RunConfig", "RECURRENT_MODELS"]

RECURRENT_MODELS = ("rnn", "lstm", "gru", "seq2seq-rnn", "seq2seq-rnn-noattn")  # gradient clipping on by default


@dataclass
class TrainConfig:
    """Optimiser, schedule, loop and checkpointing options (all JSON-able scalars).

    lr schedule (schedule.py): linear warmup over `warmup_steps` to `lr`, then cosine decay to
    `min_lr` (default lr / 10) at `steps`; with `time_budget` the decay follows the larger of the
    step fraction and the fraction of the budget spent, so a budget-limited run still anneals.
    """

    steps: int = 1000                  # optimiser steps (the schedule's length)
    batch_size: int = 16               # global windows per optimiser step
    block_size: int = 128              # window length T in tokens (or values of a series)
    grad_accum: int = 1                # micro-steps per optimiser step
    lr: float = 3e-3                   # peak learning rate (AdamW), reached after the warmup
    min_lr: float | None = None        # learning rate at the end of the cosine decay; None -> lr / 10
    warmup_steps: int = 50             # optimiser steps of linear warmup from 0 to lr
    weight_decay: float = 0.1          # AdamW, applied to matrices (dim >= 2) only
    beta1: float = 0.9                 # AdamW decay rate of the gradient mean, in [0, 1)
    beta2: float = 0.99                # AdamW decay rate of the squared gradient, in [0, 1)
    grad_clip: float | None = None     # max grad norm; None -> 1.0 for recurrent models, else off; 0 = off
    eval_interval: int = 100           # evaluate (and checkpoint) every N steps, and at the end
    eval_tokens: int = 32768           # cap on validation tokens per evaluation (fixed windows)
    patience: int = 0                  # early stop after N evaluations without improvement; 0 = off
    min_delta: float = 0.0             # nats an evaluation must improve on the best validation loss by
    log_interval: int = 10             # train-loss rows in metrics files every N steps
    seed: int = 0                      # seeds the initial weights, the batch order and dropout
    time_budget: float | None = None   # seconds of training (across resumes); None = no limit
    compile: bool = False              # torch.compile the model
    device: str = "auto"               # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    amp: bool = True                   # bf16 autocast on CUDA when supported (never on CPU)

    def __post_init__(self):
        positive = ("steps", "batch_size", "block_size", "grad_accum", "eval_interval",
                    "eval_tokens", "log_interval")
        for name in positive:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"train option {name} must be a positive integer, got {v!r}")
        for name in ("warmup_steps", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"train option {name} must be an integer >= 0, got {v!r}")
        if not self.lr > 0:
            raise ConfigError(f"train option lr must be > 0, got {self.lr!r}")
        if self.min_lr is not None and not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"train option min_lr must lie in [0, lr={self.lr}], got {self.min_lr!r}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"train option weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"train option {name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.grad_clip is not None and not self.grad_clip >= 0:
            raise ConfigError(f"train option grad_clip must be >= 0, got {self.grad_clip!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"train option time_budget must be > 0 seconds, got {self.time_budget!r}")
        if not self.min_delta >= 0:
            raise ConfigError(f"train option min_delta must be >= 0, got {self.min_delta!r}")

    @property
    def final_lr(self) -> float:
        return self.lr / 10 if self.min_lr is None else self.min_lr

    def clip_for(self, model_name: str | None) -> float:
        """The max gradient norm to use (0 = no clipping) for a registry model name."""
        if self.grad_clip is not None:
            return float(self.grad_clip)
        return 1.0 if model_name in RECURRENT_MODELS else 0.0

    def micro_batch(self, world_size: int = 1) -> int:
        """Windows per micro-batch per rank; ConfigError unless the global batch divides evenly."""
        parts = self.grad_accum * world_size
        if self.batch_size % parts:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by grad_accum "
                              f"{self.grad_accum} x {world_size} process(es)")
        return self.batch_size // parts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainConfig:
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown train option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**d)


@dataclass
class RunConfig:
    """Everything that defines a run: model, data, tokenizer, split and training options.

    model: registry name (markov, ar, neural-ar, rnn, lstm, gru, transformer, seq2seq-*).
    model_config: that model's config fields (vocab_size is filled in from the tokenizer, and
        block_size, if the model has one and it is not given, from `train.block_size`).
    data: a seqlab.data spec ("pydoc", "file:corpus.txt", "sine", "csv:x.csv;column=y", ...).
    tokenizer: "char" | "word" | "bpe" for text (ignored for real-valued series).
    tokenizer_options: keyword arguments of the tokenizer (e.g. vocab_size for bpe).
    split: (train, val, test) fractions of the contiguous split (seqlab.data.splits).
    """

    model: str
    data: str = "pydoc"
    model_config: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = "char"
    tokenizer_options: dict[str, Any] = field(default_factory=dict)
    split: tuple[float, ...] = (0.9, 0.05, 0.05)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"run config: model must be a registry name, got {self.model!r}")
        if isinstance(self.train, dict):
            self.train = TrainConfig.from_dict(self.train)
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"run config: train must be a TrainConfig, got {type(self.train).__name__}")
        self.split = tuple(float(f) for f in self.split)
        self.model_config = dict(self.model_config or {})
        self.tokenizer_options = dict(self.tokenizer_options or {})

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "model_config": dict(self.model_config), "data": self.data,
                "tokenizer": self.tokenizer, "tokenizer_options": dict(self.tokenizer_options),
                "split": list(self.split), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        if not isinstance(d, dict) or "model" not in d:
            raise ConfigError("run config must be a dict with at least a 'model' entry")
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in d.items() if k in known}
        fields["train"] = TrainConfig.from_dict(d.get("train"))
        return cls(**fields)
