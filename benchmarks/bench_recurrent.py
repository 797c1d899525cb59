"""Benchmark the recurrent models that train in parallel: training step and per-token decoding.

    python benchmarks/bench_recurrent.py [--rounds N] [--threads N] [--quick]

1. Training step (forward + backward of a fixed output gradient, with respect to the input and
   every parameter): MinGRU / MinLSTM (log-space parallel scan) against seqlab's GRU / LSTM
   (default path) at equal input and hidden size, T = 128, 512, 2048. Ratio < 1: the parallel
   form is faster.
2. Decoding: the cost of one more token at context 64 and 1024, for every recurrent block's
   `step` (state already built from the context) and for a KV-cached attention layer (seqlab's
   MultiHeadAttention with its KVCache, and with a preallocated cache). Recurrent blocks should be
   flat in the context; attention grows with it.

Every ratio comes from interleaved rounds in one run (benchmarks/_harness.py), medians, on
`--threads` torch threads (default 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import Case, measure, table, train_step  # noqa: E402

import seqlab.nn as snn  # noqa: E402

TRAIN_FULL = {"B": 8, "H": 128, "T": (128, 512, 2048)}
TRAIN_QUICK = {"B": 2, "H": 8, "T": (16, 32)}
DECODE_FULL = {"B": 8, "E": 256, "heads": 4, "ctx": (64, 1024)}
DECODE_QUICK = {"B": 2, "E": 16, "heads": 2, "ctx": (8, 32)}


def training_cases(quick: bool) -> list[Case]:
    cfg = TRAIN_QUICK if quick else TRAIN_FULL
    B, H = cfg["B"], cfg["H"]
    cases = []
    for T in cfg["T"]:
        x = torch.randn(B, T, H, requires_grad=True)  # (B, T, I=H)
        g = torch.randn(B, T, H)  # (B, T, H) output gradient
        for ref, new in (("GRU", "MinGRU"), ("LSTM", "MinLSTM")):
            runners = {
                f"seqlab {ref}": train_step(getattr(snn, ref)(H, H, batch_first=True), x, g),
                f"{new} (parallel scan)": train_step(getattr(snn, new)(H, H), x, g),
            }
            cases.append(Case(f"{ref} vs {new} train B={B} T={T} I=H={H}", runners, f"seqlab {ref}"))
    return cases


class _PreallocatedKV:
    """One attention layer decoding with a preallocated (B, h, S_max, d) cache: the new key/value
    is written in place, then one query attends over the first S + 1 slots."""

    def __init__(self, mha: snn.MultiHeadAttention, prefix: torch.Tensor) -> None:
        self.mha, self.h, S = mha, mha.num_heads, prefix.size(1)
        B, E = prefix.size(0), prefix.size(2)
        self.K = torch.zeros(B, self.h, S + 1, E // self.h)
        self.V = torch.zeros_like(self.K)
        with torch.no_grad():
            _, k, v = F.linear(prefix, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        self.K[:, :, :S] = k.unflatten(-1, (self.h, -1)).transpose(1, 2)
        self.V[:, :, :S] = v.unflatten(-1, (self.h, -1)).transpose(1, 2)
        self.S = S

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(x_t, self.mha.in_proj_weight, self.mha.in_proj_bias).chunk(3, dim=-1)  # (B, E)
        self.K[:, :, self.S] = k.unflatten(-1, (self.h, -1))
        self.V[:, :, self.S] = v.unflatten(-1, (self.h, -1))
        o = F.scaled_dot_product_attention(q.unflatten(-1, (self.h, -1)).unsqueeze(2), self.K, self.V)
        return self.mha.out_proj(o.flatten(1))  # (B, E)


def _decoders(B: int, E: int, heads: int, ctx: int) -> dict:
    """name -> a callable doing one decoding step at context `ctx` (state rebuilt as at ctx each call)."""
    prefix = torch.randn(B, ctx, E)  # (B, ctx, E)
    x_t = torch.randn(B, E)  # (B, E) the new token
    out = {}
    with torch.no_grad():
        for name, m in (("MinGRU", snn.MinGRU(E, E)), ("MinLSTM", snn.MinLSTM(E, E)),
                        ("retention", snn.MultiScaleRetention(E, heads)), ("selective SSM", snn.SelectiveSSM(E))):
            _, state = m(prefix, form="chunkwise") if name == "retention" else m(prefix)
            out[name] = (lambda m=m, s=state: m.step(x_t, s))
        gru, lstm = snn.GRUCell(E, E), snn.LSTMCell(E, E)
        h = torch.randn(B, E)
        out["GRU cell"] = lambda: gru(x_t, h)
        out["LSTM cell"] = lambda: lstm(x_t, (h, h))
        mha = snn.MultiHeadAttention(E, heads, batch_first=True)
        cache = snn.KVCache()
        mha(prefix, prefix, prefix, need_weights=False, cache=cache)
        k0, v0 = cache.k, cache.v

        def kv_cache_step():
            cache.k, cache.v = k0, v0  # back to `ctx` cached steps; the call appends one
            x1 = x_t.unsqueeze(1)  # (B, 1, E)
            mha(x1, x1, x1, need_weights=False, cache=cache)

        out["attention (KVCache)"] = kv_cache_step
        pre = _PreallocatedKV(mha, prefix)
        out["attention (preallocated KV)"] = lambda: pre.step(x_t)
    return out


def decoding_case(quick: bool) -> tuple[Case, list[str], tuple[int, ...]]:
    cfg = DECODE_QUICK if quick else DECODE_FULL
    runners = {}
    for ctx in cfg["ctx"]:
        for name, fn in _decoders(cfg["B"], cfg["E"], cfg["heads"], ctx).items():
            runners[f"{name} @{ctx}"] = torch.no_grad()(fn)
    names = list(_decoders(1, cfg["E"], cfg["heads"], 1))
    first = f"attention (KVCache) @{cfg['ctx'][0]}"
    shape = f"B={cfg['B']} E={cfg['E']} h={cfg['heads']}"
    return Case(f"decode one token, {shape}", runners, first), names, cfg["ctx"]


def training_summary(cases: list[Case]) -> str:
    lines = ["| T | GRU ms | MinGRU ms | MinGRU / GRU | LSTM ms | MinLSTM ms | MinLSTM / LSTM |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    by_T: dict[str, list[Case]] = {}
    for c in cases:
        by_T.setdefault(c.name.split("T=")[1].split()[0], []).append(c)
    for T, (gru, lstm) in by_T.items():
        (rg, ng), (rl, nl) = list(gru.times), list(lstm.times)
        lines.append(f"| {T} | {gru.times[rg] * 1e3:.1f} | {gru.times[ng] * 1e3:.1f} | {gru.ratio(ng):.2f}x "
                     f"| {lstm.times[rl] * 1e3:.1f} | {lstm.times[nl] * 1e3:.1f} | {lstm.ratio(nl):.2f}x |")
    return "\n".join(lines)


def decoding_summary(case: Case, names: list[str], ctxs: tuple[int, ...]) -> str:
    lo, hi = ctxs
    lines = [f"| block | µs/token @ctx {lo} | µs/token @ctx {hi} | {hi} / {lo} | vs KVCache attention @{hi} |",
             "|---|---:|---:|---:|---:|"]
    att_hi = case.times[f"attention (KVCache) @{hi}"]
    for n in names:
        a, b = case.times[f"{n} @{lo}"], case.times[f"{n} @{hi}"]
        lines.append(f"| {n} | {a * 1e6:.0f} | {b * 1e6:.0f} | {b / a:.2f}x | {b / att_hi:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}")
    train = []
    for c in training_cases(args.quick):
        measure(c, rounds=args.rounds)
        train.append(c)
        print(f"  {c.name}: " + ", ".join(f"{n} {c.ratio(n):.2f}x" for n in c.times), file=sys.stderr, flush=True)
    decode, names, ctxs = decoding_case(args.quick)
    measure(decode, rounds=args.rounds)
    print("\n### Training step: parallel scan vs seqlab's GRU / LSTM\n")
    print(training_summary(train))
    print()
    print(table(train))
    print("\n### Per-token decoding cost vs context\n")
    print(decoding_summary(decode, names, ctxs))


if __name__ == "__main__":
    main()
