"""The training loop: one `Trainer` for every model family, writing a run folder as it goes.

One optimiser step s (global batch of B windows, A = grad_accum micro-steps, W ranks):

    lr_s   = warmup_cosine(s)                                      (schedule.py)
    g      = Σ_{r,m} (n_{r,m} / N_s) ∇ l_{r,m}                      (tasks.py: l mean NLL, n its count)
    g      = g · min(1, c / ||g||)                                  (clip by global norm c, if c > 0)
    θ      = AdamW(θ, g, lr_s, weight decay λ on matrices only)

Every `eval_interval` steps and at the end the validation loss is computed (chain rule, fixed
windows), the best weights are kept, a checkpoint is written, and training stops early after
`patience` evaluations without improvement.

Divergence: the training loss of every step is checked (at each log line and before each
checkpoint, so the device is not synchronised every step). A loss l_s that is NaN or inf, or
that explodes, l_s > l_1 + EXPLODE_FACTOR · max(1, |l_1|) (l_1 the loss at this session's first
step), a non-finite validation loss, or non-finite weights stop training with DivergenceError
naming the step; nothing is written, so the run folder keeps its last finite checkpoint. Models with no trainable parameters (Markov,
closed-form linear AR) are fitted once with `model.fit(train)` instead.

Shapes: B global batch (windows per optimiser step), b = B / (A W) windows per micro-batch and
rank, T window length.

References: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (AdamW);
Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks", ICML 2013
(gradient clipping by norm).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqlab.errors import CheckpointError, ConfigError, DivergenceError
from seqlab.train import checkpoint as ckpt
from seqlab.train import distributed as dist_
from seqlab.train import integrity
from seqlab.train.config import RunConfig, TrainConfig
from seqlab.progress import Progress
from seqlab.train.metrics import MetricsLog
from seqlab.train.schedule import WarmupCosine
from seqlab.train.scoring import score_from_sums

__all__ = ["Trainer", "TrainResult", "make_optimizer", "seed_everything", "EXPLODE_FACTOR"]

# a training loss this many times max(1, |first loss|) above the first loss counts as divergence
EXPLODE_FACTOR = 10.0


@dataclass
class TrainResult:
    """What a training run achieved; losses are mean NLL in nats per element."""

    best_val_loss: float
    best_step: int
    final_val_loss: float
    steps: int
    seconds: float                 # wall clock of training, evaluations included, across resumes
    tokens: int                    # training elements read (all ranks)
    tokens_per_second: float       # tokens / seconds spent in optimiser steps
    stop_reason: str               # steps | time_budget | early_stop | paused | fit
    parameters: int
    run_dir: str | None = None
    history: list[dict] = field(default_factory=list, repr=False)

    @property
    def best_val_bits(self) -> float:
        return self.best_val_loss / math.log(2)

    def to_dict(self, history: bool = False) -> dict:
        """JSON-able fields (result.json); the run folder's own path is left out, so a folder that
        is moved or renamed (compare builds its runs in a temporary folder) never points elsewhere."""
        d = dataclasses.asdict(self)
        d.pop("run_dir")
        if not history:
            d.pop("history")
        return d


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device):
    """AdamW with weight decay on parameters of dim >= 2 (matrices, embeddings) only."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                             fused=device.type == "cuda")


