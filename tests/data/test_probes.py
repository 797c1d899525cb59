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


# ---------------------------------------------------------------------------------------------
# recall probes: selective copying, induction heads, multi-query associative recall

from seqlab.data.probes import RecallProbe, induction_heads, mqar, selective_copying  # noqa: E402


def best_fixed_guess_accuracy(p: RecallProbe, context) -> float:
    """Accuracy of the best guess that sees only `context(p)` (n, k) at each scored step: the most
    frequent target per context value, fitted on the data itself (so, if anything, optimistic)."""
    ctx, tgt = context(p), p.y[p.mask].view(p.x.size(0), -1)
    hits = 0
    for key in {tuple(r) for r in ctx.tolist()}:
        rows = (ctx == torch.tensor(key)).all(1)
        hits += torch.bincount(tgt[rows].flatten()).max().item() if ctx.size(1) else 0
    return hits / tgt.numel()


@pytest.mark.parametrize("T,K", [(4, 4), (30, 8), (50, 3)])
def test_selective_copying_layout(T, K):
    p = selective_copying(T, n=64, seed=0, tokens=K)
    assert p.x.shape == p.y.shape == p.mask.shape == (64, T + K) and p.vocab_size == 10
    body = p.x[:, :T]
    assert ((body == 0) | ((body >= 1) & (body <= 8))).all() and ((body != 0).sum(1) == K).all()
    assert (p.x[:, T:] == 9).all() and p.mask[:, T:].all() and not p.mask[:, :T].any()
    # the targets are the body's symbols in order of position
    assert torch.equal(p.y[:, T:], body[body != 0].view(64, K))
    # positions vary between rows (not the fixed slots of copy-memory)
    assert T == K or len({tuple((r != 0).nonzero().flatten().tolist()) for r in body}) > 1


def test_selective_copying_baseline_is_guessing():
    p = selective_copying(20, n=8000, seed=1, tokens=4)
    assert p.baseline == 1 / 8
    # the best guess per output slot (the marker's index) is no better than 1/8
    slot = lambda q: torch.zeros(q.x.size(0), 1, dtype=torch.long)  # noqa: E731
    assert best_fixed_guess_accuracy(p, slot) == pytest.approx(1 / 8, abs=0.01)


@pytest.mark.parametrize("T,V", [(3, 2), (20, 5), (64, 16)])
def test_induction_heads_layout(T, V):
    p = induction_heads(T, n=200, seed=0, vocab=V)
    assert p.x.shape == (200, T) and p.vocab_size == V and p.x.min() >= 0 and p.x.max() < V
    a = p.x[:, -1:]
    where_a = (p.x == a)
    assert (where_a.sum(1) == 2).all()  # a occurs at p and at the last step only
    first = where_a.float().argmax(1)
    assert (first <= T - 3).all()
    b = p.x.gather(1, (first + 1).unsqueeze(1)).squeeze(1)
    assert torch.equal(p.y[:, -1], b) and (b != a.squeeze(1)).all()
    assert p.mask[:, -1].all() and p.mask.sum() == 200
    assert p.baseline == pytest.approx(1 / (V - 1))


def test_induction_heads_baseline_is_guessing():
    p = induction_heads(30, n=16000, seed=2, vocab=8)
    last = lambda q: q.x[:, -1:]  # noqa: E731  # the current token a: its answer b is any other token
    assert best_fixed_guess_accuracy(p, last) == pytest.approx(1 / 7, abs=0.015)


@pytest.mark.parametrize("T,D,Q", [(8, 2, 2), (40, 8, 8), (64, 6, 3)])
def test_mqar_layout(T, D, Q):
    p = mqar(T, n=100, seed=0, pairs=D, queries=Q, keys=12, values=10)
    assert p.x.shape == (100, T) and p.vocab_size == 23 and p.x.max() < 23
    keys, vals = p.x[:, 0:2 * D:2], p.x[:, 1:2 * D:2]
    assert ((keys >= 1) & (keys <= 12)).all() and ((vals >= 13) & (vals <= 22)).all()
    assert all(len(set(r)) == D for r in keys.tolist())  # distinct keys
    assert (p.mask.sum(1) == Q).all() and not p.mask[:, :2 * D].any()
    for r in range(100):
        table = dict(zip(keys[r].tolist(), vals[r].tolist()))
        at = p.mask[r].nonzero().flatten()
        asked = p.x[r, at].tolist()
        assert len(set(asked)) == Q and all(k in table for k in asked)
        assert p.y[r, at].tolist() == [table[k] for k in asked]          # target: the key's value
        assert p.x[r, at + 1].tolist() == [table[k] for k in asked]      # then the value follows
        rest = torch.ones(T, dtype=torch.bool)
        rest[:2 * D] = False
        rest[at] = rest[at + 1] = False
        assert (p.x[r, rest] == 0).all()
    assert p.baseline == pytest.approx(1 / 10)


def test_mqar_baseline_is_guessing():
    p = mqar(24, n=4000, seed=3, pairs=4, keys=8, values=6)
    key = lambda q: q.x[q.mask].view(-1, 1)  # noqa: E731  # the queried key alone, without the context
    p.y = p.y[p.mask].view(-1, 1)
    p.mask = torch.ones_like(p.y, dtype=torch.bool)
    p.x = torch.zeros(p.y.size(0), 1, dtype=torch.long)
    assert best_fixed_guess_accuracy(p, key) == pytest.approx(1 / 6, abs=0.015)


def test_recall_probes_are_seeded_and_load_by_spec():
    for make in (selective_copying, induction_heads, mqar):
        a, b, c = make(40, 5, seed=4), make(40, 5, seed=4), make(40, 5, seed=5)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.mask, b.mask)
        assert not torch.equal(a.x, c.x)
    assert load_probe("selective-copying:20;tokens=3", n=2).x.shape == (2, 23)
    assert load_probe("induction-heads", n=3).x.shape == (3, 100)
    p = load_probe("mqar:40;pairs=5;queries=2", n=4, seed=1)
    assert p.name == "mqar" and p.mask.sum().item() == 8
    assert torch.equal(p.x, mqar(40, 4, seed=1, pairs=5, queries=2).x)
    assert load_probe("mqar:40", n=2, pairs=3).mask.sum().item() == 6  # keyword options override


@pytest.mark.parametrize("spec,match", [
    ("selective-copying:3", "T >= tokens"),
    ("induction-heads:2", "T >= 3"),
    ("induction-heads;vocab=1", "vocab >= 2"),
    ("mqar:10;pairs=4", "T >= 2\\*pairs"),
    ("mqar;pairs=20", "pairs <= keys"),
    ("mqar;queries=9", "queries <= pairs"),
    ("mqar;pairs=many", "not a valid int"),
    ("induction-heads:long", "T must be an integer"),
])
def test_recall_probe_bad_options_are_one_line_errors(spec, match):
    with pytest.raises(DataError, match=match):
        load_probe(spec, n=2)
