"""Markov n-gram language model (order k: the previous k tokens are the whole context), fit by counting.

Reference: S. F. Chen and J. Goodman, "An Empirical Study of Smoothing Techniques for Language
Modeling", Harvard TR-10-98 (1998); the interpolated Witten-Bell and Kneser-Ney forms follow
nltk.lm (`InterpolatedLanguageModel`, `WittenBell`, `KneserNey`) exactly, so scores agree with it.

Shapes: B batch, T time, V vocabulary, k context length (order), N query rows, M n-gram types.

Counting is vectorised: every m-gram (m = 1..k+1) is an integer key in base b = V + 1 (token ids
0..V-1 plus the internal start symbol BOS = V), most recent token least significant,

    key(c_1..c_j, w) = key(c_1..c_j) * b + w,

and counting the keys gives C(c, w) (`_count`: a `torch.bincount` over the key space when that is
small, b^m <= 4 L + 2^16 for L keys, as for characters up to trigrams; else `torch.unique`, a
sort). The sorted keys and their counts are the
model's buffers (`keys_m`, `counts_m`), so the model saves to safetensors; every derived table
(context totals N(c), types N1+(c .), continuation counts N1+(. c w)) is rebuilt from them.
Lookups are `torch.searchsorted` over sorted keys: no Python loop over n-grams.

Smoothing of P(w | c) for a context c of length k (c' = c without its oldest token):

    mle          C(c, w) / N(c); an unseen context backs off to its longest seen suffix
    lidstone     (C(c, w) + gamma) / (N(c) + V gamma)      (laplace: gamma = 1)
    witten-bell  (1 - g(c)) C(c, w) / N(c) + g(c) P(w | c'),  g(c) = N1+(c .) / (N1+(c .) + N(c))
    kneser-ney   max(n(c, w) - d, 0) / n(c) + d t(c) / n(c) * P(w | c'),
                 n(c, w) = C(c, w) at the top order, N1+(. c w) (continuation count) below it,
                 n(c) = Σ_w n(c, w), t(c) = #{w : n(c, w) > 0}; the base is P(w) = N1+(. w) / N1+(. .)

nltk's KneserNey uses the raw type count N1+(c .) = #{w : C(c, w) > 0} as t(c) below the top order
too; where some (c, w) occurs only at a sequence start (no predecessor, e.g. c = <s> after nltk's
padding) the two differ and nltk's distribution sums to more than 1. seqlab uses the normalised
t(c) unless `nltk_compat=True`, which reproduces nltk exactly.

with P(w | ()) = C(w) / N for mle and witten-bell. An interpolated level whose context was never
seen (N(c) = 0, or n(c) = 0 for kneser-ney, where nltk divides by zero) is skipped: P(w | c) =
P(w | c'). Finally every distribution is mixed with the uniform one,

    P_final(w | c) = (1 - eps) P(w | c) + eps / V,

so no score is ever 0 (log -inf) or NaN, and scores differ from nltk's by at most eps relative.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from seqlab.errors import ConfigError, DataError
from seqlab.models.base import build_config, SequenceModel
from seqlab.models.emissions import IGNORE_INDEX

__all__ = ["MarkovLM", "MarkovConfig", "SMOOTHINGS"]

SMOOTHINGS = ("mle", "laplace", "lidstone", "witten-bell", "kneser-ney")


@dataclasses.dataclass
class MarkovConfig:
    """order: context length k >= 1 (an n-gram model with n = k + 1); vocab_size: V.

    gamma: the Lidstone pseudo-count; discount: Kneser-Ney's d in [0, 1]; eps: weight of the
    uniform distribution mixed into every prediction (keeps log-probabilities finite);
    nltk_compat: kneser-ney with nltk.lm's lower-order weights (raw type counts, not normalised).
    """

    vocab_size: int = 256                     # V, tokens (set from the tokenizer)
    order: int = 2                            # k: the previous k tokens are the context (a k+1-gram model)
    smoothing: str = dataclasses.field(default="kneser-ney", metadata={"choices": SMOOTHINGS})             # how unseen n-grams get probability
    gamma: float = 0.1                        # Lidstone pseudo-count added to every count (lidstone only)
    discount: float = 0.75                    # Kneser-Ney's absolute discount d, in [0, 1]
    eps: float = 1e-10                        # floor of a probability, keeps log P finite
    nltk_compat: bool = False                 # kneser-ney with nltk.lm's lower-order weights (unnormalised), for its tests

    def __post_init__(self):
        if self.order < 1:
            raise ConfigError(f"markov order must be >= 1 context token, got {self.order}")
        if self.vocab_size is None:
            raise ConfigError("markov is a token model: it needs an integer vocab_size")
        if self.vocab_size < 1:
            raise ConfigError(f"vocab_size must be >= 1, got {self.vocab_size}")
        if self.smoothing not in SMOOTHINGS:
            raise ConfigError(f"unknown smoothing {self.smoothing!r}; choose from {', '.join(SMOOTHINGS)}")
        if self.smoothing == "lidstone" and not self.gamma > 0:
            raise ConfigError(f"lidstone gamma must be > 0, got {self.gamma}")
        if not 0.0 <= self.discount <= 1.0:
            raise ConfigError(f"kneser-ney discount must lie in [0, 1], got {self.discount}")
        if not 0.0 <= self.eps < 1.0:
            raise ConfigError(f"eps must lie in [0, 1), got {self.eps}")
        if (self.order + 1) * math.log2(self.vocab_size + 1) >= 63:
            raise ConfigError(f"order {self.order} with vocab_size {self.vocab_size} does not fit "
                              "n-gram keys in 64 bits; lower the order")


class _Level:
    """Derived tables of one n-gram order m (context length j = m - 1), indexed by context."""

    def __init__(self, keys, counts, base, m):
        self.m = m
        self.keys, self.counts = keys, counts.double()  # (M,), (M,)
        self.words = keys % base  # (M,)
        ctx = keys // base  # (M,) sorted, since keys are
        self.ctx_keys, self.types = torch.unique_consecutive(ctx, return_counts=True)  # (Mc,)
        self.start = torch.cumsum(self.types, 0) - self.types  # (Mc,) first n-gram of each context
        group = torch.repeat_interleave(torch.arange(len(self.ctx_keys)), self.types)  # (M,)
        self.group = group
        # N(c) = Σ_w C(c, w)
        self.total = torch.zeros(len(self.ctx_keys), dtype=torch.float64).index_add_(0, group, self.counts)
        self.cont = None  # N1+(. c w), aligned with keys (kneser-ney below the top order)
        self.cont_total = None  # Σ_w N1+(. c w), aligned with ctx_keys
        self.cont_types = None  # #{w : N1+(. c w) > 0}, aligned with ctx_keys

    def set_continuations(self, higher_keys, base):
        """Continuation counts from the (m+1)-gram types: N1+(. c w) = #{u : C(u, c, w) > 0}."""
        mod = base ** self.m
        suffix, n = _count(higher_keys % mod, mod)  # every suffix is an m-gram
        cont = torch.zeros(len(self.keys), dtype=torch.float64)
        if len(suffix):
            cont[torch.searchsorted(self.keys, suffix)] = n.double()
        self.cont = cont
        self.cont_total = torch.zeros(len(self.ctx_keys), dtype=torch.float64).index_add_(0, self.group, cont)
        # N1+(. c .) as types: #{w : N1+(. c w) > 0}
        self.cont_types = torch.zeros(len(self.ctx_keys), dtype=torch.float64).index_add_(
            0, self.group, (cont > 0).double())

    def find_context(self, ctx_key):
        """ctx_key (N,) -> (index into ctx_keys (N,), found (N,) bool)."""
        if len(self.ctx_keys) == 0:
            return torch.zeros_like(ctx_key), torch.zeros_like(ctx_key, dtype=torch.bool)
        i = torch.searchsorted(self.ctx_keys, ctx_key).clamp(max=len(self.ctx_keys) - 1)
        return i, self.ctx_keys[i] == ctx_key

    def find_ngram(self, key):
        """key (N,) -> (index into keys (N,), found (N,) bool)."""
        if len(self.keys) == 0:
            return torch.zeros_like(key), torch.zeros_like(key, dtype=torch.bool)
        i = torch.searchsorted(self.keys, key).clamp(max=len(self.keys) - 1)
        return i, self.keys[i] == key

    def dense(self, values, ctx_index, V):
        """Scatter values (M,) of the n-grams of each context ctx_index (R,) into a (R, V) matrix."""
        n = self.types[ctx_index]  # (R,)
        rows = torch.repeat_interleave(torch.arange(len(ctx_index)), n)  # (S,)
        offs = torch.arange(len(rows)) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)  # (S,)
        pos = self.start[ctx_index][rows] + offs  # (S,)
        out = torch.zeros(len(ctx_index), V, dtype=torch.float64)
        out[rows, self.words[pos]] = values[pos]
        return out  # (R, V)


