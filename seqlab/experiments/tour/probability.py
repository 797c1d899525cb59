"""Sections 1 and 2 of the tour: the chain rule, and sequences of different lengths in one batch.

Shapes: B batch, T time, S source time, V vocabulary, P emission parameters.

Every family is built small (a 3-symbol alphabet, random initialisation; Markov and the linear AR
fitted on a random stream, since they are defined by their fit) and checked on random inputs:

    chain rule    log_prob(x) in one pass  vs  Σ_t log P(x_t | x_<t) from `start` and `step`
                  (one element per call, the incremental form every model supplies);
    normalised    Σ over all 3^5 = 243 sequences x of length 5 of P(x) = exp(log_prob(x)) is 1
                  (token families; the linear AR is a density over real values);
    padding       log_prob of a padded batch with `lengths` vs each sequence scored alone.

Seq2seq families score targets given a fixed source (P(y | x)); their padded batch pads sources
and targets. The linear AR's log_prob is the conditional likelihood (t >= τ, as statsmodels), so
its step-wise sum starts at t = τ. Everything runs in float32 (the emissions compute log-softmax in float32), so the
thresholds are a few hundred float32 roundings: 1e-4 nats.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from seqlab.experiments.tour.common import Verdict

__all__ = ["FAMILIES", "FamilyCheck", "ChainRuleResult", "VariableLengthResult", "run_chain_rule",
           "run_variable_length", "build_tiny", "stepwise_log_prob"]

FAMILIES = ("markov", "ar", "neural-ar", "rnn", "lstm", "gru", "transformer", "seq2seq-rnn",
            "seq2seq-transformer")
V = 3                      # the alphabet of sections 1 and 2
ENUM_LENGTH = 5            # all V^5 sequences are enumerated
CHAIN_TOLERANCE = 1e-4     # nats: one pass vs step by step, padded vs alone
SUM_TOLERANCE = 1e-4       # |Σ P(x) - 1|
_TINY = {
    "neural-ar": {"tau": 3, "embed_dim": 8, "hidden_size": 16},
    "rnn": {"embed_dim": 8, "hidden_size": 16}, "lstm": {"embed_dim": 8, "hidden_size": 16},
    "gru": {"embed_dim": 8, "hidden_size": 16},
    "transformer": {"d_model": 16, "n_head": 2, "n_layer": 2, "block_size": 32},
    "seq2seq-rnn": {"embed_dim": 8, "hidden_size": 16},
    "seq2seq-transformer": {"d_model": 16, "n_head": 2, "n_layer": 1, "max_len": 32},
}


def build_tiny(name: str, seed: int):
    """A small model of family `name` over V = 3 symbols (real values for "ar"), in eval mode."""
    from seqlab.models.registry import build_model

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if name == "markov":
        model = build_model("markov", vocab_size=V, order=2).fit(torch.randint(0, V, (300,), generator=g))
    elif name == "ar":
        model = build_model("ar", tau=2).fit(torch.randn(300, generator=g, dtype=torch.float64).cumsum(0))
    else:
        model = build_model(name, vocab_size=V, **_TINY[name])
    return model.eval()


def _is_seq2seq(name: str) -> bool:
    return name.startswith("seq2seq")


def _inputs(name: str, B: int, T: int, g: torch.Generator):
    """(source or None, x): random tokens (B, T), or random-walk values for "ar"."""
    if name == "ar":
        return None, torch.randn(B, T, generator=g, dtype=torch.float64).cumsum(1).float()
    src = torch.randint(0, V, (B, 7), generator=g) if _is_seq2seq(name) else None
    return src, torch.randint(0, V, (B, T), generator=g)


@torch.no_grad()
def stepwise_log_prob(model, x: torch.Tensor, src: torch.Tensor | None = None, first: int = 0) -> torch.Tensor:
    """Σ_{t >= first} log P(x_t | x_<t) (given `src` for seq2seq), one `step` per element -> (B,) nats."""
    B, T = x.shape
    if src is None:
        params, state = model.start(B)
    else:
        params, state = model.step(None, model.init_state(model.encode(src)))
    total = torch.zeros(B, dtype=torch.float64)
    for t in range(T):
        if t >= first:
            total += model.emission.log_prob(params, x[:, t]).double()  # log P(x_t | x_<t)
        if t + 1 < T:
            params, state = model.step(x[:, t], state)
    return total


@torch.no_grad()
def _log_prob(model, x, src=None, **lengths):
    out = model.log_prob(x, **lengths) if src is None else model.log_prob(src, x, **lengths)
    return out.double()


@dataclass
class FamilyCheck:
    family: str
    max_difference: float          # nats, the largest |difference| over the batch
    total_probability: float | None = None   # Σ P(x) over all V^5 sequences (None: real values)


@dataclass
class ChainRuleResult:
    """Section 1: one pass vs step by step for every family, and Σ P(x) = 1."""

    families: list[FamilyCheck]

    def verdict(self) -> Verdict:
        worst = max(self.families, key=lambda f: f.max_difference)
        sums = [f for f in self.families if f.total_probability is not None]
        off = max(sums, key=lambda f: abs(f.total_probability - 1.0))
        ok = worst.max_difference <= CHAIN_TOLERANCE and abs(off.total_probability - 1.0) <= SUM_TOLERANCE
        return Verdict(ok, f"largest one-pass vs step-wise difference {worst.max_difference:.1e} nats "
                           f"({worst.family}); Σ P over all {V}^{ENUM_LENGTH} sequences is 1 to within "
                           f"{abs(off.total_probability - 1.0):.1e} ({off.family}), over {len(self.families)} families",
                       f"supported when every difference is <= {CHAIN_TOLERANCE:g} nats and every sum is "
                       f"within {SUM_TOLERANCE:g} of 1")


def run_chain_rule(seed: int = 0, families=FAMILIES) -> ChainRuleResult:
    """Section 1 (see the module docstring)."""
    g = torch.Generator().manual_seed(seed + 1)
    everything = torch.tensor(list(itertools.product(range(V), repeat=ENUM_LENGTH)))  # (243, 5)
    checks = []
    for name in families:
        model = build_tiny(name, seed)
        src, x = _inputs(name, 4, 12, g)
        first = model.tau if name == "ar" else 0  # the linear AR scores t >= τ (conditional likelihood)
        diff = float((_log_prob(model, x, src) - stepwise_log_prob(model, x, src, first)).abs().max())
        total = None
        if name != "ar":
            fixed = None if src is None else src[:1].expand(len(everything), -1)
            total = float(_log_prob(model, everything, fixed).exp().sum())
        checks.append(FamilyCheck(name, diff, total))
    return ChainRuleResult(checks)


@dataclass
class VariableLengthResult:
    """Section 2: a padded batch scores every sequence exactly as it scores alone."""

    lengths: list[int]             # target lengths in the padded batch
    families: list[FamilyCheck]

    def verdict(self) -> Verdict:
        worst = max(self.families, key=lambda f: f.max_difference)
        return Verdict(worst.max_difference <= CHAIN_TOLERANCE,
                       f"largest padded vs alone difference {worst.max_difference:.1e} nats ({worst.family}) "
                       f"over {len(self.families)} families, lengths {', '.join(map(str, self.lengths))} in one batch",
                       f"supported when every difference is <= {CHAIN_TOLERANCE:g} nats")


def run_variable_length(seed: int = 0, families=FAMILIES, lengths=(3, 11, 1, 7, 16)) -> VariableLengthResult:
    """Section 2: pad with -100 (tokens) or NaN (values) past each length, pass `lengths`."""
    g = torch.Generator().manual_seed(seed + 2)
    B, T = len(lengths), max(lengths)
    n = torch.tensor(lengths)
    checks = []
    for name in families:
        model = build_tiny(name, seed)
        src, x = _inputs(name, B, T, g)
        kw = {"tgt_lengths": n} if _is_seq2seq(name) else {"lengths": n}
        pad = float("nan") if name == "ar" else -100
        x = x.masked_fill(torch.arange(T) >= n[:, None], pad)  # (B, T) padded
        if src is not None:  # sources of lengths 7, 6, 5, ... padded too
            s_len = torch.tensor([max(1, src.shape[1] - b) for b in range(B)])
            src = src.masked_fill(torch.arange(src.shape[1]) >= s_len[:, None], -100)
            kw["src_lengths"] = s_len
        batch = _log_prob(model, x, src, **kw)  # (B,)
        alone = torch.stack([
            _log_prob(model, x[b:b + 1, :lengths[b]],
                      None if src is None else src[b:b + 1, :int(kw["src_lengths"][b])])[0]
            for b in range(B)])
        checks.append(FamilyCheck(name, float((batch - alone).abs().max())))
    return VariableLengthResult(list(lengths), checks)
