"""Sections 4 and 5 of the tour: a plain RNN forgets the distant past; LSTM and GRU gates at work.

Shapes: B batch, T time (sentence length + 1 with the start symbol), H hidden size, E embedding.

Section 4 runs seqlab.experiments.probe (copy after a delay T, the adding problem of length T) for
RNN, LSTM, GRU and a causal Transformer, against each probe's memoryless baseline, and the gradient
norm g(d) = ||∂L/∂x_t|| of the last output's loss at distance d = T - 1 - t (at the largest T).
The verdict reads the adding problem, whose baseline (MSE 1/6) does not move with T, and the
RNN's gradient decay.

Section 5 recomputes the gates of the trained LSTM and GRU language models (section 3's) on one
sentence of the test text: the inputs the recurrent layer sees are captured in the normal forward
pass, then its layer-0 cell is unrolled over them with `return_gates=True` (seqlab.nn.unroll), which
must reproduce the layer's output (checked: `replay_error`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seqlab.experiments.tour.common import LanguageModels, TourSizes, Verdict

__all__ = ["MemoryResult", "GateStats", "GatesResult", "run_memory", "run_gates", "gates_on"]

SOLVED = 0.5          # a score at most this fraction of the baseline: the model carries the information
FAILED = 0.9          # a score at least this fraction of the baseline: it does not (explains < 10%)
VANISHED = 1e-3       # g(d_max) / g(0) below this: the gradient from the distant past has vanished
GATE_MOVES = 0.05     # mean over units of a gate's std over the sentence: the gate opens and closes
GATE_DECIDES = 0.2    # fraction of a gate's entries below 0.1 or above 0.9: it acts as a switch


@dataclass
class MemoryResult:
    """Section 4: the two probes (seqlab.experiments.probe.ProbeResult each)."""

    copy: object
    adding: object

    def relative(self, task: str, model: str) -> list[float]:
        """score / baseline at every length (1 = no better than memoryless)."""
        r = getattr(self, task)
        return [s / b for s, b in zip(r.scores[model], r.baselines)]

    def gradient_ratio(self, task: str, model: str) -> float:
        """g(d_max) / g(0) at the largest T."""
        g = np.asarray(getattr(self, task).grad_norms[model], dtype=float)
        return float(g[-1] / g[0]) if g[0] > 0 else float("nan")

    def verdict(self) -> Verdict:
        r = self.adding
        T0, T1 = r.lengths[0], r.lengths[-1]
        rnn = self.relative("adding", "rnn")
        others = {m: self.relative("adding", m)[-1] for m in r.scores if m != "rnn"}
        best = min(others, key=others.get) if others else None
        ratio = self.gradient_ratio("adding", "rnn")
        ok = (rnn[0] <= SOLVED and rnn[-1] >= FAILED and best is not None and others[best] <= SOLVED
              and ratio <= VANISHED)
        return Verdict(
            ok,
            f"adding problem, MSE / baseline: RNN {rnn[0]:.3f} at T={T0}, {rnn[-1]:.3f} at T={T1}"
            + (f"; {best} {others[best]:.3f} at T={T1}" if best else "")
            + f"; the RNN's gradient at distance {T1 - 1} is "
            + (f"{ratio:.1e}" if ratio > 0 else "0 (below float32's range)") + " of that at distance 0",
            f"supported when the RNN solves the shortest adding problem (MSE <= {SOLVED} x baseline), fails the "
            f"longest (>= {FAILED} x baseline) while another model solves it (<= {SOLVED} x), and its gradient "
            f"ratio g({T1 - 1}) / g(0) is <= {VANISHED:g}")


def run_memory(sizes: TourSizes, seed: int, log) -> MemoryResult:
    """Both probes at the tour's lengths (seqlab.experiments.probe.run_probe)."""
    from seqlab.experiments.probe import ProbeSetup, run_probe

    out = {}
    for task in ("copy", "adding"):
        log(f"    {task} probe, T = {', '.join(map(str, sizes.probe_lengths))}")
        setup = ProbeSetup(task=task, models=("rnn", "lstm", "gru", "transformer"), lengths=sizes.probe_lengths,
                           steps=sizes.probe_steps, hidden_size=sizes.probe_hidden, n_train=sizes.probe_train,
                           n_test=256, seed=seed, device="cpu")
        out[task] = run_probe(setup, log=log)
    return MemoryResult(out["copy"], out["adding"])


