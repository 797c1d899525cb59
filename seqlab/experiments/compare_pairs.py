"""Compare encoder–decoders on source–target pairs, ranked on held-out pairs, with length
generalisation reported apart. `CompareSetup` (a pairs spec) -> `run_pairs_compare` ->
`PairsCompareResult`.

Shapes: N pairs, S source length, T target length, V vocabulary.

The protocol:
- data: seqlab.data.prepare.prepare_data splits the pairs 80/10/10 in order (synthetic sources are
  distinct) and fits one character vocabulary with <eos> on the *training* pairs only; a synthetic
  task's `n` and `seed` are written into the spec unless the spec names them (a `tsv:` file is never
  truncated by a default n);
- entrants: `seq2seq-rnn` (Bahdanau attention over the encoder's annotations),
  `seq2seq-transformer` (cross-attention to the encoder's keys and values) and `seq2seq-rnn-noattn`
  (the decoder sees only the encoder's final state: the lecture's reason for attention, measured);
  each trained `seeds` times (initialisation and batch order) for the same number of steps and batch
  size (`pair_steps`), AdamW with a warmup, gradient clipping; the best checkpoint on the validation
  pairs' NLL (10 evaluations) is kept -- selection never sees the test pairs;
- metrics on the test pairs (at most `max_test`), greedy and beam search: exact match (the whole
  decoded target equals the reference), token accuracy (position-wise), chrF (character n-gram
  F-score, β = 2), and the NLL per target token (the one scorer);
- length generalisation, reported apart: for copy/reverse/sort, fresh pairs whose sources are 1 to 5
  symbols longer than the longest training source (addition: one more digit), scored the same way;
- ranking: mean greedy exact match over seeds, ± std, shared ranks by Welch's t-test at 5% (on the
  error rate 1 - exact match, the rule of seqlab.experiments.stats).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from seqlab.errors import ConfigError, DataError
from seqlab.experiments.recipes import PAIRS_SIZES, PAIRS_TRAINING
from seqlab.experiments.stats import Spread, shared_ranks, spread

__all__ = ["PAIRS_MODELS", "PairScores", "PairRun", "PairsFamilyResult", "PairsCompareResult",
           "run_pairs_compare", "long_spec"]

PAIRS_MODELS = ("seq2seq-rnn", "seq2seq-transformer", "seq2seq-rnn-noattn")
FRACTIONS = (0.8, 0.1, 0.1)
LONG_EXTRA = 5        # long test sources are 1..LONG_EXTRA symbols longer than any training source
LONG_PAIRS = 300
DEFAULT_N = 4000


@dataclass(frozen=True)
class PairScores:
    """Scores of one decoding of a set of pairs."""

    exact_match: float
    token_accuracy: float
    chrf: float


@dataclass
class PairRun:
    family: str
    seed: int
    greedy: PairScores
    beam: PairScores | None
    long_greedy: PairScores | None     # length generalisation (None: not defined for the task)
    test_nll: float                    # nats per target token, whole test part
    steps: int
    best_step: int
    parameters: int
    seconds: float
    run_dir: str
    examples: list = field(default_factory=list)   # (source, target, greedy) of the first test pairs


@dataclass
class PairsFamilyResult:
    name: str
    runs: list[PairRun]
    exact: Spread                      # greedy exact match per seed (higher is better)
    rank: int = 0

    def _mean(self, fn) -> float | None:
        vals = [fn(r) for r in self.runs]
        return None if any(v is None for v in vals) else sum(vals) / len(vals)

    @property
    def beam_exact(self):
        return self._mean(lambda r: r.beam.exact_match if r.beam else None)

    @property
    def token_accuracy(self):
        return self._mean(lambda r: r.greedy.token_accuracy)

    @property
    def chrf(self):
        return self._mean(lambda r: r.greedy.chrf)

    @property
    def long_exact(self):
        return self._mean(lambda r: r.long_greedy.exact_match if r.long_greedy else None)

    @property
    def test_nll(self):
        return self._mean(lambda r: r.test_nll)


@dataclass
class PairsCompareResult:
    setup: object
    spec: str                          # as recorded in the run folders
    long_spec: str | None              # the length-generalisation pairs' spec
    train_pairs: int
    test_pairs: int
    vocab_size: int
    families: list[PairsFamilyResult]
    attention: dict                    # family -> (source str, target str, weights (T, S) numpy) of one test pair
    seconds: float

    def family(self, name: str) -> PairsFamilyResult | None:
        return next((f for f in self.families if f.name == name), None)


def long_spec(spec: str, n: int = LONG_PAIRS) -> str | None:
    """Pairs longer than any in `spec`: copy/reverse/sort sources of max_len+1..max_len+LONG_EXTRA,
    addition operands of digits+1 digits; a different seed. None for tsv."""
    from seqlab.data.spec import parse_spec

    parsed = parse_spec(spec)
    opts = dict(parsed.options)
    seed = int(opts.get("seed", 0)) + 1
    if parsed.kind in ("copy", "reverse", "sort"):
        hi = int(opts.get("max_len", 10))
        alphabet = opts.get("alphabet")
        parts = [parsed.kind, f"min_len={hi + 1}", f"max_len={hi + LONG_EXTRA}", f"n={n}", f"seed={seed}"]
        if alphabet:
            parts.append(f"alphabet={alphabet}")
        return ";".join(parts)
    if parsed.kind == "addition":
        return f"addition;digits={int(opts.get('digits', 3)) + 1};n={n};seed={seed}"
    return None


def _score_decodes(hyps: list[str], refs: list[str]) -> PairScores:
    from seqlab.data import chrf, exact_match, token_accuracy

    return PairScores(exact_match(hyps, refs), token_accuracy(hyps, refs), chrf(hyps, refs))


@dataclass(frozen=True)
class _Job:
    family: str
    seed: int
    steps: int
    batch_size: int
    lr: float
    fields: dict
    run_dir: str | None
    rel_dir: str


@dataclass
class _Data:
    spec: str
    prepared: object             # seqlab.data.prepare.Prepared of the pairs
    eos: int
    long_src: torch.Tensor | None
    long_targets: list | None
    max_len: int
    beams: int
    max_test: int

    @property
    def tokenizer(self):
        return self.prepared.tokenizer

    @property
    def split(self):
        return self.prepared.split

    @property
    def parts(self):
        return self.prepared.parts


def _train_job(job: _Job, data: _Data) -> PairRun:
    from pathlib import Path

    from seqlab.experiments.seq2seq import decode_all, train_encoder_decoder
    from seqlab.models.registry import build_model
    from seqlab.train.checkpoint import load_run
    from seqlab.train.scoring import evaluate

    t0 = time.perf_counter()
    tok = data.tokenizer
    sp = data.split
    torch.manual_seed(job.seed)
    model = build_model(job.family, vocab_size=tok.vocab_size, eos_token_id=data.eos, max_len=data.max_len,
                        **job.fields)
    run_dir = Path(job.run_dir) if job.run_dir else None
    result = train_encoder_decoder(model, job.family, data.spec, data.prepared, job.steps, job.batch_size, job.lr,
                                   job.seed, run_dir=run_dir, evaluations=10, device="cpu")
    best = load_run(run_dir, which="best").model if run_dir is not None else model.eval()
    src_test, tgt_test = data.parts["test"]
    nll = evaluate(best, (src_test, tgt_test)).loss_nats
    shown = sp.test[: data.max_test]
    refs = [t for _, t in shown]
    limit = data.max_len
    greedy = decode_all(best, tok, src_test[: len(shown)], limit, 1)
    beam = decode_all(best, tok, src_test[: len(shown)], limit, data.beams) if data.beams > 1 else None
    long = None
    if data.long_src is not None:
        long = _score_decodes(decode_all(best, tok, data.long_src, limit, 1), data.long_targets)
    return PairRun(job.family, job.seed, _score_decodes(greedy, refs),
                   _score_decodes(beam, refs) if beam is not None else None, long, nll, result.steps,
                   result.best_step, sum(p.numel() for p in best.parameters()), time.perf_counter() - t0,
                   job.rel_dir, [(s, t, g) for (s, t), g in zip(shown[:8], greedy[:8])])


def _run(jobs, data, setup, log) -> list[PairRun]:
    from seqlab.experiments.workers import run_jobs

    done = []

    def report(run: PairRun) -> None:
        done.append(run)
        log(f"[{len(done)}/{len(jobs)}] {run.family} seed {run.seed}: exact match {run.greedy.exact_match:.3f} "
            f"greedy{'' if run.beam is None else f', {run.beam.exact_match:.3f} beam'}, {run.seconds:.1f} s")

    return run_jobs(_train_job, jobs, data, workers=setup.jobs, threads=setup.threads, on_done=report)


def _attention_map(root, run: PairRun, data: _Data):
    """(source, target, weights (T, S)) of the first test pair: the last layer's cross-attention,
    averaged over heads (the Bahdanau alignment for the RNN)."""
    from seqlab.train.checkpoint import load_run

    model = load_run(root / run.run_dir, which="best").model
    if not hasattr(model, "cross_attention"):
        return None
    src, tgt = data.parts["test"][0][:1], data.parts["test"][1][:1]
    S, T = int((src != -100).sum()), int((tgt != -100).sum())
    with torch.no_grad():
        w = model.cross_attention(src[:, :S], tgt[:, :T])  # (layers, heads, T, S) or None
    if w is None:
        return None
    w = torch.as_tensor(w)[-1].float().mean(0)  # (T, S)
    source, target = data.split.test[0]
    return source, target + "⏎", w.numpy()


def run_pairs_compare(setup, log: Callable[[str], None] | None = None) -> PairsCompareResult:
    """Train, select on validation and score on test every encoder–decoder of `setup`."""
    from pathlib import Path

    from seqlab.data import load_pairs
    from seqlab.data.prepare import prepare_data
    from seqlab.experiments.seq2seq import pairs_spec

    log = log or (lambda line: None)
    t_start = time.perf_counter()
    unknown = [m for m in setup.models if m not in PAIRS_MODELS]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r} for pairs; choose from {', '.join(PAIRS_MODELS)}")
    spec = pairs_spec(setup.data, DEFAULT_N, setup.seed)
    prepared = prepare_data(spec, "char", FRACTIONS, min_part=1)
    sp, tok = prepared.split, prepared.tokenizer
    if sp.length < 10:
        raise DataError(f"{setup.data}: {sp.length} pairs are too few (need >= 10)")
    lspec = long_spec(spec)
    long_src = long_targets = None
    widths = [t.shape[1] for part in prepared.parts.values() for t in part]
    if lspec is not None:
        long_pairs = load_pairs(lspec)
        long_targets = [t for _, t in long_pairs]
        from seqlab.data.prepare import pad_rows

        long_src = pad_rows([tok.encode(s, errors="replace") for s, _ in long_pairs])
        widths += [long_src.shape[1], max(len(t) for t in long_targets) + 1]
    steps, batch, lr = PAIRS_TRAINING["tiny" if setup.size == "tiny" else "small"]
    steps = setup.steps or steps
    data = _Data(spec, prepared, prepared.model_fields["eos_token_id"], long_src, long_targets,
                 max(widths) + 1, setup.beams, setup.max_test)
    sizes = PAIRS_SIZES["tiny" if setup.size == "tiny" else "small"]
    root = Path(setup.run_root) if setup.run_root is not None else None
    jobs = [_Job(name, s, steps, setup.batch_size or batch, lr, sizes[name],
                 None if root is None else str(root / name / f"seed-{s}"), f"{name}/seed-{s}")
            for name in setup.models for s in setup.seed_list()]
    log(f"compare {spec}: {len(sp.train)} training / {len(sp.val)} validation / {len(sp.test)} test pairs, "
        f"V={tok.vocab_size}; length generalisation on {lspec or 'n/a'}; {len(setup.models)} entrants x "
        f"{setup.seeds} seed(s), {steps} steps each")
    previous = torch.get_num_threads()
    torch.set_num_threads(setup.threads)
    try:
        runs = _run(jobs, data, setup, log)
    finally:
        torch.set_num_threads(previous)
    families = [PairsFamilyResult(name, [r for r in runs if r.family == name],
                                  spread([r.greedy.exact_match for r in runs if r.family == name]))
                for name in setup.models]
    errors = [spread([1 - v for v in f.exact.values]) for f in families]
    for fam, rank in zip(families, shared_ranks(errors)):
        fam.rank = rank
    families.sort(key=lambda f: (f.rank, -f.exact.mean))
    attention = {}
    if root is not None:
        for fam in families:
            amap = _attention_map(root, fam.runs[0], data)
            if amap is not None:
                attention[fam.name] = amap
    return PairsCompareResult(setup, spec, lspec, len(sp.train), min(len(sp.test), setup.max_test),
                              tok.vocab_size, families, attention, time.perf_counter() - t_start)
