"""What every section of the tour shares: the verdict type, the two sizes, the trained language
models of sections 3, 5 and 7, and the corpus sentence sections 5 and 7 look at.

Shapes: B batch, T window length, V vocabulary.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["Verdict", "TourSizes", "QUICK", "FULL", "LanguageModels", "TrainedLM", "count_parameters"]


@dataclass(frozen=True)
class Verdict:
    """Whether a section's measurements support its claim, computed from its numbers.

    measured: the numbers the decision used, in one sentence; rule: the stated threshold.
    """

    supported: bool
    measured: str
    rule: str

    @property
    def word(self) -> str:
        return "supported" if self.supported else "not supported"


@dataclass(frozen=True)
class TourSizes:
    """Every size of the tour: `QUICK` (CI, < 2 minutes on 2 cores) or `FULL` (< 12 minutes)."""

    name: str
    # sections 3, 5, 7: character language models on the corpus
    lm_steps: int                  # optimiser steps of every neural language model
    lm_batch: int                  # windows per step
    block_size: int                # T: training and scoring window
    taus: tuple[int, ...]          # context lengths of Markov and neural AR(τ)
    ar_embed: int                  # neural AR(τ): embedding size E (window τ E)
    ar_hidden: int                 # neural AR(τ): hidden units
    rnn_embed: int
    rnn_hidden: int                # RNN / LSTM / GRU hidden size H
    d_model: int                   # Transformer width (4 heads, 2 layers)
    # section 4: long-memory probes (seqlab.experiments.probe)
    probe_lengths: tuple[int, ...]
    probe_steps: int
    probe_hidden: int
    probe_train: int
    # sections 8, 9: the `reverse` task
    reverse_length: int            # section 8: sources of exactly this length
    reverse_max_length: int        # section 9: sources of 1..this length
    reverse_pairs: int
    reverse_steps: int             # section 8: training steps of each tagger
    seq2seq_steps: int             # section 9: training steps of each encoder-decoder
    seq2seq_d_model: int           # section 9: width (4 heads, 2 + 2 layers)
    lm_lr: float = 3e-3
    reverse_lr: float = 3e-3
    seq2seq_lr: float = 1e-3


QUICK = TourSizes("quick", lm_steps=300, lm_batch=16, block_size=64, taus=(1, 2, 4, 8, 16), ar_embed=16,
                  ar_hidden=128, rnn_embed=32, rnn_hidden=128, d_model=64, probe_lengths=(5, 20, 50),
                  probe_steps=300, probe_hidden=32, probe_train=1000, reverse_length=6,
                  reverse_max_length=6, reverse_pairs=3000, reverse_steps=400, seq2seq_steps=600,
                  seq2seq_d_model=32)
FULL = TourSizes("full", lm_steps=2000, lm_batch=16, block_size=64, taus=(1, 2, 4, 8, 16), ar_embed=16,
                 ar_hidden=256, rnn_embed=32, rnn_hidden=128, d_model=64, probe_lengths=(5, 10, 20, 50, 100),
                 probe_steps=800, probe_hidden=32, probe_train=2000, reverse_length=8,
                 reverse_max_length=8, reverse_pairs=5000, reverse_steps=1000, seq2seq_steps=1500,
                 seq2seq_d_model=64)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class TrainedLM:
    """One language model of section 3, trained and scored on the held-out test part."""

    name: str                      # family, e.g. "lstm" or "neural-ar"
    tau: int | None                # context length (Markov, neural AR), None for the rest
    model: object = field(repr=False)
    test_bits: float               # chain-rule bits per character on the whole test part
    parameters: int                # trainable parameters (Markov: stored n-gram types)
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.name} τ={self.tau}" if self.tau is not None else self.name


class LanguageModels:
    """The corpus (seqlab.data.prepare: split, tokenizer fitted on the training part) and the
    character models trained on it, each trained once however many sections ask for it.

    Every neural model is built after `torch.manual_seed(seed)` and trained by `SequenceModel.fit`
    (seqlab.train.Trainer: `lm_steps` AdamW steps of `lm_batch` random windows of T, constant rate,
    batches drawn from `seed`); every model is scored by seqlab.train.scoring.evaluate on the whole
    test part in windows of T (each from the start state).
    """

    def __init__(self, data: str, sizes: TourSizes, seed: int, log: Callable[[str], None]):
        from seqlab.data.prepare import prepare_data

        self.sizes, self.seed, self.log = sizes, seed, log
        prepared = prepare_data(data, "char")
        self.tokenizer = prepared.tokenizer
        self.train, self.test = prepared.parts["train"], prepared.parts["test"]
        self.vocab_size = int(self.tokenizer.vocab_size)
        self._models: dict[tuple, TrainedLM | None] = {}

    def fields(self, name: str, tau: int | None) -> dict:
        s = self.sizes
        if name == "markov":
            return {"order": tau, "smoothing": "kneser-ney"}
        if name == "neural-ar":
            return {"tau": tau, "embed_dim": s.ar_embed, "hidden_size": s.ar_hidden, "num_layers": 1}
        if name in ("rnn", "lstm", "gru"):
            return {"embed_dim": s.rnn_embed, "hidden_size": s.rnn_hidden}
        return {"d_model": s.d_model, "n_head": 4, "n_layer": 2, "block_size": s.block_size,
                "positions": "sinusoidal"}

    def get(self, name: str, tau: int | None = None) -> TrainedLM | None:
        """The trained model (None: Markov at an order whose n-gram keys do not fit in 64 bits)."""
        from seqlab.errors import ConfigError
        from seqlab.models.registry import build_model
        from seqlab.train.scoring import evaluate

        key = (name, tau)
        if key in self._models:
            return self._models[key]
        s, t0 = self.sizes, time.perf_counter()
        torch.manual_seed(self.seed)
        try:
            model = build_model(name, vocab_size=self.vocab_size, **self.fields(name, tau))
        except ConfigError:
            if name != "markov":
                raise
            self._models[key] = None  # (V + 1)^(τ + 1) n-gram keys exceed 64 bits
            self.log(f"    markov τ={tau}: not representable ({self.vocab_size + 1}^{tau + 1} n-gram keys)")
            return None
        if name == "markov":
            model.fit(self.train)
            size = sum(model.num_ngrams())
        else:
            model.fit(self.train, steps=s.lm_steps, batch_size=s.lm_batch, block_size=s.block_size,
                      lr=s.lm_lr, seed=self.seed)
            size = count_parameters(model)
        model.eval()
        bits = evaluate(model, self.test, block_size=s.block_size).bits_per_token
        lm = TrainedLM(name, tau, model, bits, size, time.perf_counter() - t0)
        unit = "n-grams" if name == "markov" else "params"
        self.log(f"    {lm.label:<16} test {bits:.3f} bits/char, {size:,} {unit}, {lm.seconds:.1f} s")
        self._models[key] = lm
        return lm

    def sentence(self, max_chars: int = 56) -> str:
        """The first prose sentence of the test part (a capitalised word, then >= 20 lower-case
        letters, spaces or commas, a full stop) of at most `max_chars` characters; failing that,
        the test text's first `max_chars` characters cut at a space."""
        text = self.tokenizer.decode(self.test.tolist())
        for match in re.finditer(r"(?<![\w.])[A-Z][a-z]+ [a-z ,']{20,}?[a-z]\.", text):
            if len(match.group(0)) <= max_chars:
                return match.group(0)
        head = text[:max_chars]
        return head.rsplit(" ", 1)[0] if " " in head else head

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer.encode(text, errors="replace"), dtype=torch.long)
