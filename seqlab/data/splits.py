"""Deterministic, contiguous train / validation / test splits that can be recorded and reused.

Shapes: N length of the sequence being split (characters, tokens, time steps or pairs).

For a sequence of length N and fractions (f_train, f_val, f_test) the boundaries are

    a = round(N * f_train),   b = round(N * (f_train + f_val)),
    train = seq[0:a],   val = seq[a:b],   test = seq[b:N]

Contiguous (not shuffled) because neighbouring text or time steps are correlated: a shuffled split
would leak the validation data into training. The default is 90/5/5; nanoGPT's 90/10 (no test part)
is `fractions=(0.9, 0.1)`. `Split.to_dict()` records fractions, boundaries, length and a sha256
fingerprint of the data, and `Split.from_dict(d).apply(seq)` gives exactly the same parts later
(evaluation reuses the training run's split), refusing data whose length or content changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from seqlab.errors import ConfigError, DataError

DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)
NANOGPT_FRACTIONS = (0.9, 0.1)


def fingerprint(seq: Any) -> str:
    """sha256 of a sequence's content: str, bytes, list (JSON), numpy array or tensor."""
    h = hashlib.sha256()
    if isinstance(seq, str):
        h.update(seq.encode("utf-8", "surrogatepass"))
    elif isinstance(seq, (bytes, bytearray)):
        h.update(bytes(seq))
    elif isinstance(seq, torch.Tensor):
        h.update(str(seq.dtype).encode())
        h.update(seq.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(seq, np.ndarray):
        h.update(str(seq.dtype).encode())
        h.update(np.ascontiguousarray(seq).tobytes())
    else:
        h.update(json.dumps(list(seq), ensure_ascii=False, default=str).encode("utf-8"))
    return h.hexdigest()


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) not in (2, 3) or any(not f >= 0 for f in fr) or fr[0] <= 0 or abs(sum(fr) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be 2 or 3 non-negative numbers summing to 1 "
                          f"with train > 0, got {fractions}")
    return fr if len(fr) == 3 else (fr[0], fr[1], 0.0)


@dataclass
class Split:
    """Train / val / test parts of one sequence plus what is needed to redo the split.

    fractions: (f_train, f_val, f_test); boundaries: (a, b) with train = [0, a), val = [a, b),
    test = [b, length). `train`, `val`, `test` hold the parts once applied to data.
    """

    fractions: tuple[float, float, float]
    boundaries: tuple[int, int]
    length: int
    sha256: str | None = None
    train: Any = field(default=None, repr=False)
    val: Any = field(default=None, repr=False)
    test: Any = field(default=None, repr=False)

    def parts(self) -> tuple[Any, Any, Any]:
        return self.train, self.val, self.test

    def apply(self, seq: Any, check: bool = True) -> Split:
        """The same split of `seq`; DataError if its length (or, with check, content) differs."""
        if len(seq) != self.length:
            raise DataError(f"recorded split is for data of length {self.length}, got {len(seq)}: "
                            f"the data changed since the run was trained")
        if check and self.sha256 is not None and fingerprint(seq) != self.sha256:
            raise DataError("recorded split fingerprint differs: the data changed since the run was trained")
        a, b = self.boundaries
        return Split(self.fractions, self.boundaries, self.length, self.sha256,
                     seq[:a], seq[a:b], seq[b:])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (no data): fractions, boundaries, length, sha256."""
        return {"fractions": list(self.fractions), "boundaries": list(self.boundaries),
                "length": self.length, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        try:
            a, b = (int(x) for x in d["boundaries"])
            fr = _check_fractions(d["fractions"])
            length = int(d["length"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"not a recorded split: {d!r}"[:200]) from None
        if not 0 <= a <= b <= length:
            raise DataError(f"recorded split has bad boundaries {a}, {b} for length {length}")
        return cls(fr, (a, b), length, d.get("sha256"))


def split_boundaries(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> tuple[int, int]:
    """(a, b) for length n: a = round(n f_train), b = round(n (f_train + f_val))."""
    f_train, f_val, _ = _check_fractions(fractions)
    a = int(round(n * f_train))
    b = int(round(n * (f_train + f_val)))
    return a, min(max(b, a), n)


def split(seq: Any, fractions: Sequence[float] = DEFAULT_FRACTIONS, min_part: int = 1) -> Split:
    """Contiguous deterministic split of `seq` (str, list, ndarray, tensor) into train/val/test.

    min_part: each part with a non-zero fraction must hold at least this many elements
    (DataError otherwise, e.g. a corpus too short for its validation part).
    """
    n = len(seq)
    fr = _check_fractions(fractions)
    a, b = split_boundaries(n, fr)
    for name, size, f in (("train", a, fr[0]), ("validation", b - a, fr[1]), ("test", n - b, fr[2])):
        if f > 0 and size < min_part:
            raise DataError(f"data of length {n} is too short for a {name} part of fraction {f:g}")
    return Split(fr, (a, b), n, fingerprint(seq)).apply(seq, check=False)
