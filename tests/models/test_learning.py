"""Each model learns: on data from a known process its held-out NLL approaches the exact optimum.

Tokens: an order-1 Markov chain (V=4) with a known transition matrix; reals: an AR(1) process.
The optimum is the true model's chain-rule NLL of the same held-out windows (first element from
the stationary distribution, which is what a model's start state must learn).
"""

import math

import pytest
import torch

from models_tiny import KINDS_OF, NOT_CHAIN, REAL, TOKENS, tiny

P = torch.tensor([[0.80, 0.10, 0.05, 0.05],
                  [0.05, 0.05, 0.85, 0.05],
                  [0.10, 0.60, 0.10, 0.20],
                  [0.70, 0.10, 0.10, 0.10]])
PHI, SIGMA = 0.8, 0.5
T_WIN = 24


def stationary(P):
    w, v = torch.linalg.eig(P.T)
    pi = v[:, w.real.argmax()].real
    return pi / pi.sum()


def markov_windows(n, T, seed):
    g = torch.Generator().manual_seed(seed)
    pi = stationary(P)
    x = torch.empty(n, T, dtype=torch.long)
    x[:, 0] = torch.multinomial(pi.expand(n, -1), 1, generator=g)[:, 0]
    for t in range(1, T):
        x[:, t] = torch.multinomial(P[x[:, t - 1]], 1, generator=g)[:, 0]
    nll = -(pi[x[:, 0]].log().sum() + P[x[:, :-1], x[:, 1:]].log().sum()) / x.numel()
    return x, nll.item()


def ar1_windows(n, T, seed):
    g = torch.Generator().manual_seed(seed)
    s0 = SIGMA / math.sqrt(1 - PHI ** 2)  # stationary standard deviation
    x = torch.empty(n, T)
    x[:, 0] = s0 * torch.randn(n, generator=g)
    for t in range(1, T):
        x[:, t] = PHI * x[:, t - 1] + SIGMA * torch.randn(n, generator=g)
    first = torch.distributions.Normal(0.0, s0).log_prob(x[:, 0]).sum()
    rest = torch.distributions.Normal(PHI * x[:, :-1], SIGMA).log_prob(x[:, 1:]).sum()
    return x, (-(first + rest) / x.numel()).item()


def train(model, windows):
    if any(p.requires_grad for p in model.parameters()):
        torch.manual_seed(0)
        model.fit(windows, steps=250, batch_size=16, lr=1e-2, seed=0)
    else:
        model.fit(windows.reshape(-1))
    return model.eval()


@pytest.mark.parametrize("name", [n for n, kinds in KINDS_OF.items() if TOKENS in kinds])
def test_token_model_reaches_markov_chain_entropy(name):
    model = tiny(name, hidden_size=32, embed_dim=16, d_model=32, block_size=T_WIN)
    train_x, _ = markov_windows(400, T_WIN, seed=1)
    test_x, optimum = markov_windows(200, T_WIN, seed=2)
    nll = train(model, train_x).nll(test_x)
    assert optimum - 0.05 < nll < optimum + 0.05, (nll, optimum)


# LinearAR scores x_t given its first tau values; its oracle is statsmodels (tests/models/test_ar*)
@pytest.mark.parametrize("name", [n for n, kinds in KINDS_OF.items() if REAL in kinds and n not in NOT_CHAIN])
def test_real_model_reaches_ar1_entropy(name):
    model = tiny(name, real=True, hidden_size=32, embed_dim=16, d_model=32, block_size=T_WIN)
    train_x, _ = ar1_windows(400, T_WIN, seed=1)
    test_x, optimum = ar1_windows(200, T_WIN, seed=2)
    nll = train(model, train_x).nll(test_x)
    assert optimum - 0.06 < nll < optimum + 0.06, (nll, optimum)
