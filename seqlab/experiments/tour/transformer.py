"""Sections 8 and 9 of the tour: positional encoding, and the decoder reading the encoder's K and V.

Paper: Vaswani et al., "Attention Is All You Need", 2017, sections 3.2.3 (encoder-decoder attention)
and 3.5 (sinusoidal positions).

Shapes: B batch, n source length, S padded source length, T target length (+1 with the start
symbol), d model width, h heads, L layers, V vocabulary.

Data (both sections): the `reverse` task ("cadb" -> "bdac") through seqlab.data.prepare (split 80/10/10
as `seqlab seq2seq`, character vocabulary with <eos> fitted on the training pairs).

Section 8. Self-attention sees a set: with no positions, permuting the input rows permutes the
output rows, f(X[π]) = f(X)[π]. Measured on the trained encoders in float64 (max |difference| over
a test batch and a random π), then the task that needs order: an encoder-only tagger reads a
source of exactly n characters and must emit, at position t, the character at n - 1 - t. Both
taggers (embedding, optional sinusoidal positions, a 2-layer pre-norm seqlab.nn.TransformerEncoder,
a linear read-out) are trained alike (seqlab.train.Trainer via `trainer_fit`) and scored by
per-character accuracy on the test sources.

Section 9. The Transformer encoder-decoder (seqlab.models.Seq2Seq, arch="transformer") is trained on
`reverse` (sources of 1..n characters) and its cross-attention weights on one test pair are read
layer by layer (each decoder layer's `multihead_attn` re-run on its captured inputs with
need_weights): reversing should put the weight of target step t on source position n - 1 - t, the
anti-diagonal. The same model with its cross-attention reading a zeroed memory (keys and values
from zeros: no path from the source to the decoder; seqlab offers no decoder without
cross-attention, so this is the smallest honest ablation) is trained alike. Both are scored by
greedy exact match on the test pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqlab.experiments.tour.common import TourSizes, Verdict, count_parameters
from seqlab.models.seq2seq import Seq2Seq

__all__ = ["ReverseTagger", "PositionalResult", "CrossAttentionResult", "run_positional", "run_cross_attention",
           "equivariance_error", "cross_attention", "ZeroMemorySeq2Seq", "anti_diagonal_mass"]

EQUIVARIANT = 1e-6      # max |f(X[π]) - f(X)[π]| of an encoder without positions (float64)
ORDER_AWARE = 1e-3      # the same with positions: well above rounding
SOLVES = 0.9            # accuracy / exact match at or above this: the task is solved
FAILS = 0.5             # per-character accuracy at or below this: the tagger fails (section 8)
FAILS_EXACT = 0.1       # exact match at or below this: the decoder fails (section 9)
ALIGNED = 0.5           # mean cross-attention weight on the anti-diagonal (uniform: 1/n)
D_MODEL, HEADS, LAYERS = 32, 4, 2


def _reverse_data(spec_task: str, sizes: TourSizes, seed: int):
    from seqlab.data.prepare import prepare_data
    from seqlab.experiments.seq2seq import FRACTIONS, pairs_spec

    spec = pairs_spec(spec_task, sizes.reverse_pairs, seed)
    return spec, prepare_data(spec, "char", FRACTIONS, min_part=1)


class ReverseTagger(nn.Module):
    """Encoder-only tagger: x (B, n) -> logits (B, n, V); positions "sinusoidal" or None.

        e = E[x] (+ PE[0:n]),   z = TransformerEncoder(e) (no mask: every position sees all),
        logits = W_o z + b_o
    """

    def __init__(self, vocab_size: int, positions: bool, d_model: int = D_MODEL, n_head: int = HEADS,
                 n_layer: int = LAYERS, max_len: int = 64):
        super().__init__()
        from seqlab import nn as snn

        self.embed = nn.Embedding(vocab_size, d_model)
        if positions:
            self.positions = snn.SinusoidalPositionalEncoding(d_model, max_len=max_len, batch_first=True)
        else:
            self.positions = None
        layer = snn.TransformerEncoderLayer(d_model, n_head, dim_feedforward=2 * d_model, dropout=0.0,
                                            batch_first=True, norm_first=True)
        self.encoder = snn.TransformerEncoder(layer, n_layer, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size)

    def encode_embedded(self, e: torch.Tensor) -> torch.Tensor:
        """e (B, n, d) token embeddings -> encoder output (B, n, d) (positions added first, if any)."""
        return self.encoder(e if self.positions is None else self.positions(e))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        logits = self.head(self.encode_embedded(self.embed(x)))  # (B, n, V)
        loss = None if y is None else nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return logits, loss


@torch.no_grad()
def equivariance_error(model: ReverseTagger, x: torch.Tensor, seed: int) -> float:
    """max |f(E[x][:, π]) - f(E[x])[:, π]| of the encoder, in float64, for one random π."""
    import copy

    m = copy.deepcopy(model).double().eval()
    e = m.embed(x)  # (B, n, d)
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed))
    return float((m.encode_embedded(e[:, perm]) - m.encode_embedded(e)[:, perm]).abs().max())


@dataclass
class PositionalResult:
    """Section 8: permutation equivariance without positions; `reverse` with and without them."""

    length: int                       # n, every source's length
    train_pairs: int
    test_pairs: int
    steps: int
    error_without: float              # equivariance error, no positions
    error_with: float                 # the same with sinusoidal positions
    accuracy_without: float           # per-character test accuracy
    accuracy_with: float
    exact_without: float              # whole reversed source right
    exact_with: float
    parameters: int
    encoding: np.ndarray = field(repr=False)   # (P, d) sinusoidal table, for the heatmap

    def verdict(self) -> Verdict:
        ok = (self.error_without <= EQUIVARIANT and self.error_with >= ORDER_AWARE
              and self.accuracy_without <= FAILS and self.accuracy_with >= SOLVES)
        return Verdict(
            ok,
            f"permuting the input permutes the output to {self.error_without:.1e} without positions "
            f"({self.error_with:.2f} with them); reverse (n = {self.length}), per-character test accuracy "
            f"{self.accuracy_without:.3f} without positions, {self.accuracy_with:.3f} with them (exact match "
            f"{self.exact_without:.3f} vs {self.exact_with:.3f})",
            f"supported when the error without positions is <= {EQUIVARIANT:g} and with them >= {ORDER_AWARE:g}, "
            f"and the accuracy is <= {FAILS} without positions and >= {SOLVES} with them")


def _train(model: nn.Module, task, sizes: TourSizes, seed: int) -> None:
    from seqlab.models.base import trainer_fit

    trainer_fit(model, task, sizes.reverse_steps, 64, sizes.reverse_lr, 0.01, 1.0, seed)


def run_positional(sizes: TourSizes, seed: int, log) -> PositionalResult:
    from seqlab import nn as snn
    from seqlab.train.tasks import RowsTask

    n = sizes.reverse_length
    spec, prepared = _reverse_data(f"reverse;min_len={n};max_len={n}", sizes, seed)
    (src, tgt), (src_test, tgt_test) = prepared.parts["train"], prepared.parts["test"]
    y, y_test = tgt[:, :n], tgt_test[:, :n]  # drop <eos>: the tagger emits n characters
    V = int(prepared.tokenizer.vocab_size)
    task = RowsTask({"x": src, "y": y}, torch.full((src.shape[0],), float(n)))
    scores = {}
    for positions in (False, True):
        torch.manual_seed(seed)
        model = ReverseTagger(V, positions)
        log(f"    reverse tagger {'with' if positions else 'without'} positions: {sizes.reverse_steps} steps")
        _train(model, task, sizes, seed)
        model.eval()
        with torch.no_grad():
            right = model(src_test)[0].argmax(-1) == y_test  # (N, n)
        scores[positions] = (equivariance_error(model, src_test[:16], seed), float(right.float().mean()),
                             float(right.all(1).float().mean()), count_parameters(model))
    table = snn.SinusoidalPositionalEncoding(64, max_len=64)(torch.zeros(64, 64)).numpy()  # PE (64, 64)
    (e0, a0, x0, p), (e1, a1, x1, _) = scores[False], scores[True]
    return PositionalResult(n, src.shape[0], src_test.shape[0], sizes.reverse_steps, e0, e1, a0, a1, x0, x1, p, table)


# ----------------------------------------------------------------------------- section 9

class ZeroMemorySeq2Seq(Seq2Seq):
    """Seq2Seq (arch="transformer") whose decoder's cross-attention reads a zeroed memory: its keys
    and values are then the projections' biases, the same for every source."""

    def encode(self, src, src_lengths=None) -> dict:
        memory = super().encode(src, src_lengths)
        return {**memory, "m": torch.zeros_like(memory["m"])}


