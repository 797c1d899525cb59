"""MarkovLM: equality with nltk.lm (oracle), finiteness where nltk fails, chain rule, learning, save/load.

nltk's convention: sentences padded with pad_both_ends (n-1 "<s>", n-1 "</s>") and counted as
everygrams; seqlab reproduces it by mapping every nltk vocabulary item (incl. <s>, </s>, <UNK>) to
an id and fitting the padded sentences with pad_start=False. Scores are probabilities; with the
default eps = 1e-10 they agree to 1e-9 absolute, with eps = 0 the log-scores agree to 1e-9.
"""

import math
import random

import pytest
import torch
from hypothesis import given, settings, strategies as st
from nltk.lm import MLE, KneserNeyInterpolated, Laplace, Lidstone, WittenBellInterpolated
from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
from safetensors.torch import load_file, save_file

from seqlab.errors import ConfigError, DataError
from seqlab.models import MarkovLM, registry
from seqlab.models.markov import SMOOTHINGS

NLTK = {
    "mle": (lambda n: MLE(n), {}),
    "laplace": (lambda n: Laplace(n), {}),
    "lidstone": (lambda n: Lidstone(0.3, n), {"gamma": 0.3}),
    "witten-bell": (lambda n: WittenBellInterpolated(n), {}),
    "kneser-ney": (lambda n: KneserNeyInterpolated(n, discount=0.6), {"discount": 0.6, "nltk_compat": True}),
}


def corpus(seed, n_sent=30, words="abcdef"):
    rng = random.Random(seed)
    # a skewed word distribution, so some n-grams are frequent and many unseen
    weights = [2.0 ** -i for i in range(len(words))]
    return [rng.choices(words, weights, k=rng.randint(1, 7)) for _ in range(n_sent)]


def fit_both(smoothing, n, seed=0, eps=1e-10, **overrides):
    """(nltk model, seqlab model, vocabulary list, ids) fitted on the same padded corpus."""
    make, kw = NLTK[smoothing]
    kw = {**kw, **overrides}
    lm = make(n)
    train = corpus(seed)
    ngrams, vocab = padded_everygram_pipeline(n, train)
    lm.fit(ngrams, vocab)
    itos = sorted(lm.vocab)  # includes <s>, </s>, <UNK>
    assert len(itos) == len(lm.vocab)
    stoi = {w: i for i, w in enumerate(itos)}
    model = MarkovLM.from_config(vocab_size=len(itos), order=n - 1, smoothing=smoothing, eps=eps, **kw)
    model.fit([torch.tensor([stoi[w] for w in pad_both_ends(s, n)]) for s in train], pad_start=False)
    return lm, model, itos, stoi


def contexts(lm, itos, n, seed):
    """Contexts of held-out padded sentences (incl. unknown words) and random contexts."""
    rng = random.Random(seed + 1)
    out = []
    for s in corpus(seed + 1, n_sent=8, words="abcdefgz"):  # g, z are out of vocabulary
        ps = [lm.vocab.lookup(w) for w in pad_both_ends(s, n)]
        out += [tuple(ps[t - n + 1:t]) for t in range(n - 1, len(ps))]
    out += [tuple(rng.choice(itos) for _ in range(n - 1)) for _ in range(20)]
    return out


def nltk_row(lm, itos, ctx):
    """nltk's P(w | ctx) for every w, or None where nltk divides by zero (KN, unseen context)."""
    try:
        return torch.tensor([lm.score(w, ctx) for w in itos], dtype=torch.float64)
    except ZeroDivisionError:
        return None


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("smoothing", list(NLTK))
def test_scores_equal_nltk(smoothing, n):
    lm, model, itos, stoi = fit_both(smoothing, n)
    checked = 0
    for ctx in contexts(lm, itos, n, seed=n):
        ids = torch.tensor([stoi[w] for w in ctx])
        ours = model.prob(ids)  # (V,)
        assert torch.isfinite(ours.log()).all()
        if smoothing != "kneser-ney":  # nltk's KN does not always sum to 1 (next test)
            torch.testing.assert_close(ours.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)
        ref = nltk_row(lm, itos, ctx)
        if ref is None or ref.sum() == 0:  # nltk fails here (0/0 or ZeroDivisionError): ours backs off
            continue
        torch.testing.assert_close(ours, ref, atol=1e-9, rtol=0)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("smoothing", list(NLTK))
