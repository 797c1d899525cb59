"""Options derived from typed dataclass fields: types, choices, booleans, defaults, bad values."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.cli.main import ArgumentParser, UsageError
from seqlab.cli.options import (add_dataclass_options, dataclass_from_args, parse_int_list,
                                parse_name_list)
from seqlab.errors import ConfigError


@dataclass
class ToyConfig:
    hidden_size: int = 16
    dropout: float = 0.0
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    tie_weights: bool = False
    max_steps: int | None = None
    name: str = "toy"
    vocab_size: int | None = None
    sizes: tuple[int, ...] = field(default=(1, 2))

    def __post_init__(self):
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}")


def _parse(argv, skip=("vocab_size",)):
    parser = ArgumentParser(prog="toy")
    names = add_dataclass_options(parser, ToyConfig, skip=skip)
    args = parser.parse_args(argv)
    return names, args


def test_fields_become_options_and_defaults_stay():
    names, args = _parse([])
    assert "vocab_size" not in names
    assert set(names) == {"hidden_size", "dropout", "cell", "tie_weights", "max_steps", "name", "sizes"}
    cfg = dataclass_from_args(ToyConfig, args, names)
    assert cfg == ToyConfig()


def test_values_are_typed():
    names, args = _parse(["--hidden-size", "64", "--dropout", "0.25", "--cell", "gru",
                          "--tie-weights", "--max-steps", "none", "--sizes", "3,4"])
    cfg = dataclass_from_args(ToyConfig, args, names, vocab_size=7)
    assert cfg == ToyConfig(hidden_size=64, dropout=0.25, cell="gru", tie_weights=True,
                            max_steps=None, vocab_size=7, sizes=[3, 4])
    names, args = _parse(["--no-tie-weights", "--max-steps", "12"])
    cfg = dataclass_from_args(ToyConfig, args, names)
    assert cfg.tie_weights is False and cfg.max_steps == 12


@pytest.mark.parametrize("argv, fragment", [
    (["--hidden-size", "big"], "argument --hidden-size: expected an integer, got 'big'"),
    (["--dropout", "nan"], "argument --dropout: expected a finite number, got 'nan'"),
    (["--cell", "tree"], "argument --cell: invalid choice: 'tree'"),
    (["--vocab-size", "3"], "unrecognized arguments: --vocab-size 3"),
])
def test_bad_values_name_the_option(argv, fragment):
    with pytest.raises(UsageError) as info:
        _parse(argv)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_dataclass_validation_becomes_config_error():
    names, args = _parse(["--hidden-size", "0"])
    with pytest.raises(ConfigError, match="invalid ToyConfig: hidden_size must be >= 1, got 0"):
        dataclass_from_args(ToyConfig, args, names)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=6))
def test_int_list_round_trip(values):
    assert parse_int_list(",".join(map(str, values))) == values


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(["rnn", "lstm", "gru", "markov"]), min_size=1, max_size=8))
def test_name_list_keeps_order_drops_duplicates(names):
    assert parse_name_list(" , ".join(names)) == list(dict.fromkeys(names))


@pytest.mark.parametrize("text", ["", "a,b", "1,-2", "1,,x"])
def test_int_list_rejects_bad_items(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_int_list(text)


def test_every_model_option_says_what_it_does_and_closed_sets_are_choices():
    from seqlab.cli.main import build_parser
    from seqlab.cli.train import MODEL_NAMES

    for name in MODEL_NAMES:
        parser = build_parser(["train", "--model", name])
        train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
        group = next(g for g in train._action_groups if g.title and g.title.startswith("model options"))
        for action in group._group_actions:
            text = (action.help or "").split("(default")[0].strip()
            assert text, f"{name} {action.option_strings[0]} has no description"
    train = build_parser(["train", "--model", "transformer"])._subparsers._group_actions[0].choices["train"]
    positions = next(a for a in train._actions if "--positions" in a.option_strings)
    assert list(positions.choices) == ["sinusoidal", "learned"]
