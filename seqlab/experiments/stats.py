"""Mean ± standard deviation over seeds, and ranks that never separate results within their noise.

For a family with scores x_1..x_n over n seeds (test bits per token, lower is better):

    mean m = (1/n) Σ x_i,    s² = (1/(n-1)) Σ (x_i - m)²    (sample variance; 0 when n = 1)

Two families a, b differ significantly when Welch's t-test rejects equal means at level α = 0.05
(two-sided):

    t = (m_a - m_b) / sqrt(s_a²/n_a + s_b²/n_b),
    ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)² / (n_a - 1) + (s_b²/n_b)² / (n_b - 1)),
    p = 2 · P(T_ν > |t|).

A deterministic family (Markov counts: the same number for every seed) contributes s²/n = 0 and no
term to ν. When neither side has a spread (both deterministic, or a single seed each) the means are
compared as they are: unequal means differ. When one side has one seed and no spread is known for
it (n = 1, not deterministic), its variance is unknown and the pair is never called different.

Rank (competition ranking with ties): in the order of increasing mean,

    rank_i = max_{j <= i} (1 + #{k : m_k < m_j and k differs significantly from j}),

i.e. 1 + the number of families significantly better, made non-decreasing along the order of the
means (a family never ranks behind a worse one). Families that no other family significantly beats
share rank 1, and so on; the rule is well defined even when "not significantly different" is not
transitive.

Reference: B. L. Welch, "The generalization of 'Student's' problem when several different
population variances are involved", Biometrika 34 (1947).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Spread", "spread", "welch_p_value", "differs", "shared_ranks", "ALPHA"]

ALPHA = 0.05


@dataclass(frozen=True)
class Spread:
    """Scores of one family over seeds."""

    values: tuple[float, ...]
    deterministic: bool = False   # the same result for every seed (count-based models)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1 in the denominator); 0 for one value."""
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def var_of_mean(self) -> float | None:
        """s² / n, the variance of the mean; 0 if deterministic, None if unknown (one seed)."""
        if self.deterministic:
            return 0.0
        if self.n < 2:
            return None
        return self.std ** 2 / self.n


def spread(values, deterministic: bool = False) -> Spread:
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError("a spread needs at least one value")
    return Spread(values, deterministic)


def welch_p_value(a: Spread, b: Spread) -> float:
    """Two-sided p-value of Welch's t-test for equal means (see the module docstring for edge cases)."""
    va, vb = a.var_of_mean, b.var_of_mean
    if va is None or vb is None:
        return 1.0
    diff = a.mean - b.mean
    se2 = va + vb
    if se2 == 0.0:
        return 1.0 if diff == 0.0 else 0.0
    t = abs(diff) / math.sqrt(se2)
    den = sum(v * v / (s.n - 1) for v, s in ((va, a), (vb, b)) if v > 0)
    nu = se2 * se2 / den
    from scipy.stats import t as student_t

    return float(2.0 * student_t.sf(t, nu))


def differs(a: Spread, b: Spread, alpha: float = ALPHA) -> bool:
    return welch_p_value(a, b) < alpha


def shared_ranks(spreads: list[Spread], alpha: float = ALPHA) -> list[int]:
    """Ranks in the input order (see the module docstring); NaN means rank last."""
    raw = []
    for a in spreads:
        if math.isnan(a.mean):
            raw.append(len(spreads))
            continue
        better = sum(1 for b in spreads
                     if b is not a and not math.isnan(b.mean) and b.mean < a.mean and differs(a, b, alpha))
        raw.append(1 + better)
    order = sorted(range(len(spreads)), key=lambda i: (math.isnan(spreads[i].mean), spreads[i].mean))
    ranks, running = [0] * len(spreads), 1
    for i in order:
        running = max(running, raw[i])
        ranks[i] = running
    return ranks
