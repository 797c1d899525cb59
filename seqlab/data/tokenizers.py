"""Tokenizers: text <-> list of integer ids, saved as JSON next to a model and reloaded identically.

Kinds (one interface, `build_tokenizer(kind, text, **kw)`):

- `CharTokenizer`: one id per Unicode character seen in training.
- `WordTokenizer`: words with their leading space (` ?\\w+`), punctuation (` ?[^\\w\\s]`) and single
  whitespace characters, so decode(encode(s)) == s exactly; words rarer than `min_freq` map to `unk`.
- `BPETokenizer` (bpe.py): byte-level BPE trained with HF `tokenizers`; every text is representable.

Id layout (char and word): `specials` first (e.g. "<pad>", "<bos>", "<eos>", in the given order),
then `unk` (if not None), then the vocabulary (chars sorted by code point; words by descending
count, ties alphabetical). Text that the vocabulary cannot represent raises `VocabularyError`
naming the characters/words and their position, unless `errors="replace"` maps them to `unk`.
Specials are never produced by `encode` (they are not matched in text) but decode to their string.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from seqlab.errors import ConfigError, DataError, VocabularyError

WORD_PATTERN = re.compile(r" ?\w+| ?[^\w\s]|\s")


class Tokenizer:
    """Common interface; subclasses set `kind` and implement fit/encode/decode/to_dict/from_dict."""

    kind = "base"

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def fit(self, text: str) -> Tokenizer:
        raise NotImplementedError

    @classmethod
    def train(cls, text: str, **kwargs: Any) -> Tokenizer:
        """Build with `kwargs` and fit on `text` in one call."""
        return cls(**kwargs).fit(text)

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (temp file in the same folder, then `os.replace`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def load(path: str | Path) -> Tokenizer:
        """Read a tokenizer saved by `save` (any kind)."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"tokenizer file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a tokenizer JSON file ({e})") from None
        except OSError as e:
            raise DataError(f"cannot read tokenizer {path}: {e.strerror or e}") from None
        return tokenizer_from_dict(d)


def _check_errors(errors: str) -> None:
    if errors not in ("strict", "replace"):
        raise ConfigError(f"errors must be 'strict' or 'replace', got {errors!r}")


class _VocabTokenizer(Tokenizer):
    """Shared machinery of tokenizers with an explicit symbol list (char, word)."""

    def __init__(self, unk: str | None, specials: Iterable[str]) -> None:
        self.unk = unk
        self.specials = list(specials)
        self.itos: list[str] = []
        self.stoi: dict[str, int] = {}

    def _set_vocab(self, symbols: Iterable[str]) -> None:
        head = self.specials + ([self.unk] if self.unk is not None and self.unk not in self.specials else [])
        self.itos = head + [s for s in symbols if s not in head]
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def token_to_id(self, token: str) -> int:
        if token not in self.stoi:
            raise VocabularyError(f"token {token!r} is not in the {self.kind} vocabulary")
        return self.stoi[token]

    def id_to_token(self, i: int) -> str:
        return self.itos[i]

    def _encode_units(self, units: Sequence[str], offsets: Sequence[int] | None, errors: str) -> list[int]:
        """Map units (chars or words) to ids; report or replace the ones outside the vocabulary.

        offsets: character position of each unit (None: unit i is at position i, as for chars).
        """
        _check_errors(errors)
        if not self.itos:
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit(text) first")
        stoi = self.stoi
        specials = set(self.specials)
        try:  # fast path: everything representable
            ids = [stoi[u] for u in units]
            if not specials or not any(self.itos[i] in specials for i in ids):
                return ids
        except KeyError:
            pass
        positions = range(len(units)) if offsets is None else offsets
        bad = [(u, o) for u, o in zip(units, positions) if u not in stoi or u in specials]
        if errors == "strict" or self.unk is None:
            shown = ", ".join(f"{u!r} at {o}" for u, o in bad[:3])
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            hint = "" if self.unk is None else " (errors='replace' maps them to unk)"
            raise VocabularyError(f"cannot encode {shown}{more}: not in the {self.kind} vocabulary "
                                  f"of {self.vocab_size} symbols{hint}")
        unk = self.stoi[self.unk]
        return [stoi[u] if u in stoi and u not in specials else unk for u in units]

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> str:
        itos, n = self.itos, len(self.itos)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise VocabularyError(f"id {i} is outside the {self.kind} vocabulary of {n} symbols")
            if not (skip_specials and itos[i] in self.specials):
                out.append(itos[i])
        return "".join(out)

    def _base_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unk": self.unk, "specials": self.specials, "itos": self.itos}

    def _restore(self, d: dict[str, Any]) -> _VocabTokenizer:
        self.itos = list(d["itos"])
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        return self


class CharTokenizer(_VocabTokenizer):
    """One id per character. `unk` (default U+FFFD) stands in for unseen characters on replace."""

    kind = "char"

    def __init__(self, unk: str | None = "\ufffd", specials: Iterable[str] = ()) -> None:
        super().__init__(unk, specials)

    def fit(self, text: str) -> CharTokenizer:
        self._set_vocab(sorted(set(text)))
        return self

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        return self._encode_units(text, None, errors)

    def to_dict(self) -> dict[str, Any]:
        return self._base_dict()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(d.get("unk"), d.get("specials", ()))._restore(d)


def word_units(text: str) -> tuple[list[str], list[int]]:
    """Split text into word units (see module docstring) and their character offsets."""
    units, offsets = [], []
    for m in WORD_PATTERN.finditer(text):
        units.append(m.group())
        offsets.append(m.start())
    return units, offsets


class WordTokenizer(_VocabTokenizer):
    """Word-level ids: units seen at least `min_freq` times (at most `max_size` ids in all)."""

    kind = "word"

    def __init__(self, min_freq: int = 1, unk: str | None = "<unk>", max_size: int | None = None,
                 specials: Iterable[str] = ()) -> None:
        if int(min_freq) < 1:
            raise ConfigError(f"min_freq must be >= 1, got {min_freq}")
        super().__init__(unk, specials)
        self.min_freq = int(min_freq)
        self.max_size = max_size

    def fit(self, text: str) -> WordTokenizer:
        counts = Counter(word_units(text)[0])
        ranked = sorted((w for w, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w))
        self._set_vocab(ranked)
        if self.max_size is not None:
            if self.max_size < len(self.specials) + 1:
                raise ConfigError(f"max_size {self.max_size} leaves no room for words")
            self._restore({"itos": self.itos[: self.max_size]})
        return self

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        units, offsets = word_units(text)
        return self._encode_units(units, offsets, errors)

    def to_dict(self) -> dict[str, Any]:
        return {**self._base_dict(), "min_freq": self.min_freq, "max_size": self.max_size}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        tok = cls(d.get("min_freq", 1), d.get("unk"), d.get("max_size"), d.get("specials", ()))
        return tok._restore(d)


def _kinds() -> dict[str, type[Tokenizer]]:
    from seqlab.data.bpe import BPETokenizer

    return {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def build_tokenizer(kind: str, text: str, **kwargs: Any) -> Tokenizer:
    """Fit a tokenizer of `kind` ("char" | "word" | "bpe") on `text`."""
    kinds = _kinds()
    if kind not in kinds:
        raise ConfigError(f"unknown tokenizer {kind!r}: expected one of {', '.join(kinds)}")
    return kinds[kind].train(text, **kwargs)


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()` output (any kind)."""
    kinds = _kinds()
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in kinds:
        raise DataError(f"not a seqlab tokenizer record (kind={kind!r})")
    try:
        return kinds[kind].from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"corrupt {kind} tokenizer record ({e})") from None
