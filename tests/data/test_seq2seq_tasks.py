"""Sequence-to-sequence tasks, tsv pairs and exact-match scoring."""

import pytest

from seqlab.data import exact_match, load_pairs, split
from seqlab.errors import DataError


@pytest.mark.parametrize("task,rule", [("copy", lambda s: s), ("reverse", lambda s: s[::-1]),
                                       ("sort", lambda s: "".join(sorted(s)))])
def test_string_tasks_follow_their_rule(task, rule):
    pairs = load_pairs(task, n=500, seed=3, min_len=2, max_len=6)
    assert len(pairs) == 500
    for src, tgt in pairs:
        assert tgt == rule(src) and 2 <= len(src) <= 6 and set(src) <= set("abcdefghij")
    assert len({s for s, _ in pairs}) == 500  # distinct sources: no train/test overlap after split
    assert load_pairs(task, n=500, seed=3, min_len=2, max_len=6) == pairs
    assert load_pairs(task, n=500, seed=4, min_len=2, max_len=6) != pairs


def test_addition_is_correct_arithmetic():
    pairs = load_pairs("addition;digits=2", n=300, seed=0)
    for src, tgt in pairs:
        assert src.endswith("=")
        a, b = src[:-1].split("+")
        assert 0 <= int(a) < 100 and 0 <= int(b) < 100 and int(tgt) == int(a) + int(b)
    assert len(set(pairs)) == 300


def test_splits_of_pairs_share_no_source():
    parts = split(load_pairs("reverse", n=1000, seed=0))
    train = {s for s, _ in parts.train}
    assert not train & {s for s, _ in parts.val + parts.test}


def test_too_many_pairs_for_the_space():
    with pytest.raises(DataError, match="only 6 distinct sources"):
        load_pairs("copy", n=7, alphabet="ab", min_len=1, max_len=2)
    with pytest.raises(DataError, match="min_len"):
        load_pairs("copy", n=1, min_len=5, max_len=2)


def test_tsv_pairs_and_bad_lines(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("hello\tbonjour\n\ncat\tchat\n")
    assert load_pairs(f"tsv:{p}") == [("hello", "bonjour"), ("cat", "chat")]
    assert load_pairs(str(p), n=1) == [("hello", "bonjour")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nno tab here\n")
    with pytest.raises(DataError, match="line 2: expected source<TAB>target"):
        load_pairs(f"tsv:{bad}")
    with pytest.raises(DataError, match="no such file"):
        load_pairs(f"tsv:{tmp_path / 'missing.tsv'}")


def test_exact_match():
    assert exact_match(["168", "12", "9"], ["168", "13", "9"]) == pytest.approx(2 / 3)
    assert exact_match([[1, 2]], [[1, 2]]) == 1.0
    with pytest.raises(DataError, match="2 predictions for 1 targets"):
        exact_match(["a", "b"], ["a"])
    with pytest.raises(DataError, match="no targets"):
        exact_match([], [])
