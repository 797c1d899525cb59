"""The one data-preparation rule: spec -> contiguous split -> tokenizer / scaler fitted on the
training part only -> encoded parts. Every command that trains or scores (train, eval, compare,
forecast, seq2seq) prepares its data here, so "fitted on the training part only" is decided once.

    text     parts are 1-D LongTensors of token ids; the tokenizer sees only the training text
             (characters first seen in val/test map to the unknown symbol)
    series   parts are 1-D FloatTensors z = (y - mu) / sigma, with mu, sigma of the training part
             (seqlab.data.scaling.StandardScaler); a model's NLL of z converts to the units of y by
             adding log sigma per element (`Prepared.nll_offset`)
    pairs    parts are (src (N, S), tgt (N, T)) LongTensors padded with -100; every target ends
             with <eos>; the tokenizer sees only the training pairs

Re-applying a recorded split (`split_record`) to the same data re-derives the same tokenizer (or a
given one is reused) and the same scaler, so a run folder needs no copy of either to be scored.

Shapes: N stream length or number of pairs, S source length, T target length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqlab.errors import ConfigError

__all__ = ["Prepared", "prepare_data", "pad_rows", "EOS", "PARTS"]

EOS = "<eos>"
PARTS = ("train", "val", "test")


@dataclass
class Prepared:
    """A run's data, ready for a task: parts as tensors, the tokenizer or scaler, the split record."""

    data_kind: str                  # "text" | "series" | "pairs"
    parts: dict[str, Any]           # part name -> 1-D tensor, or (src (N, S), tgt (N, T))
    tokenizer: Any                  # text and pairs; None for series
    split: Any                      # seqlab.data.splits.Split (with data)
    model_fields: dict[str, Any]    # fields the data decides (vocab_size, eos_token_id)
    scaler: Any = None              # series: the StandardScaler fitted on the training part

    @property
    def nll_offset(self) -> float:
        """Nats to add to a per-element NLL of the scaled values to get it in the data's own units."""
        return math.log(self.scaler.scale) if self.scaler is not None else 0.0


def pad_rows(rows: list[list[int]]) -> torch.Tensor:
    """Stack id lists into (N, L) padded with -100."""
    out = torch.full((len(rows), max((len(r) for r in rows), default=0) or 1), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def prepare_data(spec: str, tokenizer_kind: str = "char", fractions=(0.9, 0.05, 0.05),
                 tokenizer_options: dict | None = None, split_record: dict | None = None,
                 tokenizer=None, min_part: int = 2, pairs_options: dict | None = None) -> Prepared:
    """Load `spec`, split it (or re-apply `split_record`), fit (or reuse) a tokenizer or scaler on
    the training part, encode every part.

    pairs_options: keyword arguments of `seqlab.data.load_pairs` for synthetic tasks (n, seed).
    """
    import seqlab.data as data
    from seqlab.data.scaling import StandardScaler
    from seqlab.data.splits import Split, split

    kind = data.data_kind(spec)
    if kind == "probe":
        raise ConfigError(f"data spec {spec!r} is a memory probe; use `seqlab probe`")
    if kind == "text":
        raw = data.load_text(spec)
    elif kind == "series":
        raw = np.array(data.load_series(spec), dtype=np.float64)  # a writable copy (statsmodels arrays are read-only)
    else:
        raw = data.load_pairs(spec, **(pairs_options or {}))
    if split_record is not None:
        sp = Split.from_dict(split_record).apply(raw)
    else:
        sp = split(raw, fractions, min_part=min_part)
    if kind == "series":
        scaler = StandardScaler().fit(sp.train)
        parts = {p: torch.as_tensor(scaler.transform(np.asarray(getattr(sp, p), dtype=np.float64)),
                                    dtype=torch.float32) for p in PARTS}
        return Prepared(kind, parts, None, sp, {"vocab_size": None}, scaler)
    if tokenizer is None:
        from seqlab.data.tokenizers import build_tokenizer

        opts = dict(tokenizer_options or {})
        if kind == "pairs":
            text = "".join(s + t for s, t in sp.train)
            tokenizer = build_tokenizer(tokenizer_kind, text, specials=[EOS], **opts)
        else:
            tokenizer = build_tokenizer(tokenizer_kind, sp.train, **opts)
    if kind == "text":
        parts = {p: torch.tensor(tokenizer.encode(getattr(sp, p), errors="replace"), dtype=torch.long)
                 for p in PARTS}
        return Prepared(kind, parts, tokenizer, sp, {"vocab_size": tokenizer.vocab_size})
    eos = tokenizer.token_to_id(EOS)
    parts = {}
    for p in PARTS:
        pairs = getattr(sp, p)
        src = pad_rows([tokenizer.encode(s, errors="replace") for s, _ in pairs])
        tgt = pad_rows([tokenizer.encode(t, errors="replace") + [eos] for _, t in pairs])
        parts[p] = (src, tgt)
    return Prepared(kind, parts, tokenizer, sp, {"vocab_size": tokenizer.vocab_size, "eos_token_id": eos})
