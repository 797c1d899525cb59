"""Interleaved timing: ratios measured in one run, because these machines are noisy.

Each case is a set of named callables that do the same work (a reference and one or more
candidates). They run round-robin, `rounds` times each, after a warm-up, and the median of each is
reported, so a burst of outside load hits every contender alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Case:
    """One benchmark row: `runners[name]()` does one timed unit of work; `reference` names the baseline."""

    name: str
    runners: dict[str, Callable[[], object]]
    reference: str
    notes: str = ""
    times: dict[str, float] = field(default_factory=dict)

    def ratio(self, name: str) -> float:
        return self.times[name] / self.times[self.reference]


def measure(case: Case, rounds: int = 7, warmup: int = 2, min_time: float = 0.05) -> Case:
    """Fill `case.times` with the median seconds per call of each runner, interleaved."""
    names = list(case.runners)
    for _ in range(warmup):
        for n in names:
            case.runners[n]()
    # Repeat each call enough times that one sample lasts at least `min_time` seconds.
    reps = {}
    for n in names:
        t0 = time.perf_counter()
        case.runners[n]()
        dt = time.perf_counter() - t0
        reps[n] = max(1, int(min_time / max(dt, 1e-9)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            t0 = time.perf_counter()
            for _ in range(reps[n]):
                case.runners[n]()
            samples[n].append((time.perf_counter() - t0) / reps[n])
    case.times = {n: statistics.median(s) for n, s in samples.items()}
    return case


def table(cases: list[Case]) -> str:
    """A Markdown table: one row per case, each runner's ms and its ratio to the reference."""
    lines = ["| case | runner | ms | ratio vs reference |", "|---|---|---:|---:|"]
    for c in cases:
        for n, t in c.times.items():
            mark = " (ref)" if n == c.reference else ""
            lines.append(f"| {c.name} | {n}{mark} | {t * 1e3:.2f} | {c.ratio(n):.2f}x |")
    return "\n".join(lines)


def forward_step(m, x) -> Callable[[], None]:
    """A timed call: m(x) without gradients."""
    def run():
        with torch.no_grad():
            m(x)

    return run


def train_step(m, x, g) -> Callable[[], None]:
    """A timed call: forward and backward of a recurrent layer, out (first output) times g."""
    def run():
        m.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = m(x)
        out.backward(g)

    return run
