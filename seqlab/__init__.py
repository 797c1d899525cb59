"""seqlab: sequence models from the chain rule to the Transformer.

Layout (the folder tree is the architecture):
    seqlab.nn       building blocks, each a drop-in twin of the torch.nn class of the same name
    seqlab.models   sequence models behind one probabilistic interface (log_prob, generate, forecast)
    seqlab.data     tokenizers, corpora, time series, seq2seq tasks, memory probes, batching
    seqlab.train    the training engine and run folders (checkpoints)
    seqlab.cli      the `seqlab` command line
    seqlab.plots    figures

From Python in one line (seqlab.api):

    import seqlab
    lm = seqlab.load("runs/lstm")        # a run folder or a save_pretrained folder
    lm.generate("ROMEO:", 200, temperature=0.8)
"""

__version__ = "0.1.0"
__all__ = ["load", "Pretrained", "nn", "models", "data", "train"]

_SUBMODULES = ("nn", "models", "data", "train", "cli", "plots", "experiments", "reports")


def __getattr__(name):
    # `import seqlab` stays light: torch and the submodules load on first use
    if name in ("load", "Pretrained"):
        from seqlab import api

        return getattr(api, name)
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"seqlab.{name}")
    raise AttributeError(f"module 'seqlab' has no attribute {name!r}")