@torch.no_grad()
def cross_attention(model, src: torch.Tensor, tgt: torch.Tensor) -> np.ndarray:
    """Cross-attention weights of every decoder layer, teacher-forced on one pair -> (L, h, T+1, S)."""
    captured = []

    def grab(module, args, kwargs):
        captured.append((module, args, dict(kwargs)))

    layers = [layer.multihead_attn for layer in model.decoder.layers]
    handles = [m.register_forward_pre_hook(grab, with_kwargs=True) for m in layers]
    try:
        model.conditionals(src, tgt)
    finally:
        for h in handles:
            h.remove()
    out = []
    for module, args, kwargs in captured:
        kwargs.update(need_weights=True, average_attn_weights=False)
        kwargs.pop("cache", None)
        out.append(module(*args, **kwargs)[1][0])  # (h, T+1, S)
    return torch.stack(out).numpy()


def anti_diagonal_mass(weights: np.ndarray, n: int) -> list[float]:
    """weights (L, h, T+1, S) -> per layer, the mean over heads and target steps t < n of the weight
    on source position n - 1 - t (1: a perfect reverse alignment; uniform: 1/n)."""
    w = np.asarray(weights).mean(1)  # (L, T+1, S)
    t = np.arange(n)
    return [float(w[layer, t, n - 1 - t].mean()) for layer in range(w.shape[0])]


