"""Compare every model family on one text corpus: selected on validation, ranked on test, at equal
training compute, over several seeds. `CompareSetup -> run_compare -> CompareResult`.

Shapes: B batch (windows per step), T window length (block_size), V vocabulary, N tokens.

The protocol, one decision per line:
- data: seqlab.data.prepare.prepare_data -- one contiguous 90/5/5 split of the corpus; one
  tokenizer fitted on the training part (every family shares V);
- compute: every neural family gets the same training FLOPs (`budget`); its step count is
  fixed before training as  steps = floor(budget / (c · B · T)),  c = the family's training FLOPs
  per token (seqlab.experiments.flops). No clock decides anything, so the same seeds give the same
  numbers on any machine at any load (at the same thread count). `budget_seconds` instead trains
  for wall-clock seconds (the Trainer's time budget), which is not reproducible;
- seeds: each neural family is trained once per seed (seed s sets the initialisation and the
  batch order); Markov counts are deterministic, so it is fitted once;
- selection (validation part only): Markov's order k = 1..max_order with the lowest validation
  loss; each neural run's best checkpoint on validation (evaluated 10 times per run);
- ranking (test part only): the chain rule over the whole test part, cut into windows of T, each
  scored from the start state (seqlab.train.scoring.evaluate, the scorer of `seqlab eval`):

      bits/token = -Σ_windows log2 P(window) / N_test

  reported as mean ± std over seeds; families whose difference is not significant (Welch's t-test
  at 5%, seqlab.experiments.stats) share a rank.
- frontier: each run's validation curve against training FLOPs; Markov's cost is its counting
  time times this machine's measured matmul rate (FLOP-equivalents, labelled as such).

Every run writes a run folder under `setup.run_root` (`<family>/seed-<s>`, or `markov`; with
several budgets `budget-<b>/<family>/seed-<s>`), so `seqlab eval DIR --split test` reproduces its
test number exactly. Neural runs may go to `jobs` worker processes of `threads` torch threads each;
the result does not depend on which worker trains which run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from seqlab.errors import ConfigError, DataError
from seqlab.experiments.flops import steps_or_refuse
from seqlab.experiments.recipes import SIZES, Recipe
from seqlab.experiments.stats import Spread, shared_ranks, spread

__all__ = ["CompareSetup", "CompareResult", "BudgetResult", "FamilyResult", "SeedRun", "Curve",
           "DEFAULT_MODELS", "run_compare"]

DEFAULT_MODELS = ("markov", "neural-ar", "rnn", "lstm", "gru", "transformer")


EVALS_PER_RUN = 10     # validation evaluations (checkpoint selection, frontier points) per neural run


DEFAULT_BUDGETS = {"text": 1e12, "series": 1e10}  # training FLOPs per run, by data kind


@dataclass
class CompareSetup:
    """Everything that defines a comparison (the CLI's options, typed). `models` and `budgets` left
    at None take the defaults of the data's kind (`resolved(kind)`)."""

    data: str = "pydoc"                          # text or series data spec
    models: tuple[str, ...] | None = None        # families, in this order in ties (None: all of the kind)
    tokenizer: str = "char"                      # char | word | bpe
    size: str = "small"                          # key of SIZES
    budgets: tuple[float, ...] | None = None     # training FLOPs per family and seed (several: a scaling study)
    budget_seconds: float | None = None          # wall-clock seconds per run instead of FLOPs
    seeds: int = 3                               # neural runs per family
    seed: int = 0                                # first seed; runs use seed, seed + 1, ...
    block_size: int | None = None                # window T (default: the size preset's)
    batch_size: int | None = None                # windows per step for every neural family
    val_tokens: int = 32768                      # validation tokens used for selection
    max_order: int = 8                           # Markov orders 1..max_order tried on validation
    sample_tokens: int = 80                      # length of each family's sample
    prompt: str | None = None                    # default: the corpus's first word
    jobs: int = 1                                # worker processes for the neural runs
    threads: int = 1                             # torch threads per run
    run_root: Path | None = None                 # where run folders go (None: not written)
    horizon: int | None = None                   # series: forecast steps per origin (None: from the length)
    origins: int = 5                             # series: rolling forecast origins
    season: int | None = None                    # series: season of seasonal-naive (None: ;season= or detected)
    steps: int | None = None                     # pairs: training steps per run (None: per size)
    beams: int = 4                               # pairs: beam width of the beam-search scores (1: greedy only)
    max_test: int = 500                          # pairs: test pairs decoded

    def __post_init__(self):
        if self.models is not None:
            self.models = tuple(self.models)
            if not self.models:
                raise ConfigError("compare needs at least one model family")
            if len(set(self.models)) != len(self.models):
                raise ConfigError("each model family may be named once")
        if self.budgets is not None:
            self.budgets = tuple(float(b) for b in self.budgets)
        if self.size not in SIZES:
            raise ConfigError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.budget_seconds is None and self.budgets:  # () for pairs, which train for steps
            if not all(math.isfinite(b) and b > 0 for b in self.budgets):
                raise ConfigError(f"budgets must be positive FLOP counts, got {self.budgets}")
            if len(set(self.budgets)) != len(self.budgets):
                raise ConfigError("each budget may be given once")
            self.budgets = tuple(sorted(self.budgets))
        elif self.budget_seconds is not None and not (self.budget_seconds > 0 and math.isfinite(self.budget_seconds)):
            raise ConfigError(f"budget_seconds must be > 0, got {self.budget_seconds}")
        for name in ("seeds", "val_tokens", "max_order", "jobs", "threads", "origins", "beams", "max_test"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.sample_tokens < 0:
            raise ConfigError(f"sample-tokens must be >= 0, got {self.sample_tokens}")
        for name in ("block_size", "batch_size", "horizon", "season", "steps"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")

    def resolved(self, kind: str) -> "CompareSetup":
        """A copy with the kind's default models and budget filled in and every name checked."""
        from seqlab.experiments.compare_pairs import PAIRS_MODELS
        from seqlab.experiments.compare_series import SERIES_DEFAULT, SERIES_MODELS

        defaults = {"text": DEFAULT_MODELS, "series": SERIES_DEFAULT, "pairs": PAIRS_MODELS}
        families = {"text": ("markov", *SIZES[self.size].recipes), "series": SERIES_MODELS, "pairs": PAIRS_MODELS}
        if kind not in families:
            raise DataError(f"compare takes a text, series or pairs data spec, got {self.data!r} ({kind})")
        models = self.models if self.models is not None else defaults[kind]
        unknown = [m for m in models if m not in families[kind]]
        if unknown:
            raise ConfigError(f"unknown model {unknown[0]!r} for {kind} data; choose from {', '.join(families[kind])}")
        if kind == "pairs":
            if self.budgets is not None or self.budget_seconds is not None:
                raise ConfigError("encoder-decoders on pairs train for a number of --steps, not a --budget "
                                  "(their FLOPs are not counted)")
            return dataclasses.replace(self, models=tuple(models), budgets=())
        if self.steps is not None:
            raise ConfigError("--steps is for pairs data; text and series runs use a FLOP --budget")
        budgets = self.budgets if self.budgets is not None else (DEFAULT_BUDGETS[kind],)
        if kind == "series" and len(budgets) > 1:
            raise ConfigError("--budgets (a scaling study) is for text data; give one --budget for a series")
        if kind == "series" and self.budget_seconds is not None:
            raise ConfigError("--budget-seconds is for text data; series runs use a FLOP --budget")
        return dataclasses.replace(self, models=tuple(models), budgets=tuple(budgets))

    @property
    def T(self) -> int:
        return self.block_size or SIZES[self.size].block_size

    @property
    def flop_budget(self) -> bool:
        return self.budget_seconds is None

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


@dataclass
class Curve:
    """Validation bits per token against training compute (FLOPs) and tokens seen."""

    flops: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    val_bits: list[float] = field(default_factory=list)


@dataclass
class SeedRun:
    """One training of one family with one seed at one budget."""

    family: str
    seed: int
    budget: float                  # FLOPs (or seconds with budget_seconds)
    val_bits: float                # selected checkpoint, validation slice
    test_bits: float               # selected checkpoint, whole test part
    test_loss_nats: float
    steps: int
    tokens: int                    # training tokens read
    flops: float                   # training FLOPs spent (Markov: FLOP-equivalents of its counting time)
    train_seconds: float
    parameters: int                # trainable parameters (Markov: stored n-gram types)
    detail: str = ""               # Markov: the order chosen
    best_step: int = -1
    curve: Curve = field(default_factory=Curve)
    run_dir: str = ""              # relative to setup.run_root

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds > 0 else 0.0


@dataclass
class FamilyResult:
    """A family at one budget: its runs over seeds, their spread and its shared rank."""

    name: str
    runs: list[SeedRun]
    test: Spread
    val: Spread
    rank: int = 0
    sample: str = ""

    @property
    def detail(self) -> str:
        return self.runs[0].detail

    @property
    def label(self) -> str:
        return f"{self.name} (k={self.detail})" if self.detail else self.name

    @property
    def parameters(self) -> int:
        return self.runs[0].parameters

    @property
    def flops(self) -> float:
        return sum(r.flops for r in self.runs) / len(self.runs)

    @property
    def tokens(self) -> int:
        return round(sum(r.tokens for r in self.runs) / len(self.runs))

    @property
    def steps(self) -> int:
        return round(sum(r.steps for r in self.runs) / len(self.runs))

    @property
    def train_seconds(self) -> float:
        return sum(r.train_seconds for r in self.runs) / len(self.runs)


@dataclass
class BudgetResult:
    """The leaderboard at one budget: families sorted by rank, then mean test bits."""

    budget: float
    families: list[FamilyResult]

    def family(self, name: str) -> FamilyResult | None:
        return next((f for f in self.families if f.name == name), None)


@dataclass
class CompareResult:
    setup: CompareSetup
    vocab_size: int
    text_length: int                 # characters of the corpus
    train_tokens: int
    val_tokens: int                  # validation tokens used for selection
    test_tokens: int                 # test tokens scored
    prompt: str
    budgets: list[BudgetResult]      # ascending budget; the last is the leaderboard
    matmul_flops_per_second: float   # measured here; converts Markov's counting time
    flops_per_token: dict            # family -> training FLOPs per token (neural families)
    seconds: float                   # wall clock of the whole comparison

    @property
    def leaderboard(self) -> BudgetResult:
        return self.budgets[-1]

    @property
    def uniform_bits(self) -> float:
        return math.log2(self.vocab_size)

    def overtakes_counting(self) -> dict:
        """family -> the smallest budget at which its mean test bits beat Markov's (None: never)."""
        out = {}
        for name in self.setup.models:
            if name == "markov":
                continue
            out[name] = None
            for b in self.budgets:
                fam, markov = b.family(name), b.family("markov")
                if fam is not None and markov is not None and fam.test.mean < markov.test.mean:
                    out[name] = b.budget
                    break
        return out

    def leaders(self) -> list:
        """(budget, best neural family by mean test bits) per budget."""
        out = []
        for b in self.budgets:
            neural = [f for f in b.families if f.name != "markov"]
            out.append((b.budget, min(neural, key=lambda f: f.test.mean).name if neural else None))
        return out


# ----------------------------------------------------------------------------- data

@dataclass
class _Data:
    """What every run needs, small enough to send to worker processes once."""

    spec: str
    tokenizer_kind: str
    tokenizer: object
    split: object
    train: torch.Tensor        # (N_train,) long
    val: torch.Tensor          # (N_val_used,) long: the selection slice
    test: torch.Tensor         # (N_test,) long: the whole test part
    block_size: int
    text_length: int


def _prepare(setup: CompareSetup) -> tuple[_Data, str]:
    from seqlab.data import data_kind
    from seqlab.data.prepare import prepare_data

    if data_kind(setup.data) != "text":
        raise DataError(f"compare needs a text data spec, got {setup.data!r} ({data_kind(setup.data)})")
    prepared = prepare_data(setup.data, setup.tokenizer)
    T = setup.T
    train, val, test = (prepared.parts[p] for p in ("train", "val", "test"))
    if len(train) < 4 * T:
        raise DataError(f"data {setup.data!r} is too short: {len(train)} training tokens for windows "
                        f"of {T} (use --block-size or a longer corpus)")
    for name, part in (("validation", val), ("test", test)):
        if len(part) < T:
            raise DataError(f"data {setup.data!r}: the {name} part ({len(part)} tokens) is shorter than "
                            f"one window of {T}; use a longer corpus or --block-size")
    prompt = setup.prompt
    if prompt is None:  # the corpus's first word: "The " for pydoc, "First " for Shakespeare
        words = prepared.tokenizer.decode(train[:256].tolist()).split()
        prompt = words[0] + " " if words else ""
        if setup.tokenizer == "word":  # a word vocabulary holds no spaces
            prompt = prompt.strip()
    prepared.tokenizer.encode(prompt, errors="strict")  # unknown characters -> VocabularyError now
    data = _Data(setup.data, setup.tokenizer, prepared.tokenizer, prepared.split, train,
                 val[: setup.val_tokens], test, T, prepared.split.length)
    return data, prompt


def _run_config(name: str, data: _Data, model, train_config):
    """The RunConfig recorded in a run folder, so seqlab eval/generate rebuild the same data."""
    from seqlab.train import RunConfig
    from seqlab.train.checkpoint import model_config_dict

    return RunConfig(model=name, data=data.spec, model_config=model_config_dict(model),
                     tokenizer=data.tokenizer_kind, split=tuple(data.split.fractions), train=train_config)


# ----------------------------------------------------------------------------- neural runs

@dataclass(frozen=True)
class _Job:
    family: str
    seed: int
    budget: float              # FLOPs, or seconds when by_seconds
    by_seconds: bool
    recipe: Recipe
    batch_size: int
    run_dir: str | None        # absolute path or None
    rel_dir: str


def _build(job: _Job, data: _Data):
    from seqlab.models.registry import build_model

    fields = dict(job.recipe.model)
    torch.manual_seed(job.seed)
    if job.family == "transformer":
        fields["block_size"] = data.block_size
    return build_model(job.family, vocab_size=int(data.tokenizer.vocab_size), **fields)


def _train_job(job: _Job, data: _Data) -> SeedRun:
    """Train one family with one seed (in this process or a worker) and score it."""
    from seqlab.experiments.flops import train_flops_per_token
    from seqlab.train import Trainer, TrainConfig
    from seqlab.train.checkpoint import load_run
    from seqlab.train.scoring import evaluate
    from seqlab.train.tasks import LMTask

    T, B = data.block_size, job.batch_size
    model = _build(job, data)
    c = train_flops_per_token(model, T)
    if job.by_seconds:  # the Trainer's time budget stops the run
        steps, loop = 10 ** 7, dict(time_budget=job.budget, eval_interval=50)
    else:
        steps = steps_or_refuse(job.family, c, job.budget, B, T)
        loop = dict(eval_interval=max(1, math.ceil(steps / EVALS_PER_RUN)))
    config = TrainConfig(steps=steps, batch_size=B, block_size=T, lr=job.recipe.lr,
                         warmup_steps=min(30, max(1, steps // 10)), eval_tokens=int(data.val.numel()),
                         log_interval=max(1, min(50, steps // 20)), seed=job.seed, device="cpu", **loop)
    task = LMTask(data.train, data.val, block_size=T, eval_tokens=config.eval_tokens)
    run_dir = Path(job.run_dir) if job.run_dir else None
    trainer = Trainer(model, task, config, run_dir=run_dir, model_name=job.family,
                      run_config=_run_config(job.family, data, model, config), tokenizer=data.tokenizer,
                      split=data.split, data_kind="text", progress=False, stage=run_dir is not None)
    result = trainer.fit()
    best = load_run(run_dir, which="best").model if run_dir is not None else trainer.model
    test = evaluate(best, data.test, block_size=T)
    curve = Curve()
    for row in result.history:
        if row.get("val_loss") is not None:
            curve.flops.append(row["tokens"] * c)
            curve.tokens.append(int(row["tokens"]))
            curve.val_bits.append(row["val_loss"] / math.log(2))
    return SeedRun(
        family=job.family, seed=job.seed, budget=job.budget, val_bits=result.best_val_loss / math.log(2),
        test_bits=test.bits_per_token, test_loss_nats=test.loss_nats, steps=result.steps,
        tokens=result.tokens, flops=result.tokens * c, train_seconds=result.seconds,
        parameters=sum(p.numel() for p in model.parameters()), best_step=result.best_step, curve=curve,
        run_dir=job.rel_dir)


def _run_jobs(jobs: list[_Job], data: _Data, setup: CompareSetup, log) -> list[SeedRun]:
    """Every job, in order; on `setup.jobs` worker processes when more than one."""
    from seqlab.experiments.workers import run_jobs

    done = []

    def report(run: SeedRun) -> None:
        done.append(run)
        log(f"[{len(done)}/{len(jobs)}] {run.family} seed {run.seed}: test {run.test_bits:.3f} "
            f"val {run.val_bits:.3f} bits/token, {run.steps} steps, {run.train_seconds:.1f} s")

    return run_jobs(_train_job, jobs, data, workers=setup.jobs, threads=setup.threads, on_done=report)


# ----------------------------------------------------------------------------- Markov

def _markov(setup: CompareSetup, data: _Data, rate: float, log) -> SeedRun:
    """Kneser-Ney n-grams of order k = 1..max_order; keep the lowest validation loss."""
    from seqlab.models.registry import build_model
    from seqlab.train import TrainConfig, save_run
    from seqlab.train.scoring import evaluate

    T, V = data.block_size, int(data.tokenizer.vocab_size)
    best, best_val, best_k, spent, curve = None, math.inf, 0, 0.0, Curve()
    for k in range(1, setup.max_order + 1):
        try:
            model = build_model("markov", order=k, vocab_size=V, smoothing="kneser-ney")
        except ConfigError:  # e.g. V^(k+1) n-gram keys no longer fit in 64 bits: stop at k - 1
            if k == 1:
                raise
            break
        t0 = time.perf_counter()
        model.fit(data.train)
        spent += time.perf_counter() - t0
        val = evaluate(model, data.val, block_size=T)
        curve.flops.append(spent * rate)
        curve.tokens.append(k * int(data.train.numel()))
        curve.val_bits.append(val.bits_per_token)
        log(f"    markov k={k}: validation {val.bits_per_token:.3f} bits/token")
        if val.loss_nats < best_val:
            best, best_val, best_k = model, val.loss_nats, k
    rel = "markov"
    if setup.run_root is not None:  # block_size recorded: seqlab eval scores the same windows
        save_run(Path(setup.run_root) / rel, best,
                 _run_config("markov", data, best, TrainConfig(seed=setup.seed, block_size=T)),
                 tokenizer=data.tokenizer, split=data.split, data_kind="text")
    test = evaluate(best, data.test, block_size=T)
    return SeedRun(family="markov", seed=setup.seed, budget=math.nan, val_bits=best_val / math.log(2),
                   test_bits=test.bits_per_token, test_loss_nats=test.loss_nats, steps=len(curve.flops),
                   tokens=int(data.train.numel()) * len(curve.flops), flops=spent * rate,
                   train_seconds=spent, parameters=sum(best.num_ngrams()), detail=str(best_k),
                   curve=curve, run_dir=rel)


# ----------------------------------------------------------------------------- samples

def _sample(model, tokenizer, prompt: str, n: int, seed: int) -> str:
    """`prompt` and n tokens sampled after it at temperature 0.8 (the same seed for every family)."""
    if n <= 0:
        return ""
    ids = torch.tensor(tokenizer.encode(prompt), dtype=torch.long)  # (T0,)
    out = model.generate(ids, n, temperature=0.8, seed=seed)  # (T0 + n,)
    return prompt + tokenizer.decode(out[len(ids):].tolist())


# ----------------------------------------------------------------------------- the experiment

def _rel_dir(setup: CompareSetup, family: str, seed: int, budget: float) -> str:
    head = f"budget-{budget:.3g}/" if setup.flop_budget and len(setup.budgets) > 1 else ""
    return f"{head}{family}/seed-{seed}"


def run_compare(setup: CompareSetup, log: Callable[[str], None] | None = None):
    """Compare the families of `setup` on its data: a CompareResult for text (see the module
    docstring), a SeriesCompareResult for a series (seqlab.experiments.compare_series), a
    PairsCompareResult for source-target pairs (seqlab.experiments.compare_pairs)."""
    from seqlab.data import data_kind

    kind = data_kind(setup.data)
    setup = setup.resolved(kind)
    if kind == "series":
        from seqlab.experiments.compare_series import run_series_compare

        return run_series_compare(setup, log)
    if kind == "pairs":
        from seqlab.experiments.compare_pairs import run_pairs_compare

        return run_pairs_compare(setup, log)
    return _compare_text(setup, log)


def _compare_text(setup: CompareSetup, log: Callable[[str], None] | None = None) -> CompareResult:
    """Train, select, score and rank every family of `setup` on text (see the module docstring)."""
    from seqlab.experiments.flops import measure_matmul_flops, train_flops_per_token
    from seqlab.train.checkpoint import load_run

    log = log or (lambda line: None)
    t_start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(setup.threads)
    try:
        data, prompt = _prepare(setup)
        V = int(data.tokenizer.vocab_size)
        budgets = setup.budgets if setup.flop_budget else (setup.budget_seconds,)
        neural = [m for m in setup.models if m != "markov"]
        recipes = SIZES[setup.size].recipes
        c = {}
        for name in neural:  # refuse budgets that buy too few steps before training anything
            job = _Job(name, setup.seed, 0.0, False, recipes[name], 1, None, "")
            c[name] = train_flops_per_token(_build(job, data), data.block_size)
            if setup.flop_budget:
                steps_or_refuse(name, c[name], budgets[0], setup.batch_size or recipes[name].batch_size,
                                data.block_size)
        log(f"compare {setup.data}: {data.text_length:,} characters, {setup.tokenizer} tokenizer V={V}, "
            f"train {data.train.numel():,} / validation {data.val.numel():,} / test {data.test.numel():,} "
            f"tokens; {len(setup.models)} families x {setup.seeds} seed(s) x {len(budgets)} budget(s)")
        rate = measure_matmul_flops()
        markov = _markov(setup, data, rate, log) if "markov" in setup.models else None
        root = Path(setup.run_root) if setup.run_root is not None else None
        jobs = [
            _Job(name, s, b, not setup.flop_budget, recipes[name], setup.batch_size or recipes[name].batch_size,
                 None if root is None else str(root / _rel_dir(setup, name, s, b)), _rel_dir(setup, name, s, b))
            for b in budgets for name in neural for s in setup.seed_list()
        ]
        runs = _run_jobs(jobs, data, setup, log)
        samples = {}
        if markov is not None and root is not None:
            samples["markov"] = _sample(load_run(root / markov.run_dir).model, data.tokenizer, prompt,
                                        setup.sample_tokens, setup.seed)
        results = []
        for b in budgets:
            families = []
            for name in setup.models:
                if name == "markov":
                    fam_runs = [markov]
                    test, val = spread([markov.test_bits], True), spread([markov.val_bits], True)
                else:
                    fam_runs = [r for r in runs if r.family == name and r.budget == b]
                    test = spread([r.test_bits for r in fam_runs])
                    val = spread([r.val_bits for r in fam_runs])
                families.append(FamilyResult(name, fam_runs, test, val))
            for fam, rank in zip(families, shared_ranks([f.test for f in families])):
                fam.rank = rank
            families.sort(key=lambda f: (f.rank, f.test.mean))
            results.append(BudgetResult(b, families))
        if root is not None:  # samples from the first seed's selected checkpoint at the largest budget
            for fam in results[-1].families:
                if fam.name != "markov":
                    model = load_run(root / fam.runs[0].run_dir, which="best").model
                    samples[fam.name] = _sample(model, data.tokenizer, prompt, setup.sample_tokens, setup.seed)
        for b in results:
            for fam in b.families:
                fam.sample = samples.get(fam.name, "")
        return CompareResult(
            setup=setup, vocab_size=V, text_length=data.text_length, train_tokens=int(data.train.numel()),
            val_tokens=int(data.val.numel()), test_tokens=int(data.test.numel()), prompt=prompt,
            budgets=results, matmul_flops_per_second=rate, flops_per_token=c,
            seconds=time.perf_counter() - t_start)
    finally:
        torch.set_num_threads(previous_threads)


def setup_dict(setup: CompareSetup) -> dict:
    """The setup as JSON-able values (setup.json, the report's reproduce line)."""
    d = dataclasses.asdict(setup)
    d["models"], d["budgets"] = list(setup.models), list(setup.budgets)
    d["run_root"] = None
    return d
