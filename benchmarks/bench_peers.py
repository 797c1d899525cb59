"""Benchmark seqlab's whole models against their peers on CPU: ratios measured in one run (issue 14).

    python benchmarks/bench_peers.py [--quick] [--only ROW ...] [--threads 1] [--rounds 5]
                                     [--steps 300] [--compile] [--write docs/benchmarks.md]

Rows (each a ratio of two contenders timed round-robin in this process, median of the rounds; see
benchmarks/_harness.py):

    train     Transformer char-LM training step vs a plain-PyTorch GPT written below (token + learned
              position embeddings, pre-norm blocks, F.scaled_dot_product_attention, tied head,
              AdamW): tokens/s, model FLOP utilisation 6·N per token over the matmul peak measured
              in this run, the loss after `--steps` steps on the same batches from the same initial
              weights; a "bound" row times the step's GEMMs alone (the ceiling of any speed-up);
              `--compile` adds both models under torch.compile (cold compile time reported)
    recurrent LSTM and GRU LMs vs an nn.LSTM / nn.GRU LM of the same size (training step)
    markov    trigram Laplace fit + perplexity vs nltk.lm on 1M characters of Python's stdlib source
    ar        LinearAR fit + 24-step forecast with intervals vs statsmodels AutoReg
    decode    generation tokens/s at contexts 64, 256, 1024 (Transformer KV cache vs its recompute;
              recurrent families: cost at 1024 / cost at 64)
    memory    peak memory of attention training at T = 4096, fused (default) vs explicit weights

The corpus is Python's own stdlib source (no download). `--write FILE` replaces the text between
the `<!-- bench_peers:begin -->` and `<!-- bench_peers:end -->` lines of FILE with the tables.
Shapes: B batch, T window / context, V vocabulary, d d_model, L layers, E embed_dim, H hidden_size.
"""

from __future__ import annotations

import argparse
import copy
import glob
import math
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import Case, measure  # noqa: E402

from seqlab.experiments.flops import measure_matmul_flops  # noqa: E402
from seqlab.models import LinearAR, MarkovLM  # noqa: E402
from seqlab.models.registry import available, build_model  # noqa: E402
from seqlab.train.config import TrainConfig  # noqa: E402
from seqlab.train.engine import make_optimizer  # noqa: E402

ROWS = ("train", "recurrent", "markov", "ar", "decode", "memory")
BEGIN, END = "<!-- bench_peers:begin -->", "<!-- bench_peers:end -->"


# --------------------------------------------------------------------------------------- data
def stdlib_text(n_chars: int) -> str:
    """The first n_chars characters of the stdlib's *.py files, in sorted order."""
    text, parts = 0, []
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
        text += len(parts[-1])
        if text >= n_chars:
            break
    return "".join(parts)[:n_chars]


def char_ids(text: str, vocab: np.ndarray | None = None, unk: int | None = None):
    """Code points -> ids: (ids int64, vocab (sorted code points)); unseen characters -> unk."""
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if vocab is None:
        vocab = np.flatnonzero(np.bincount(cp))  # the distinct code points, sorted
    pos = np.searchsorted(vocab, cp).clip(max=len(vocab) - 1)
    return np.where(vocab[pos] == cp, pos, unk if unk is not None else -1).astype(np.int64), vocab


# --------------------------------------------------------------------------------------- peers
class PlainGPT(nn.Module):
    """The peer: a GPT in plain PyTorch (nanoGPT's layout), pre-norm, tied head."""

    def __init__(self, V: int, T: int, d: int, h: int, L: int):
        super().__init__()
        self.h = h
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(T, d)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "ln_1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d),
            "ln_2": nn.LayerNorm(d), "fc": nn.Linear(d, 4 * d), "out": nn.Linear(4 * d, d)}) for _ in range(L))
        self.ln_f = nn.LayerNorm(d)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        B, T = idx.shape
        z = self.wte(idx) + self.wpe.weight[:T]  # (B, T, d)
        for b in self.blocks:
            q, k, v = b["qkv"](b["ln_1"](z)).split(z.shape[-1], dim=2)
            q, k, v = (t.view(B, T, self.h, -1).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d_k)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, -1)
            z = z + b["proj"](a)
            z = z + b["out"](F.gelu(b["fc"](b["ln_2"](z))))
        logits = self.ln_f(z) @ self.wte.weight.T  # (B, T, V)
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


