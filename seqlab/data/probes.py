"""Long-range memory probes, parameterised by the delay / length T, with memoryless baselines.

Shapes: n examples, T delay or sequence length.

Copy after a delay (Arjovsky, Shah & Bengio 2016, "Unitary Evolution Recurrent Neural Networks",
sec. 4.1). Symbols: 0 = blank, 1..8 = the 8 categories, 9 = delimiter; sequences of length T + 20:

    x = [s_1 .. s_10, 0 * (T - 1), 9, 0 * 10]      s_i uniform in {1..8}
    y = [0 * (T + 10),             s_1 .. s_10]

Scored with cross-entropy over all T + 20 steps. The memoryless baseline predicts blanks for
T + 10 steps, then the uniform distribution over the 8 categories for the last 10:
    baseline = 10 ln 8 / (T + 20)  nats per step.

Adding problem (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", experiment 4; in the form
of Le, Jaitly & Hinton 2015 and Arjovsky et al. 2016). Input (n, T, 2): channel 0 holds values
u_t ~ U[0, 1], channel 1 is a marker, 1 at exactly two positions (one uniform in [0, T/2), one in
[T/2, T)) and 0 elsewhere. Target (n,): the sum of the two marked values. Predicting 1 always gives
MSE = Var(u_a + u_b) = 2/12 = 1/6 ~ 0.167, the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.spec import Source, register_source, resolve
from seqlab.errors import DataError

BLANK, DELIMITER, N_CATEGORIES, N_COPY = 0, 9, 8, 10

COPY_LAYOUT = ("x[:, :10] = symbols in 1..8; x[:, 10:T+9] = 0 (blank); x[:, T+9] = 9 (delimiter); "
               "x[:, T+10:] = 0. y[:, :T+10] = 0; y[:, T+10:] = x[:, :10]. Length T+20, vocab 10.")
ADDING_LAYOUT = ("x[:, :, 0] = values U[0,1]; x[:, :, 1] = marker (1 at one t < T/2 and one t >= T/2); "
                 "y = sum of the two marked values.")


@dataclass
class CopyMemory:
    """x, y: LongTensor (n, T + 20); baseline in nats per step; vocab_size 10; layout: see COPY_LAYOUT."""

    x: torch.Tensor
    y: torch.Tensor
    T: int
    baseline: float
    vocab_size: int = 10
    layout: str = COPY_LAYOUT


@dataclass
class AddingProblem:
    """x: FloatTensor (n, T, 2); y: FloatTensor (n,); baseline MSE 1/6; layout: see ADDING_LAYOUT."""

    x: torch.Tensor
    y: torch.Tensor
    T: int
    baseline: float
    layout: str = ADDING_LAYOUT


def copy_baseline(T: int) -> float:
    """10 ln 8 / (T + 20): nats per step of the memoryless strategy."""
    return N_COPY * math.log(N_CATEGORIES) / (T + 2 * N_COPY)


def copy_memory(T: int = 100, n: int = 1000, seed: int = 0) -> CopyMemory:
    """The copy-after-delay task of Arjovsky et al. 2016 (see module docstring)."""
    if T < 1 or n < 1:
        raise DataError(f"copy_memory needs T >= 1 and n >= 1, got T={T}, n={n}")
    g = torch.Generator().manual_seed(seed)
    L = T + 2 * N_COPY
    symbols = torch.randint(1, N_CATEGORIES + 1, (n, N_COPY), generator=g)    # (n, 10)
    x = torch.full((n, L), BLANK, dtype=torch.long)                           # (n, T+20)
    x[:, :N_COPY] = symbols
    x[:, T + N_COPY - 1] = DELIMITER
    y = torch.full((n, L), BLANK, dtype=torch.long)                           # (n, T+20)
    y[:, T + N_COPY:] = symbols
    return CopyMemory(x, y, T, copy_baseline(T))


def adding_problem(T: int = 100, n: int = 1000, seed: int = 0) -> AddingProblem:
    """The adding problem (see module docstring)."""
    if T < 2 or n < 1:
        raise DataError(f"adding_problem needs T >= 2 and n >= 1, got T={T}, n={n}")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, T, generator=g)                                    # (n, T)
    half = T // 2
    first = torch.randint(0, half, (n,), generator=g)                         # (n,)
    second = torch.randint(half, T, (n,), generator=g)                        # (n,)
    marker = torch.zeros(n, T)                                                # (n, T)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    x = torch.stack([values, marker], dim=-1)                                 # (n, T, 2)
    y = values[rows, first] + values[rows, second]                            # (n,)
    return AddingProblem(x, y, T, 1.0 / 6.0)


def load_probe(spec: str, n: int | None = None, seed: int | None = None) -> CopyMemory | AddingProblem:
    """`copy-memory[:T]` or `adding-problem[:T]` (T default 100) as a probe dataclass."""
    parsed, opts = resolve(spec, "probe", n=n, seed=seed)
    return parsed.source.loader(parsed.arg, **opts)


def _parse_T(kind: str, arg: str | None) -> int:
    if arg is None:
        return 100
    try:
        return int(arg)
    except ValueError:
        raise DataError(f"{kind}:{arg}: T must be an integer, e.g. {kind}:200") from None


def _load_copy(arg: str | None = None, n: int = 1000, seed: int = 0) -> CopyMemory:
    return copy_memory(_parse_T("copy-memory", arg), n, seed)


def _load_adding(arg: str | None = None, n: int = 1000, seed: int = 0) -> AddingProblem:
    return adding_problem(_parse_T("adding-problem", arg), n, seed)


register_source(Source("copy-memory", "probe", _load_copy, arg="T", options={"n": int, "seed": int},
                       summary="copy 10 symbols after a delay of T blanks (Arjovsky et al. 2016); "
                               "baseline 10 ln 8/(T+20) nats/step"))
register_source(Source("adding-problem", "probe", _load_adding, arg="T", options={"n": int, "seed": int},
                       summary="sum the two marked values of a length-T sequence (Hochreiter & "
                               "Schmidhuber 1997); baseline MSE 1/6"))
