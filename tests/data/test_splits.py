"""Contiguous deterministic splits, recorded as JSON and reapplied."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import NANOGPT_FRACTIONS, Split, split
from seqlab.errors import ConfigError, DataError


def test_default_is_90_5_5_contiguous():
    s = split(list(range(1000)))
    assert s.fractions == (0.9, 0.05, 0.05)
    assert s.boundaries == (900, 950)
    assert s.train == list(range(900)) and s.val == list(range(900, 950)) and s.test == list(range(950, 1000))


def test_nanogpt_90_10_has_no_test_part():
    s = split("abcdefghij" * 10, NANOGPT_FRACTIONS)
    assert (len(s.train), len(s.val), len(s.test)) == (90, 10, 0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(20, 5000), f_val=st.floats(0.01, 0.3), f_test=st.floats(0.0, 0.3))
def test_parts_tile_the_data_in_order(n, f_val, f_test):
    data = np.arange(n)
    s = split(data, (1 - f_val - f_test, f_val, f_test), min_part=0)
    assert np.array_equal(np.concatenate(s.parts()), data)
    assert abs(len(s.train) - n * (1 - f_val - f_test)) <= 1


def test_record_round_trips_through_json_and_reapplies():
    ids = torch.arange(500)
    s = split(ids)
    record = json.loads(json.dumps(s.to_dict()))
    again = Split.from_dict(record).apply(ids)
    for a, b in zip(s.parts(), again.parts()):
        assert torch.equal(a, b)
    assert again.boundaries == s.boundaries and again.fractions == s.fractions


def test_reapplying_to_changed_data_is_refused():
    s = split("hello world, " * 20)
    with pytest.raises(DataError, match="length"):
        Split.from_dict(s.to_dict()).apply("short")
    with pytest.raises(DataError, match="fingerprint"):
        Split.from_dict(s.to_dict()).apply("HELLO WORLD, " * 20)


@pytest.mark.parametrize("fractions", [(0.5, 0.2), (0.9, 0.2, -0.1), (0.0, 0.5, 0.5), (1.0,), (0.3, 0.3, 0.3, 0.1)])
def test_bad_fractions(fractions):
    with pytest.raises(ConfigError):
        split(list(range(100)), fractions)


def test_too_short_for_a_part():
    with pytest.raises(DataError, match="too short for a validation part"):
        split("abc")


def test_corrupt_record():
    with pytest.raises(DataError):
        Split.from_dict({"fractions": [0.9, 0.1]})
    with pytest.raises(DataError, match="bad boundaries"):
        Split.from_dict({"fractions": [0.9, 0.1], "boundaries": [9, 5], "length": 10})
