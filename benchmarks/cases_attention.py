"""Benchmark cases: attention and Transformer layers, seqlab vs torch.nn (see bench_nn.py).

Shapes: B=8 batch, h=8 heads, d=64 head dim (E = d_model = 512, F = 2048), T = 128, 512, 1024.
"forward" runs under torch.no_grad() in eval mode (inference, where torch may take its fused
fast path); "train" is forward + backward in train mode with dropout 0.
Layers run with a causal mask (GPT / decoder use) and, for the encoder, bidirectionally on a
half-padded batch (key padding mask). Runners: "torch.nn" (reference), "seqlab (default)" and,
for attention, "seqlab (explicit weights)" = the softmax path that also returns the weights
(with "torch.nn (weights)", nn.MultiheadAttention's need_weights=True path, beside it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from _harness import Case

import seqlab.nn as snn

B, h, d = 8, 8, 64
E = h * d


def _fwd(fn):
    def run():
        with torch.no_grad():
            fn()
    return run


def _train(fn, params):
    def run():
        for p in params:
            p.grad = None
        fn().float().sum().backward()
    return run


def _sdpa_cases(T: int) -> list[Case]:
    q, k, v = (torch.randn(B, h, T, d) for _ in range(3))
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    fwd = {
        "torch.nn": _fwd(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
        "seqlab (default)": _fwd(lambda: snn.scaled_dot_product_attention(q, k, v, is_causal=True)),
        "seqlab (explicit weights)": _fwd(
            lambda: snn.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)[0]),
    }
    g = (qg, kg, vg)
    train = {
        "torch.nn": _train(lambda: F.scaled_dot_product_attention(qg, kg, vg, is_causal=True), g),
        "seqlab (default)": _train(lambda: snn.scaled_dot_product_attention(qg, kg, vg, is_causal=True), g),
        "seqlab (explicit weights)": _train(
            lambda: snn.scaled_dot_product_attention(qg, kg, vg, is_causal=True, return_weights=True)[0], g),
    }
    return [Case(f"sdpa causal T={T} forward", fwd, "torch.nn"), Case(f"sdpa causal T={T} train", train, "torch.nn")]


def _pair(theirs: nn.Module, ours: nn.Module, train: bool) -> tuple[nn.Module, nn.Module]:
    ours.load_state_dict(theirs.state_dict())
    theirs.train(train)
    ours.train(train)
    return theirs, ours


def _mha_case(T: int, train: bool) -> Case:
    x = torch.randn(B, T, E)
    kpm = torch.zeros(B, T, dtype=torch.bool)
    kpm[B // 2:, T // 2:] = True  # half the batch padded to half length
    t, o = _pair(nn.MultiheadAttention(E, h, batch_first=True), snn.MultiHeadAttention(E, h, batch_first=True),
                 train)
    xi = x.clone().requires_grad_(train)
    wrap = (lambda f: _train(f, [xi, *t.parameters(), *o.parameters()])) if train else _fwd
    runners = {
        "torch.nn": wrap(lambda: t(xi, xi, xi, key_padding_mask=kpm, need_weights=False)[0]),
        "seqlab (default)": wrap(lambda: o(xi, xi, xi, key_padding_mask=kpm, need_weights=False)[0]),
        "torch.nn (weights)": wrap(lambda: t(xi, xi, xi, key_padding_mask=kpm)[0]),
        "seqlab (explicit weights)": wrap(lambda: o(xi, xi, xi, key_padding_mask=kpm)[0]),
    }
    return Case(f"MultiHeadAttention T={T} {'train' if train else 'forward'}", runners, "torch.nn")


def _layer_case(T: int, decoder: bool, train: bool) -> Case:
    kw = dict(d_model=E, nhead=h, dim_feedforward=4 * E, dropout=0.0, batch_first=True)
    x, mem = torch.randn(B, T, E), torch.randn(B, T, E)
    mask = nn.Transformer.generate_square_subsequent_mask(T)
    if decoder:
        t, o = _pair(nn.TransformerDecoderLayer(**kw), snn.TransformerDecoderLayer(**kw), train)
    else:
        t, o = _pair(nn.TransformerEncoderLayer(**kw), snn.TransformerEncoderLayer(**kw), train)
    xi = x.clone().requires_grad_(train)
    wrap = (lambda f: _train(f, [xi, *t.parameters(), *o.parameters()])) if train else _fwd
    if decoder:
        runners = {
            "torch.nn": wrap(lambda: t(xi, mem, tgt_mask=mask, tgt_is_causal=True)),
            "seqlab (default)": wrap(lambda: o(xi, mem, tgt_mask=mask, tgt_is_causal=True)),
        }
    else:
        runners = {
            "torch.nn": wrap(lambda: t(xi, src_mask=mask, is_causal=True)),
            "seqlab (default)": wrap(lambda: o(xi, src_mask=mask, is_causal=True)),
        }
    name = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    return Case(f"{name} causal T={T} {'train' if train else 'forward'}", runners, "torch.nn")


def _padded_encoder_case(T: int, train: bool) -> Case:
    """A bidirectional encoder layer on a batch where half the rows are padded to half length."""
    kw = dict(d_model=E, nhead=h, dim_feedforward=4 * E, dropout=0.0, batch_first=True)
    x = torch.randn(B, T, E)
    kpm = torch.zeros(B, T, dtype=torch.bool)
    kpm[B // 2:, T // 2:] = True
    t, o = _pair(nn.TransformerEncoderLayer(**kw), snn.TransformerEncoderLayer(**kw), train)
    xi = x.clone().requires_grad_(train)
    wrap = (lambda f: _train(f, [xi, *t.parameters(), *o.parameters()])) if train else _fwd
    runners = {
        "torch.nn": wrap(lambda: t(xi, src_key_padding_mask=kpm)),
        "seqlab (default)": wrap(lambda: o(xi, src_key_padding_mask=kpm)),
    }
    return Case(f"TransformerEncoderLayer padded T={T} {'train' if train else 'forward'}", runners, "torch.nn")


def cases(quick: bool) -> list[Case]:
    """Attention (function and module) and Transformer layers at each T."""
    out = []
    for T in ((32,) if quick else (128, 512, 1024)):
        out += _sdpa_cases(T)
        for train in (False, True):
            out.append(_mha_case(T, train))
        for decoder in (False, True):
            out += [_layer_case(T, decoder, train) for train in (False, True)]
        out += [_padded_encoder_case(T, train) for train in (False, True)]
    return out
