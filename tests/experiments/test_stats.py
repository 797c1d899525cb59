"""Mean ± std over seeds and shared ranks: Welch's t-test against scipy, and the rank rule."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from seqlab.experiments.stats import differs, shared_ranks, spread, welch_p_value


@pytest.mark.parametrize("a, b", [
    ([2.01, 2.05, 2.03], [2.10, 2.12, 2.16]),
    ([1.0, 1.5, 0.7, 1.2], [1.1, 1.3]),
    ([3.0, 3.0001, 2.9999], [2.0, 4.0, 3.0]),
])
def test_welch_p_value_equals_scipy(a, b):
    want = sps.ttest_ind(a, b, equal_var=False).pvalue
    assert welch_p_value(spread(a), spread(b)) == pytest.approx(want, rel=1e-9)


def test_spread_mean_and_sample_std():
    s = spread([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3)
    assert s.std == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert spread([5.0]).std == 0.0


def test_deterministic_against_seeds_uses_one_sample_test():
    """A deterministic family has no variance: Welch reduces to a one-sample t-test of the other."""
    fixed = spread([2.0], deterministic=True)
    runs = spread([2.10, 2.14, 2.12, 2.16])
    want = sps.ttest_1samp(runs.values, 2.0).pvalue
    assert welch_p_value(fixed, runs) == pytest.approx(want, rel=1e-9)
    assert differs(fixed, runs)
    assert not differs(fixed, spread([1.9, 2.2, 2.05]))


def test_edge_cases():
    # two deterministic results: different numbers differ, equal ones do not
    assert differs(spread([1.0], True), spread([1.1], True))
    assert not differs(spread([1.0], True), spread([1.0], True))
    # one seed each: no spread is known, so nothing is called different
    assert welch_p_value(spread([1.0]), spread([3.0])) == 1.0
    # identical seeds on both sides (zero spread, not deterministic): means compared as they are
    assert differs(spread([1.0, 1.0]), spread([2.0, 2.0]))


def test_shared_ranks_rule():
    a = spread([2.00, 2.02, 2.01])      # best
    b = spread([2.015, 2.03, 2.00])     # within a's noise -> shares rank 1
    c = spread([2.50, 2.52, 2.51])      # clearly worse than both -> rank 3
    d = spread([3.0], deterministic=True)
    assert shared_ranks([a, b, c, d]) == [1, 1, 3, 4]
    assert shared_ranks([c, a]) == [2, 1]


def test_ranks_never_put_a_family_behind_a_worse_one():
    """A tight family beaten by many ranks no lower than a noisier, worse family beaten by fewer."""
    best = spread([1.00, 1.01, 1.00])
    tight = spread([2.00, 2.01, 2.00])       # significantly worse than best
    noisy = spread([2.5, 1.2, 3.6])           # worse mean, but within everyone's noise
    assert not differs(best, noisy) and differs(best, tight)
    assert shared_ranks([best, tight, noisy]) == [1, 2, 2]


def test_ranks_count_only_significantly_better_families():
    """Not-different is not transitive: rank = 1 + number of families significantly better."""
    a = spread([1.00, 1.01, 1.02])
    b = spread([1.05, 1.20, 0.95])      # noisy: not different from a or c
    c = spread([1.30, 1.31, 1.29])      # different from a only
    assert not differs(a, b) and not differs(b, c) and differs(a, c)
    assert shared_ranks([a, b, c]) == [1, 1, 2]
