"""NeuralAR (Bengio neural n-gram): learns known processes, depends on exactly tau past elements."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from seqlab.errors import ConfigError
from seqlab.models import NeuralAR, registry

V = 3


def order2_chain(T, seed, P):
    """A path of the order-2 chain P[a, b] = P(x_t | x_{t-2} = a, x_{t-1} = b) (numpy int64)."""
    rng = np.random.default_rng(seed)
    u, cum = rng.random(T), P.cumsum(-1)
    x = np.zeros(T, dtype=np.int64)
    for t in range(2, T):
        x[t] = min(np.searchsorted(cum[x[t - 2], x[t - 1]], u[t]), V - 1)
    return x


def entropy_rate(P):
    """H = Σ_{a,b} pi(a, b) H(P[a, b]) with pi the stationary distribution over pairs (nats)."""
    M = np.zeros((V * V, V * V))
    for a in range(V):
        for b in range(V):
            M[a * V + b, b * V:(b + 1) * V] = P[a, b]
    w, vecs = np.linalg.eig(M.T)
    pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    return float(-(pi.reshape(V, V, 1) * P * np.log(P)).sum())


def test_learns_order2_markov_chain_entropy():
    P = np.random.default_rng(0).dirichlet(np.full(V, 0.5), size=(V, V))
    H = entropy_rate(P)
    train, test = torch.tensor(order2_chain(20_000, 1, P)), torch.tensor(order2_chain(5_000, 2, P))
    model = NeuralAR.from_config(vocab_size=V, tau=2, embed_dim=8, hidden_size=32)
    model.fit(train, steps=300, batch_size=16, block_size=64, lr=1e-2, seed=0)
    assert abs(model.nll(test[None]) - H) < 0.03
    # a window of one token cannot see the order-2 dependence
    short = NeuralAR.from_config(vocab_size=V, tau=1, embed_dim=8, hidden_size=32)
    short.fit(train, steps=300, batch_size=16, block_size=64, lr=1e-2, seed=0)
    assert short.nll(test[None]) > H + 0.1


def test_learns_gaussian_ar2_noise_entropy():
    rng = np.random.default_rng(0)
    T, sigma = 20_000, 0.5
    e = rng.standard_normal(T) * sigma
    x = np.zeros(T)
    for t in range(2, T):
        x[t] = 0.6 * x[t - 1] - 0.3 * x[t - 2] + e[t]
    x = torch.tensor(x, dtype=torch.float32)
    model = NeuralAR.from_config(vocab_size=None, tau=2, embed_dim=8, hidden_size=32)
    assert model.emission_kind == "gaussian"
    model.fit(x[:15_000], steps=400, batch_size=16, block_size=64, lr=1e-2, seed=0)
    H = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)  # entropy of the innovation
    assert abs(model.nll(x[None, 15_000:]) - H) < 0.05


@pytest.mark.parametrize("real", [False, True])
@settings(max_examples=10, deadline=None)
@given(tau=st.integers(1, 4), t=st.integers(0, 9), seed=st.integers(0, 50))
def test_conditional_depends_on_exactly_the_last_tau_elements(real, tau, t, seed):
    torch.manual_seed(seed)
    model = NeuralAR.from_config(vocab_size=None if real else V, tau=tau, embed_dim=4, hidden_size=8).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 10, generator=g) if real else torch.randint(0, V, (1, 10), generator=g)
    y = x.clone()
    if t - tau - 1 >= 0:  # change an element just outside the window of position t
        y[0, t - tau - 1] = x[0, t - tau - 1] + 1.0 if real else (x[0, t - tau - 1] + 1) % V
    with torch.no_grad():
        torch.testing.assert_close(model.conditionals(y)[:, t], model.conditionals(x)[:, t])
        if t >= 1:  # ... and one inside it matters
            z = x.clone()
            z[0, t - 1] = x[0, t - 1] + 1.0 if real else (x[0, t - 1] + 1) % V
            assert not torch.allclose(model.conditionals(z)[:, t], model.conditionals(x)[:, t])


@pytest.mark.parametrize("real", [False, True])
def test_incremental_equals_full_and_start_window_is_bos(real):
    model = NeuralAR.from_config(vocab_size=None if real else V, tau=3, embed_dim=4, hidden_size=8,
                                 num_layers=2, dropout=0.3).eval()
    x = torch.randn(2, 6) if real else torch.randint(0, V, (2, 6))
    with torch.no_grad():
        full = model.conditionals(x)  # (2, 7, P)
        params, state = model.start(2)
        steps = [params]
        for x_t in x.unbind(1):
            params, state = model.step(x_t, state)
            steps.append(params)
        torch.testing.assert_close(torch.stack(steps, 1), full)
        # the first window holds tau copies of the start embedding
        bos = model._bos(1).reshape(1, -1)
        torch.testing.assert_close(full[:1, 0], model._head(bos))


def test_registry_and_config_errors():
    model = registry.build_model("neural-ar", vocab_size=V, tau=2)
    assert isinstance(model, NeuralAR) and model.config.tau == 2
    with pytest.raises(ConfigError, match="tau"):
        NeuralAR.from_config(tau=0)
    with pytest.raises(ConfigError, match="dropout"):
        NeuralAR.from_config(dropout=1.5)
    with pytest.raises(ConfigError, match="unknown NeuralARConfig field"):
        registry.build_model("neural-ar", window=3)
    # an option that would be accepted and silently ignored is refused
    with pytest.raises(ConfigError, match="no effect with num_layers=0"):
        NeuralAR.from_config(num_layers=0, dropout=0.2)
    assert NeuralAR.from_config(num_layers=0).config.dropout == 0.0
