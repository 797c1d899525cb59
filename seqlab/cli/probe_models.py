"""Small sequence taggers for the long-memory probes of `seqlab probe`, and how they are measured.

Shapes: B batch, T sequence length (the probe's total length L), E input embedding size,
H hidden size, C classes (10 for copy), h heads.

Every probe model reads x_1..x_T left to right and emits one output per step from a causal
summary of x_<=t, so none of them can look ahead:

    e_t = Embed(x_t)  (copy: token embedding)  or  W_e x_t + b_e  (adding: 2 channels)
    s_t = RNN/LSTM/GRU(e_1..e_t)   or   causal Transformer encoder over e_1..e_t (+ positions)
    copy:   P(y_t | x_<=t) = softmax(W_o s_t + b_o)      loss: mean cross-entropy over all t (nats)
    adding: ŷ = w_o · s_T + b_o                           loss: MSE of the last step

The memoryless baselines (seqlab.data.probes) are 10 ln 8 / (T + 20) nats per step (copy) and
1/6 (adding, always predict 1): a score below the baseline means the model carried information
across the delay.

Gradient vs distance: for a batch, the loss of the *last* output is differentiated with respect
to every input embedding e_t, and ||∂L/∂e_t||_2 (mean over the batch) is reported against the
distance d = T - t. A plain RNN's Jacobian product Π ∂s_{k+1}/∂s_k shrinks geometrically with d
(Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with gradient descent is
difficult"); gates (LSTM/GRU) and attention give paths that do not.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.errors import ConfigError

MODELS = ("rnn", "lstm", "gru", "transformer")


class ProbeTagger(nn.Module):
    """Causal per-step tagger (copy) or last-step regressor (adding) on a seqlab.nn core."""

    def __init__(self, kind: str, task: str, hidden_size: int = 64, max_len: int = 512,
                 n_head: int = 4, n_layer: int = 1):
        super().__init__()
        if kind not in MODELS:
            raise ConfigError(f"unknown probe model {kind!r}; choose from {', '.join(MODELS)}")
        self.kind, self.task = kind, task
        H = hidden_size
        self.embed = nn.Embedding(10, H) if task == "copy" else nn.Linear(2, H)
        if kind == "transformer":
            if H % n_head:
                raise ConfigError(f"hidden size {H} is not divisible by {n_head} heads")
            self.positions = snn.SinusoidalPositionalEncoding(H, max_len=max_len, batch_first=True)
            layer = snn.TransformerEncoderLayer(H, n_head, dim_feedforward=2 * H, dropout=0.0,
                                                batch_first=True, norm_first=True)
            self.core = snn.TransformerEncoder(layer, n_layer, norm=nn.LayerNorm(H))
        else:
            cls = {"rnn": snn.RNN, "lstm": snn.LSTM, "gru": snn.GRU}[kind]
            self.core = cls(H, H, num_layers=n_layer, batch_first=True)
        self.head = nn.Linear(H, 10 if task == "copy" else 1)

    def embed_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) long or (B, T, 2) float -> e (B, T, H)."""
        return self.embed(x)

    def forward_embedded(self, e: torch.Tensor) -> torch.Tensor:
        """e (B, T, H) -> outputs (B, T, C) logits (copy) or (B, T) predictions (adding)."""
        if self.kind == "transformer":
            T = e.shape[1]
            s = self.core(self.positions(e), mask=snn.causal_mask(T, device=e.device), is_causal=True)
        else:
            s, _ = self.core(e)  # (B, T, H)
        out = self.head(s)  # (B, T, C) or (B, T, 1)
        return out if self.task == "copy" else out[..., 0]

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "copy":
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return nn.functional.mse_loss(out[:, -1], y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        out = self.forward_embedded(self.embed_inputs(x))
        return out, (None if y is None else self.loss(out, y))


def make_probe(task: str, T: int, n: int, seed: int):
    from seqlab.data import adding_problem, copy_memory

    return copy_memory(T, n, seed) if task == "copy" else adding_problem(T, n, seed)


def train_probe(model: ProbeTagger, data, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """Adam on random batches of the probe's training examples; returns the loss of each step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        rows = torch.randint(0, data.x.shape[0], (batch_size,), generator=g)
        _, loss = model(data.x[rows], data.y[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def evaluate_probe(model: ProbeTagger, data) -> float:
    """Test loss: nats per step (copy) or MSE (adding)."""
    model.eval()
    _, loss = model(data.x, data.y)
    return float(loss)


def gradient_by_distance(model: ProbeTagger, data, batch: int = 32) -> torch.Tensor:
    """||∂L_last / ∂e_t|| averaged over a batch, indexed by distance d = T-1-t -> (T,)."""
    model.eval()
    x, y = data.x[:batch], data.y[:batch]
    e = model.embed_inputs(x).detach().requires_grad_(True)  # (B, T, H)
    out = model.forward_embedded(e)
    if model.task == "copy":
        loss = nn.functional.cross_entropy(out[:, -1], y[:, -1])
    else:
        loss = nn.functional.mse_loss(out[:, -1], y)
    (grad,) = torch.autograd.grad(loss, e)
    norms = grad.norm(dim=-1).mean(0)  # (T,)
    return norms.flip(0)  # index d = T-1-t


def run_probe(task: str, models: list[str], lengths: list[int], *, steps: int, hidden_size: int,
              n_train: int, n_test: int, batch_size: int, lr: float, seed: int, log=None) -> dict:
    """Train each model at each T; scores[model][i] at lengths[i]; grads at the largest T."""
    scores = {m: [] for m in models}
    grads = {}
    baselines = []
    for T in lengths:
        train = make_probe(task, T, n_train, seed)
        test = make_probe(task, T, n_test, seed + 1)
        baselines.append(float(test.baseline))
        for name in models:
            torch.manual_seed(seed)
            model = ProbeTagger(name, task, hidden_size, max_len=train.x.shape[1] + 1)
            train_probe(model, train, steps, batch_size, lr, seed)
            score = evaluate_probe(model, test)
            if not math.isfinite(score):
                score = float("nan")
            scores[name].append(score)
            if log:
                log(f"    {name:<11} T={T:<4d} test {score:.4f}   baseline {test.baseline:.4f}")
            if T == lengths[-1]:
                grads[name] = gradient_by_distance(model, test).numpy()
    return {"scores": scores, "baselines": baselines, "grad_norms": grads}
