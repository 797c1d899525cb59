"""Tiny instances of every registered sequence model, for the generic interface tests.

A name whose module is not importable yet, or that does not support the asked-for kind of data
(tokens / real values), is skipped, so these tests cover each family as soon as it lands.
"""

import dataclasses

import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.models import registry

V = 5
LM_NAMES = [n for n in registry.NAMES if not n.startswith("seq2seq")]

# small values for every config field name the model families use; only known fields are passed
TINY_FIELDS = dict(
    order=2, tau=2, lags=2, embed_dim=8, hidden_size=12, hidden=12, num_layers=2, d_model=16,
    n_head=2, n_layer=2, block_size=24, dim_feedforward=32,
)


def tiny(name: str, real: bool = False, **overrides):
    """A small model (eval mode) for `name`, fitted on random data if it is count-based."""
    try:
        cls, cfg_cls = registry.get(name)
    except ConfigError as e:
        pytest.skip(f"{name} not available yet: {e}")
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    kw = {k: v for k, v in TINY_FIELDS.items() if k in fields}
    if "vocab_size" in fields:
        kw["vocab_size"] = None if real else V
    kw.update({k: v for k, v in overrides.items() if k in fields})
    try:
        model = registry.build_model(name, **kw)
    except ConfigError as e:
        pytest.skip(f"{name} does not build with {kw}: {e}")
    if (model.emission_kind == "gaussian") != real:
        pytest.skip(f"{name} is not a {'real-valued' if real else 'token'} model")
    if not any(p.requires_grad for p in model.parameters()):  # count-based / closed form: fit first
        g = torch.Generator().manual_seed(1)
        data = torch.randn(200, generator=g).cumsum(0) * 0.1 if real else torch.randint(0, V, (200,), generator=g)
        model.fit(data)
    return model.eval()


def sample_data(real: bool, B: int, T: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if real:
        return torch.randn(B, T, generator=g)
    return torch.randint(0, V, (B, T), generator=g)