@dataclass
class GateStats:
    """One gate over the sentence: values (T, H) and what they do."""

    model: str                 # lstm | gru
    gate: str                  # i, f, o (LSTM); z, r (GRU)
    values: np.ndarray = field(repr=False)   # (T, H) in [0, 1]
    mean: float
    time_std: float            # mean over units of the std over time steps
    saturated: float           # fraction of entries below 0.1 or above 0.9
    init_time_std: float       # the same two of the untrained model (same seed)
    init_saturated: float


@dataclass
class GatesResult:
    """Section 5: LSTM i, f, o and GRU z, r gates of the trained language models on one sentence."""

    sentence: str
    labels: list[str]          # T labels: "<s>" then the sentence's characters
    gates: list[GateStats]
    replay_error: float        # max |unrolled cell output - recurrent layer output|

    def verdict(self) -> Verdict:
        idle = [g for g in self.gates if g.time_std < GATE_MOVES or g.saturated < GATE_DECIDES]
        return Verdict(
            not idle and self.replay_error <= 1e-4,
            "entries below 0.1 or above 0.9: " + ", ".join(
                f"{g.model} {g.gate} {g.saturated:.0%} (untrained {g.init_saturated:.0%})" for g in self.gates)
            + "; std over the sentence, mean over units: " + ", ".join(
                f"{g.model} {g.gate} {g.time_std:.2f}" for g in self.gates),
            f"supported when every gate has >= {GATE_DECIDES:.0%} of its entries below 0.1 or above 0.9 (a "
            f"switch, not a constant 0.5) and a std over the sentence, mean over units, >= {GATE_MOVES} (it "
            f"opens and closes with the input); the unrolled cells reproduce the layers' outputs to 1e-4")


@torch.no_grad()
def gates_on(model, x: torch.Tensor) -> tuple[dict[str, np.ndarray], float]:
    """Gates of layer 0 of an RNNLM (lstm or gru) reading x (T0,) after its start symbol.

    -> ({gate name: (T0 + 1, H)}, max |unrolled output - layer output|).
    """
    from seqlab import nn as snn

    seen = {}

    def grab(module, args, output):
        seen["input"], seen["output"] = args[0], output[0]

    handle = model.rnn.register_forward_hook(grab)
    try:
        model.conditionals(x[None])  # the layer's inputs: e(BOS), e(x_0), ...  (1, T0+1, E)
    finally:
        handle.remove()
    cell = model.rnn.layer_cell(0)
    out, _, gates = snn.unroll(cell, seen["input"].transpose(0, 1), return_gates=True)  # (T, 1, H)
    error = float((out.transpose(0, 1) - seen["output"]).abs().max()) if model.rnn.num_layers == 1 else 0.0
    names = ("i", "f", "o") if model.config.cell == "lstm" else ("z", "r")
    return {n: getattr(gates, n)[:, 0].numpy() for n in names}, error


def _saturated(v: np.ndarray) -> float:
    return float(((v < 0.1) | (v > 0.9)).mean())


def run_gates(lms: LanguageModels) -> GatesResult:
    from seqlab.models.registry import build_model

    sentence = lms.sentence()
    x = lms.encode(sentence)
    gates, error = [], 0.0
    for name in ("lstm", "gru"):
        trained = lms.get(name).model
        torch.manual_seed(lms.seed)
        untrained = build_model(name, vocab_size=lms.vocab_size, **lms.fields(name, None)).eval()
        values, err = gates_on(trained, x)
        init, _ = gates_on(untrained, x)
        error = max(error, err)
        for gate, v in values.items():
            gates.append(GateStats(name, gate, v, float(v.mean()), float(v.std(0).mean()), _saturated(v),
                                   float(init[gate].std(0).mean()), _saturated(init[gate])))
    return GatesResult(sentence, ["<s>"] + list(sentence), gates, error)
