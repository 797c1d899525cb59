"""Decoding: greedy, temperature, top-k / top-p, beam search (vs exhaustive search), streaming,
forecasting; and the emissions (Gaussian log_prob == torch.distributions.Normal)."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from models_tiny import KINDS_OF, REAL, TOKENS, V, sample_data, tiny
from seqlab.errors import ConfigError
from seqlab.models.decoding import Decoder, beam_search
from seqlab.models.emissions import Categorical, Gaussian

TOKEN_NAMES = [n for n, kinds in KINDS_OF.items() if TOKENS in kinds]
REAL_NAMES = [n for n, kinds in KINDS_OF.items() if REAL in kinds]


def greedy_by_recompute(model, prompt, n):
    """Greedy continuation using only full recomputes (no incremental state)."""
    x = prompt.clone()
    for _ in range(n):
        with torch.no_grad():
            logits = model.conditionals(x)[:, -1]  # (B, V)
        x = torch.cat([x, logits.argmax(-1, keepdim=True)], 1)
    return x


def decoder(model):
    return Decoder(model.emission, model.step, model.reorder_state)


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_temperature_to_zero_is_greedy(name):
    model = tiny(name)
    prompt = sample_data(False, B=3, T=3)
    greedy = greedy_by_recompute(model, prompt, 6)
    assert torch.equal(model.generate(prompt, 6, temperature=0), greedy)
    # a near-zero temperature samples a most likely token at every step (any of tied maxima)
    out = model.generate(prompt, 6, temperature=1e-6, seed=3)
    with torch.no_grad():
        logits = model.conditionals(out[:, :-1])[:, 3:]  # (B, 6, V)
    chosen = logits.gather(-1, out[:, 3:, None])[..., 0]
    torch.testing.assert_close(chosen, logits.max(-1).values, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_beam_with_one_beam_is_greedy(name):
    model = tiny(name)
    prompt = sample_data(False, B=3, T=2)
    with torch.no_grad():
        params, state = model.prefill(prompt)
        toks, score = beam_search(decoder(model), params, state, 5, num_beams=1)
        greedy = greedy_by_recompute(model, prompt, 5)
        assert torch.equal(toks, greedy[:, 2:])
        torch.testing.assert_close(score, model.log_prob(greedy) - model.log_prob(prompt),
                                   atol=1e-5, rtol=1e-5, check_dtype=False)


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_beam_search_finds_the_exhaustive_optimum(name):
    model = tiny(name)
    prompt, N = sample_data(False, B=2, T=2, seed=5), 3
    conts = torch.tensor(list(itertools.product(range(V), repeat=N)))  # (V^N, N) every continuation
    with torch.no_grad():
        for b in range(prompt.shape[0]):
            full = torch.cat([prompt[b].expand(len(conts), -1), conts], 1)
            scores = model.log_prob(full)  # (V^N,)
            best = conts[scores.argmax()]
            beam = model.generate(prompt[b:b + 1], N, num_beams=V ** (N - 1))[0, 2:]
            assert torch.equal(beam, best)
            params, state = model.prefill(prompt[b:b + 1])
            _, s = beam_search(decoder(model), params, state, N, num_beams=V ** (N - 1))
            torch.testing.assert_close(s[0], scores.max() - model.log_prob(prompt[b:b + 1])[0],
                                       atol=1e-4, rtol=1e-5, check_dtype=False)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), p=st.floats(0.05, 0.99),
       temperature=st.floats(0.3, 3.0))
def test_top_k_top_p_never_emit_excluded_tokens(seed, k, p, temperature):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 8, generator=g) * 3  # (B, V)
    em = Categorical(8)
    draws = torch.stack([em.sample(logits, g, temperature, top_k=k) for _ in range(50)])  # (50, B)
    allowed_k = logits.topk(k, -1).indices  # (B, k)
    assert all(bool(torch.isin(draws[:, b], allowed_k[b]).all()) for b in range(4))
    # nucleus: the smallest most-likely set whose probability (after temperature) reaches p
    probs = (logits / temperature).softmax(-1)
    draws = torch.stack([em.sample(logits, g, temperature, top_p=p) for _ in range(50)])
    for b in range(4):
        sp, order = probs[b].sort(descending=True)
        n_keep = int((sp.cumsum(0) < p).sum()) + 1
        assert bool(torch.isin(draws[:, b], order[:n_keep]).all())


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_generate_with_top_k_emits_only_top_k_of_the_model(name):
    model = tiny(name)
    prompt = sample_data(False, B=4, T=2)
    out = model.generate(prompt, 6, top_k=2, temperature=2.0, seed=0)
    with torch.no_grad():
        logits = model.conditionals(out[:, :-1])[:, 2:]  # (B, 6, V) the conditionals of new tokens
    allowed = logits.topk(2, -1).indices  # (B, 6, 2)
    assert bool((allowed == out[:, 2:, None]).any(-1).all())


def test_seed_reproducible_and_stream_matches_generate():
    model = tiny("gru")
    a = model.generate([1, 2], 8, seed=7)
    assert torch.equal(a, model.generate([1, 2], 8, seed=7))
    assert list(model.stream([1, 2], 8, seed=7)) == a[2:].tolist()
    assert a.shape == (10,)


def test_decoding_argument_errors():
    model = tiny("rnn")
    with pytest.raises(ConfigError, match="num_beams"):
        model.generate([1], 3, num_beams=0)
    with pytest.raises(ConfigError, match="temperature"):
        model.generate([1], 3, temperature=-1)
    with pytest.raises(ConfigError, match="real-valued"):
        model.forecast(torch.tensor([1.0]), 3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_gaussian_log_prob_equals_torch_normal(seed):
    g = torch.Generator().manual_seed(seed)
    mean, log_std, x = torch.randn(3, 4, 6, generator=g).unbind(0)
    log_std = log_std * 2
    params = torch.stack([mean, log_std], -1)  # (4, 6, 2)
    expected = torch.distributions.Normal(mean, log_std.exp()).log_prob(x)
    torch.testing.assert_close(Gaussian().log_prob(params, x), expected, atol=1e-5, rtol=1e-5)
    x[0, 0] = float("nan")  # an ignored target scores 0
    assert Gaussian().log_prob(params, x)[0, 0] == 0


def test_categorical_log_prob_ignores_minus_100():
    logits = torch.randn(2, 3, 4)
    x = torch.tensor([[0, 3, -100], [1, 1, 2]])
    lp = Categorical(4).log_prob(logits, x)
    expected = -torch.nn.functional.cross_entropy(logits.transpose(1, 2), x, reduction="none")
    torch.testing.assert_close(lp, expected)


@pytest.mark.parametrize("name", REAL_NAMES)
def test_forecast_one_step_exact_and_paths_consistent(name):
    model = tiny(name, real=True)
    hist = sample_data(True, B=2, T=6)
    f = model.forecast(hist, horizon=4, num_samples=400, quantiles=(0.1, 0.5, 0.9), seed=0)
    with torch.no_grad():
        params = model.conditionals(hist)[:, -1]  # (B, 2)
    mu, sigma = params[:, 0], params[:, 1].exp()
    torch.testing.assert_close(f.mean[:, 0], mu)
    torch.testing.assert_close(f.quantiles[:, 0, 0], mu + sigma * -1.2815516, atol=1e-4, rtol=1e-4)
    assert f.mean.shape == (2, 4) and f.quantiles.shape == (2, 4, 3) and f.samples.shape == (400, 2, 4)
    lo, hi = f.interval(0.1, 0.9)
    assert bool((lo <= f.quantiles[..., 1]).all()) and bool((f.quantiles[..., 1] <= hi).all())
    # the first sampled values follow N(mu, sigma^2): sample mean within 5 standard errors
    assert bool(((f.samples[:, :, 0].mean(0) - mu).abs() < 5 * sigma / math.sqrt(400)).all())
