"""How `seqlab compare` sizes, trains, scores and samples each model family.

Shapes: B batch (windows), T window length (block_size), V vocabulary.

Fairness rules, so that the leaderboard measures the families and not the set-up:
- one corpus, one tokenizer fitted on the whole text (so every family has the same V), one
  contiguous split (seqlab.data.split, 90/5/5);
- the same wall-clock budget per family: neural families train with the Trainer's time budget
  (`TrainConfig.time_budget`); Markov spends it fitting orders k = 1, 2, ... and keeps the order with
  the lowest validation loss (it stops early when the next order would not fit in the budget);
- the same scoring: the first `val_tokens` tokens of the validation part cut into non-overlapping
  windows of T tokens; each window is scored by the chain rule from the start state, so each family
  sees exactly the same contexts (a Transformer cannot see past its block anyway):

      bits/token = -Σ_windows log P(window) / (N ln 2),   N = number of scored tokens.

Sizes ("small") were picked to learn something in ~35 s on 2 CPU cores with a character vocabulary
(~100 symbols); "tiny" sizes are for smoke tests.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch

from seqlab.errors import ConfigError, DataError

# Model sizes per family; field names are those of each family's config dataclass.
# The Transformer uses sinusoidal positions (see the note above FAMILY_TRAINING and docs/cli.md).
SIZES = {
    "small": {
        "neural-ar": {"tau": 8, "embed_dim": 32, "hidden_size": 384, "num_layers": 2},
        "rnn": {"embed_dim": 64, "hidden_size": 256, "num_layers": 1},
        "lstm": {"embed_dim": 64, "hidden_size": 256, "num_layers": 1},
        "gru": {"embed_dim": 64, "hidden_size": 256, "num_layers": 1},
        "transformer": {"d_model": 64, "n_layer": 2, "n_head": 4, "block_size": 128,
                        "positions": "sinusoidal"},
    },
    "tiny": {
        "neural-ar": {"tau": 3, "embed_dim": 8, "hidden_size": 16, "num_layers": 1},
        "rnn": {"embed_dim": 8, "hidden_size": 16, "num_layers": 1},
        "lstm": {"embed_dim": 8, "hidden_size": 16, "num_layers": 1},
        "gru": {"embed_dim": 8, "hidden_size": 16, "num_layers": 1},
        "transformer": {"d_model": 16, "n_layer": 1, "n_head": 2, "block_size": 32, "positions": "sinusoidal"},
    },
}
# (block_size, batch_size, learning rate) for the neural families. In a budget of seconds, more
# cheaper steps beat fewer bigger ones: with 20 s each (1 thread), batch 16 vs 32 gave validation
# bits per token RNN 2.086 vs 2.174, neural AR 2.163 vs 2.360, GRU 2.184 vs 2.421, LSTM 2.329 vs 2.690.
TRAINING = {"small": (128, 16, 3e-3), "tiny": (32, 8, 3e-3)}
# Positions: sinusoidal (the lecture's encoding; TransformerLM scales token embeddings by sqrt(d)
# under it). 35 s each, 1 thread, idle machine: sinusoidal 2.141 vs learned 2.375 bits per token.
# per-family exceptions: the Transformer learned fastest with a higher peak rate. 20 s each,
# (lr, n_layer, d_model): (2e-3, 2, 128) 3.324, (4e-3, 2, 64) 3.106, (6e-3, 2, 64) 2.897,
# (1e-2, 2, 64) 3.102 bits per token
FAMILY_TRAINING = {"small": {"transformer": {"lr": 6e-3}}, "tiny": {}}


@dataclasses.dataclass
class CompareData:
    text_length: int         # characters of the corpus
    tokenizer: object
    split: object            # seqlab.data Split record (fractions, boundaries)
    train_ids: torch.Tensor  # (N_train,) long
    val_ids: torch.Tensor    # (N_val,) long, the full validation part
    eval_windows: torch.Tensor  # (W, T) long, the fixed scoring slice
    block_size: int
    spec: str
    tokenizer_kind: str
    prompt: str = ""         # every family's sample continues this text

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.vocab_size)


@dataclasses.dataclass
class FamilyResult:
    name: str
    detail: str              # e.g. the Markov order chosen
    bits_per_token: float
    loss_nats: float
    perplexity: float
    parameters: int
    train_seconds: float
    tokens_per_second: float
    steps: int
    sample: str
    curve: tuple             # (seconds list, val bits/token list) for the loss-over-time plot


def prepare_data(spec: str, tokenizer_kind: str, val_tokens: int, size: str,
                 block_size: int | None, prompt: str | None = None) -> CompareData:
    """Load, split 90/5/5 and encode exactly as `seqlab train` does; cut the validation windows.

    seqlab.train.run.prepare_data splits the raw text, fits the tokenizer on the training part
    only (unseen characters of val/test map to unk) and records the split, so each family's run
    folder evaluates with `seqlab eval` on the same parts.
    """
    from seqlab.data import data_kind
    from seqlab.train.run import prepare_data as prepare_run_data

    if data_kind(spec) != "text":
        raise DataError(f"compare needs a text data spec, got {spec!r} ({data_kind(spec)})")
    prepared = prepare_run_data(spec, tokenizer_kind)
    T = block_size or TRAINING[size][0]
    train_ids, val_ids = prepared.parts["train"], prepared.parts["val"]
    if len(train_ids) < 4 * T:
        raise DataError(f"data {spec!r} is too short: {len(train_ids)} training tokens for windows of {T}")
    n = min(val_tokens, len(val_ids)) // T * T
    if n == 0:
        raise DataError(f"data {spec!r}: validation part ({len(val_ids)} tokens) is shorter than "
                        f"one window of {T}; use a longer corpus or --block-size")
    windows = val_ids[:n].view(-1, T)  # (W, T)
    if prompt is None:  # the corpus's first word: "The " for pydoc, "First " for Shakespeare
        words = prepared.tokenizer.decode(train_ids[:256].tolist()).split()
        prompt = words[0] + " " if words else ""
    prepared.tokenizer.encode(prompt, errors="strict")  # unknown characters -> VocabularyError now
    return CompareData(prepared.split.length, prepared.tokenizer, prepared.split, train_ids, val_ids,
                       windows, T, spec, tokenizer_kind, prompt)


@torch.no_grad()
def score(model, windows: torch.Tensor, batch: int = 64) -> float:
    """Mean NLL in nats per token of `windows` (W, T), each scored from the start state."""
    model.eval()
    total, count = 0.0, 0
    for rows in windows.split(batch):
        total -= float(model.log_prob(rows).sum())
        count += rows.numel()
    return total / max(count, 1)


def count_parameters(model) -> int:
    """Trainable parameters; a count-based model reports its stored statistics instead."""
    n = sum(p.numel() for p in model.parameters())
    return n if n else sum(b.numel() for b in model.buffers())


def sample_text(model, tokenizer, prompt: str, n: int, seed: int) -> str:
    """`prompt` and n tokens sampled after it at temperature 0.8 (the same seed for every family)."""
    if n <= 0:
        return ""
    ids = torch.tensor(tokenizer.encode(prompt), dtype=torch.long)  # (T0,)
    out = model.generate(ids, n, temperature=0.8, seed=seed)  # (T0 + n,)
    return prompt + tokenizer.decode(out[len(ids):].tolist())


def _result(name, model, data, detail, seconds, tokens_per_s, steps, curve, sample_tokens, seed):
    loss = score(model, data.eval_windows)
    return FamilyResult(
        name=name, detail=detail, bits_per_token=loss / math.log(2), loss_nats=loss,
        perplexity=math.exp(loss), parameters=count_parameters(model), train_seconds=seconds,
        tokens_per_second=tokens_per_s, steps=steps,
        sample=sample_text(model, data.tokenizer, data.prompt, sample_tokens, seed), curve=curve)


def train_markov(data: CompareData, budget: float, max_order: int, seed: int, sample_tokens: int,
                 run_dir: Path, progress: bool) -> FamilyResult:
    """Kneser-Ney n-grams of order k = 1..max_order; keep the best on validation, within budget."""
    from seqlab.models.registry import build_model

    t0 = time.perf_counter()
    best, best_loss, best_k, curve = None, math.inf, 0, ([], [])
    last_cost = 0.0
    for k in range(1, max_order + 1):
        spent = time.perf_counter() - t0
        if k > 1 and spent + 2 * last_cost > budget:  # stop if order k could cost ~2x order k-1
            break
        t_k = time.perf_counter()
        try:
            model = build_model("markov", order=k, vocab_size=data.vocab_size, smoothing="kneser-ney")
        except ConfigError:  # e.g. V^(k+1) n-gram keys no longer fit in 64 bits: stop at k - 1
            if k == 1:
                raise
            break
        model.fit(data.train_ids)
        loss = score(model, data.eval_windows)
        last_cost = time.perf_counter() - t_k
        curve[0].append(time.perf_counter() - t0)
        curve[1].append(loss / math.log(2))
        if progress:
            print(f"    markov k={k}: {loss / math.log(2):.3f} bits/token", flush=True)
        if loss < best_loss:
            best, best_loss, best_k = model, loss, k
    seconds = time.perf_counter() - t0
    tokens = len(data.train_ids) * len(curve[0])
    _save(best, "markov", data, run_dir)
    return _result("markov", best, data, f"{best_k}", seconds, tokens / max(seconds, 1e-9),
                   len(curve[0]), curve, sample_tokens, seed)


def warm_up(model, vocab_size: int, batch_size: int, block_size: int) -> None:
    """One untimed forward/backward at the training shape, and one AdamW step on a scratch tensor.

    First calls pay one-time costs (lazy imports in torch.optim, oneDNN primitive creation,
    seqlab.nn's per-shape path choice) that can take seconds; paying them outside the timer keeps
    the equal budget equal. Weights are not changed (gradients are dropped, no optimizer step).
    """
    x = torch.randint(0, vocab_size, (batch_size, block_size))  # (B, T)
    model.train()
    _, loss = model(x, x)
    loss.backward()
    model.zero_grad(set_to_none=True)
    scratch = torch.zeros(2, 2, requires_grad=True)
    opt = torch.optim.AdamW([scratch], lr=1e-3)
    scratch.sum().backward()
    opt.step()


def train_neural(name: str, data: CompareData, budget: float, size: str, seed: int,
                 sample_tokens: int, run_dir: Path, progress: bool,
                 batch_size: int | None = None) -> FamilyResult:
    """Build the family at its compare size and train it with the Trainer for `budget` seconds."""
    from seqlab.models.registry import build_model

    fields = dict(SIZES[size][name])
    _, batch, lr = TRAINING[size]
    special = FAMILY_TRAINING[size].get(name, {})
    batch, lr = batch_size or special.get("batch_size", batch), special.get("lr", lr)
    block = data.block_size
    if "block_size" in fields:
        fields["block_size"] = block
    torch.manual_seed(seed)
    model = build_model(name, vocab_size=data.vocab_size, **fields)
    warm_up(model, data.vocab_size, batch, block)
    torch.manual_seed(seed)
    fit = fit_with_trainer(model, data, budget=budget, block_size=block, batch_size=batch, lr=lr,
                           seed=seed, run_dir=run_dir, progress=progress, model_name=name,
                           model_fields=fields)
    return _result(name, fit["model"], data, "", fit["seconds"], fit["tokens_per_second"],
                   fit["steps"], fit["curve"], sample_tokens, seed)


def train_family(name: str, data: CompareData, *, budget: float, size: str, seed: int,
                 max_order: int, sample_tokens: int, run_dir: Path, progress: bool,
                 batch_size: int | None = None) -> FamilyResult:
    if name == "markov":
        return train_markov(data, budget, max_order, seed, sample_tokens, run_dir, progress)
    if name not in SIZES[size]:
        raise ConfigError(f"compare does not know how to size model {name!r}")
    return train_neural(name, data, budget, size, seed, sample_tokens, run_dir, progress, batch_size)


# --------------------------------------------------------------------------- Trainer adapter

def run_config_for(name: str, data: CompareData, model, train_config):
    """The RunConfig recorded in each family's run folder (so seqlab eval/generate can reload it)."""
    from seqlab.train import RunConfig
    from seqlab.train.checkpoint import model_config_dict

    return RunConfig(model=name, data=data.spec, model_config=model_config_dict(model),
                     tokenizer=data.tokenizer_kind, split=tuple(data.split.fractions), train=train_config)


def curve_slice(windows: torch.Tensor, tokens: int = 4096) -> torch.Tensor:
    """Every k-th scoring window, concatenated (~`tokens` long): the Trainer's validation stream.

    The Trainer cuts it back into the same windows, so the loss curve during training estimates
    the final leaderboard score (same windows, spread over the whole slice) at a fraction of the cost.
    """
    W, T = windows.shape
    stride = max(1, math.ceil(W * T / tokens))
    return windows[::stride].reshape(-1)  # (≈tokens,)


def fit_with_trainer(model, data: CompareData, *, budget, block_size, batch_size, lr, seed, run_dir,
                     progress, model_name, model_fields) -> dict:
    """Train `model` on data.train_ids for `budget` seconds with seqlab.train; write its run folder.

    The step count is set out of reach so the time budget is what stops training; the learning
    rate schedule (warmup, then cosine decay) follows the fraction of the budget spent.
    """
    from seqlab.train import LMTask, Trainer, TrainConfig

    curve_val = curve_slice(data.eval_windows)
    config = TrainConfig(steps=10 ** 7, batch_size=batch_size, block_size=block_size, lr=lr,
                         warmup_steps=min(30, max(1, int(budget))), time_budget=budget,
                         eval_interval=50, eval_tokens=int(curve_val.numel()), log_interval=10, seed=seed)
    task = LMTask(data.train_ids, curve_val, block_size=block_size, eval_tokens=config.eval_tokens)
    trainer = Trainer(model, task, config, run_dir=run_dir, model_name=model_name,
                      run_config=run_config_for(model_name, data, model, config),
                      tokenizer=data.tokenizer, split=data.split, data_kind="text", progress=progress)
    result = trainer.fit()
    curve = ([row["elapsed_s"] for row in result.history if row.get("val_loss") is not None],
             [row["val_loss"] / math.log(2) for row in result.history if row.get("val_loss") is not None])
    return {"model": trainer.model, "seconds": result.seconds, "steps": result.steps,
            "tokens_per_second": result.tokens_per_second, "curve": curve}


def _save(model, name: str, data: CompareData, run_dir: Path) -> None:
    """Write a run folder for a model fitted outside the Trainer (Markov)."""
    from seqlab.train import TrainConfig, save_run

    save_run(run_dir, model, run_config_for(name, data, model, TrainConfig(seed=0)),
             tokenizer=data.tokenizer, split=data.split, data_kind="text")
