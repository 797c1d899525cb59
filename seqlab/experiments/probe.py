"""ProbeSetup -> ProbeResult: can a model use the distant past? Long-memory probes across lengths T.

Each model (seqlab.models.probe_tagger.ProbeTagger: embedding, a seqlab.nn RNN / LSTM / GRU or
causal Transformer encoder, a linear read-out) is trained on the probe at each length T and scored
on fresh test examples against the memoryless baseline (seqlab.data.probes):

    copy after a delay of T (Arjovsky, Shah & Bengio 2016), sequences of T + 20 symbols:
        score = test cross-entropy, nats per step;   baseline = 10 ln 8 / (T + 20)
    adding problem of length T (Hochreiter & Schmidhuber 1997):
        score = test MSE of the sum of the two marked values;   baseline = Var(u_a + u_b) = 1/6

A score below the baseline means the model carried information across T steps.

Recall probes (seqlab.data.probes.RecallProbe; higher is better), sequences of length T (selective
copying: T + 8), trained with cross-entropy on the logits of the scored positions (the probe's mask):

    selective-copying (Gu & Dao 2023, §4.1.1)   8 symbols scattered among T noise steps; baseline 1/8
    induction-heads (Olsson et al. 2022)        "... a b ... a -> b" over 16 tokens; baseline 1/15
    mqar (Arora et al. 2023, "Zoology")         8 key-value pairs then 8 queries; baseline 1/16
        score = test accuracy of the argmax on the scored positions;   baseline = that of guessing

An accuracy above the baseline means the model recalled what it read.

Gradient vs distance, at the largest T: the loss L of the *last* output is differentiated with
respect to every input embedding e_t, and

    g(d) = (1/B) Σ_b ||∂L/∂e_t||_2,   d = T - 1 - t  (d = 0: the last input)

is reported (recall probes: L of each row's last scored output, d from the end of the row).
A plain RNN's Jacobian product Π ∂s_{k+1}/∂s_k shrinks geometrically with d (Bengio,
Simard & Frasconi 1994, "Learning long-term dependencies with gradient descent is difficult");
gates (LSTM/GRU) and attention give paths that do not.

Training: seqlab.train.Trainer on a RowsTask of the training examples (x, y), `steps` steps of
`batch_size` random rows, AdamW without weight decay (= Adam, betas 0.9, 0.999), the rate rising
linearly to `lr` over the first tenth of the steps and constant after, gradient norm clipped at 1;
no validation part and no run folder. Training and test examples are drawn with seeds `seed` and
`seed + 1`.

Shapes: B batch, T probe length, H hidden size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.probe_tagger import PROBE_MODELS, PROBE_TASKS, RECALL_TASKS, ProbeTagger

__all__ = ["ProbeSetup", "ProbeResult", "run_probe", "make_probe", "train_probe", "evaluate_probe",
           "gradient_by_distance", "PROBE_MODELS"]


# the shortest T each probe is defined for (recall probes: seqlab.data.probes' defaults, 8 symbols / pairs)
MIN_LENGTH = {"copy": 1, "adding": 2, "selective-copying": 8, "induction-heads": 3, "mqar": 32}


@dataclass
class ProbeSetup:
    """What `seqlab probe` runs: every model in `models` at every length in `lengths`."""

    task: str = "copy"                                   # copy | adding | a recall probe (RECALL_TASKS)
    models: tuple[str, ...] = PROBE_MODELS
    lengths: tuple[int, ...] = (10, 20, 50, 100)         # delays (copy) / sequence lengths (the others)
    steps: int = 300                                     # training steps per model and length
    hidden_size: int = 64
    n_layer: int = 1                                     # layers (blocks) of every model
    batch_size: int = 32
    lr: float = 3e-3
    n_train: int = 2000                                  # training examples per length
    n_test: int = 256                                    # test examples per length
    seed: int = 0
    device: str = "auto"                                 # training device (seqlab.train)
    progress: bool | None = False                        # each run's progress display (None: bar on a terminal, lines in a log)

    def __post_init__(self):
        self.models, self.lengths = tuple(self.models), tuple(int(T) for T in self.lengths)
        if self.task not in PROBE_TASKS:
            raise ConfigError(f"unknown probe task {self.task!r}; choose from {', '.join(PROBE_TASKS)}")
        unknown = [m for m in self.models if m not in PROBE_MODELS]
        if unknown:
            raise ConfigError(f"unknown probe model {unknown[0]!r}; choose from {', '.join(PROBE_MODELS)}")
        if not self.models or not self.lengths:
            raise ConfigError("probe needs at least one model and one length")
        if min(self.lengths) < MIN_LENGTH[self.task]:
            raise ConfigError(f"the {self.task} probe needs lengths >= {MIN_LENGTH[self.task]}")
        for name in ("steps", "hidden_size", "n_layer", "batch_size", "n_train", "n_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"probe {name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"probe lr must be > 0, got {self.lr}")
        if self.hidden_size % 4 and "transformer" in self.models:
            raise ConfigError(f"hidden size {self.hidden_size} must be divisible by 4 (transformer heads)")
        if self.hidden_size % 8 and "retnet" in self.models:
            raise ConfigError(f"hidden size {self.hidden_size} must be divisible by 8 (retnet: 4 heads of even size)")

    @property
    def recall(self) -> bool:
        return self.task in RECALL_TASKS

    @property
    def metric(self) -> str:
        if self.recall:
            return "test accuracy"
        return "test loss (nats/step)" if self.task == "copy" else "test MSE"


@dataclass
class ProbeResult:
    """Scores of every model at every length (lower is better, recall probes: higher), and gradient
    norms at the largest."""

    setup: ProbeSetup
    lengths: list[int]                                    # sorted, distinct
    baselines: list[float]                                # memoryless score at lengths[i]
    scores: dict[str, list[float]]                        # model -> test score at lengths[i] (NaN if it diverged)
    grad_norms: dict[str, np.ndarray] = field(repr=False)  # model -> g(d), d = 0..L-1, at the largest T
    seconds: dict[str, list[float]] = field(default_factory=dict)  # model -> training wall time at lengths[i]

    @property
    def metric(self) -> str:
        return self.setup.metric

    @property
    def higher_is_better(self) -> bool:
        return self.setup.recall


def make_probe(task: str, T: int, n: int, seed: int):
    """n examples of the probe at length T (seqlab.data.CopyMemory, AddingProblem or RecallProbe)."""
    from seqlab.data import adding_problem, copy_memory, induction_heads, mqar, selective_copying

    make = {"copy": copy_memory, "adding": adding_problem, "selective-copying": selective_copying,
            "induction-heads": induction_heads, "mqar": mqar}[task]
    return make(T, n, seed)


def train_probe(model: ProbeTagger, data, setup: ProbeSetup):
    """Train `model` on the probe examples `data` with seqlab.train.Trainer -> TrainResult."""
    from seqlab.train.config import TrainConfig
    from seqlab.train.engine import Trainer
    from seqlab.train.tasks import RowsTask

    # copy: the loss is a mean over every step of every row; recall: over the scored steps; adding: one per row
    if model.task in RECALL_TASKS:
        task = RowsTask({"x": data.x, "y": data.y, "mask": data.mask}, data.mask.sum(1).double())
    else:
        per_row = data.x.shape[1] if model.task == "copy" else 1
        task = RowsTask({"x": data.x, "y": data.y}, torch.full((data.x.shape[0],), float(per_row)))
    config = TrainConfig(steps=setup.steps, batch_size=setup.batch_size, lr=setup.lr, min_lr=setup.lr,
                         warmup_steps=setup.steps // 10, weight_decay=0.0, beta2=0.999, grad_clip=1.0,
                         eval_interval=setup.steps, log_interval=max(1, setup.steps // 10),
                         seed=setup.seed, device=setup.device)
    result = Trainer(model, task, config, model_name=model.kind, progress=setup.progress).fit()
    model.eval()
    return result


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_probe(model: ProbeTagger, data) -> float:
    """Test score over all of `data`: nats per step (copy), MSE (adding), or the accuracy of the
    argmax on the scored positions (recall probes)."""
    model.eval()
    dev = _device(model)
    if model.task in RECALL_TASKS:
        out, _ = model(data.x.to(dev))
        mask = data.mask.to(dev)
        return float((out.argmax(-1)[mask] == data.y.to(dev)[mask]).double().mean())
    _, loss = model(data.x.to(dev), data.y.to(dev))
    return float(loss)


def gradient_by_distance(model: ProbeTagger, data, batch: int = 32) -> torch.Tensor:
    """g(d) = mean over a batch of ||∂L_last / ∂e_t||, indexed by distance d = T-1-t -> (T,)."""
    model.eval()
    dev = _device(model)
    x, y = data.x[:batch].to(dev), data.y[:batch].to(dev)
    e = model.embed_inputs(x).detach().requires_grad_(True)  # (B, T, H)
    out = model.forward_embedded(e)
    if model.task in RECALL_TASKS:  # each row's last scored output
        mask = data.mask[:batch].to(dev)
        last = (mask * torch.arange(1, mask.shape[1] + 1, device=dev)).argmax(1)  # (B,)
        rows = torch.arange(x.shape[0], device=dev)
        loss = nn.functional.cross_entropy(out[rows, last], y[rows, last])
    elif model.task == "copy":
        loss = nn.functional.cross_entropy(out[:, -1], y[:, -1])
    else:
        loss = nn.functional.mse_loss(out[:, -1], y)
    (grad,) = torch.autograd.grad(loss, e)
    norms = grad.norm(dim=-1).mean(0)  # (T,)
    return norms.flip(0).cpu()  # index d = T-1-t


def run_probe(setup: ProbeSetup, log: Callable[[str], None] | None = None) -> ProbeResult:
    """Train each model at each length T; score it on the test examples; gradients at the largest T."""
    lengths = sorted(set(setup.lengths))
    scores: dict[str, list[float]] = {m: [] for m in setup.models}
    seconds: dict[str, list[float]] = {m: [] for m in setup.models}
    grads: dict[str, np.ndarray] = {}
    baselines = []
    for T in lengths:
        train = make_probe(setup.task, T, setup.n_train, setup.seed)
        test = make_probe(setup.task, T, setup.n_test, setup.seed + 1)
        baselines.append(float(test.baseline))
        for name in setup.models:
            torch.manual_seed(setup.seed)
            model = ProbeTagger(name, setup.task, setup.hidden_size, max_len=train.x.shape[1] + 1,
                                n_layer=setup.n_layer, vocab_size=getattr(train, "vocab_size", 10))
            t0 = time.perf_counter()
            train_probe(model, train, setup)
            seconds[name].append(time.perf_counter() - t0)
            score = evaluate_probe(model, test)
            scores[name].append(score if math.isfinite(score) else float("nan"))
            if log:
                log(f"    {name:<11} T={T:<4d} test {score:.4f}   baseline {test.baseline:.4f}   "
                    f"({seconds[name][-1]:.0f} s)")
            if T == lengths[-1]:
                grads[name] = gradient_by_distance(model, test).numpy()
    return ProbeResult(setup, lengths, baselines, scores, grads, seconds)
