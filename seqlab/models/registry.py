"""CLI names -> (model class, config class), and `build_model(name, **config_fields)`.

Model modules are imported lazily, on first use of their name, so a module that is missing or
broken only affects its own names (`available()` lists the names that import).
"""

from __future__ import annotations

import importlib

from seqlab.errors import ConfigError
from seqlab.models.base import build_config

__all__ = ["NAMES", "get", "build_model", "available", "config_class"]

# name -> (module or candidate modules, class name, config class name, fields the name fixes)
_ENTRIES = {
    "markov": ("seqlab.models.markov", "MarkovLM", "MarkovConfig", {}),
    "ar": ("seqlab.models.ar", "LinearAR", "LinearARConfig", {}),
    "neural-ar": (("seqlab.models.ar", "seqlab.models.neural_ar"), "NeuralAR", "NeuralARConfig", {}),
    "rnn": ("seqlab.models.rnn", "RNNLM", "RNNConfig", {"cell": "rnn"}),
    "lstm": ("seqlab.models.rnn", "RNNLM", "RNNConfig", {"cell": "lstm"}),
    "gru": ("seqlab.models.rnn", "RNNLM", "RNNConfig", {"cell": "gru"}),
    "transformer": ("seqlab.models.transformer", "TransformerLM", "TransformerConfig", {}),
    "mingru": ("seqlab.models.minrnn", "MinRNNLM", "MinRNNConfig", {"cell": "gru"}),
    "minlstm": ("seqlab.models.minrnn", "MinRNNLM", "MinRNNConfig", {"cell": "lstm"}),
    "retnet": ("seqlab.models.retention", "RetNetLM", "RetNetConfig", {}),
    "mamba": ("seqlab.models.ssm", "MambaLM", "MambaConfig", {}),
    "seq2seq-rnn": ("seqlab.models.seq2seq", "Seq2SeqRNN", "Seq2SeqConfig", {"arch": "rnn"}),
    "seq2seq-transformer": ("seqlab.models.seq2seq", "Seq2SeqTransformer", "Seq2SeqConfig", {"arch": "transformer"}),
    "seq2seq-rnn-noattn": ("seqlab.models.seq2seq", "Seq2SeqRNNNoAttn", "Seq2SeqConfig", {"arch": "rnn-noattn"}),
}
NAMES = tuple(_ENTRIES)


def get(name: str):
    """(model class, config class) for a CLI name; unknown or unavailable -> ConfigError."""
    if name not in _ENTRIES:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(NAMES)}")
    modules, cls, cfg, _ = _ENTRIES[name]
    err = None
    for module in (modules,) if isinstance(modules, str) else modules:
        try:
            mod = importlib.import_module(module)
            return getattr(mod, cls), getattr(mod, cfg)
        except (ImportError, AttributeError) as e:
            err = err or e
    raise ConfigError(f"model {name!r} is not available: {err}")


def config_class(name: str) -> type:
    return get(name)[1]


def build_model(name: str, **config_fields):
    """Build the model a CLI name stands for; fields the name fixes (e.g. cell) must agree."""
    cls, cfg_cls = get(name)
    fixed = _ENTRIES[name][3]
    for k, v in fixed.items():
        if k in config_fields and config_fields[k] != v:
            raise ConfigError(f"model {name!r} has {k}={v!r}, got {k}={config_fields[k]!r}")
    return cls(build_config(cfg_cls, None, {**config_fields, **fixed}))


def available() -> list[str]:
    """The names whose modules import now."""
    out = []
    for name in NAMES:
        try:
            get(name)
            out.append(name)
        except ConfigError:
            pass
    return out