class PlainRNNLM(nn.Module):
    """The peer: nn.Embedding -> nn.LSTM / nn.GRU -> nn.Linear."""

    def __init__(self, cell: str, V: int, E: int, H: int):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(E, H, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, idx, targets):
        logits = self.head(self.rnn(self.embed(idx))[0])  # (B, T, V)
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def copy_initial_weights(peer: PlainGPT, ours: nn.Module) -> None:
    """Start seqlab's Transformer from the peer's initial weights, so the two loss curves differ only
    by the implementations: seqlab's start-symbol rows (token and position 0) keep their own
    initialisation, its tied head's bias starts at zero (the peer has none)."""
    sd = ours.state_dict()  # tensors sharing storage with the parameters
    V, T = peer.wte.weight.shape[0], peer.wpe.weight.shape[0]
    sd["embed.weight"][:V].copy_(peer.wte.weight)
    sd["pos.weight"][1:T + 1].copy_(peer.wpe.weight)  # seqlab reads x_t at position t + 1
    sd["head.bias"].zero_()
    names = {"self_attn.in_proj_": "qkv", "self_attn.out_proj.": "proj", "linear1.": "fc", "linear2.": "out",
             "norm1.": "ln_1", "norm2.": "ln_2"}
    for i, block in enumerate(peer.blocks):
        for ours_name, peer_name in names.items():
            for kind in ("weight", "bias"):
                sd[f"blocks.layers.{i}.{ours_name}{kind}"].copy_(getattr(block[peer_name], kind))
    sd["blocks.norm.weight"].copy_(peer.ln_f.weight)
    sd["blocks.norm.bias"].copy_(peer.ln_f.bias)


def n_params(model: nn.Module, skip: tuple[str, ...] = ()) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not any(s in n for s in skip))


def trainer(model: nn.Module, batches, lr: float = 1e-3):
    """One training step per call on the next batch: loss, backward, clip at 1, AdamW (seqlab's
    make_optimizer: decay on matrices); returns the step function and its list of losses."""
    opt = make_optimizer(model, TrainConfig(lr=lr, weight_decay=0.1, beta2=0.99), torch.device("cpu"))
    losses, it = [], [0]

    def step():
        x, y = batches[it[0] % len(batches)]
        it[0] += 1
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())

    return step, losses


@torch.no_grad()
def held_out_loss(model: nn.Module, batches) -> float:
    """Mean cross-entropy of targets y given x over held-out batches, the same definition for every
    model (seqlab's training loss also scores x_0 from its start symbol; this one does not)."""
    was = model.training
    model.eval()
    total = 0.0
    for x, y in batches:
        logits = model(x, y)[0] if isinstance(model, PlainGPT) else model(x)[0]  # (B, T, V)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
    model.train(was)
    return total / len(batches)


def lm_batches(ids: torch.Tensor, n: int, B: int, T: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        i = torch.randint(0, len(ids) - T - 1, (B,), generator=g)
        w = torch.stack([ids[j:j + T + 1] for j in i.tolist()])  # (B, T+1)
        out.append((w[:, :-1], w[:, 1:]))
    return out


def interleaved_steps(steps: dict, n: int, warmup: int = 3) -> dict[str, float]:
    """Run the step functions round-robin n times after a warm-up; median seconds per step each."""
    for _ in range(warmup):
        for f in steps.values():
            f()
    times = {k: [] for k in steps}
    for _ in range(n):
        for k, f in steps.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def gemm_floor(n: int, d: int, L: int, V: int, rounds: int) -> float:
    """Seconds per training step of the GEMMs alone of a GPT with tied head on n = B·T positions:
    for every linear (n, k) -> (n, m) its forward x Wᵀ, input gradient dY W and weight gradient dYᵀ x
    (the work both contenders share; attention, pointwise ops and the optimizer excluded)."""
    shapes = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)] * L + [(d, V)]
    ops = []
    for k, m in shapes:
        x, w, dy = torch.randn(n, k), torch.randn(m, k), torch.randn(n, m)
        ops += [(x, w.t()), (dy, w), (dy.t(), x)]  # forward, ∂x, ∂W
    outs = [torch.empty(a.shape[0], b.shape[1]) for a, b in ops]

    def run():
        for (a, b), o in zip(ops, outs):
            torch.mm(a, b, out=o)

    return measure(Case("gemms", {"gemms": run}, "gemms"), rounds=rounds).times["gemms"]


