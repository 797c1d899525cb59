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

Recall probes (`RecallProbe`: token inputs x, targets y scored only where `mask` is True, and the
accuracy of guessing as the baseline; a model is scored by its accuracy on the masked positions):

- Selective copying (Gu & Dao 2023, "Mamba", §4.1.1): K symbols in 1..8 at random positions of
  T noise (0) steps, then K markers (9); at the markers, output the symbols in order. Unlike copy
  after a delay, where the symbols sit is random, so a fixed-delay (time-invariant) model cannot
  solve it. Baseline 1/8.
- Induction heads (Olsson et al. 2022, "In-context Learning and Induction Heads"): T tokens from
  V; token a occurs exactly twice, at p (followed by b at p + 1) and at the last step; predict b
  at the last step ("... a b ... a -> b"). b is uniform over the V - 1 tokens other than a:
  baseline 1/(V - 1).
- Multi-query associative recall (Arora et al. 2023, "Zoology"): D key-value pairs
  k_1 v_1 .. k_D v_D (distinct keys from K key symbols, values from V value symbols), then Q of the
  keys again, each followed by its value, in random order at random cells of the remaining
  blank (0) steps; at each queried key, predict its value. Baseline 1/V.
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


def load_probe(spec: str, n: int | None = None, seed: int | None = None,
               **options) -> CopyMemory | AddingProblem | RecallProbe:
    """A probe spec (T default 100) as a probe dataclass: `copy-memory[:T]`, `adding-problem[:T]`,
    `selective-copying[:T]`, `induction-heads[:T]`, `mqar[:T]`; `options` are the spec's own
    (e.g. `pairs=` of mqar) and override those written in the spec."""
    parsed, opts = resolve(spec, "probe", n=n, seed=seed, **options)
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


# ---------------------------------------------------------------------------------------------
# recall probes: selective copying, induction heads, multi-query associative recall

N_SELECT = 8  # symbols to copy in selective copying (default)

SELECTIVE_LAYOUT = ("x[:, :T] = 0 (noise) except K symbols in 1..8 at random sorted positions; x[:, T:] = 9 "
                    "(marker) K times. y[:, T:] = the K symbols in order; mask = the last K steps. "
                    "Length T+K, vocab 10.")
INDUCTION_LAYOUT = ("x = T tokens in 0..V-1; x[:, p] = x[:, T-1] = a (nowhere else), x[:, p+1] = b, "
                    "p uniform in [0, T-3]. y[:, T-1] = b; mask = the last step. Length T, vocab V.")
MQAR_LAYOUT = ("x[:, :2D] = k_1 v_1 .. k_D v_D (keys distinct in 1..K, values in K+1..K+V); the rest is "
               "blank (0) except Q query cells (2 steps each, at even offsets after 2D): k_i v_i. "
               "y = v_i at each query key; mask = the query keys. Length T, vocab 1+K+V.")


