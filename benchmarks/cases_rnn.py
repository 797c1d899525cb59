"""Benchmark cases for the recurrent layers: seqlab (default and explicit paths) vs torch.nn.

Shapes: B batch, T time, I input size, H hidden size. For RNN, LSTM and GRU at
(B=32, T=128, I=128, H=256) and (B=32, T=512, I=128, H=512): "forward" is inference
(`torch.no_grad`), "train" is forward + backward of a fixed output gradient with respect to the
input and every parameter. Runners: "torch.nn" (reference), "seqlab (default)" (impl="auto"),
"seqlab (explicit)" (impl="explicit"). Run with `python benchmarks/bench_nn.py --only rnn`.
"""

from __future__ import annotations

import torch

import seqlab.nn as snn
from _harness import Case, forward_step, train_step

SHAPES_FULL = [(32, 128, 128, 256), (32, 512, 128, 512)]
SHAPES_QUICK = [(4, 16, 8, 16)]


def cases(quick: bool) -> list[Case]:
    out = []
    for B, T, I, H in SHAPES_QUICK if quick else SHAPES_FULL:
        for name in ("RNN", "LSTM", "GRU"):
            ref = getattr(torch.nn, name)(I, H)
            default = getattr(snn, name)(I, H)
            explicit = getattr(snn, name)(I, H, impl="explicit")
            default.load_state_dict(ref.state_dict())
            explicit.load_state_dict(ref.state_dict())
            x = torch.randn(T, B, I)  # (T, B, I)
            xg = x.clone().requires_grad_(True)
            g = torch.randn(T, B, H)  # (T, B, H) output gradient
            shape = f"B={B} T={T} I={I} H={H}"
            models = {"torch.nn": ref, "seqlab (default)": default, "seqlab (explicit)": explicit}
            out.append(Case(f"{name} forward {shape}", {k: forward_step(m, x) for k, m in models.items()}, "torch.nn"))
            out.append(Case(f"{name} train {shape}", {k: train_step(m, xg, g) for k, m in models.items()}, "torch.nn"))
    return out