def matmul_peak(quick: bool) -> float:
    """The best fp32 matmul rate of a few square sizes, FLOP/s, at the current thread count."""
    sizes = (256,) if quick else (256, 512, 1024)
    return max(measure_matmul_flops(0.1 if quick else 0.4, s) for s in sizes)


# --------------------------------------------------------------------------------------- rows
def row_train(a, ids, V, out):
    B, T, d, h, L = (4, 16, 32, 2, 1) if a.quick else (12, 64, 128, 4, 4)
    steps = a.steps
    batches = lm_batches(ids, steps + 3, B, T)
    torch.manual_seed(0)
    peer = PlainGPT(V, T, d, h, L)
    torch.manual_seed(0)
    ours = build_model("transformer", vocab_size=V, block_size=T, d_model=d, n_head=h, n_layer=L,
                       positions="learned", tie_weights=True)
    copy_initial_weights(peer, ours)
    variants = [("eager", peer, ours)]
    fresh = copy.deepcopy((peer, ours))  # the compiled pair starts from the same initial weights
    if a.compile:
        import logging

        from torch._inductor import config as inductor_config

        inductor_config.force_disable_caches = True  # time a cold compile, not a cache hit
        torch._logging.set_logs(dynamo=logging.ERROR)  # seqlab's input check is a (reported) graph break
        variants.append(("compiled", *fresh))
    peak_before = matmul_peak(a.quick)
    rows = []
    for mode, p, s in variants:
        compile_s = {}
        fp, lp = trainer(torch.compile(p) if mode == "compiled" else p, batches)
        fs, ls = trainer(torch.compile(s) if mode == "compiled" else s, batches)
        if mode == "compiled":
            for k, f in (("torch GPT", fp), ("seqlab", fs)):
                t0 = time.perf_counter()
                try:
                    f()
                except Exception as e:  # inductor needs a C++ toolchain; say why it did not run
                    out["notes"].append(f"--compile: {k} failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
                    return
                compile_s[k] = time.perf_counter() - t0
        t = interleaved_steps({"torch GPT": fp, "seqlab": fs}, max(1, steps - 3 - len(lp)))  # `steps` in all
        rows.append((mode, t, lp, ls, compile_s, p, s))
    peak = max(peak_before, matmul_peak(a.quick))
    N = {"torch GPT": n_params(peer, ("wpe",)), "seqlab": n_params(ours, ("pos",))}
    held_out = lm_batches(ids, 4 if a.quick else 16, B, T, seed=1)
    tab = ["| mode | runner | ms/step | tokens/s | speed vs torch | MFU (6N/token) | train loss @ %d | "
           "held-out loss |" % steps, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for mode, t, lp, ls, compile_s, p, s in rows:
        for k, losses, model in (("torch GPT", lp, p), ("seqlab", ls, s)):
            tok_s = B * T / t[k]
            mfu = 6 * N[k] * tok_s / peak
            name = k + (f" (compile {compile_s[k]:.1f} s)" if k in compile_s else "")
            last = statistics.mean(losses[-10:])  # mean of the last 10 steps: one batch is noisy
            tab.append(f"| {mode} | {name} | {t[k] * 1e3:.1f} | {tok_s:,.0f} | {t['torch GPT'] / t[k]:.2f}x | "
                       f"{mfu:.0%} | {last:.3f} | {held_out_loss(model, held_out):.3f} |")
        out["ratios"][f"train {mode}"] = rows[-1][1]["torch GPT"] / rows[-1][1]["seqlab"]
    floor = gemm_floor(B * T, d, L, V, a.rounds)
    t_peer = rows[0][1]["torch GPT"]
    tab.append(f"| bound | the step's GEMMs alone | {floor * 1e3:.1f} | {B * T / floor:,.0f} | "
               f"{t_peer / floor:.2f}x | {6 * N['torch GPT'] * B * T / floor / peak:.0%} | | |")
    out["ratios"]["train gemm share of torch step"] = floor / t_peer
    out["tables"].append((f"Transformer LM training step (B={B}, T={T}, d={d}, h={h}, L={L}, V={V}; "
                          f"N = {N['seqlab']:,} / {N['torch GPT']:,} parameters without positions; "
                          f"matmul peak {peak / 1e9:.0f} GFLOP/s measured in this run)", tab))


def row_recurrent(a, ids, V, out):
    B, T, E, H = (4, 16, 16, 32) if a.quick else (16, 128, 64, 256)
    batches = lm_batches(ids, 8, B, T)
    tab = ["| cell | torch.nn ms/step | seqlab ms/step | speed vs torch.nn |", "|---|---:|---:|---:|"]
    for cell in ("lstm", "gru"):
        torch.manual_seed(0)
        fp, _ = trainer(PlainRNNLM(cell, V, E, H), batches)
        fs, _ = trainer(build_model(cell, vocab_size=V, embed_dim=E, hidden_size=H), batches)
        t = interleaved_steps({"torch.nn": fp, "seqlab": fs}, max(3, 8 * a.rounds))  # single steps, alternating
        tab.append(f"| {cell} | {t['torch.nn'] * 1e3:.1f} | {t['seqlab'] * 1e3:.1f} | "
                   f"{t['torch.nn'] / t['seqlab']:.2f}x |")
        out["ratios"][f"{cell} train"] = t["torch.nn"] / t["seqlab"]
    out["tables"].append((f"Recurrent LM training step (B={B}, T={T}, E={E}, H={H}, 1 layer, V={V})", tab))


def row_markov(a, text, out):
    from nltk.lm import Laplace
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    n_train = 20_000 if a.quick else 1_000_000
    train, test = text[:n_train], text[n_train:n_train + n_train // 10]
    res = {}

    def nltk_run():
        lm = Laplace(3)
        grams, vocab = padded_everygram_pipeline(3, [list(train)])
        lm.fit(grams, vocab)
        res["nltk"] = lm.perplexity(list(ngrams(pad_both_ends(list(test), n=3), 3)))

    def seqlab_run():
        # nltk's conventions: ids for the characters, <s>, </s> and <UNK>; both ends padded
        tr, vocab = char_ids(train)
        s, e, unk = len(vocab), len(vocab) + 1, len(vocab) + 2
        pad = lambda x: torch.cat([torch.tensor([s, s]), torch.from_numpy(x), torch.tensor([e, e])])  # noqa: E731
        model = MarkovLM(vocab_size=len(vocab) + 3, order=2, smoothing="laplace", eps=0.0)
        model.fit(pad(tr), pad_start=False)
        w = pad(char_ids(test, vocab, unk)[0]).unfold(0, 3, 1)  # (N, 3) test trigrams
        res["seqlab"] = math.exp(-model.prob(w[:, :2], w[:, 2]).log().mean().item())

    c = measure(Case("markov", {"nltk.lm": nltk_run, "seqlab": seqlab_run}, "nltk.lm"),
                rounds=min(a.rounds, 3), warmup=1, min_time=0)
    out["ratios"]["markov"] = 1 / c.ratio("seqlab")
    out["tables"].append((f"Markov trigram (Laplace) fit + perplexity, {len(train):,} training and "
                          f"{len(test):,} test characters of stdlib source", [
        "| runner | s | speed vs nltk | perplexity |", "|---|---:|---:|---:|",
        f"| nltk.lm | {c.times['nltk.lm']:.3f} | 1.00x | {res['nltk']:.10f} |",
        f"| seqlab | {c.times['seqlab']:.3f} | {1 / c.ratio('seqlab'):.1f}x | {res['seqlab']:.10f} |"]))


def row_ar(a, out):
    from statsmodels.tsa.ar_model import AutoReg

    tau, H = 8, 24
    tab = ["| series | statsmodels ms | seqlab ms | speed vs statsmodels | max abs diff (coef, mean, interval) |",
           "|---|---:|---:|---:|---:|"]
    for T in ((300, 5_000) if a.quick else (300, 100_000)):
        rng = np.random.default_rng(T)
        x, e = np.zeros(T + 100), rng.standard_normal(T + 100)
        for t in range(3, len(x)):  # AR(3) around a mean of 1.4
            x[t] = 0.5 + 0.5 * x[t - 1] - 0.2 * x[t - 2] + 0.15 * x[t - 3] + e[t]
        y = x[100:]
        res = {}

        def sm():
            r = AutoReg(y, lags=tau, trend="c").fit()
            p = r.get_prediction(start=len(y), end=len(y) + H - 1)
            res["sm"] = (r.params, p.predicted_mean, p.conf_int(alpha=0.1))

        def ours():
            m = LinearAR(tau=tau).fit(y)
            f = m.forecast(y, H, quantiles=(0.05, 0.95), num_samples=1)
            res["seqlab"] = (m.coef.numpy(), f.mean.numpy(), f.quantiles.numpy())

        c = measure(Case(f"ar T={T}", {"statsmodels": sm, "seqlab": ours}, "statsmodels"), rounds=a.rounds)
        diff = max(float(np.abs(u - v).max()) for u, v in zip(res["sm"], res["seqlab"]))
        tab.append(f"| AR(3) sample, T={T:,}, tau={tau} | {c.times['statsmodels'] * 1e3:.2f} | "
                   f"{c.times['seqlab'] * 1e3:.2f} | {1 / c.ratio('seqlab'):.2f}x | {diff:.1e} |")
        out["ratios"][f"ar T={T}"] = 1 / c.ratio("seqlab")
    out["tables"].append((f"LinearAR fit + {H}-step forecast with 90% intervals vs statsmodels AutoReg", tab))


def decode_models(V: int, quick: bool, ctx_max: int):
    torch.manual_seed(0)
    tf = dict(d_model=32, n_head=2, n_layer=1) if quick else dict(d_model=128, n_head=4, n_layer=4)
    rec = dict(embed_dim=16, hidden_size=32) if quick else dict(embed_dim=64, hidden_size=256)
    models = {
        "transformer": build_model("transformer", vocab_size=V, block_size=ctx_max, positions="learned", **tf),
        "lstm": build_model("lstm", vocab_size=V, **rec),
        "gru": build_model("gru", vocab_size=V, **rec),
        "rnn": build_model("rnn", vocab_size=V, **rec),
        "neural-ar": build_model("neural-ar", vocab_size=V, tau=8, embed_dim=32, hidden_size=384, num_layers=2),
        "markov": MarkovLM(vocab_size=V, order=3),
    }
    for name in ("mingru", "minlstm", "retnet", "mamba"):  # the other families that decode by recurrence
        if name in available():
            models[name] = build_model(name, vocab_size=V, **(dict(d_model=32) if quick else dict(d_model=128)))
    return models


def row_decode(a, ids, V, out):
    contexts = (16, 32) if a.quick else (64, 256, 1024)
    n_new = 8 if a.quick else 64
    models = decode_models(V, a.quick, max(contexts) + n_new + 1)
    models["markov"].fit(ids)
    tab = ["| model | params | " + " | ".join(f"tokens/s @{c}" for c in contexts) +
           f" | cost @{contexts[-1]} / @{contexts[0]} |", "|---|---:|" + "---:|" * (len(contexts) + 1)]
    recompute = {}
    for name, m in models.items():
        m.eval()
        runners = {}  # every context's runners in one round-robin, so load hits them alike
        for c in contexts:
            prompt = ids[:c][None]  # (1, c)
            runners[f"1@{c}"] = lambda m=m, prompt=prompt: m.generate(prompt, 1, seed=0)
            runners[f"n@{c}"] = lambda m=m, prompt=prompt: m.generate(prompt, n_new, seed=0)
            if name == "transformer":
                def full(m=m, prompt=prompt):
                    with torch.no_grad():
                        m.conditionals(prompt)
                runners[f"recompute@{c}"] = full
        cs = measure(Case(name, runners, f"1@{contexts[0]}"), rounds=a.rounds, min_time=0.02)
        per_token = [(cs.times[f"n@{c}"] - cs.times[f"1@{c}"]) / (n_new - 1) for c in contexts]
        if name == "transformer":
            recompute = {c: cs.times[f"recompute@{c}"] / t for c, t in zip(contexts, per_token)}
        n = sum(p.numel() for p in m.parameters())
        tab.append(f"| {name} | {n:,} | " + " | ".join(f"{1 / t:,.0f}" for t in per_token) +
                   f" | {per_token[-1] / per_token[0]:.2f}x |")
        out["ratios"][f"decode {name} @{contexts[-1]}"] = 1 / per_token[-1]
    tab.append("| transformer: one full recompute / one cached step | | " +
               " | ".join(f"{recompute[c]:.1f}x" for c in contexts) + " | |")
    out["tables"].append((f"Decoding, batch 1, sampling: tokens/s while the context grows from c to "
                          f"c + {n_new}", tab))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _peak_child(T: int, explicit: bool) -> float:
    """In a fresh process: MB of resident memory a forward + backward of causal attention adds
    (Linux: the high-water mark VmHWM is reset through /proc/self/clear_refs before the pass)."""
    from seqlab import nn as snn

    torch.set_num_threads(1)
    mha = snn.MultiHeadAttention(128, 4, batch_first=True)
    x = torch.randn(1, T, 128, requires_grad=True)
    mask = snn.causal_mask(T) if explicit else None
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    base = _status_kb("VmRSS")
    out, _ = mha(x, x, x, need_weights=explicit, is_causal=True, attn_mask=mask)
    out.sum().backward()
    return (_status_kb("VmHWM") - base) / 1024


def row_memory(a, out):
    T = 512 if a.quick else 4096
    # one fresh process per path (a process's freed memory would hide the next path's peak), both at once
    procs = {explicit: subprocess.Popen([sys.executable, __file__, "--peak-child", str(T), str(int(explicit))],
                                        stdout=subprocess.PIPE, text=True) for explicit in (False, True)}
    mb = {}
    for explicit, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"the memory child ({'explicit' if explicit else 'default'}) exited {proc.returncode}")
        mb[explicit] = float(stdout.split()[-1])
    out["ratios"]["memory explicit / default"] = mb[True] / max(mb[False], 1e-9)
    out["tables"].append((f"Peak memory of causal self-attention training (forward + backward), B=1, "
                          f"T={T}, E=128, h=4", [
        "| path | peak MB added | vs default |", "|---|---:|---:|",
        f"| default (fused SDPA) | {mb[False]:.0f} | 1.00x |",
        f"| explicit weights (need_weights=True) | {mb[True]:.0f} | {mb[True] / max(mb[False], 1e-9):.1f}x |"]))


# --------------------------------------------------------------------------------------- main
def render(out: dict, args) -> str:
    lines = [f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
             f"{platform.processor() or platform.machine()}, load average before "
             f"{out['load'][0]:.1f}, after {os.getloadavg()[0]:.1f}"]
    for title, tab in out["tables"]:
        lines += ["", f"#### {title}", "", *tab]
    for note in out["notes"]:
        lines += ["", note]
    return "\n".join(lines)


def fail(message: str) -> None:
    """Bad input: one line on stderr, exit status 2, nothing written."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def write_between_markers(path: str, body: str) -> None:
    """Replace the text between BEGIN and END in `path` (written to a temporary file, then renamed)."""
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    if doc.count(BEGIN) != 1 or doc.count(END) != 1 or doc.index(BEGIN) > doc.index(END):
        fail(f"{path} needs one '{BEGIN}' line followed by one '{END}' line")
    head, rest = doc.split(BEGIN)
    tail = rest.split(END)[1]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    os.replace(tmp, path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    p.add_argument("--quick", action="store_true", help="tiny shapes and few steps: a smoke run of every row")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="training steps of the train row (300; --quick 6)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd models in the train row")
    p.add_argument("--write", metavar="FILE", help="put the tables between the bench_peers markers of FILE")
    p.add_argument("--peak-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.peak_child:
        print(f"{_peak_child(args.peak_child[0], bool(args.peak_child[1])):.1f}")
        return
    if args.write and not os.path.isfile(args.write):
        fail(f"--write {args.write}: no such file")
    args.steps = args.steps or (6 if args.quick else 300)
    torch.set_num_threads(args.threads)
    out = {"tables": [], "notes": [], "ratios": {}, "load": os.getloadavg()}
    text = stdlib_text(30_000 if args.quick else 1_100_000)
    ids, vocab = char_ids(text)
    ids, V = torch.from_numpy(ids), len(vocab)
    for row in args.only:
        t0 = time.perf_counter()
        if row == "train":
            row_train(args, ids, V, out)
        elif row == "recurrent":
            row_recurrent(args, ids, V, out)
        elif row == "markov":
            row_markov(args, text, out)
        elif row == "ar":
            row_ar(args, out)
        elif row == "decode":
            row_decode(args, ids, V, out)
        elif row == "memory":
            row_memory(args, out)
        print(f"  {row}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    body = render(out, args)
    print(body)
    if args.write:
        write_between_markers(args.write, body)


if __name__ == "__main__":
    main()
