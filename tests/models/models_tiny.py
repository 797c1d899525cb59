"""Tiny instances of every registered sequence model, for the generic interface tests.

`KINDS_OF` states, per registry name, which kinds of data the family models: tokens, real values
or both. The contract tests are parametrized over exactly these (name, kind) cases (`cases`), so
nothing is skipped: a model that fails to import or build fails its tests. A new registry name
must be added here (test_interface.py::test_every_registered_model_is_covered); an unsupported
kind must be refused by the model (test_interface.py::test_unsupported_kinds_are_refused).

Intended exclusions, each stated where it is made:
- markov models tokens only, ar real values only (KINDS_OF);
- ar is left out of the chain-rule/incremental and learning tests: it scores x_t given its first
  tau values (the conditional likelihood), tested against statsmodels in test_ar*.py (NOT_CHAIN).
"""

import dataclasses

import pytest
import torch

from seqlab.models import registry

V = 5
LM_NAMES = [n for n in registry.NAMES if not n.startswith("seq2seq")]

TOKENS, REAL = "tokens", "real"
KINDS_OF = {
    "markov": (TOKENS,),
    "ar": (REAL,),
    "neural-ar": (TOKENS, REAL),
    "rnn": (TOKENS, REAL),
    "lstm": (TOKENS, REAL),
    "gru": (TOKENS, REAL),
    "transformer": (TOKENS, REAL),
    "mingru": (TOKENS, REAL),
    "minlstm": (TOKENS, REAL),
    "retnet": (TOKENS, REAL),
    "mamba": (TOKENS, REAL),
}
NOT_CHAIN = ("ar",)  # conditional likelihood given the first tau values (see the module docstring)

# small values for every config field name the model families use; only known fields are passed
TINY_FIELDS = dict(
    order=2, tau=2, lags=2, embed_dim=8, hidden_size=12, hidden=12, num_layers=2, d_model=16,
    n_head=2, n_layer=2, block_size=24, dim_feedforward=32, d_state=4, expand=2,
)


def cases(kind: str | None = None, exclude=()) -> list:
    """pytest params (name, real) of every supported case, optionally of one kind, ids name-kind."""
    return [pytest.param(name, k == REAL, id=f"{name}-{k}")
            for name, kinds in KINDS_OF.items() if name not in exclude
            for k in kinds if kind in (None, k)]


def tiny(name: str, real: bool = False, **overrides):
    """A small model (eval mode) for `name`, fitted on random data if it is count-based.

    Any failure to import or build the model propagates: it is a test failure, not a skip.
    """
    kind = REAL if real else TOKENS
    if kind not in KINDS_OF[name]:
        raise ValueError(f"test bug: {name} does not model {kind} (KINDS_OF)")
    cls, cfg_cls = registry.get(name)
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    kw = {k: v for k, v in TINY_FIELDS.items() if k in fields}
    if "vocab_size" in fields:
        kw["vocab_size"] = None if real else V
    kw.update({k: v for k, v in overrides.items() if k in fields})
    model = registry.build_model(name, **kw)
    assert (model.emission_kind == "gaussian") == real, (name, model.emission_kind)
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
