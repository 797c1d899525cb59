"""Byte-level BPE tokenizer trained on the corpus with HF `tokenizers`.

Reference: Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
byte-level variant as in GPT-2 (Radford et al. 2019).

Start from the 256 byte symbols, then repeatedly merge the most frequent adjacent pair until the
vocabulary holds `vocab_size` symbols. Because every byte is a symbol, every text is representable
(`encode` never raises VocabularyError) and decode(encode(s)) == s: no normaliser, no prefix space.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from seqlab.data.tokenizers import Tokenizer, _check_errors
from seqlab.errors import ConfigError, VocabularyError

N_BYTES = 256


class BPETokenizer(Tokenizer):
    """Byte-level BPE with at most `vocab_size` ids (`specials` first, then bytes and merges)."""

    kind = "bpe"

    def __init__(self, vocab_size: int = 1024, min_frequency: int = 2, specials: Iterable[str] = ()) -> None:
        self.specials = list(specials)
        if int(vocab_size) < N_BYTES + len(self.specials):
            raise ConfigError(f"bpe vocab_size must be >= {N_BYTES + len(self.specials)} "
                              f"(256 bytes + specials), got {vocab_size}")
        self.requested_size = int(vocab_size)
        self.min_frequency = int(min_frequency)
        self._tok: HFTokenizer | None = None

    @staticmethod
    def _blank() -> HFTokenizer:
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        return tok

    def fit(self, text: str) -> BPETokenizer:
        tok = self._blank()
        trainer = trainers.BpeTrainer(vocab_size=self.requested_size, min_frequency=self.min_frequency,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=self.specials, show_progress=False)
        tok.train_from_iterator([text], trainer=trainer)
        self._tok = tok
        return self

    @property
    def hf(self) -> HFTokenizer:
        if self._tok is None:
            raise ConfigError("BPETokenizer is not fitted: call fit(text) first")
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def token_to_id(self, token: str) -> int:
        i = self.hf.token_to_id(token)
        if i is None:
            raise VocabularyError(f"token {token!r} is not in the bpe vocabulary")
        return i

    def id_to_token(self, i: int) -> str:
        return self.hf.id_to_token(int(i))

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        """Ids of `text`; `errors` is accepted for the common interface (bytes cover everything)."""
        _check_errors(errors)
        return self.hf.encode(text).ids

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> str:
        ids = [int(i) for i in ids]
        n = self.vocab_size
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise VocabularyError(f"id {bad[0]} is outside the bpe vocabulary of {n} symbols")
        return self.hf.decode(ids, skip_special_tokens=skip_specials)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.requested_size, "min_frequency": self.min_frequency,
                "specials": self.specials, "tokenizer": json.loads(self.hf.to_str())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPETokenizer:
        tok = cls(d["vocab_size"], d.get("min_frequency", 2), d.get("specials", ()))
        tok._tok = HFTokenizer.from_str(json.dumps(d["tokenizer"]))
        return tok
