"""The one interface every seqlab sequence model implements (docs/architecture.md, docs/models.md).

A sequence model is a context (how x_<t is summarised) plus an emission (the distribution of x_t
given that summary). A subclass supplies only the context, through three methods:

    conditionals(x)            x (B, T) -> params (B, T+1, P): params[:, t] is the distribution of
                               x_t given x_<t (t = 0 conditions on the start state, an internal BOS;
                               t = T predicts the element after x). Must be causal.
    init_state(batch_size)     the state before anything was read (nothing, not even BOS)
    step(x_t, state)           x_t (B,) or None (= read the start symbol) -> (params (B, P), state):
                               the incremental form of `conditionals`, one element per call

The state contract: a state is a typed NamedTuple of tensors (one per family), every tensor with
batch on axis 0, passed in and returned, never changed in place; so `reorder_state` (beam search,
forecast paths) is implemented once, here. The base class derives the rest:

    forward(x, targets)  -> (out, loss)    training step (nanoGPT style)
    log_prob(x, lengths) -> (B,) nats      chain rule Σ_t log P(x_t | x_<t)
    nll / bits_per_token / perplexity      per scored element, from log_prob
    generate / stream / forecast           seqlab.models.decoding
    fit(data, steps=...)                   quick training (seqlab.train.Trainer) for neural models

Shapes: B batch, T time, P emission parameters (V logits, or 2 for Gaussian mean and log_std),
V vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError, DataError
from seqlab.models import decoding
from seqlab.models.emissions import IGNORE_INDEX, Emission, make_emission

__all__ = ["SequenceModel", "build_config"]


def build_config(config_class: type, config: Any = None, overrides: dict | None = None):
    """A `config_class` instance from an instance, a dict, or keyword fields; unknown names -> ConfigError."""
    overrides = dict(overrides or {})
    if config is None:
        fields = {}
    elif isinstance(config, config_class):
        fields = dataclasses.asdict(config)
    elif isinstance(config, dict):
        fields = dict(config)
    else:
        raise ConfigError(f"expected a {config_class.__name__} or a dict, got {type(config).__name__}")
    fields.update(overrides)
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"unknown {config_class.__name__} field(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(known))}")
    try:
        return config_class(**fields)
    except TypeError as e:  # a missing required field
        raise ConfigError(f"{config_class.__name__}: {e}") from None


class SequenceModel(nn.Module):
    """Abstract sequence model: subclasses implement `conditionals`, `init_state`, `step`.

    Token models (`emission_kind == "categorical"`) read LongTensor (B, T); real-valued models
    (`"gaussian"`) read FloatTensor (B, T). Padding (`t >= lengths[b]`, token -100, NaN) never changes
    a result: every context is causal and padded entries are replaced by a valid value before use.
    """

    config_class: ClassVar[type | None] = None
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.emission: Emission = make_emission(getattr(config, "vocab_size", None))

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_config(cls, config=None, **fields):
        """Build from a config instance, a dict (e.g. read from config.json) or keyword fields."""
        return cls(build_config(cls.config_class, config, fields))

    @property
    def emission_kind(self) -> str:
        return self.emission.kind

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype the model computes in (that of its first floating parameter or
        buffer; float32 if none): incremental states and real-valued inputs follow it."""
        for t in (*self.parameters(), *self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    # ---------------------------------------------------------------- what subclasses supply
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> params (B, T+1, P); params[:, t] parametrises P(x_t | x_<t)."""
        raise NotImplementedError

    def init_state(self, batch_size: int):
        """Incremental state before the start symbol was read."""
        raise NotImplementedError

    def step(self, x_t: torch.Tensor | None, state):
        """Read x_t (B,) (None = the start symbol) -> (params (B, P) of the next element, state)."""
        raise NotImplementedError

    def reorder_state(self, state, index: torch.Tensor):
        """Select/reorder batch rows of a state (beam search): index (B',) -> state with batch B'.

        Maps over the state's tensors (batch on axis 0 by the state contract); a new state, the old
        one is left as it was.
        """
        return _map_tensors(state, lambda t: t.index_select(0, index))

    def _legacy_keys(self) -> dict[str, str]:
        """{state_dict key written by an earlier seqlab: its key now}; renamed on load, so run
        folders of earlier versions still load (strict)."""
        return {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # state_dict is load_state_dict's own copy: renaming in it leaves the caller's dict alone
        for old, new in self._legacy_keys().items():
            if prefix + old in state_dict and prefix + new not in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def start(self, batch_size: int):
        """(params (B, P) of x_0, state after reading the start symbol)."""
        return self.step(None, self.init_state(batch_size))

    def prefill(self, prompt: torch.Tensor):
        """Read a prompt (B, T0) after the start symbol -> (params (B, P) of the next element, state).

        One `step` per element; a subclass with a faster path (one parallel pass) may override it.
        """
        params, state = self.start(prompt.shape[0])
        for x_t in prompt.unbind(1):
            params, state = self.step(x_t, state)
        return params, state

    # ---------------------------------------------------------------- input checks
    def _check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        if not torch.is_tensor(x):
            x = torch.as_tensor(x)
        if x.dim() != 2:
            raise DataError(f"{name} must have shape (batch, time), got {tuple(x.shape)}")
        if self.emission_kind == "categorical":
            if x.is_floating_point():
                raise DataError(f"{name} must hold integer token ids for a token model, got {x.dtype}")
            bad = (x != IGNORE_INDEX) & ((x < 0) | (x >= self.emission.vocab_size))
            if bool(bad.any()):
                raise DataError(f"{name} holds token id {int(x[bad][0])} outside the vocabulary "
                                f"[0, {self.emission.vocab_size})")
            return x.long().to(self.device)
        return x.to(self.device, self.dtype)  # real values in the model's dtype

    def _lengths_mask(self, x: torch.Tensor, lengths) -> torch.Tensor:
        """(B, T) bool: position t of row b is inside the sequence and not an ignored value."""
        mask = self.emission.scored(x)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device).long()
            if lengths.shape != (x.shape[0],):
                raise DataError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
            if bool((lengths < 0).any()) or bool((lengths > x.shape[1]).any()):
                raise DataError(f"lengths must lie in [0, {x.shape[1]}]")
            mask = mask & (torch.arange(x.shape[1], device=x.device) < lengths[:, None])
        return mask

    # ---------------------------------------------------------------- scoring
    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """Training step: x (B, T), targets (B, T) next elements -> (out, loss).

        out: logits (B, T, V), or (mean, log_std) each (B, T); out[:, t] predicts targets[:, t]
        from x[:, :t+1] and the start state. loss: mean NLL in nats over the scored elements of
        the window (x_0, targets), i.e. it also scores x_0 under the start state (where
        targets[:, 0] is scored), so the start distribution is trained and loss equals
        -log_prob(window).sum() / count. Ignored targets: -100 (tokens), NaN (real values).
        """
        x = self._check_input(x)
        params = self.conditionals(self.emission.sanitize(x))  # (B, T+1, P)
        out_params = params[:, 1:]  # (B, T, P)
        if self.emission_kind == "gaussian":
            out = (out_params[..., 0], out_params[..., 1])
        else:
            out = out_params
        if targets is None:
            return out, None
        targets = self._check_input(targets, "targets")
        if targets.shape != x.shape:
            raise DataError(f"targets shape {tuple(targets.shape)} differs from x shape {tuple(x.shape)}")
        lp = self.emission.log_prob(out_params, targets)  # (B, T)
        count = self.emission.scored(targets)
        first = count[:, 0] & self.emission.scored(x[:, 0])  # (B,)
        lp0 = self.emission.log_prob(params[:, 0], self.emission.sanitize(x[:, 0]))  # (B,)
        total = lp.sum() + (lp0 * first).sum()
        n = count.sum() + first.sum()
        return out, -total / n.clamp(min=1)

    def log_prob(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Σ_t log P(x_t | x_<t) over t < lengths[b] (all t if None) -> (B,) nats; differentiable."""
        x = self._check_input(x)
        mask = self._lengths_mask(x, lengths)  # (B, T)
        clean = torch.where(mask, x, torch.zeros_like(x))
        if x.shape[1] == 0:
            return torch.zeros(x.shape[0], device=x.device)
        params = self.conditionals(clean[:, :-1])  # (B, T, P)
        lp = self.emission.log_prob(params, clean)  # (B, T)
        return (lp * mask).sum(1)

    def count(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> int:
        """Number of scored elements (the denominator of `nll`)."""
        return int(self._lengths_mask(self._check_input(x), lengths).sum())

    @torch.no_grad()
    def nll(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
        """Mean negative log-likelihood per scored element, nats (eval mode, no grad)."""
        was_training = self.training
        self.eval()
        try:
            total = -self.log_prob(x, lengths).sum().item()
        finally:
            self.train(was_training)
        return total / max(self.count(x, lengths), 1)

    def bits_per_token(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
        """nll / ln 2."""
        return self.nll(x, lengths) / math.log(2)

    def perplexity(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
        """exp(nll)."""
        return math.exp(self.nll(x, lengths))

    # ---------------------------------------------------------------- decoding
    def generate(self, prompt, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, num_beams: int = 1, seed: int | None = None, **kw):
        """prompt (B, T0) or (T0,) -> prompt followed by max_new_tokens generated elements."""
        return decoding.generate(self, prompt, max_new_tokens, temperature=temperature, top_k=top_k,
                                 top_p=top_p, num_beams=num_beams, seed=seed, **kw)

    def stream(self, prompt, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, **kw):
        """Yield generated elements one at a time (an int/float for a 1-D prompt, else (B,))."""
        return decoding.stream(self, prompt, max_new_tokens, temperature=temperature, top_k=top_k,
                               top_p=top_p, seed=seed, **kw)

    def forecast(self, history, horizon: int, num_samples: int = 200,
                 quantiles=(0.05, 0.5, 0.95), seed: int | None = None):
        """Real values: mean and quantiles of the next `horizon` values (see decoding.forecast)."""
        return decoding.forecast(self, history, horizon, num_samples=num_samples,
                                 quantiles=quantiles, seed=seed)

    # ---------------------------------------------------------------- saving (seqlab.api)
    def save_pretrained(self, folder):
        """Write config.json + model.safetensors into `folder` (Hugging Face's layout); returns it."""
        from seqlab.api import save_model

        return save_model(self, folder)

    @classmethod
    def from_pretrained(cls, folder, which: str = "best"):
        """The model a save_pretrained folder or a run folder (`which` weights) holds, in eval mode;
        local folders only, nothing is fetched."""
        from seqlab.api import load_model

        return load_model(folder, None if cls is SequenceModel else cls, which)

    # ---------------------------------------------------------------- quick training
    def fit(self, data, steps: int = 500, batch_size: int = 16, block_size: int = 64,
            lr: float = 3e-3, weight_decay: float = 0.01, grad_clip: float = 1.0,
            seed: int | None = 0, verbose: bool = False) -> list[float]:
        """Quick training from Python; returns the training loss (nats per element) of every step.

        data: a 1-D stream (random windows x of `block_size` elements with their next elements as
        targets, as in `seqlab train`), a 2-D (N, T) tensor or a list of 1-D sequences (random
        rows, padded; -100 / NaN entries are ignored). The steps are those of seqlab.train.Trainer
        (see `trainer_fit`). Neural models only; count-based models override `fit(data)`.
        """
        if steps < 1 or batch_size < 1 or block_size < 1:
            raise ConfigError("fit: steps, batch_size and block_size must be >= 1")
        if not any(p.requires_grad for p in self.parameters()):
            raise ConfigError(f"{type(self).__name__} has no trainable parameters; use fit(data)")
        return trainer_fit(self, self._fit_task(data, block_size), steps, batch_size, lr, weight_decay,
                           grad_clip, seed, verbose)

    def _fit_task(self, data, block_size: int):
        """The seqlab.train task `fit` trains on: LMTask for a stream, RowsTask for rows.

        A row r (padded) trains as forward(x = r[:-1], targets = r[1:]), which scores r_0 under the
        start state and every later element given its past: the chain rule over the row.
        """
        from seqlab.train.tasks import LMTask, RowsTask

        categorical = self.emission_kind == "categorical"
        dtype = torch.long if categorical else torch.float32
        if isinstance(data, (list, tuple)) and data and not isinstance(data[0], (int, float)):
            seqs = [torch.as_tensor(s, dtype=dtype).reshape(-1) for s in data]
            rows = nn.utils.rnn.pad_sequence(seqs, batch_first=True,
                                             padding_value=IGNORE_INDEX if categorical else float("nan"))
        else:
            rows = torch.as_tensor(data, dtype=dtype)
            if rows.dim() == 1:
                if rows.numel() < 2:
                    raise DataError("fit: the training stream needs at least 2 elements")
                return LMTask(rows, block_size=block_size)
            if rows.dim() != 2:
                raise DataError(f"fit: data must be 1-D or 2-D, got shape {tuple(rows.shape)}")
        if rows.shape[0] == 0 or rows.shape[1] < 2:
            raise DataError(f"fit: training rows need at least 2 elements each, got shape {tuple(rows.shape)}")
        x, targets = rows[:, :-1], rows[:, 1:]  # (N, T-1) each
        ok = self.emission.scored(targets)
        # scored elements per row, as forward's loss counts them: the targets, and x_0 with targets_0
        weights = ok.sum(1) + (ok[:, 0] & self.emission.scored(x[:, 0]))  # (N,)
        return RowsTask({"x": x, "targets": targets}, weights)


def trainer_fit(model: nn.Module, task, steps: int, batch_size: int, lr: float, weight_decay: float,
                grad_clip: float, seed: int | None, verbose: bool = False) -> list[float]:
    """The quick `fit` of every neural model: `steps` steps of seqlab.train.Trainer on `task` (a
    seqlab.train task), AdamW (betas 0.9, 0.999; weight decay on matrices only), the rate rising
    linearly to `lr` over the first tenth of the steps and constant after (without the warmup a
    small Transformer at lr 5e-3 lands in a poor optimum on some batch orders), gradient norm
    clipped at `grad_clip` (0 = off), on the model's device, in float32, no run folder. Returns
    each step's training loss and leaves the model in eval mode."""
    from seqlab.train.config import TrainConfig
    from seqlab.train.engine import Trainer

    if seed is None:
        seed = int(torch.randint(0, 2 ** 31 - 1, ()).item())
    device = next(model.parameters()).device
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, min_lr=lr, warmup_steps=steps // 10,
                         weight_decay=weight_decay, beta2=0.999, grad_clip=grad_clip,
                         eval_interval=steps, log_interval=1, seed=seed, device=str(device), amp=False)
    result = Trainer(model, task, config, progress=verbose).fit()
    model.eval()
    return [row["train_loss"] for row in result.history if row["train_loss"] is not None]


def _map_tensors(obj, fn):
    """Apply fn to every tensor in a nested NamedTuple/tuple/list/dict state (None passes through)."""
    if torch.is_tensor(obj):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple state
        return type(obj)(*(_map_tensors(o, fn) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj
