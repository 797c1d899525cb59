"""Section 3 of the tour: how much of the past a model conditions on, against test bits per character.

The lecture's four answers to "what does P(x_t | x_<t) read?":

    naive          the whole past x_<t                       -> the Transformer (causal attention)
    AR(τ)          the last τ elements x_{t-τ..t-1}          -> neural AR(τ) (Bengio et al. 2003)
    Markov         the last element (first order; order k    -> Kneser-Ney n-grams of order τ
                   reads k), counted
    latent AR      a state h_t = g(h_{t-1}, x_{t-1})          -> RNN, LSTM, GRU

Markov and neural AR are trained at τ = 1, 2, 4, 8, 16 (Markov only where its (V+1)^(τ+1) n-gram
keys fit in 64 bits); the latent models and the Transformer once. Every model is trained on the
training part and scored on the whole test part (seqlab.experiments.tour.common.LanguageModels).
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.experiments.tour.common import LanguageModels, Verdict

__all__ = ["ContextRow", "ContextResult", "run_context", "MARGIN_BITS", "LATENT", "WHOLE_PAST"]

LATENT = ("rnn", "lstm", "gru")
WHOLE_PAST = "transformer"
MARGIN_BITS = 0.1          # a difference smaller than this is not counted as better or worse


@dataclass
class ContextRow:
    family: str
    tau: int | None            # None: latent state or the whole past
    test_bits: float | None    # None: not representable (Markov keys beyond 64 bits)
    size: int | None           # parameters (Markov: stored n-gram types)
    seconds: float


@dataclass
class ContextResult:
    """Section 3: test bits per character of every context choice."""

    taus: list[int]
    vocab_size: int
    test_chars: int
    rows: list[ContextRow]

    def row(self, family: str, tau: int | None = None) -> ContextRow | None:
        return next((r for r in self.rows if r.family == family and r.tau == tau), None)

    def curve(self, family: str) -> list[float | None]:
        return [self.row(family, t).test_bits if self.row(family, t) else None for t in self.taus]

    def verdict(self) -> Verdict:
        ar = self.curve("neural-ar")
        ar_short, ar_long = ar[0], ar[-1]
        best_ar = min(b for b in ar if b is not None)
        markov1 = self.row("markov", self.taus[0]).test_bits
        latent = {f: self.row(f).test_bits for f in LATENT if self.row(f)}
        best_latent = min(latent, key=latent.get)
        more_helps = ar_long <= ar_short - MARGIN_BITS
        markov_worst = all(b <= markov1 - MARGIN_BITS for b in latent.values())
        summary_enough = latent[best_latent] <= best_ar + MARGIN_BITS
        return Verdict(
            more_helps and markov_worst and summary_enough,
            f"neural AR: {ar_short:.3f} bits at τ={self.taus[0]} -> {ar_long:.3f} at τ={self.taus[-1]}; "
            f"first-order Markov {markov1:.3f}; latent state: {', '.join(f'{f} {b:.3f}' for f, b in latent.items())} "
            f"(best AR(τ) {best_ar:.3f})",
            f"supported when AR(τ={self.taus[-1]}) beats AR(τ={self.taus[0]}) by >= {MARGIN_BITS} bits, every "
            f"latent model beats first-order Markov by >= {MARGIN_BITS} bits, and the best latent model is "
            f"within {MARGIN_BITS} bits of the best AR(τ) or better")


def run_context(lms: LanguageModels) -> ContextResult:
    """Train (or reuse) every model of the section and collect its test bits and size."""
    taus = list(lms.sizes.taus)
    rows = []
    for family in ("markov", "neural-ar"):
        for tau in taus:
            lm = lms.get(family, tau)
            rows.append(ContextRow(family, tau, None, None, 0.0) if lm is None
                        else ContextRow(family, tau, lm.test_bits, lm.parameters, lm.seconds))
    for family in (*LATENT, WHOLE_PAST):
        lm = lms.get(family)
        rows.append(ContextRow(family, None, lm.test_bits, lm.parameters, lm.seconds))
    return ContextResult(taus, lms.vocab_size, int(lms.test.numel()), rows)
