"""Tokenizers: identity on representable text (hypothesis), reported failures, identical reloads."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import (BPETokenizer, CharTokenizer, Tokenizer, WordTokenizer, build_tokenizer,
                         tokenizer_from_dict)
from seqlab.data.tokenizers import word_units
from seqlab.errors import ConfigError, DataError, VocabularyError

CORPUS = ("It was the best of times, it was the worst of times;\n"
          "it was the age of wisdom, it was the age of foolishness...\n\tÜber café — naïve 42_x!\n") * 3
ALPHABET = sorted(set(CORPUS))


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer(vocab_size=300).fit(CORPUS)


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=200))
def test_char_round_trip_on_its_alphabet(s):
    tok = CharTokenizer().fit(CORPUS)
    assert tok.decode(tok.encode(s)) == s


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=60))
def test_char_any_text_round_trips_or_is_reported(s):
    tok = CharTokenizer().fit(CORPUS)
    missing = [c for c in s if c not in ALPHABET and c != "\ufffd"]
    if missing:
        with pytest.raises(VocabularyError, match=re.escape(repr(missing[0]))):
            tok.encode(s)
        replaced = tok.decode(tok.encode(s, errors="replace"))
        assert replaced == "".join(c if c in ALPHABET else "\ufffd" for c in s)
    else:
        assert tok.decode(tok.encode(s)) == s


def test_char_error_names_character_and_position():
    tok = CharTokenizer().fit("abc")
    with pytest.raises(VocabularyError, match=r"'z' at 2, 'q' at 3"):
        tok.encode("abzq")
    with pytest.raises(VocabularyError):
        CharTokenizer(unk=None).fit("abc").encode("z", errors="replace")


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_word_round_trip_on_any_slice_of_training_units(data):
    tok = WordTokenizer().fit(CORPUS)
    units = word_units(CORPUS)[0]
    i = data.draw(st.integers(0, len(units) - 1))
    j = data.draw(st.integers(i, len(units)))
    s = "".join(units[i:j])
    assert tok.decode(tok.encode(s)) == s


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["the", " age", " of", "x", ",", "\n", " ", "zebra", " é"]), max_size=20))
def test_word_text_round_trips_or_is_reported(parts):
    tok = WordTokenizer().fit(CORPUS)
    s = "".join(parts)
    try:
        ids = tok.encode(s)
    except VocabularyError:
        unknown = [u for u in word_units(s)[0] if u not in tok.stoi]
        assert unknown
        out = tok.decode(tok.encode(s, errors="replace"))
        assert "<unk>" in out
    else:
        assert tok.decode(ids) == s


def test_word_min_freq_and_unk():
    tok = WordTokenizer(min_freq=2).fit("x a b a c a b")
    assert tok.itos == ["<unk>", " a", " b"]  # by descending count; "x" and " c" are too rare
    with pytest.raises(VocabularyError, match=r"' c' at 6"):
        tok.encode(" a b a c")
    assert tok.decode(tok.encode(" a b a c", errors="replace")) == " a b a<unk>"
    assert WordTokenizer(max_size=3).fit("a a a b b c").vocab_size == 3


@settings(max_examples=20, deadline=None)
@given(st.text(max_size=80))
def test_bpe_represents_every_text(bpe, s):
    assert bpe.decode(bpe.encode(s)) == s


def test_bpe_learns_merges_and_respects_size(bpe):
    assert 256 < bpe.vocab_size <= 300
    assert len(bpe.encode("it was the age of")) < len("it was the age of".encode())
    with pytest.raises(ConfigError, match=">= 256"):
        BPETokenizer(vocab_size=100)


@pytest.mark.parametrize("kind,kw", [("char", {}), ("word", {"min_freq": 1}), ("bpe", {"vocab_size": 280})])
def test_save_load_reproduces_ids(tmp_path, kind, kw):
    tok = build_tokenizer(kind, CORPUS, **kw)
    path = tmp_path / "sub" / "tokenizer.json"
    tok.save(path)
    again = Tokenizer.load(path)
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    assert again.encode(CORPUS) == tok.encode(CORPUS)
    assert tokenizer_from_dict(json.loads(json.dumps(tok.to_dict()))).encode(CORPUS) == tok.encode(CORPUS)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_specials_come_first_and_are_never_encoded():
    tok = CharTokenizer(specials=("<pad>", "<bos>", "<eos>")).fit("ab")
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "\ufffd"]
    assert tok.token_to_id("<eos>") == 2
    assert tok.decode([1, 4, 5, 2]) == "<bos>ab<eos>"
    assert tok.decode([1, 4, 5, 2], skip_specials=True) == "ab"
    b = BPETokenizer(vocab_size=270, specials=("<pad>",)).fit(CORPUS)
    assert b.token_to_id("<pad>") == 0


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        build_tokenizer("sentencepiece", "abc")
    with pytest.raises(ConfigError, match="not fitted"):
        CharTokenizer().encode("a")
    with pytest.raises(VocabularyError, match="outside"):
        CharTokenizer().fit("ab").decode([99])
    with pytest.raises(DataError, match="not a seqlab tokenizer"):
        tokenizer_from_dict({"kind": "nope"})
    with pytest.raises(DataError, match="not found"):
        Tokenizer.load("/nonexistent/tok.json")
