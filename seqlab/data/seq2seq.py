"""Sequence-to-sequence tasks: `copy`, `reverse`, `sort`, `addition` (synthetic) and `tsv:PATH`.

`load_pairs(spec, n=..., seed=...)` returns a list of (source, target) strings:

    copy      "cadb"     -> "cadb"
    reverse   "cadb"     -> "bdac"
    sort      "cadb"     -> "abcd"
    addition  "123+45="  -> "168"      operands uniform in [0, 10^digits)

Synthetic sources are drawn with `random.Random(seed)`, lengths uniform in [min_len, max_len] over
`alphabet`, and are all distinct, so the contiguous train/val/test parts of `split(pairs)` never
share a source (a model cannot pass the test by memorising training pairs). `tsv:PATH` reads one
`source<TAB>target` pair per line (blank lines skipped). Scoring: `exact_match(preds, targets)`,
`token_accuracy` (position-wise) and `chrf` (character n-gram F-score).
"""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from seqlab.data.spec import Source, parse_spec, register_source, resolve
from seqlab.data.text import read_text_file
from seqlab.errors import DataError

DEFAULT_ALPHABET = "abcdefghij"
TASKS = ("copy", "reverse", "sort", "addition")


def _target(task: str, src: str) -> str:
    if task == "copy":
        return src
    if task == "reverse":
        return src[::-1]
    return "".join(sorted(src))


def _distinct(draw, n: int, possible: int, spec: str) -> list[str]:
    """n distinct draws; DataError if fewer than n distinct values exist."""
    if n < 1:
        raise DataError(f"{spec}: n must be >= 1, got {n}")
    if n > possible:
        raise DataError(f"{spec}: only {possible} distinct sources exist, cannot draw n={n}")
    seen: dict[str, None] = {}
    while len(seen) < n:  # rejection sampling; n <= possible keeps it finite, n << possible fast
        seen.setdefault(draw(), None)
    return list(seen)


def string_task(task: str, n: int = 10000, seed: int = 0, min_len: int = 1, max_len: int = 10,
                alphabet: str = DEFAULT_ALPHABET) -> list[tuple[str, str]]:
    """copy / reverse / sort pairs over `alphabet` with lengths in [min_len, max_len]."""
    if task not in ("copy", "reverse", "sort"):
        raise DataError(f"unknown string task {task!r}")
    if not 1 <= min_len <= max_len or not alphabet:
        raise DataError(f"{task}: need 1 <= min_len <= max_len and a non-empty alphabet, "
                        f"got {min_len}, {max_len}, {alphabet!r}")
    symbols = sorted(set(alphabet))
    rng = random.Random(seed)
    possible = sum(len(symbols) ** k for k in range(min_len, max_len + 1))

    def draw() -> str:
        return "".join(rng.choices(symbols, k=rng.randint(min_len, max_len)))

    return [(s, _target(task, s)) for s in _distinct(draw, n, possible, task)]


def addition(n: int = 10000, seed: int = 0, digits: int = 3) -> list[tuple[str, str]]:
    """"a+b=" -> "a+b" for a, b uniform in [0, 10^digits), distinct (a, b)."""
    if digits < 1:
        raise DataError(f"addition: digits must be >= 1, got {digits}")
    rng = random.Random(seed)
    hi = 10 ** digits

    def draw() -> str:
        return f"{rng.randrange(hi)}+{rng.randrange(hi)}="

    return [(s, str(sum(int(v) for v in s[:-1].split("+")))) for s in _distinct(draw, n, hi * hi, "addition")]


def read_tsv(path: str | Path, errors: str = "strict", n: int | None = None) -> list[tuple[str, str]]:
    """`source<TAB>target` lines of a UTF-8 file; a line without exactly one tab is a DataError."""
    if not Path(path).expanduser().is_file():
        raise DataError(f"tsv:{path}: no such file")
    pairs = []
    for lineno, line in enumerate(read_text_file(path, errors).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"tsv:{path} line {lineno}: expected source<TAB>target, found {len(parts) - 1} tabs")
        pairs.append((parts[0], parts[1]))
        if n is not None and len(pairs) >= n:
            break
    if not pairs:
        raise DataError(f"tsv:{path}: no pairs")
    return pairs


def exact_match(preds: Sequence[Any], targets: Sequence[Any]) -> float:
    """Fraction of predictions equal to their target: (1/N) sum_i [preds_i == targets_i]."""
    if len(preds) != len(targets):
        raise DataError(f"exact_match: {len(preds)} predictions for {len(targets)} targets")
    if not targets:
        raise DataError("exact_match: no targets")
    return sum(p == t for p, t in zip(preds, targets)) / len(targets)