def test_log_scores_equal_nltk_without_floor(smoothing):
    n = 3
    lm, model, itos, stoi = fit_both(smoothing, n, eps=0.0)
    checked = 0
    for ctx in contexts(lm, itos, n, seed=7):
        ref = nltk_row(lm, itos, ctx)
        if ref is None or ref.sum() == 0:
            continue
        ids = torch.tensor([stoi[w] for w in ctx])
        for w in range(len(itos)):
            if ref[w] > 0:
                assert abs(math.log2(model.prob(ids, w).item()) - lm.logscore(itos[w], ctx)) < 1e-9
                checked += 1
    assert checked >= 100  # the comparison ran (not every context skipped)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_kneser_ney_default_is_normalised(n):
    """Default KN: lower-order weights from continuation types, so Σ_w P(w | c) = 1 where nltk's
    sum exceeds 1; at n = 2 (no lower interpolated order) both agree."""
    lm, model, itos, stoi = fit_both("kneser-ney", n, nltk_compat=False)
    over = 0
    for ctx in contexts(lm, itos, n, seed=n):
        ours = model.prob(torch.tensor([stoi[w] for w in ctx]))
        torch.testing.assert_close(ours.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)
        ref = nltk_row(lm, itos, ctx)
        if ref is None:
            continue
        over += bool(ref.sum() > 1 + 1e-6)
        if n == 2:
            torch.testing.assert_close(ours, ref, atol=1e-9, rtol=0)
    assert (over == 0) if n == 2 else (over > 0)


def test_nltk_failures_are_finite_here():
    """nltk: MLE gives log -inf for an unseen word, and KN divides by zero for a context seen only
    at a sequence start; ours stays finite (and normalised) in both cases."""
    lm, model, itos, stoi = fit_both("mle", 3)
    ctx, w = ("a", "a"), "<s>"
    assert lm.counts[ctx].N() > 0 and lm.score(w, ctx) == 0.0 and lm.logscore(w, ctx) == -math.inf
    p = model.prob(torch.tensor([stoi[c] for c in ctx]), stoi[w]).item()
    assert 0.0 < p <= 1e-9 and math.isfinite(math.log(p))

    from nltk.util import everygrams
    train = [["x", "y"], ["y", "y", "z"]]  # unpadded: "x" only ever starts a sentence
    kn = KneserNeyInterpolated(3)
    kn.fit([everygrams(s, max_len=3) for s in train], ["x", "y", "z"])
    with pytest.raises(ZeroDivisionError):
        kn.score("y", ("z", "x"))
    itos = sorted(kn.vocab)
    stoi = {w: i for i, w in enumerate(itos)}
    model = MarkovLM.from_config(vocab_size=len(itos), order=2, smoothing="kneser-ney", nltk_compat=True)
    model.fit([torch.tensor([stoi[w] for w in s]) for s in train], pad_start=False)
    row = model.prob(torch.tensor([stoi["z"], stoi["x"]]))  # backs off past (x,) to the unigram
    assert torch.isfinite(row.log()).all()
    torch.testing.assert_close(row.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)
    assert abs(row[stoi["y"]].item() - kn.score("y", ())) < 1e-9


def test_pointwise_equals_dense():
    lm, model, itos, stoi = fit_both("kneser-ney", 4)
    g = torch.Generator().manual_seed(0)
    ctx = torch.randint(0, len(itos) + 1, (50, 3), generator=g)  # includes BOS = V
    w = torch.randint(0, len(itos), (50,), generator=g)
    dense = model.prob(ctx)  # (50, V)
    torch.testing.assert_close(model.prob(ctx, w), dense.gather(1, w[:, None])[:, 0], atol=1e-15, rtol=1e-12)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@settings(max_examples=15, deadline=None)
@given(data=st.lists(st.integers(0, 3), min_size=0, max_size=30),
       query=st.lists(st.integers(0, 7), min_size=1, max_size=12), order=st.integers(1, 3))
def test_no_inf_or_nan_on_unseen(smoothing, data, query, order):
    """Tokens 4..7 never occur in training (or nothing does): every score stays finite."""
    model = MarkovLM.from_config(vocab_size=8, order=order, smoothing=smoothing).fit(torch.tensor(data, dtype=torch.long))
    x = torch.tensor([query])
    lp = model.log_prob(x)
    assert torch.isfinite(lp).all()
    logits = model.conditionals(x)  # (1, T+1, V)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(1, len(query) + 1), atol=1e-5, rtol=0)


def markov_chain(P, T, seed):
    """A sample path of length T of the first-order chain with transition matrix P (V, V)."""
    g = torch.Generator().manual_seed(seed)
    V = P.shape[0]
    u = torch.rand(T, generator=g)
    cum = P.cumsum(1)
    x = torch.empty(T, dtype=torch.long)
    s = 0
    for t in range(T):
        s = min(int(torch.searchsorted(cum[s], u[t])), V - 1)
        x[t] = s
    return x


