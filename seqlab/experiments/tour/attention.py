"""Sections 6 and 7 of the tour: attention's five steps, why √d_k, and what several heads do.

Paper: Vaswani et al., "Attention Is All You Need", 2017, sections 3.2.1 (scaled dot-product
attention, footnote 4: q·k has variance d_k for unit-variance entries) and 3.2.2 (multi-head).

Shapes: n tokens, d model width, d_k query/key size, d_v value size, S keys, L layers, h heads,
T' positions (the sentence and the start symbol).

Section 6, the lecture's five steps on n = 4 tokens with d = 4, d_k = 3 and d_v = 2 (so d_v != d_k):

    1. Q = X W_q (n, d_k),  K = X W_k (n, d_k),  V = X W_v (n, d_v)
    2. scores = Q Kᵀ (n, n)                     3. scaled = scores / √d_k
    4. P = softmax(scaled) over each row        5. Z = P V (n, d_v)

and Z is compared with seqlab.nn.scaled_dot_product_attention. Then, for d_k = 4 ... 512, one
query against S = 16 keys with N(0, 1) entries (`draws` times): the softmax's entropy (mean over
draws) and its largest gradient max_{i,j} |∂p_i/∂s_j| = max_i p_i (1 - p_i) (median over draws: the
typical case, not the rare unsaturated draw), with scores s = q·k / √d_k and s = q·k. Without the
scale the scores' variance grows as d_k, the softmax saturates (one key takes
everything), its entropy and its gradients go to 0.

Section 7 reads the per-head attention maps of the trained Transformer language model (section 3)
on one sentence (seqlab.models.attention_maps.self_attention_weights: every seqlab.nn.MultiHeadAttention re-run
on its captured inputs with need_weights) and measures how different the heads of one layer are:
the Jensen-Shannon divergence between two heads' distributions over keys, in bits (0: identical,
1: disjoint), averaged over queries and over pairs of heads; the untrained model (same seed) is
the reference.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from seqlab.experiments.tour.common import LanguageModels, Verdict

__all__ = ["AttentionStepsResult", "MultiHeadResult", "run_attention_steps", "run_multi_head",
           "softmax_sweep", "head_divergence", "D_KS"]

D_KS = (4, 8, 16, 32, 64, 128, 256, 512)
KEYS = 16                   # S keys per query in the √d_k sweep
STEP_TOLERANCE = 1e-6       # five steps by hand vs the library attention
COLLAPSED = 0.25            # unscaled entropy / gradient at d_k = 512 below this fraction of the scaled one
STEADY = 0.1                # scaled entropy at d_k = 512 within this relative change of d_k = 4
HEADS_DIFFER = 0.1          # mean pairwise JS divergence between heads of a layer, bits


@dataclass
class AttentionStepsResult:
    """Section 6: the five steps on a toy input, and the √d_k sweep."""

    tokens: list[str]
    X: np.ndarray
    W_q: np.ndarray
    W_k: np.ndarray
    W_v: np.ndarray
    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    scores: np.ndarray
    scaled: np.ndarray
    weights: np.ndarray
    Z: np.ndarray
    library_error: float          # max |Z - seqlab.nn.scaled_dot_product_attention(Q, K, V)|
    d_ks: list[int]
    entropy_scaled: list[float]   # nats, mean over draws; ln S is uniform
    entropy_unscaled: list[float]
    grad_scaled: list[float]      # median over draws of max_{i,j} |∂p_i/∂s_j|
    grad_unscaled: list[float]
    keys: int = KEYS

    @property
    def d_k(self) -> int:
        return self.Q.shape[1]

    @property
    def d_v(self) -> int:
        return self.V.shape[1]

    def verdict(self) -> Verdict:
        h_s, h_u, g_s, g_u = (self.entropy_scaled[-1], self.entropy_unscaled[-1], self.grad_scaled[-1],
                              self.grad_unscaled[-1])
        drift = abs(h_s - self.entropy_scaled[0]) / self.entropy_scaled[0]
        ok = (self.library_error <= STEP_TOLERANCE and self.Z.shape == (len(self.tokens), self.d_v)
              and self.d_v != self.d_k and h_u <= COLLAPSED * h_s and g_u <= COLLAPSED * g_s and drift <= STEADY)
        D = self.d_ks[-1]
        return Verdict(
            ok,
            f"five steps = library attention to {self.library_error:.1e}, Z is {self.Z.shape[0]} x {self.d_v} with "
            f"d_k = {self.d_k}; at d_k = {D}: entropy {h_s:.2f} nats scaled vs {h_u:.2f} unscaled (ln {self.keys} = "
            f"{math.log(self.keys):.2f}), largest softmax gradient {g_s:.3f} vs {g_u:.3f}; the scaled entropy moves "
            f"{drift:.1%} from d_k = {self.d_ks[0]} to {D}",
            f"supported when the five steps match the library to {STEP_TOLERANCE:g} with d_v != d_k, the unscaled "
            f"entropy and gradient at d_k = {D} are <= {COLLAPSED} x the scaled ones, and the scaled entropy "
            f"changes by <= {STEADY:.0%} across d_k")


def softmax_sweep(d_ks=D_KS, draws: int = 1000, keys: int = KEYS, seed: int = 0):
    """(entropy scaled, entropy unscaled, grad scaled, grad unscaled), one value per d_k."""
    g = torch.Generator().manual_seed(seed)
    out = ([], [], [], [])
    for d_k in d_ks:
        q = torch.randn(draws, 1, d_k, generator=g, dtype=torch.float64)       # (N, 1, d_k)
        k = torch.randn(draws, keys, d_k, generator=g, dtype=torch.float64)    # (N, S, d_k)
        raw = (q @ k.transpose(1, 2))[:, 0]                                    # (N, S): q·k
        for i, s in enumerate((raw / math.sqrt(d_k), raw)):
            p = torch.softmax(s, -1)                                           # (N, S)
            entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)            # (N,)
            # ∂p_i/∂s_j = p_i (δ_ij - p_j); the largest |entry| is on the diagonal: max_i p_i (1 - p_i)
            grad = (p * (1 - p)).max(-1).values                                # (N,)
            out[i].append(float(entropy.mean()))
            out[2 + i].append(float(grad.median()))
    return out


def run_attention_steps(seed: int = 0) -> AttentionStepsResult:
    """Section 6 (see the module docstring)."""
    from seqlab.nn import scaled_dot_product_attention

    g = torch.Generator().manual_seed(seed)

    def rounded(*shape):  # one decimal, so the printed matrices are the computed ones
        return torch.round(torch.randn(*shape, generator=g, dtype=torch.float64) * 10) / 10

    n, d, d_k, d_v = 4, 4, 3, 2
    X, W_q, W_k, W_v = rounded(n, d), rounded(d, d_k), rounded(d, d_k), rounded(d, d_v)
    Q, K, V = X @ W_q, X @ W_k, X @ W_v               # step 1: (n, d_k), (n, d_k), (n, d_v)
    scores = Q @ K.T                                   # step 2: (n, n)
    scaled = scores / math.sqrt(d_k)                   # step 3
    P = torch.softmax(scaled, -1)                      # step 4: each row sums to 1
    Z = P @ V                                          # step 5: (n, d_v)
    library = scaled_dot_product_attention(Q[None, None], K[None, None], V[None, None])[0, 0]
    sweep = softmax_sweep(seed=seed)
    return AttentionStepsResult(
        ["token 1", "token 2", "token 3", "token 4"], *(t.numpy() for t in (X, W_q, W_k, W_v, Q, K, V, scores,
                                                                             scaled, P, Z)),
        float((Z - library).abs().max()), list(D_KS), *sweep)


def head_divergence(weights: np.ndarray) -> np.ndarray:
    """weights (L, h, T', T') -> (L,) mean over head pairs and queries of JS(head a, head b) in bits."""
    w = np.asarray(weights, dtype=np.float64)
    L, h = w.shape[:2]

    def kl(p, q):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, p * np.log2(p / q), 0.0).sum(-1)

    out = np.zeros(L)
    for layer in range(L):
        pairs = []
        for a, b in itertools.combinations(range(h), 2):
            p, q = w[layer, a], w[layer, b]          # (T', T')
            m = (p + q) / 2
            pairs.append(float((0.5 * kl(p, m) + 0.5 * kl(q, m)).mean()))
        out[layer] = np.mean(pairs) if pairs else 0.0
    return out


def mean_distance(weights: np.ndarray) -> np.ndarray:
    """weights (L, h, T', T') -> (L, h): Σ_s α_{t,s} (t - s), averaged over queries t."""
    T = weights.shape[-1]
    t = np.arange(T)
    return (weights * np.clip(t[:, None] - t[None, :], 0, None)).sum(-1).mean(-1)


@dataclass
class MultiHeadResult:
    """Section 7: per-head attention maps of the trained Transformer on one sentence."""

    sentence: str
    labels: list[str]                       # T' labels: "<s>" and the characters
    weights: np.ndarray = field(repr=False)  # (L, h, T', T')
    divergence: list[float]                 # per layer, bits
    init_divergence: list[float]            # the untrained model, per layer
    distance: np.ndarray = field(repr=False)  # (L, h) mean attention distance, characters back

    def verdict(self) -> Verdict:
        low = min(self.divergence)
        ok = low >= HEADS_DIFFER and all(t > u for t, u in zip(self.divergence, self.init_divergence))
        return Verdict(
            ok,
            "mean pairwise Jensen-Shannon divergence between heads: " + ", ".join(
                f"layer {i} {d:.3f} bits (untrained {u:.3f})"
                for i, (d, u) in enumerate(zip(self.divergence, self.init_divergence)))
            + "; mean attention distance per head: " + "; ".join(
                f"layer {i}: " + ", ".join(f"{x:.1f}" for x in row) for i, row in enumerate(self.distance)),
            f"supported when every layer's heads differ by >= {HEADS_DIFFER} bits on average and by more "
            f"than the untrained model's")


def run_multi_head(lms: LanguageModels) -> MultiHeadResult:
    from seqlab.models.attention_maps import self_attention_weights
    from seqlab.models.registry import build_model

    sentence = lms.sentence()
    x = lms.encode(sentence)[None]  # (1, T)
    trained = lms.get("transformer").model
    torch.manual_seed(lms.seed)
    untrained = build_model("transformer", vocab_size=lms.vocab_size, **lms.fields("transformer", None)).eval()
    w = self_attention_weights(trained, x).numpy()  # (L, h, T', T')
    w0 = self_attention_weights(untrained, x).numpy()
    return MultiHeadResult(sentence, ["<s>"] + list(sentence), w, head_divergence(w).tolist(),
                           head_divergence(w0).tolist(), mean_distance(w))