@dataclass
class CrossAttentionResult:
    """Section 9: the decoder reads the encoder's K and V."""

    max_length: int
    train_pairs: int
    test_pairs: int
    steps: int
    source: str                          # the pair whose map is shown
    target: str
    weights: np.ndarray = field(repr=False)   # (L, h, T+1, n) cross-attention on that pair
    alignment: list[float]               # anti-diagonal mass per decoder layer
    exact_with: float                    # greedy exact match, test pairs
    exact_without: float                 # zeroed memory
    nll_with: float                      # held-out nats per target token
    nll_without: float
    examples: list[tuple[str, str, str, str]]   # source, target, with, without

    def verdict(self) -> Verdict:
        best = int(np.argmax(self.alignment))
        ok = (self.exact_with >= SOLVES and self.exact_without <= FAILS_EXACT
              and self.alignment[best] >= ALIGNED)
        n = len(self.source)
        return Verdict(
            ok,
            f"greedy exact match {self.exact_with:.3f} with cross-attention, {self.exact_without:.3f} with a zeroed "
            f"memory ({self.nll_with:.3f} vs {self.nll_without:.3f} nats per target token); on {self.source!r} "
            f"decoder layer {best} puts {self.alignment[best]:.2f} of its weight on the anti-diagonal "
            f"(uniform: {1 / n:.2f})",
            f"supported when the model reverses >= {SOLVES:.0%} of the test sources exactly, the zeroed-memory model "
            f"<= {FAILS_EXACT:.0%}, and some decoder layer puts >= {ALIGNED} of its weight on the anti-diagonal")


def run_cross_attention(sizes: TourSizes, seed: int, log) -> CrossAttentionResult:
    from seqlab.data import exact_match
    from seqlab.experiments.seq2seq import decode_all
    from seqlab.models.registry import build_model
    from seqlab.train.scoring import evaluate

    n = sizes.reverse_max_length
    spec, prepared = _reverse_data(f"reverse;max_len={n}", sizes, seed)
    tok, sp = prepared.tokenizer, prepared.split
    (src, tgt), (src_test, tgt_test) = prepared.parts["train"], prepared.parts["test"]
    widths = [t.shape[1] for part in prepared.parts.values() for t in part]
    fields = dict(vocab_size=int(tok.vocab_size), eos_token_id=prepared.model_fields["eos_token_id"],
                  max_len=max(widths) + 1, d_model=sizes.seq2seq_d_model, n_head=HEADS, n_layer=LAYERS)
    targets = [t for _, t in sp.test]
    models, decoded, nll = {}, {}, {}
    config = build_model("seq2seq-transformer", **fields).config
    for name, cls in (("with", Seq2Seq), ("without", ZeroMemorySeq2Seq)):
        torch.manual_seed(seed)
        model = cls(config)
        log(f"    seq2seq transformer {name} cross-attention: {sizes.seq2seq_steps} steps")
        model.fit((src, tgt), steps=sizes.seq2seq_steps, batch_size=64, lr=sizes.seq2seq_lr, seed=seed)
        model.eval()
        models[name] = model
        decoded[name] = decode_all(model, tok, src_test, tgt_test.shape[1], 1)
        nll[name] = evaluate(model, (src_test, tgt_test)).loss_nats
    # the map: the first test pair of the longest length
    i = next((k for k, (s, _) in enumerate(sp.test) if len(s) == n), 0)
    s, t = sp.test[i]
    x = torch.tensor([tok.encode(s)])
    y = torch.tensor([tok.encode(t)])
    w = cross_attention(models["with"], x, y)  # (L, h, T+1, n)
    examples = [(s_, t_, decoded["with"][k], decoded["without"][k]) for k, (s_, t_) in enumerate(sp.test[:6])]
    return CrossAttentionResult(
        n, len(sp.train), len(sp.test), sizes.seq2seq_steps, s, t, w, anti_diagonal_mass(w, len(s)),
        exact_match(decoded["with"], targets), exact_match(decoded["without"], targets), nll["with"],
        nll["without"], examples)