def token_accuracy(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Σ_i #{t : pred_i[t] == target_i[t]} / Σ_i max(|pred_i|, |target_i|): position-wise matches,
    so a missing, extra or shifted symbol costs; 1 only when every prediction equals its target."""
    if len(preds) != len(targets):
        raise DataError(f"token_accuracy: {len(preds)} predictions for {len(targets)} targets")
    total = sum(max(len(p), len(t)) for p, t in zip(preds, targets))
    if total == 0:
        return 1.0
    return sum(sum(a == b for a, b in zip(p, t)) for p, t in zip(preds, targets)) / total


def _ngrams(text: str, n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(len(text) - n + 1):
        counts[text[i:i + n]] = counts.get(text[i:i + n], 0) + 1
    return counts


def chrf(preds: Sequence[str], targets: Sequence[str], max_n: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (Popović 2015, "chrF: character n-gram F-score for automatic MT evaluation"), 0..100.

    Whitespace is removed. For each n = 1..max_n the clipped character n-gram matches, hypothesis
    and reference n-grams are summed over the corpus: P_n = matches / hyp, R_n = matches / ref (an
    order with no n-grams on a side is left out of that side's mean); P and R are the means over n,
    and chrF = 100 (1 + β²) P R / (β² P + R), recall weighted β = 2 times as much as precision.
    """
    if len(preds) != len(targets):
        raise DataError(f"chrf: {len(preds)} predictions for {len(targets)} targets")
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        match = hyp = ref = 0
        for p, t in zip(preds, targets):
            hp, rt = _ngrams("".join(p.split()), n), _ngrams("".join(t.split()), n)
            match += sum(min(c, rt.get(g, 0)) for g, c in hp.items())
            hyp += sum(hp.values())
            ref += sum(rt.values())
        if hyp:
            precisions.append(match / hyp)
        if ref:
            recalls.append(match / ref)
    P = sum(precisions) / len(precisions) if precisions else 0.0
    R = sum(recalls) / len(recalls) if recalls else 0.0
    if P + R == 0:
        return 0.0
    return 100.0 * (1 + beta ** 2) * P * R / (beta ** 2 * P + R)


def load_pairs(spec: str = "copy", n: int | None = None, seed: int | None = None, **task_kw) -> list[tuple[str, str]]:
    """Load (source, target) pairs for `copy`, `reverse`, `sort`, `addition` or `tsv:PATH`.

    n: number of pairs (synthetic default 10000; for tsv, at most n lines); seed: synthetic only.
    task_kw: min_len, max_len, alphabet (string tasks), digits (addition), errors (tsv).
    """
    accepted = parse_spec(spec).source.options
    ambient = {k: v for k, v in (("n", n), ("seed", seed)) if k in accepted}
    parsed, opts = resolve(spec, "pairs", **ambient, **task_kw)
    return parsed.source.loader(parsed.arg, **opts)


def _load_string(task: str, arg: None = None, **kw: Any) -> list[tuple[str, str]]:
    return string_task(task, **kw)


def _load_addition(arg: None = None, **kw: Any) -> list[tuple[str, str]]:
    return addition(**kw)


def _load_tsv(arg: str, **kw: Any) -> list[tuple[str, str]]:
    return read_tsv(arg, **kw)


_STRING_OPTS = {"n": int, "seed": int, "min_len": int, "max_len": int, "alphabet": str}
_EXAMPLES = {"copy": '"cadb" -> "cadb"', "reverse": '"cadb" -> "bdac"', "sort": '"cadb" -> "abcd"'}
for _task in ("copy", "reverse", "sort"):
    register_source(Source(_task, "pairs", partial(_load_string, _task), options=_STRING_OPTS,
                           summary=f"{_task} task, {_EXAMPLES[_task]}; 10000 distinct sources, lengths 1-10 "
                                   f"over a-j"))
register_source(Source("addition", "pairs", _load_addition, options={"n": int, "seed": int, "digits": int},
                       summary='addition, "123+45=" -> "168"; 10000 distinct pairs of 3-digit operands'))
register_source(Source("tsv", "pairs", _load_tsv, arg="PATH", arg_required=True,
                       options={"errors": str, "n": int},
                       summary="source<TAB>target pairs, one per line (UTF-8)"))