def test_mle_recovers_transition_matrix():
    P = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.25, 0.25, 0.5]], dtype=torch.float64)
    x = markov_chain(P, 40_000, seed=0)
    model = MarkovLM.from_config(vocab_size=3, order=1, smoothing="mle").fit(x)
    est = model.prob(torch.arange(3)[:, None])  # (V, V): row u is P(. | u)
    torch.testing.assert_close(est, P, atol=0.02, rtol=0)
    # the fit's log-likelihood per token is the empirical conditional entropy, near the true one
    pi = torch.linalg.eig(P.T).eigenvectors[:, 0].real
    pi = pi / pi.sum()
    H = -(pi[:, None] * P * P.log()).sum().item()
    assert abs(model.nll(x[None]) - H) < 0.02


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_chain_rule_and_incremental_state(smoothing):
    g = torch.Generator().manual_seed(3)
    model = MarkovLM.from_config(vocab_size=6, order=2, smoothing=smoothing).fit(torch.randint(0, 6, (300,), generator=g))
    x = torch.randint(0, 6, (3, 9), generator=g)
    params, state = model.start(3)
    total = torch.zeros(3, dtype=torch.float64)
    for t in range(9):
        total += params.double().gather(1, x[:, t:t + 1])[:, 0]
        params, state = model.step(x[:, t], state)
    torch.testing.assert_close(model.log_prob(x).double(), total, atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(model.conditionals(x)[:, -1], params)
    # lengths: a padded batch equals one sequence at a time
    lens = torch.tensor([9, 4, 1])
    single = torch.stack([model.log_prob(x[b:b + 1, :n])[0] for b, n in enumerate(lens.tolist())])
    torch.testing.assert_close(model.log_prob(x, lens), single)


def test_greedy_generation_follows_argmax():
    x = torch.tensor([0, 1, 2, 3] * 50)
    model = MarkovLM.from_config(vocab_size=5, order=2, smoothing="witten-bell").fit(x)
    out = model.generate(torch.tensor([0, 1]), 6, temperature=0)
    assert out.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert list(model.stream(torch.tensor([2]), 3, temperature=0)) == [3, 0, 1]


def test_save_load_round_trip(tmp_path):
    g = torch.Generator().manual_seed(5)
    model = registry.build_model("markov", vocab_size=7, order=3, smoothing="kneser-ney")
    model.fit([torch.randint(0, 7, (int(n),), generator=g) for n in torch.randint(1, 30, (20,), generator=g)])
    save_file(model.state_dict(), tmp_path / "m.safetensors")
    clone = MarkovLM.from_config(model.config)
    clone.load_state_dict(load_file(tmp_path / "m.safetensors"))
    ctx = torch.randint(0, 8, (40, 3), generator=g)
    torch.testing.assert_close(clone.prob(ctx), model.prob(ctx), atol=0, rtol=0)
    assert clone.num_ngrams() == model.num_ngrams() and min(model.num_ngrams()) > 0


def test_fit_data_forms_agree():
    rows = torch.tensor([[1, 2, 3, -100], [2, 2, -100, -100]])
    a = MarkovLM.from_config(vocab_size=4, order=2).fit(rows)
    b = MarkovLM.from_config(vocab_size=4, order=2).fit([torch.tensor([1, 2, 3]), torch.tensor([2, 2])])
    for m in range(1, 4):
        assert torch.equal(getattr(a, f"keys_{m}"), getattr(b, f"keys_{m}"))
        assert torch.equal(getattr(a, f"counts_{m}"), getattr(b, f"counts_{m}"))
    assert b.counts_1.sum() == 5 and b.counts_3.sum() == 5  # one m-gram per real token


def brute_counts(seqs, V, k, pad_start):
    """{m: Counter of m-gram keys} by a Python loop over the padded sequences (the oracle)."""
    from collections import Counter

    b, out = V + 1, {m: Counter() for m in range(1, k + 2)}
    for s in seqs:
        padded = [V] * (k if pad_start else 0) + list(s)
        for t in range(len(padded) - len(s), len(padded)):  # m-grams ending at a real token
            for m in range(1, min(k + 1, t + 1) + 1):
                out[m][sum(padded[t - i] * b**i for i in range(m))] += 1
    return out


@pytest.mark.parametrize("V", [5, 1000])  # small key space: bincount; 1001^3 keys: sort (torch.unique)
@pytest.mark.parametrize("pad_start", [True, False])
@pytest.mark.parametrize("n_seq", [1, 3])
def test_counts_equal_brute_force(V, pad_start, n_seq):
    g = torch.Generator().manual_seed(V + n_seq)
    seqs = [torch.randint(0, V, (int(n),), generator=g) for n in torch.randint(0, 40, (n_seq,), generator=g)]
    seqs[0] = torch.cat([seqs[0], torch.tensor([1, 1, 1, 1])])  # a repeated trigram
    model = MarkovLM.from_config(vocab_size=V, order=2).fit(seqs if n_seq > 1 else seqs[0], pad_start=pad_start)
    want = brute_counts([s.tolist() for s in seqs], V, 2, pad_start)
    for m in range(1, 4):
        keys = sorted(want[m])
        assert getattr(model, f"keys_{m}").tolist() == keys
        assert getattr(model, f"counts_{m}").tolist() == [want[m][key] for key in keys]


def test_errors():
    with pytest.raises(ConfigError, match="order"):
        MarkovLM.from_config(vocab_size=4, order=0)
    with pytest.raises(ConfigError, match="smoothing"):
        MarkovLM.from_config(vocab_size=4, smoothing="good-turing")
    with pytest.raises(ConfigError, match="64 bits"):
        MarkovLM.from_config(vocab_size=50_000, order=5)
    with pytest.raises(DataError, match="outside the vocabulary"):
        MarkovLM.from_config(vocab_size=4).fit(torch.tensor([0, 4]))
    with pytest.raises(DataError, match="integer"):
        MarkovLM.from_config(vocab_size=4).fit(torch.tensor([0.5, 1.0]))
