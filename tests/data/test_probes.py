"""Memory probes: exact layouts and their memoryless baselines, checked on the generated data."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.data import adding_problem, copy_baseline, copy_memory, load_probe
from seqlab.errors import DataError


@pytest.mark.parametrize("T", [1, 5, 30])
def test_copy_memory_layout(T):
    p = copy_memory(T, n=64, seed=0)
    L = T + 20
    assert p.x.shape == p.y.shape == (64, L) and p.x.dtype == torch.long
    sym = p.x[:, :10]
    assert ((sym >= 1) & (sym <= 8)).all()
    assert (p.x[:, 10:T + 9] == 0).all() and (p.x[:, T + 9] == 9).all() and (p.x[:, T + 10:] == 0).all()
    assert (p.y[:, :T + 10] == 0).all() and torch.equal(p.y[:, T + 10:], sym)


def test_copy_baseline_is_the_memoryless_cross_entropy():
    T = 50
    p = copy_memory(T, n=256, seed=1)
    # Memoryless strategy: certain blank for T+10 steps, then uniform over the 8 categories.
    logp = torch.full((T + 20, 10), -1e9)
    logp[:T + 10, 0] = 0.0
    logp[T + 10:, 1:9] = -math.log(8)
    loss = F.cross_entropy(logp.expand(256, -1, -1).reshape(-1, 10), p.y.reshape(-1))
    assert loss.item() == pytest.approx(p.baseline, rel=1e-6)
    assert p.baseline == pytest.approx(10 * math.log(8) / (T + 20)) == copy_baseline(T)


def test_adding_problem_layout_and_baseline():
    T = 40
    p = adding_problem(T, n=20000, seed=0)
    assert p.x.shape == (20000, T, 2) and p.y.shape == (20000,)
    marker = p.x[..., 1]
    assert (marker.sum(1) == 2).all()
    assert (marker[:, :T // 2].sum(1) == 1).all() and (marker[:, T // 2:].sum(1) == 1).all()
    assert torch.allclose((p.x[..., 0] * marker).sum(1), p.y)
    assert p.baseline == pytest.approx(1 / 6)
    assert ((p.y - 1) ** 2).mean().item() == pytest.approx(1 / 6, abs=0.005)


def test_probes_are_seeded_and_load_by_spec():
    assert torch.equal(copy_memory(5, 4, seed=2).x, copy_memory(5, 4, seed=2).x)
    assert not torch.equal(copy_memory(5, 4, seed=2).x, copy_memory(5, 4, seed=3).x)
    assert load_probe("copy-memory:7;n=3").x.shape == (3, 27)
    assert load_probe("adding-problem", n=2).x.shape == (2, 100, 2)
    with pytest.raises(DataError, match="T must be an integer"):
        load_probe("copy-memory:long")
    with pytest.raises(DataError):
        adding_problem(1, 3)
