"""TourSetup -> TourResult: every statement of the lecture notes (/work/shared/seed, week 3 day 14:
sequence models, RNN, LSTM, GRU, Transformer) shown by a measured experiment. `seqlab tour`.

One experiment per claim, in the notes' order; each section's result is a typed dataclass whose
`verdict()` decides, from its own numbers and a threshold stated in the verdict, whether the
measurement supports the claim:

    1 probability.py   chain rule: one pass = Σ step-wise conditionals; Σ P over 3^5 sequences = 1
    2 probability.py   variable length: a padded batch scores every sequence as it scores alone
    3 context.py       naive vs AR(τ) vs Markov vs latent AR: test bits per character against τ
    4 recurrent.py     the RNN forgets the distant past: copy and adding probes, gradient vs distance
    5 recurrent.py     LSTM and GRU gates over a sentence of the corpus
    6 attention.py     attention's five steps on four tokens (d_v != d_k); why √d_k
    7 attention.py     multi-head attention: per-head maps, how different the heads are
    8 transformer.py   positional encoding: permutation equivariance without it; reverse with it
    9 transformer.py   the decoder reads the encoder's K and V: cross-attention, and without it

Shared rules (seqlab/experiments/__init__.py): data through seqlab.data.prepare.prepare_data,
training through seqlab.train.Trainer for step counts fixed in advance (`QUICK` or `FULL`,
seqlab.experiments.tour.common), scoring through seqlab.train.scoring.evaluate; section 4 is
seqlab.experiments.probe. Every model is built after `torch.manual_seed(seed)` and every batch
is drawn from `seed`, so the same setup gives the same numbers at the same thread count. The
experiment prints nothing and writes nothing; progress goes to the `log` callback.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from seqlab.errors import ConfigError
from seqlab.experiments.tour.common import FULL, QUICK, LanguageModels, TourSizes, Verdict

__all__ = ["TourSetup", "TourResult", "Section", "SECTIONS", "run_tour", "Verdict", "TourSizes", "QUICK",
           "FULL", "numbers"]


@dataclass(frozen=True)
class Section:
    """What a section claims (one sentence), where the notes say it, and the experiment (two sentences)."""

    number: int
    title: str
    notes: str           # the lecture notes' words (Korean), quoted
    claim: str
    experiment: str      # may name fields of TourSizes in braces


SECTIONS = {s.number: s for s in (
    Section(1, "Chain rule",
            "조건부확률: P(X_1, …, X_t) = P(X_t | X_1, …, X_{t-1}) P(X_1, …, X_{t-1}) = … = Π_s P(X_s | X_{s-1}, …, X_1)",
            "The probability of a sequence is the product of its conditionals, P(x_1..x_T) = Π_t P(x_t | x_<t), "
            "so the probabilities of all sequences of one length add up to 1.",
            "Every model family, small and untrained on a 3-symbol alphabet (Markov and the linear AR fitted on "
            "random data), scores random sequences in one pass (`log_prob`) and one element at a time (`start`, "
            "then `step`), and the largest difference is taken. The same models score all 3^5 = 243 sequences "
            "of length 5 and their probabilities are added up."),
    Section(2, "Variable length",
            "가변 데이터: sequence data를 다루기 위해서는 길이가 가변적인 데이터를 다룰 수 있는 모델이 필요",
            "A sequence model handles sequences of any length: scoring a padded batch gives every sequence exactly "
            "the score it gets alone.",
            "Five sequences of lengths 3, 11, 1, 7 and 16 are scored together in one batch padded to 16 (with "
            "their lengths) and each on its own, by every family. The largest difference is reported."),
    Section(3, "Naive vs AR(τ) vs Markov vs latent AR",
            "Naive: 이전 전체 데이터 고려 · Autoregressive: 이전 일부 데이터 고려 (τ) · Markov: 직전 데이터 고려 · "
            "Latent AR: hidden state가 이전 데이터 요약, h_t = g(h_{t-1}, x_{t-1})",
            "The more of the past P(x_t | x_<t) reads, the better it predicts: a first-order Markov model reads "
            "one element, AR(τ) the last τ, and a latent model a state h_t that summarises the whole past in "
            "a fixed size.",
            "Markov (counted, Kneser-Ney) and neural AR(τ) models with τ = 1, 2, 4, 8, 16, an RNN, LSTM and GRU "
            "(latent state) and a Transformer (whole past) are trained on the corpus's training part, the neural "
            "ones for {lm_steps} steps of {lm_batch} windows of {block_size} characters. Each is scored by bits per "
            "character on the whole held-out test part."),
    Section(4, "The RNN forgets the distant past",
            "Recurrent Neural Network: 멀리 있는 과거의 정보를 고려하지 못한다는 단점이 있다.",
            "A plain RNN cannot use information from far back in the sequence.",
            "RNN, LSTM, GRU and a causal Transformer are trained ({probe_steps} steps each) on copy-after-delay "
            "and the adding problem at lengths T = {probe_lengths} and scored on fresh examples against the "
            "memoryless baseline. At the largest T the gradient norm of the last output's loss with respect to "
            "each input is measured against its distance."),
    Section(5, "Gates at work",
            "Long Short Term Memory · Gated Recurrent Unit (the notes give the headings)",
            "LSTM gates (input, forget, output) and GRU gates (update, reset) are switches that open and close "
            "with the input, unit by unit and step by step.",
            "The trained LSTM and GRU language models of section 3 read one sentence of the test text and every "
            "gate is recorded at every character. The fraction of gate values that are nearly shut or open "
            "(< 0.1 or > 0.9) and their spread over the sentence are compared with the same models untrained."),
    Section(6, "Attention in five steps, and why √d_k",
            "1. Q, K, V를 만든다 2. Q와 K의 내적 Score 3. √d_k로 나누어 normalize 4. softmax 5. sum(V * softmax) = Z · "
            "Q, K vector는 dim이 같아야 하지만, V vector는 달라도 된다.",
            "Attention turns each input vector into a new one in five steps (Q, K, V; scores Q·Kᵀ; divide by "
            "√d_k; softmax; Z = softmax·V), Q and K must share d_k while V may differ, and the division by √d_k "
            "keeps the softmax from saturating.",
            "The five steps are computed by hand on four tokens with d_k = 3 and d_v = 2 and compared with "
            "seqlab's attention. Then one query is scored against 16 random keys for d_k = 4 … 512, with and "
            "without the scale, measuring the softmax's entropy and its largest gradient."),
    Section(7, "Multi-head attention",
            "Multi-Headed Attention (MHA): attention을 여러개 사용",
            "Multi-head attention runs several attentions side by side, and the heads learn to look at "
            "different positions.",
            "The trained Transformer of section 3 (2 layers x 4 heads) reads one sentence and each head's "
            "attention map is drawn. How different the heads of a layer are is measured by the Jensen-Shannon "
            "divergence between their attention distributions, against the same model untrained."),
    Section(8, "Positional encoding",
            "Positional Encoding: attention으로는 sequence 정보를 포함하지 못하기 때문에 positional encoding을 더해준다.",
            "Attention alone carries no order (it sees a set), so positions must be added to the inputs.",
            "A Transformer encoder without positions is checked for permutation equivariance (permute the input, "
            "compare with the permuted output), then it and the same encoder with sinusoidal positions are trained "
            "({reverse_steps} steps) to reverse strings of {reverse_length} characters. Both are scored by "
            "per-character accuracy on held-out strings."),
    Section(9, "The decoder reads the encoder's K and V",
            "Decoder: encoder의 V, K vector를 입력으로 사용한다.",
            "The decoder reads the source only through cross-attention on the encoder's keys and values.",
            "A Transformer encoder-decoder is trained ({seq2seq_steps} steps) to reverse strings of 1 to "
            "{reverse_max_length} characters and its cross-attention on one test pair is drawn (reversal is the "
            "anti-diagonal). The same model with its cross-attention reading a zeroed memory is trained alike, and "
            "both are scored by greedy exact match on held-out pairs."),
)}


@dataclass
class TourSetup:
    """What `seqlab tour` runs."""

    quick: bool = False                          # QUICK sizes (CI) instead of FULL
    seed: int = 0
    data: str = "pydoc"                          # the corpus of sections 3, 5 and 7 (a text data spec)
    sections: tuple[int, ...] = tuple(SECTIONS)  # which sections, run in the notes' order
    threads: int = 1                             # torch threads (the numbers depend on it)

    def __post_init__(self):
        self.sections = tuple(sorted(set(int(s) for s in self.sections)))
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown or not self.sections:
            raise ConfigError(f"tour sections are 1..{len(SECTIONS)}, got {unknown or 'none'}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be a positive integer, got {self.threads!r}")

    @property
    def sizes(self) -> TourSizes:
        return QUICK if self.quick else FULL


@dataclass
class TourResult:
    setup: TourSetup
    sections: dict                     # number -> the section's result (its verdict() decides)
    seconds: dict = field(default_factory=dict)   # number -> wall clock of the section
    total_seconds: float = 0.0
    vocab_size: int | None = None      # of the corpus, when a section used it
    sentence: str | None = None        # the sentence of sections 5 and 7

    def verdicts(self) -> dict:
        return {n: r.verdict() for n, r in self.sections.items()}

    def experiment_text(self, number: int) -> str:
        sizes = {k: (", ".join(map(str, v)) if isinstance(v, tuple) else v)
                 for k, v in dataclasses.asdict(self.setup.sizes).items()}
        return SECTIONS[number].experiment.format(**sizes)


def numbers(obj):
    """The measured values of a result as JSON-able data: dataclass fields shown in repr (large
    arrays are declared repr=False and left out), numpy values as Python numbers, NaN as None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: numbers(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
    if isinstance(obj, dict):
        return {str(k): numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [numbers(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return numbers(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def run_tour(setup: TourSetup, log: Callable[[str], None] | None = None) -> TourResult:
    """Run the sections of `setup` in order (see the module docstring)."""
    from seqlab.experiments.tour import attention, context, probability, recurrent, transformer

    log = log or (lambda line: None)
    sizes, seed = setup.sizes, setup.seed
    lms: list[LanguageModels] = []

    def corpus() -> LanguageModels:  # prepared once, on first use
        if not lms:
            lms.append(LanguageModels(setup.data, sizes, seed, log))
        return lms[0]

    runners = {
        1: lambda: probability.run_chain_rule(seed),
        2: lambda: probability.run_variable_length(seed),
        3: lambda: context.run_context(corpus()),
        4: lambda: recurrent.run_memory(sizes, seed, log),
        5: lambda: recurrent.run_gates(corpus()),
        6: lambda: attention.run_attention_steps(seed),
        7: lambda: attention.run_multi_head(corpus()),
        8: lambda: transformer.run_positional(sizes, seed, log),
        9: lambda: transformer.run_cross_attention(sizes, seed, log),
    }
    previous = torch.get_num_threads()
    torch.set_num_threads(setup.threads)
    t_start = time.perf_counter()
    result = TourResult(setup, {})
    try:
        for n in setup.sections:
            log(f"[{n}/{len(SECTIONS)}] {SECTIONS[n].title}")
            t0 = time.perf_counter()
            result.sections[n] = runners[n]()
            result.seconds[n] = time.perf_counter() - t0
            v = result.sections[n].verdict()
            log(f"    -> {v.word} ({result.seconds[n]:.1f} s)")
    finally:
        torch.set_num_threads(previous)
    result.total_seconds = time.perf_counter() - t_start
    if lms:
        result.vocab_size, result.sentence = lms[0].vocab_size, lms[0].sentence()
    return result