class MarkovLM(SequenceModel):
    """Order-k Markov (n-gram) language model: P(x_t | x_<t) = P(x_t | x_{t-k}, ..., x_{t-1}).

    Contexts before the start are the internal start symbol BOS = V, so x_0 is predicted from
    (BOS, ..., BOS). Fit by counting with `fit(data)`; there are no trainable parameters.

    Inputs: token ids (B, T) in [0, V). `conditionals(x)` -> log-probabilities (B, T+1, V) (a
    categorical emission's logits); `log_prob` sums pointwise float64 scores.
    State (incremental decoding): the last k tokens (B, k), BOS-filled at the start.
    """

    config_class = MarkovConfig

    def __init__(self, config: MarkovConfig | dict | None = None, **fields):
        config = build_config(MarkovConfig, config, fields)
        super().__init__(config)
        self.V, self.k = config.vocab_size, config.order
        self.base = self.V + 1
        self.bos = self.V
        for m in range(1, self.k + 2):
            self.register_buffer(f"keys_{m}", torch.zeros(0, dtype=torch.long))
            self.register_buffer(f"counts_{m}", torch.zeros(0, dtype=torch.long))
        self._build_tables()

    # ---------------------------------------------------------------- fitting
    @torch.no_grad()
    def fit(self, data, pad_start: bool = True) -> "MarkovLM":
        """Count all m-grams (m = 1..k+1) of the training sequences, replacing earlier counts.

        data: a 1-D stream, a (N, T) LongTensor (entries -100 end a row), or a list of 1-D
        sequences. pad_start=True prefixes each sequence with k BOS, so its first tokens are
        counted in BOS contexts. pad_start=False counts only m-grams inside each sequence (nltk's
        everygrams), for data that is already padded with explicit tokens (nltk's <s>, </s>).
        An m-gram is counted when its last token is a real token.
        """
        tokens, lengths = _as_flat(data, self.V)  # (L,), (S,)
        pad = self.k if pad_start else 0
        bos = torch.full((pad,), self.bos, dtype=torch.long)
        if len(lengths) == 1:  # one stream: no sequence boundaries, position = index
            flat, pos = torch.cat([bos, tokens]), None  # (N,) = (pad + L,)
        else:
            lens = lengths + pad  # (S,) padded lengths
            # each sequence's tokens move right by pad for itself and every sequence before it
            seq_id = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # (L,)
            flat = torch.full((int(lens.sum()),), self.bos, dtype=torch.long)  # (N,) = (L + S pad,)
            flat[torch.arange(len(tokens)) + pad * (seq_id + 1)] = tokens
            # position of every element inside its padded sequence
            pos = torch.arange(len(flat)) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)  # (N,)
        N = len(flat)
        key = flat  # key[i]: the m-gram ending at position t = i + m - 1 (m = 1: every position)
        for m in range(1, self.k + 2):
            if m > 1:
                # key(x_{t-m+1..t}) = key(x_{t-m+2..t}) + x_{t-m+1} b^(m-1),  t = m-1..N-1
                key = key[1:] + flat[:max(N - m + 1, 0)] * self.base ** (m - 1)
            # counted: the m-grams inside one sequence that end at a real token, pos(t) >= max(pad, m-1)
            first = max(pad, m - 1)
            counted = key[first - (m - 1):] if pos is None else key[pos[m - 1:] >= first]
            keys, counts = _count(counted, self.base ** m)  # sorted
            setattr(self, f"keys_{m}", keys.to(self.device))
            setattr(self, f"counts_{m}", counts.to(self.device))
        self._build_tables()
        return self

    def _build_tables(self):
        """Rebuild the derived lookup tables from the count buffers (after fit or load)."""
        self._levels = []
        for m in range(1, self.k + 2):
            self._levels.append(_Level(getattr(self, f"keys_{m}").cpu(), getattr(self, f"counts_{m}").cpu(),
                                       self.base, m))
        if self.config.smoothing == "kneser-ney":
            for m in range(1, self.k + 1):  # every order below the top one
                self._levels[m - 1].set_continuations(self._levels[m].keys, self.base)
        # the order-0 distribution P(w | ())
        lvl = self._levels[0]
        uni = torch.zeros(self.V, dtype=torch.float64)
        # kneser-ney: N1+(. w) / N1+(. .); the others: C(w) / N
        uni[lvl.words] = lvl.cont if self.config.smoothing == "kneser-ney" else lvl.counts
        total = uni.sum()
        self._unigram = uni / total if total > 0 else torch.full((self.V,), 1.0 / self.V, dtype=torch.float64)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # count tables change size with the data: take the incoming shapes, then rebuild
        for m in range(1, self.k + 2):
            for name in (f"keys_{m}", f"counts_{m}"):
                if prefix + name in state_dict:
                    self._buffers[name] = torch.empty_like(state_dict[prefix + name], device=self.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._build_tables()

    # ---------------------------------------------------------------- scoring core (float64)
    def _probs(self, ctx: torch.Tensor, words: torch.Tensor | None = None) -> torch.Tensor:
        """P(w | ctx) for contexts ctx (N, k) with ids in [0, V] (V = BOS).

        words None -> the whole distribution (N, V); words (N,) -> P(words | ctx) (N,).
        """
        ctx = ctx.cpu().long()
        N, V, b, cfg = ctx.shape[0], self.V, self.base, self.config
        dense = words is None
        if not dense:
            words = words.cpu().long()
        p = self._unigram.expand(N, V).clone() if dense else self._unigram[words]  # (N, V) | (N,)
        col = (lambda t: t[:, None]) if dense else (lambda t: t)
        ctx_key = torch.zeros(N, dtype=torch.long)
        levels = range(1, self.k + 1) if cfg.smoothing not in ("laplace", "lidstone") else [self.k]
        for j in range(1, self.k + 1):
            # key of the last j context tokens: key_j = key_{j-1} + c_{k-j} b^(j-1)
            ctx_key = ctx_key + ctx[:, self.k - j] * b ** (j - 1)
            if j not in levels:
                continue
            lvl = self._levels[j]  # the (j+1)-grams
            if len(lvl.keys) == 0:  # nothing counted at this order: every context is unseen
                if cfg.smoothing in ("laplace", "lidstone"):
                    p = torch.full_like(p, 1.0 / V)
                continue
            ci, seen = lvl.find_context(ctx_key)  # (N,)
            Nc = torch.where(seen, lvl.total[ci], torch.zeros((), dtype=torch.float64))  # (N,)
            top = j == self.k
            use_cont = cfg.smoothing == "kneser-ney" and not top
            values = lvl.cont if use_cont else lvl.counts
            if dense:
                c = torch.zeros(N, V, dtype=torch.float64)
                if bool(seen.any()):
                    c[seen] = lvl.dense(values, ci[seen], V)
            else:
                gi, hit = lvl.find_ngram(ctx_key * b + words)
                c = torch.where(hit & seen, values[gi] if len(values) else torch.zeros(N, dtype=torch.float64),
                                torch.zeros((), dtype=torch.float64))  # (N,)
            if cfg.smoothing in ("laplace", "lidstone"):
                gamma = 1.0 if cfg.smoothing == "laplace" else cfg.gamma
                # (C(c, w) + γ) / (N(c) + V γ)
                p = (c + gamma) / col(Nc + V * gamma)
                continue
            ok = seen & (Nc > 0)
            safe = col(torch.where(ok, Nc, torch.ones_like(Nc)))
            if cfg.smoothing == "mle":
                # C(c, w) / N(c), else the lower order (back-off to the longest seen suffix)
                p = torch.where(col(ok), c / safe, p)
            elif cfg.smoothing == "witten-bell":
                n1 = torch.where(ok, lvl.types[ci].double(), torch.zeros_like(Nc))
                g = col(n1 / (n1 + torch.where(ok, Nc, torch.ones_like(Nc))))
                # (1 - g) C(c, w) / N(c) + g P(w | c')
                p = torch.where(col(ok), (1 - g) * c / safe + g * p, p)
            else:  # kneser-ney
                d = cfg.discount
                tot = torch.where(ok, lvl.cont_total[ci], torch.zeros_like(Nc)) if use_cont else Nc
                ok = ok & (tot > 0)
                tot = col(torch.where(ok, tot, torch.ones_like(tot)))
                # the weight's type count: continuation types below the top order (normalised);
                # nltk uses the raw types N1+(c .) there, which can make Σ_w P(w | c) exceed 1
                types = lvl.cont_types if use_cont and not cfg.nltk_compat else lvl.types.double()
                n1 = col(torch.where(ok, types[ci], torch.zeros_like(Nc)))
                # max(n(c, w) - d, 0) / n(c) + d N1+(c .) / n(c) * P(w | c')
                p = torch.where(col(ok), (c - d).clamp(min=0) / tot + d * n1 / tot * p, p)
        # P_final = (1 - eps) P + eps / V
        return (1 - cfg.eps) * p + cfg.eps / V

    def _contexts(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> the k-token context of every position 0..T: (B, T+1, k), BOS before the start."""
        B, T = x.shape
        padded = torch.cat([torch.full((B, self.k), self.bos, dtype=torch.long, device=x.device), x], 1)
        return padded.unfold(1, self.k, 1)  # (B, T+1, k)

    # ---------------------------------------------------------------- SequenceModel interface
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> log P(. | context) for positions 0..T: (B, T+1, V) float32."""
        B, T = x.shape
        ctx = self._contexts(x.long()).reshape(-1, self.k)  # (B*(T+1), k)
        p = self._probs(ctx)  # (B*(T+1), V)
        return p.log().float().view(B, T + 1, self.V).to(x.device)

    def log_prob(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Σ_t log P(x_t | x_{t-k..t-1}) over t < lengths[b] -> (B,) nats.

        Pointwise lookups (no (B, T, V) matrix), summed in float64 and returned as float32 like
        every other model's; use `prob` for float64 scores.
        """
        x = self._check_input(x)
        mask = self._lengths_mask(x, lengths)  # (B, T)
        B, T = x.shape
        if T == 0:
            return torch.zeros(B, device=x.device)
        clean = torch.where(mask, x, torch.zeros_like(x))
        ctx = self._contexts(clean[:, :-1]).reshape(-1, self.k)  # (B*T, k)
        lp = self._probs(ctx, clean.reshape(-1)).log().view(B, T).to(x.device)  # (B, T)
        return (lp * mask).sum(1).float()

    def init_state(self, batch_size: int):
        return torch.full((batch_size, self.k), self.bos, dtype=torch.long, device=self.device)  # (B, k)

    def step(self, x_t, state):
        """Read x_t (B,) (None: the start symbol, nothing to shift) -> (log-probs (B, V), state (B, k))."""
        if x_t is not None:
            state = torch.cat([state[:, 1:], x_t.long().view(-1, 1)], 1)  # (B, k)
        return self._probs(state).log().float().to(state.device), state

    def prob(self, context, word=None) -> torch.Tensor:
        """Float64 P(word | context) for contexts (N, k) (or (k,)) of ids in [0, V] (V = BOS).

        word None -> the full distribution (N, V). Used to compare with nltk.lm's `score`.
        """
        ctx = torch.as_tensor(context).long()
        single = ctx.dim() == 1
        ctx = ctx.view(-1, self.k) if ctx.numel() else ctx.view(0, self.k)
        if bool(((ctx < 0) | (ctx > self.V)).any()):
            raise DataError(f"context ids must lie in [0, {self.V}] ({self.V} = BOS)")
        w = None if word is None else torch.as_tensor(word).long().view(-1)
        if w is not None and bool(((w < 0) | (w >= self.V)).any()):
            raise DataError(f"word ids must lie in [0, {self.V})")
        p = self._probs(ctx, w)
        return p[0] if single else p

    def num_ngrams(self) -> list[int]:
        """Number of distinct m-grams stored for m = 1..k+1."""
        return [len(getattr(self, f"keys_{m}")) for m in range(1, self.k + 2)]


def _count(keys: torch.Tensor, space: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct keys (sorted) and how often each occurs, for keys (L,) in [0, space).

    A bincount over the whole key space is one pass over the keys and one over the space; a sort
    (torch.unique) is O(L log L), so the count wins where the space is not much larger than L
    (1M characters, trigrams of a 100-symbol vocabulary: 10^6 bins, about 8x faster than the sort).
    """
    if space <= 4 * len(keys) + 2**16:
        counts = torch.bincount(keys, minlength=space)  # (space,)
        distinct = counts.nonzero().squeeze(1)  # (M,) sorted
        return distinct, counts[distinct]
    return torch.unique(keys, return_counts=True)


def _as_flat(data, V: int):
    """Training data -> (all tokens concatenated (L,), sequence lengths (S,)), ids in [0, V)."""
    if isinstance(data, (list, tuple)) and not data:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    if isinstance(data, (list, tuple)) and not isinstance(data[0], int):
        seqs = [torch.as_tensor(s).reshape(-1) for s in data]
        if any(s.is_floating_point() for s in seqs):
            raise DataError("markov fit needs integer token ids, got floating-point values")
        tokens = torch.cat(seqs).long()
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    else:
        t = torch.as_tensor(data)
        if t.is_floating_point():
            raise DataError(f"markov fit needs integer token ids, got {t.dtype}")
        t = t.long()
        if t.dim() == 1:
            tokens, lengths = t, torch.tensor([len(t)])
        elif t.dim() == 2:
            # a row ends at its first ignored (-100) entry
            ign = t == IGNORE_INDEX
            lengths = torch.where(ign.any(1), ign.int().argmax(1), t.shape[1]).long()  # (S,)
            tokens = t[torch.arange(t.shape[1]) < lengths[:, None]]  # row-major
        else:
            raise DataError(f"markov fit data must be 1-D or 2-D, got shape {tuple(t.shape)}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
        raise DataError(f"training data holds token ids outside the vocabulary [0, {V})")
    return tokens, lengths
