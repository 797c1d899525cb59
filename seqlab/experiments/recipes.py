"""How each family is built and trained in the comparisons: one place for every size preset.

    SIZES           text compare: per size ("small", "tiny"), the window T and each neural family's
                    Recipe (config fields, batch, peak lr)
    SERIES_RECIPES  series compare: each neural forecaster's SeriesRecipe (fields, batch, lr, window)
    PAIRS_SIZES     pairs compare: each encoder-decoder's config fields per size
    PAIRS_TRAINING  pairs compare: (steps, batch, lr) per size

Field names are those of each family's config dataclass (seqlab.models.registry).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Recipe", "SizePreset", "SIZES", "SeriesRecipe", "SERIES_RECIPES", "PAIRS_SIZES", "PAIRS_TRAINING"]


@dataclass(frozen=True)
class Recipe:
    """How compare builds and trains one neural family: its config fields, batch and peak lr."""

    model: dict
    batch_size: int = 16
    lr: float = 3e-3


@dataclass(frozen=True)
class SizePreset:
    """A set of family recipes sharing one window length T."""

    block_size: int
    recipes: dict


# "small" learns something in about a minute of 1-thread CPU per family; "tiny" is for smoke tests.
# Batch 16 and lr 3e-3: in a wall-clock budget of 20 s, batch 16 beat 32 for every recurrent family
# (e.g. GRU 2.184 vs 2.421 bits). The Transformer uses sinusoidal positions (its token embeddings
# scaled by sqrt(d)) and a higher peak rate: (lr 6e-3) 2.897 vs (4e-3) 3.106 vs (1e-2) 3.102 bits
# at 20 s; sinusoidal 2.141 vs learned 2.375 bits at 35 s (round 1 measurements, docs/cli.md).
SIZES = {
    "small": SizePreset(128, {
        "neural-ar": Recipe({"tau": 8, "embed_dim": 32, "hidden_size": 384, "num_layers": 2}),
        "rnn": Recipe({"embed_dim": 64, "hidden_size": 256, "num_layers": 1}),
        "lstm": Recipe({"embed_dim": 64, "hidden_size": 256, "num_layers": 1}),
        "gru": Recipe({"embed_dim": 64, "hidden_size": 256, "num_layers": 1}),
        "transformer": Recipe({"d_model": 64, "n_layer": 2, "n_head": 4, "positions": "sinusoidal"},
                              lr=6e-3),
        # not in DEFAULT_MODELS (asked for with --models): about the GRU's 279k parameters at V = 100
        # (mingru 290k, minlstm 290k, retnet 233k, mamba 234k); Mamba's state N = 8, not 16, because
        # its scan's pointwise work (B T D N per layer, uncounted by FLOPs) dominates its CPU time
        "mingru": Recipe({"d_model": 96, "hidden_size": 192, "num_layers": 3, "dim_feedforward": 192}),
        "minlstm": Recipe({"d_model": 96, "hidden_size": 144, "num_layers": 3, "dim_feedforward": 192}),
        "retnet": Recipe({"d_model": 96, "n_head": 4, "n_layer": 2}),
        "mamba": Recipe({"d_model": 128, "n_layer": 2, "d_state": 8}),
    }),
    "tiny": SizePreset(32, {
        "neural-ar": Recipe({"tau": 3, "embed_dim": 8, "hidden_size": 16, "num_layers": 1}, batch_size=8),
        "rnn": Recipe({"embed_dim": 8, "hidden_size": 16, "num_layers": 1}, batch_size=8),
        "lstm": Recipe({"embed_dim": 8, "hidden_size": 16, "num_layers": 1}, batch_size=8),
        "gru": Recipe({"embed_dim": 8, "hidden_size": 16, "num_layers": 1}, batch_size=8),
        "transformer": Recipe({"d_model": 16, "n_layer": 1, "n_head": 2, "positions": "sinusoidal"},
                              batch_size=8),
        "mingru": Recipe({"d_model": 16, "hidden_size": 16, "num_layers": 1, "dim_feedforward": 32}, batch_size=8),
        "minlstm": Recipe({"d_model": 16, "hidden_size": 16, "num_layers": 1, "dim_feedforward": 32}, batch_size=8),
        "retnet": Recipe({"d_model": 16, "n_head": 2, "n_layer": 1}, batch_size=8),
        "mamba": Recipe({"d_model": 16, "n_layer": 1, "d_state": 4}, batch_size=8),
    }),
}


@dataclass(frozen=True)
class SeriesRecipe:
    """How a neural family is built and trained on a series: config fields, batch, lr, window."""

    model: dict
    batch_size: int = 16
    lr: float = 3e-3
    block_size: int = 64


SERIES_RECIPES = {
    "small": {
        "neural-ar": SeriesRecipe({"tau": 16, "embed_dim": 8, "hidden_size": 64, "num_layers": 2}),
        "rnn": SeriesRecipe({"embed_dim": 16, "hidden_size": 32}),
        "lstm": SeriesRecipe({"embed_dim": 16, "hidden_size": 32}),
        "gru": SeriesRecipe({"embed_dim": 16, "hidden_size": 32}),
        "transformer": SeriesRecipe({"d_model": 32, "n_layer": 2, "n_head": 2, "positions": "sinusoidal"}),
        "mingru": SeriesRecipe({"d_model": 16, "hidden_size": 32, "num_layers": 2, "dim_feedforward": 32}),
        "minlstm": SeriesRecipe({"d_model": 16, "hidden_size": 32, "num_layers": 2, "dim_feedforward": 32}),
        "retnet": SeriesRecipe({"d_model": 16, "n_head": 2, "n_layer": 2}),
        "mamba": SeriesRecipe({"d_model": 16, "n_layer": 2, "d_state": 8}),
    },
    "tiny": {
        "neural-ar": SeriesRecipe({"tau": 4, "embed_dim": 4, "hidden_size": 8, "num_layers": 1}, batch_size=8, block_size=16),
        "rnn": SeriesRecipe({"embed_dim": 4, "hidden_size": 8}, batch_size=8, block_size=16),
        "lstm": SeriesRecipe({"embed_dim": 4, "hidden_size": 8}, batch_size=8, block_size=16),
        "gru": SeriesRecipe({"embed_dim": 4, "hidden_size": 8}, batch_size=8, block_size=16),
        "transformer": SeriesRecipe({"d_model": 8, "n_layer": 1, "n_head": 2, "positions": "sinusoidal"},
                                    batch_size=8, block_size=16),
        "mingru": SeriesRecipe({"d_model": 8, "hidden_size": 8, "num_layers": 1, "dim_feedforward": 16},
                               batch_size=8, block_size=16),
        "minlstm": SeriesRecipe({"d_model": 8, "hidden_size": 8, "num_layers": 1, "dim_feedforward": 16},
                                batch_size=8, block_size=16),
        "retnet": SeriesRecipe({"d_model": 8, "n_head": 2, "n_layer": 1}, batch_size=8, block_size=16),
        "mamba": SeriesRecipe({"d_model": 8, "n_layer": 1, "d_state": 4}, batch_size=8, block_size=16),
    },
}


PAIRS_SIZES = {
    "small": {"seq2seq-rnn": {"cell": "gru", "embed_dim": 32, "hidden_size": 64},
              "seq2seq-rnn-noattn": {"cell": "gru", "embed_dim": 32, "hidden_size": 64},
              "seq2seq-transformer": {"d_model": 64, "n_head": 4, "n_layer": 2}},
    "tiny": {"seq2seq-rnn": {"cell": "gru", "embed_dim": 8, "hidden_size": 16},
             "seq2seq-rnn-noattn": {"cell": "gru", "embed_dim": 8, "hidden_size": 16},
             "seq2seq-transformer": {"d_model": 16, "n_head": 2, "n_layer": 1}},
}
PAIRS_TRAINING = {"small": (800, 64, 3e-3), "tiny": (60, 16, 3e-3)}  # steps, batch, lr
