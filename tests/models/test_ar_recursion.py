"""LinearAR's forecast recursion (one buffer, a sliding lag window) against a plain Python loop, and
its sampling seed convention (seed=None draws from torch's global generator, as decoding does)."""

import pytest
import torch

from seqlab.models import LinearAR


def fitted(tau):
    g = torch.Generator().manual_seed(tau)
    y = torch.randn(300, generator=g, dtype=torch.float64).cumsum(0) * 0.1
    return LinearAR(tau=tau).fit(y), y


@pytest.mark.parametrize("tau", [0, 1, 3])
def test_forecast_mean_and_paths_equal_a_python_loop(tau):
    model, y = fitted(tau)
    c, phi, H = model.intercept, model.phi.tolist(), 7
    f = model.forecast(torch.stack([y, y.flip(0)]), H, num_samples=3, seed=4)
    for b, hist in enumerate((y.tolist(), y.flip(0).tolist())):
        xs = list(hist)
        for _ in range(H):  # x_t = c + Σ_i phi_i x_{t-i}
            xs.append(c + sum(phi[i] * xs[-1 - i] for i in range(tau)))
        torch.testing.assert_close(f.mean[b], torch.tensor(xs[-H:], dtype=torch.float64), atol=1e-12, rtol=0)
    # every path follows the recursion with its own noise: x_t - (c + Σ phi_i x_{t-i}) is sigma e_t
    g = torch.Generator().manual_seed(4)
    eps = torch.randn(3 * 2, H, generator=g, dtype=torch.float64).view(3, 2, H)
    sd = model.sigma2.sqrt().item()
    for s in range(3):
        for b, hist in enumerate((y.tolist(), y.flip(0).tolist())):
            xs = list(hist)
            for t in range(H):
                xs.append(c + sum(phi[i] * xs[-1 - i] for i in range(tau)) + sd * eps[s, b, t].item())
            torch.testing.assert_close(f.samples[s, b], torch.tensor(xs[-H:], dtype=torch.float64),
                                       atol=1e-12, rtol=0)


def test_unseeded_paths_follow_the_global_generator():
    model, y = fitted(2)
    torch.manual_seed(11)
    a = model.forecast(y, 5, num_samples=4).samples
    torch.manual_seed(11)
    b = model.forecast(y, 5, num_samples=4).samples
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.equal(a, model.forecast(y, 5, num_samples=4).samples)  # the generator moved on
