import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.train.schedule import WarmupCosine, lr_at


def test_warmup_is_linear_from_lr_over_w():
    # lr(s) = lr (s + 1) / W for s < W
    assert [lr_at(s, 1.0, 0.1, 4, 20) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_values_at_start_middle_end():
    lr, lo, W, S = 2.0, 0.2, 10, 110
    assert lr_at(W, lr, lo, W, S) == pytest.approx(lr)
    assert lr_at(W + 50, lr, lo, W, S) == pytest.approx((lr + lo) / 2)            # p = 1/2
    assert lr_at(W + 25, lr, lo, W, S) == pytest.approx(lo + 0.5 * (1 + math.cos(math.pi / 4)) * (lr - lo))
    assert lr_at(S, lr, lo, W, S) == pytest.approx(lo)
    assert lr_at(S + 100, lr, lo, W, S) == pytest.approx(lo)


def test_time_fraction_drives_the_decay():
    # half the budget spent at step W: the same lr as half the steps done
    assert lr_at(10, 1.0, 0.0, 10, 1000, time_fraction=0.5) == pytest.approx(0.5)
    assert lr_at(10, 1.0, 0.0, 10, 1000, time_fraction=1.0) == 0.0
    # the larger of the two fractions wins
    assert lr_at(505, 1.0, 0.0, 10, 1000, time_fraction=0.1) == pytest.approx(lr_at(505, 1.0, 0.0, 10, 1000))


@settings(max_examples=25, deadline=None)
@given(lr=st.floats(1e-5, 1.0), ratio=st.floats(0.0, 1.0), W=st.integers(0, 20), extra=st.integers(1, 200))
def test_after_warmup_lr_is_non_increasing_and_bounded(lr, ratio, W, extra):
    lo, S = lr * ratio, W + extra
    values = [lr_at(s, lr, lo, W, S) for s in range(W, S + 3)]
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))
    assert all(lo - 1e-12 <= v <= lr + 1e-12 for v in values)


def test_warmup_cosine_sets_every_param_group():
    import torch

    p, q = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.AdamW([{"params": [p]}, {"params": [q]}], lr=1.0)
    sched = WarmupCosine(opt, lr=1.0, min_lr=0.0, warmup_steps=2, total_steps=10)
    assert sched.set(0) == 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]
    assert sched.state_dict()["last_lr"] == 0.5
