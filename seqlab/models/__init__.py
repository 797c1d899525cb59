"""Sequence models behind one probabilistic interface (see docs/models.md).

    from seqlab.models import MarkovLM, LinearAR, NeuralAR, RNNLM, TransformerLM, Seq2Seq
    from seqlab.models import MinRNNLM, RetNetLM, MambaLM        # minGRU/minLSTM, RetNet, Mamba

Names are resolved lazily (PEP 562), so importing seqlab.models never fails because one model
module is missing; `seqlab.models.registry` maps CLI names to classes.
"""

from seqlab.models.base import SequenceModel, build_config
from seqlab.models.emissions import Categorical, Gaussian

_LAZY = {
    "MarkovLM": "seqlab.models.markov", "MarkovConfig": "seqlab.models.markov",
    "LinearAR": "seqlab.models.ar", "LinearARConfig": "seqlab.models.ar",
    "NeuralAR": "seqlab.models.ar", "NeuralARConfig": "seqlab.models.ar",
    "RNNLM": "seqlab.models.rnn", "RNNConfig": "seqlab.models.rnn",
    "TransformerLM": "seqlab.models.transformer", "TransformerConfig": "seqlab.models.transformer",
    "MinRNNLM": "seqlab.models.minrnn", "MinRNNConfig": "seqlab.models.minrnn",
    "RetNetLM": "seqlab.models.retention", "RetNetConfig": "seqlab.models.retention",
    "MambaLM": "seqlab.models.ssm", "MambaConfig": "seqlab.models.ssm",
    "Seq2Seq": "seqlab.models.seq2seq", "Seq2SeqConfig": "seqlab.models.seq2seq",
}

__all__ = ["SequenceModel", "build_config", "Categorical", "Gaussian", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        try:
            return getattr(importlib.import_module(_LAZY[name]), name)
        except (ImportError, AttributeError):
            if name.startswith("NeuralAR"):  # may live in its own module
                return getattr(importlib.import_module("seqlab.models.neural_ar"), name)
            raise
    raise AttributeError(f"module 'seqlab.models' has no attribute {name!r}")
