"""Emissions: the distribution of the next element given a model's summary of the past.

A sequence model = a context (how x_<t is summarised) + an emission (the distribution of x_t given
that summary). Emissions here hold no weights: a model's output head (seqlab.models.heads) produces
their *parameters*, always one float tensor whose last axis is the distribution's parameters, so
code that slices or concatenates along time treats both kinds the same:

    categorical  params (..., V)  logits;          P(x = v) = softmax(params)_v
    gaussian     params (..., 2)  (mean, log_std); p(x) = N(x; mean, exp(log_std)^2)

Shapes: B batch, T time, V vocabulary.

Ignored targets: a token target of -100 (`IGNORE_INDEX`, torch's cross-entropy convention) or a NaN
real target contributes 0 to log-probabilities and is left out of counts (`scored(x)`).
"""

from __future__ import annotations

import math

import torch

from seqlab.errors import ConfigError

IGNORE_INDEX = -100
LOG_STD_MIN, LOG_STD_MAX = -7.0, 7.0  # keeps exp(log_std) finite and > 0 in float32

__all__ = ["IGNORE_INDEX", "LOG_STD_MIN", "LOG_STD_MAX", "Emission", "Categorical", "Gaussian", "make_emission"]


class Emission:
    """Interface: parameters in, log-probabilities, samples and point predictions out."""

    kind: str = ""
    num_params: int = 0

    def scored(self, x: torch.Tensor) -> torch.Tensor:
        """Bool mask of the targets that count (not ignored), same shape as x."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | params) elementwise, (...); 0 where x is ignored."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None,
               temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None) -> torch.Tensor:
        """One draw per leading index: params (..., P) -> (...)."""
        raise NotImplementedError

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        """The most likely value (argmax token / the mean), what greedy decoding emits."""
        raise NotImplementedError

    def sanitize(self, x: torch.Tensor) -> torch.Tensor:
        """x with ignored/padded entries replaced by a valid input value (token 0, value 0.0)."""
        return torch.where(self.scored(x), x, torch.zeros_like(x))


class Categorical(Emission):
    """Categorical over V tokens: P(x = v | params) = exp(params_v) / Σ_u exp(params_u)."""

    kind = "categorical"

    def __init__(self, vocab_size: int):
        if vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1, got {vocab_size}")
        self.vocab_size = vocab_size
        self.num_params = vocab_size

    def scored(self, x):
        return x != IGNORE_INDEX

    def log_prob(self, params, x):
        logp = torch.log_softmax(params.float(), dim=-1)  # (..., V)
        mask = self.scored(x)
        idx = torch.where(mask, x, torch.zeros_like(x)).long()
        lp = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)  # (...)
        return torch.where(mask, lp, torch.zeros_like(lp))

    def filtered_logits(self, params, temperature=1.0, top_k=None, top_p=None):
        """Logits after temperature, top-k and top-p (nucleus) filtering; excluded tokens get -inf.

        top-k keeps the k largest logits; top-p keeps the smallest set of most likely tokens whose
        probability reaches p (the most likely token is always kept).
        """
        logits = params.float() / max(temperature, 1e-8)  # (..., V)
        neg_inf = torch.finfo(logits.dtype).min
        if top_k is not None and top_k < logits.shape[-1]:
            if top_k < 1:
                raise ConfigError(f"top_k must be >= 1, got {top_k}")
            kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (..., 1)
            logits = logits.masked_fill(logits < kth, neg_inf)
        if top_p is not None and top_p < 1.0:
            if not 0.0 < top_p <= 1.0:
                raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            probs = sorted_logits.softmax(-1)
            # drop a token when the tokens ranked above it already reach p
            drop = (probs.cumsum(-1) - probs) >= top_p
            drop[..., 0] = False
            logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, neg_inf))
        return logits

    def sample(self, params, generator=None, temperature=1.0, top_k=None, top_p=None):
        if temperature <= 0:
            return self.mode(params)
        logits = self.filtered_logits(params, temperature, top_k, top_p)
        probs = logits.softmax(-1).reshape(-1, logits.shape[-1])  # (N, V)
        draw = torch.multinomial(probs, 1, generator=generator)  # (N, 1)
        return draw.view(logits.shape[:-1])

    def mode(self, params):
        return params.argmax(-1)


class Gaussian(Emission):
    """Gaussian: p(x | mean, log_std) = N(x; mean, σ²), σ = exp(log_std).

    log p = -(x - mean)² / (2σ²) - log_std - ½ log 2π, exactly torch.distributions.Normal's.
    """

    kind = "gaussian"
    num_params = 2

    def scored(self, x):
        return ~torch.isnan(x)

    @staticmethod
    def split(params):
        """params (..., 2) -> (mean, log_std), each (...)."""
        return params[..., 0], params[..., 1]

    def log_prob(self, params, x):
        mean, log_std = self.split(params.float())
        mask = self.scored(x)
        x = torch.where(mask, x, mean.detach()).float()
        # log N(x; μ, σ²) = -(x-μ)²/(2σ²) - log σ - ½ log 2π
        lp = -0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        return torch.where(mask, lp, torch.zeros_like(lp))

    def sample(self, params, generator=None, temperature=1.0, top_k=None, top_p=None):
        mean, log_std = self.split(params.float())
        if temperature <= 0:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        # temperature scales the spread: x = μ + sqrt(temperature)·σ·ε
        return mean + math.sqrt(temperature) * torch.exp(log_std) * noise

    def mode(self, params):
        return params[..., 0].float()


def make_emission(vocab_size: int | None) -> Emission:
    """Categorical over `vocab_size` tokens, or Gaussian when vocab_size is None (real values)."""
    return Gaussian() if vocab_size is None else Categorical(vocab_size)