class Trainer:
    """Train `model` on `task` with `config`; write checkpoints to `run_dir` (None: memory only).

    model_name: registry name (decides default gradient clipping and is recorded).
    run_config, tokenizer, split, data_kind: when given, each checkpoint also makes `run_dir` a
        loadable run (config.json, tokenizer.json).
    stage: write into a hidden temporary sibling of `run_dir` (made by fit()) and rename it to
        `run_dir` once the first checkpoint is complete, so `run_dir` is never a half-written run.
    resume: continue from `run_dir`'s trainer_state.safetensors, after locking the folder (a
        second process is refused), removing a killed run's leftovers and checking every file
        against manifest.json. The lock is held until fit() returns.
    """

    def __init__(self, model, task, config: TrainConfig, run_dir=None, model_name: str | None = None,
                 run_config: RunConfig | None = None, tokenizer=None, split=None,
                 data_kind: str = "text", progress: bool | None = False, resume: bool = False,
                 stage: bool = False, dist: dist_.DistInfo | None = None):
        self.config, self.task, self.model_name = config, task, model_name
        self.run_config, self.tokenizer, self.split, self.data_kind = run_config, tokenizer, split, data_kind
        self.dist = dist or dist_.DistInfo()
        self.device = dist_.device_for(self.dist, config.device)
        self.model = model.to(self.device)  # the raw module: saved, evaluated
        self.final_dir = None if run_dir is None else Path(run_dir)
        self.run_dir = self.final_dir
        self._staged, self._lock = False, None  # the run folder's lock, held until fit() ends
        # the staging folder is made by fit(), inside its cleanup, so an interrupt never leaks it
        self._stage = stage and self.final_dir is not None and self.dist.is_main and not resume
        self.metrics = MetricsLog(self.run_dir if self.dist.is_main else None)
        self.progress_enabled = progress if self.dist.is_main else False
        self.trainable = any(p.requires_grad for p in self.model.parameters())
        self.clip = config.clip_for(model_name)
        self.step, self.tokens, self.elapsed, self.step_time = 0, 0, 0.0, 0.0
        self.best_val, self.best_step, self.last_val, self.bad_evals = math.inf, -1, math.nan, 0
        self.eval_step = -1  # step of the latest evaluation
        self.optimizer = make_optimizer(self.model, config, self.device) if self.trainable else None
        self.schedule = None if self.optimizer is None else WarmupCosine(
            self.optimizer, config.lr, config.final_lr, config.warmup_steps, config.steps)
        if resume:
            try:
                self._load_state()
            except BaseException:
                integrity.release_lock(self._lock)  # a refused resume leaves the folder unlocked
                raise
        self._saved_step = self.step if resume else None  # step of the checkpoint on disk
        self._pending: list[torch.Tensor] = []  # training losses not yet checked for divergence
        self._loss_ref: float | None = None     # l_1, the first checked training loss
        # model (saved, evaluated) <- DDP wrapper (gradient all-reduce) <- torch.compile (forward)
        self.wrapped = dist_.wrap_model(self.model, self.dist, self.device) if self.trainable else self.model
        self.forward = torch.compile(self.wrapped) if config.compile and self.trainable else self.wrapped
        use_bf16 = (config.amp and self.device.type == "cuda" and torch.cuda.is_bf16_supported())
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 \
            else contextlib.nullcontext

    # ------------------------------------------------------------------ public
    def fit(self, stop_at: int | None = None) -> TrainResult:
        """Train until `config.steps`, the time budget or early stopping (or pause at `stop_at`)."""
        try:
            if self._stage:
                self._open_stage()
            if not self.trainable:
                reason = self._fit_closed_form()
            else:
                reason = self._loop(stop_at)
            result = self._result(reason)
            if self.dist.is_main and self.run_dir is not None:
                self._finish(result)
            return result
        except BaseException:
            self._discard_stage()
            raise
        finally:
            integrity.release_lock(self._lock)
            self._lock = None

    def evaluate(self) -> float:
        """Validation loss (nats per element) of the current weights, identical on every rank."""
        if not self.task.has_validation:
            return math.nan
        was = self.model.training
        self.model.eval()
        try:
            nll, count = self.task.eval_sums(self.model, self.device, self.dist.rank, self.dist.world_size)
        finally:
            self.model.train(was)
        nll, count = dist_.all_reduce_sum([nll, count], self.dist, self.device)
        return score_from_sums(nll, count, getattr(self.task, "nll_offset", 0.0)).loss_nats

    # ------------------------------------------------------------------ the loop
    def _loop(self, stop_at: int | None) -> str:
        cfg, world = self.config, self.dist.world_size
        micro = cfg.micro_batch(world)
        lo = self.dist.rank * cfg.batch_size // world
        # with a time budget the bar counts seconds (its ETA is then the budget's end), else steps
        timed = cfg.time_budget is not None
        bar = Progress(cfg.time_budget if timed else cfg.steps, round(self.elapsed, 1) if timed else self.step,
                       self.progress_enabled, unit="s" if timed else "step")
        self._bar_mark = self.elapsed if timed else None
        start, window_loss, window_steps, window_tokens, window_time = time.perf_counter(), 0.0, 0, 0, 0.0
        elapsed0, reason = self.elapsed, "steps"
        self.model.train()
        try:
            while True:
                now = elapsed0 + time.perf_counter() - start
                if cfg.time_budget is not None:
                    now = dist_.all_reduce_max(now, self.dist, self.device)
                if self.step >= cfg.steps:
                    break
                if stop_at is not None and self.step >= stop_at:
                    reason = "paused"
                    break
                if cfg.time_budget is not None and now >= cfg.time_budget:
                    reason = "time_budget"
                    break
                lr = self.schedule.set(self.step, now / cfg.time_budget if cfg.time_budget else 0.0)
                t_step = time.perf_counter()
                idx = self.task.global_batch(cfg.seed, self.step, cfg.batch_size)  # (B,)
                loss = self._train_step(idx, idx[lo:lo + micro * cfg.grad_accum], micro)  # this rank: (A b,)
                self.step_time += time.perf_counter() - t_step
                window_time += time.perf_counter() - t_step
                self.step += 1
                self._pending.append(loss)
                n_tok = self.task.tokens(idx)
                self.tokens += n_tok
                window_loss, window_steps, window_tokens = window_loss + loss, window_steps + 1, window_tokens + n_tok
                self.elapsed = elapsed0 + time.perf_counter() - start
                if self.step % cfg.log_interval == 0 or self.step == cfg.steps:
                    self._check_losses()
                    self._log(window_loss, window_steps, window_tokens, window_time, lr, bar)
                    window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
                if self.step % cfg.eval_interval == 0:
                    if self._eval_and_checkpoint():
                        reason = "early_stop"
                        break
            if window_steps and reason != "paused":  # a partial window before a budget or early stop
                self._check_losses()
                self._log(window_loss, window_steps, window_tokens, window_time, lr, bar)
        finally:
            bar.close()
        self.elapsed = elapsed0 + time.perf_counter() - start
        if reason == "paused":
            self._checkpoint(improved=False)
        elif self.eval_step != self.step:
            self._eval_and_checkpoint()
        return reason

    def _log(self, loss_sum, n_steps: int, n_tokens: int, seconds: float, lr: float, bar: Progress) -> None:
        """One metrics row: mean train loss over the last n_steps (all ranks), lr, tokens/s."""
        train_loss = dist_.all_reduce_sum([float(loss_sum)], self.dist, self.device)[0] / n_steps
        tps = n_tokens / max(seconds, 1e-9)
        self.metrics.append(step=self.step, elapsed_s=round(self.elapsed, 3), tokens=self.tokens,
                            lr=lr, train_loss=train_loss, tokens_per_s=round(tps, 1))
        if self._bar_mark is None:
            bar.update(n_steps, loss=train_loss, lr=lr, tok_s=f"{tps:,.0f}", step=self.step)
        else:
            now = min(self.elapsed, self.config.time_budget)
            bar.update(now - self._bar_mark, loss=train_loss, lr=lr, tok_s=f"{tps:,.0f}",
                       step=self.step)
            self._bar_mark = now

    def _train_step(self, idx: torch.Tensor, mine: torch.Tensor, micro: int) -> torch.Tensor:
        """One optimiser step on this rank's windows `mine`; returns its share of the global mean loss."""
        cfg, world = self.config, self.dist.world_size
        n_total = max(self.task.count(idx), 1)
        total = torch.zeros((), device=self.device)
        for m in range(cfg.grad_accum):
            part = mine[m * micro:(m + 1) * micro]  # (b,)
            inputs = self.task.inputs(part, self.device)
            weight = self.task.count(part) / n_total
            sync = m == cfg.grad_accum - 1 or not self.dist.enabled
            with (contextlib.nullcontext() if sync else self.wrapped.no_sync()):
                with self.autocast():
                    _, loss = self.forward(**inputs)
                # Σ_m (n_m / N) l_m; DDP averages over ranks, so scale by world to get the sum
                (loss * (weight * world)).backward()
            total += loss.detach().float() * weight
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total  # a tensor: reading it (a device sync) waits for the next log line

    def _eval_and_checkpoint(self) -> bool:
        """Evaluate, log, checkpoint; True when early stopping triggers."""
        self._check_losses()
        self._check_weights()
        val = self.evaluate()
        if self.trainable and self.task.has_validation and not math.isfinite(val):
            self._diverged(f"the validation loss is {val}")
        self.last_val, self.eval_step = val, self.step
        improved = math.isfinite(val) and val < self.best_val - self.config.min_delta
        if improved:
            self.best_val, self.best_step, self.bad_evals = val, self.step, 0
        elif math.isfinite(val):
            self.bad_evals += 1
        self.metrics.append(step=self.step, elapsed_s=round(self.elapsed, 3), tokens=self.tokens,
                            val_loss=val)
        self._checkpoint(improved or not self.task.has_validation)
        return bool(self.config.patience) and self.bad_evals >= self.config.patience

    def _fit_closed_form(self) -> str:
        """Count-based / closed-form models: one fit on the training data, then evaluate and save."""
        start = time.perf_counter()
        fit_data = self.task.train
        self.model.fit(fit_data)
        self.model.to(self.device)
        self.elapsed = self.step_time = time.perf_counter() - start
        self.tokens = int(fit_data[0].numel() if isinstance(fit_data, tuple) else fit_data.numel())
        self._eval_and_checkpoint()
        return "fit"

    # ------------------------------------------------------------------ state and files
    def _state(self) -> dict:
        return {"step": self.step, "tokens": self.tokens, "elapsed": self.elapsed,
                "step_time": self.step_time, "best_val": self.best_val, "best_step": self.best_step,
                "last_val": self.last_val, "bad_evals": self.bad_evals, "eval_step": self.eval_step,
                "schedule": None if self.schedule is None else self.schedule.state_dict(),
                "model_name": self.model_name, "world_size": self.dist.world_size}

    def _checkpoint(self, improved: bool) -> None:
        """Write trainer state, last (and best) weights, and the run description; rank 0 only."""
        self._check_losses()
        self._check_weights()
        if not self.dist.is_main or self.run_dir is None:
            return
        d, files = self.run_dir, {}  # one transaction, recorded in manifest.json (integrity.write_files)
        if self.run_config is not None:
            if self.tokenizer is not None and not (d / "tokenizer.json").exists():
                files["tokenizer.json"] = self.tokenizer.save
            files["config.json"] = integrity.json_writer(ckpt.config_record(
                self.run_config, self.model, self.data_kind, self.split, self.tokenizer))
        files["trainer_state.safetensors"] = ckpt.trainer_state_writer(self.model, self.optimizer, self._state())
        files["model.safetensors"] = ckpt.weights_writer(self.model)
        if improved:
            files["best/model.safetensors"] = ckpt.weights_writer(self.model)
            files["best/info.json"] = integrity.json_writer({"step": self.step, "val_loss": self.best_val})
        integrity.write_files(d, files)
        self._saved_step = self.step
        self._publish()

    def _check_losses(self) -> None:
        """Raise DivergenceError if a training loss since the last check is non-finite or exploded.

        Every rank holds its share of each step's global mean loss; their sum is the loss, the same
        on every rank, so all ranks stop together. One device sync per call.
        """
        if not self._pending:
            return
        first = self.step - len(self._pending) + 1  # step of self._pending[0]
        losses = dist_.all_reduce_sum(torch.stack(self._pending).tolist(), self.dist, self.device)
        self._pending.clear()
        if self._loss_ref is None and math.isfinite(losses[0]):
            self._loss_ref = losses[0]
        ref = self._loss_ref
        limit = math.inf if ref is None else ref + EXPLODE_FACTOR * max(1.0, abs(ref))
        for k, loss in enumerate(losses):
            if not math.isfinite(loss):
                self._diverged(f"the training loss is {loss}", first + k)
            if loss > limit:
                self._diverged(f"the training loss exploded to {loss:.4g} (it started at {ref:.4g})", first + k)

    def _check_weights(self) -> None:
        """Raise DivergenceError if a weight is NaN or inf (a finite loss with an inf gradient)."""
        if self.trainable and not bool(torch.stack([p.isfinite().all() for p in self.model.parameters()]).all()):
            self._diverged("the weights are no longer finite")

    def _diverged(self, what: str, step: int | None = None):
        """Raise the one-line DivergenceError: what happened, at which step, what is on disk."""
        step = self.step if step is None else step
        if self.final_dir is None:
            kept = "nothing was written"
        elif self._saved_step is None:
            kept = "no run folder was written"
        else:
            kept = f"{self.final_dir} keeps the checkpoint of step {self._saved_step}"
        raise DivergenceError(f"training diverged at step {step}: {what}; {kept} "
                              f"(try a lower --lr or --grad-clip)")

    def _open_stage(self) -> None:
        """Write into a hidden sibling `.NAME.tmp-*` of the run folder until the first checkpoint."""
        self._stage = False
        self.final_dir.parent.mkdir(parents=True, exist_ok=True)
        integrity.clean_stale(self.final_dir, files=False)  # staging folders of killed runs
        self.run_dir = Path(tempfile.mkdtemp(prefix=f".{self.final_dir.name}.tmp-", dir=self.final_dir.parent))
        os.chmod(self.run_dir, 0o777 & ~integrity.umask())  # mkdtemp makes 0700; the run gets the usual mode
        self._staged = True
        self._lock = integrity.acquire_lock(self.run_dir)  # marks the stage as live
        self.metrics.move(self.run_dir)

    def _publish(self) -> None:
        """Move a staged run folder to its final name (once its first checkpoint is complete)."""
        if not self._staged:
            return
        target = self.final_dir
        if target.exists():
            if any(target.iterdir()):
                raise ConfigError(f"output folder already exists and is not empty: {target}")
            target.rmdir()
        os.replace(self.run_dir, target)
        self.run_dir, self._staged = target, False
        self.metrics.move(target)

    def _discard_stage(self) -> None:
        if self._staged and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self._staged = False

    def _load_state(self) -> None:
        if self.run_dir is None:
            raise CheckpointError("resume needs a run folder")
        if self.dist.is_main:  # a second process resuming this folder is refused here
            self._lock = integrity.acquire_lock(self.run_dir)
            integrity.clean_stale(self.run_dir)  # temporary files and staging folders of killed runs
        integrity.verify_files(self.run_dir)  # every file of the checkpoint matches manifest.json
        loaded = ckpt.load_trainer_state(self.run_dir / "trainer_state.safetensors", require=(
            "step", "tokens", "elapsed", "best_val", "best_step", "last_val", "bad_evals"))
        s = loaded["state"]
        try:
            self.model.load_state_dict(loaded["model"], strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"trainer state does not fit the model: {str(e).splitlines()[0]}") from None
        if self.optimizer is not None and loaded["optim"] is not None:
            self.optimizer.load_state_dict(loaded["optim"])
        self.step, self.tokens, self.elapsed = int(s["step"]), int(s["tokens"]), float(s["elapsed"])
        self.step_time = float(s.get("step_time", self.elapsed))
        self.best_val, self.best_step = float(s["best_val"]), int(s["best_step"])
        self.last_val, self.bad_evals = float(s["last_val"]), int(s["bad_evals"])
        self.eval_step = int(s.get("eval_step", -1))
        ckpt.set_rng_state(*loaded["rng"])
        if self.dist.is_main:
            self.metrics.truncate(self.step)

    def _result(self, reason: str) -> TrainResult:
        params = sum(p.numel() for p in self.model.parameters())
        return TrainResult(
            best_val_loss=self.best_val if math.isfinite(self.best_val) else math.nan,
            best_step=self.best_step, final_val_loss=self.last_val, steps=self.step,
            seconds=self.elapsed, tokens=self.tokens,
            tokens_per_second=self.tokens / self.step_time if self.step_time > 0 else 0.0,
            stop_reason=reason, parameters=params,
            run_dir=None if self.run_dir is None else str(self.final_dir or self.run_dir),
            history=list(self.metrics.rows))

    def _finish(self, result: TrainResult) -> None:
        from seqlab.plots.training import plot_loss_curve

        self._publish()
        data = f" on {self.run_config.data}" if self.run_config is not None else ""
        title = f"{self.model_name or type(self.model).__name__}{data}: loss"
        plot_loss_curve(self.metrics.rows, self.run_dir / "loss_curve.png", title=title)
        integrity.write_files(self.run_dir, {"result.json": integrity.json_writer(result.to_dict())})