@dataclass
class RecallProbe:
    """x, y: LongTensor (n, L); mask: BoolTensor (n, L), the scored positions (y means nothing
    elsewhere); baseline: accuracy of guessing at the scored positions; vocab_size covers x and y."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    T: int
    baseline: float
    vocab_size: int
    layout: str


def _random_subsets(n: int, size: int, k: int, g: torch.Generator) -> torch.Tensor:
    """(n, k) LongTensor: per row, k distinct values of range(size) in random order."""
    return torch.rand(n, size, generator=g).argsort(dim=1)[:, :k]


def selective_copying(T: int = 100, n: int = 1000, seed: int = 0, tokens: int = N_SELECT) -> RecallProbe:
    """Selective copying (Gu & Dao 2023, §4.1.1; see module docstring); baseline 1/8."""
    if n < 1 or tokens < 1 or T < tokens:
        raise DataError(f"selective_copying needs n >= 1, tokens >= 1 and T >= tokens, got T={T}, n={n}, "
                        f"tokens={tokens}")
    g = torch.Generator().manual_seed(seed)
    K = tokens
    symbols = torch.randint(1, N_CATEGORIES + 1, (n, K), generator=g)       # (n, K)
    where = _random_subsets(n, T, K, g).sort(dim=1).values                 # (n, K) sorted positions
    x = torch.full((n, T + K), BLANK, dtype=torch.long)                     # (n, T+K)
    x.scatter_(1, where, symbols)
    x[:, T:] = DELIMITER
    y = torch.zeros_like(x)
    y[:, T:] = symbols
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, T:] = True
    return RecallProbe("selective-copying", x, y, mask, T, 1.0 / N_CATEGORIES, N_CATEGORIES + 2, SELECTIVE_LAYOUT)


def induction_heads(T: int = 100, n: int = 1000, seed: int = 0, vocab: int = 16) -> RecallProbe:
    """Induction heads (Olsson et al. 2022; see module docstring); baseline 1/(vocab - 1)."""
    if n < 1 or T < 3 or vocab < 2:
        raise DataError(f"induction_heads needs n >= 1, T >= 3 and vocab >= 2, got T={T}, n={n}, vocab={vocab}")
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, vocab, (n, 1), generator=g)                        # (n, 1) the trigger
    others = torch.randint(0, vocab - 1, (n, T), generator=g)               # (n, T)
    x = others + (others >= a).long()                                       # every token != a
    p = torch.randint(0, T - 2, (n, 1), generator=g)                        # (n, 1) in [0, T-3]
    x.scatter_(1, p, a)
    x[:, T - 1:] = a
    b = x.gather(1, p + 1)                                                  # (n, 1) the token after a
    y = torch.zeros_like(x)
    y[:, T - 1:] = b
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, T - 1] = True
    return RecallProbe("induction-heads", x, y, mask, T, 1.0 / (vocab - 1), vocab, INDUCTION_LAYOUT)


def mqar(T: int = 100, n: int = 1000, seed: int = 0, pairs: int = 8, queries: int | None = None,
         keys: int = 16, values: int = 16) -> RecallProbe:
    """Multi-query associative recall (Arora et al. 2023; see module docstring); baseline 1/values.

    Zoology spaces its queries by a power law; here the query cells are uniform over the blank
    part, which keeps every gap length equally likely.
    """
    Q = pairs if queries is None else queries
    cells = (T - 2 * pairs) // 2
    if n < 1 or pairs < 1 or not 1 <= Q <= pairs or pairs > keys or values < 1 or cells < Q:
        raise DataError(f"mqar needs 1 <= queries <= pairs <= keys, values >= 1 and T >= 2*pairs + 2*queries, "
                        f"got T={T}, pairs={pairs}, queries={Q}, keys={keys}, values={values}, n={n}")
    g = torch.Generator().manual_seed(seed)
    D = pairs
    k = _random_subsets(n, keys, D, g) + 1                                  # (n, D) distinct keys
    v = torch.randint(keys + 1, keys + values + 1, (n, D), generator=g)     # (n, D)
    x = torch.full((n, T), BLANK, dtype=torch.long)                         # (n, T)
    x[:, 0:2 * D:2], x[:, 1:2 * D:2] = k, v
    asked = _random_subsets(n, D, Q, g)                                     # (n, Q) which pairs
    at = 2 * D + 2 * _random_subsets(n, cells, Q, g)                        # (n, Q) where
    qk, qv = k.gather(1, asked), v.gather(1, asked)                         # (n, Q)
    x.scatter_(1, at, qk)
    x.scatter_(1, at + 1, qv)
    y = torch.zeros_like(x)
    y.scatter_(1, at, qv)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask.scatter_(1, at, True)
    return RecallProbe("mqar", x, y, mask, T, 1.0 / values, 1 + keys + values, MQAR_LAYOUT)


def _load_selective(arg: str | None = None, n: int = 1000, seed: int = 0, tokens: int = N_SELECT) -> RecallProbe:
    return selective_copying(_parse_T("selective-copying", arg), n, seed, tokens)


def _load_induction(arg: str | None = None, n: int = 1000, seed: int = 0, vocab: int = 16) -> RecallProbe:
    return induction_heads(_parse_T("induction-heads", arg), n, seed, vocab)


def _load_mqar(arg: str | None = None, n: int = 1000, seed: int = 0, pairs: int = 8, queries: int | None = None,
               keys: int = 16, values: int = 16) -> RecallProbe:
    return mqar(_parse_T("mqar", arg), n, seed, pairs, queries, keys, values)


register_source(Source("selective-copying", "probe", _load_selective, arg="T",
                       options={"n": int, "seed": int, "tokens": int},
                       summary="copy `tokens` (8) symbols scattered among T noise steps, in order (Gu & Dao "
                               "2023); baseline accuracy 1/8"))
register_source(Source("induction-heads", "probe", _load_induction, arg="T",
                       options={"n": int, "seed": int, "vocab": int},
                       summary="after ... a b ... a, predict b; T tokens (Olsson et al. 2022); baseline "
                               "accuracy 1/(vocab-1)"))
register_source(Source("mqar", "probe", _load_mqar, arg="T",
                       options={"n": int, "seed": int, "pairs": int, "queries": int, "keys": int, "values": int},
                       summary="multi-query associative recall: key-value pairs, then queries of the keys "
                               "(Arora et al. 2023); baseline accuracy 1/values"))
