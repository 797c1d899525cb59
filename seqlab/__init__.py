"""seqlab: sequence models from the chain rule to the Transformer.

Layout (the folder tree is the architecture):
    seqlab.nn       building blocks, each a drop-in twin of the torch.nn class of the same name
    seqlab.models   sequence models behind one probabilistic interface (log_prob, generate, forecast)
    seqlab.data     tokenizers, corpora, time series, seq2seq tasks, memory probes, batching
    seqlab.train    the training engine and run folders (checkpoints)
    seqlab.cli      the `seqlab` command line
    seqlab.plots    figures
"""

__version__ = "0.1.0"
