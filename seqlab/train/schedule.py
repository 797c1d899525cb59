"""Learning-rate schedule: linear warmup, then cosine decay to a floor (as in nanoGPT's get_lr).

With s the number of optimiser steps already taken, W = warmup_steps, S = total steps,
lr_max = lr and lr_min = min_lr:

    lr(s) = lr_max (s + 1) / W                                   s < W
    p     = (s - W) / (S - W)                                     W <= s < S
    lr(s) = lr_min + 1/2 (1 + cos(pi p)) (lr_max - lr_min)
    lr(s) = lr_min                                                s >= S

A time budget B replaces p by max(p, e / B), e the seconds spent so far, so a run stopped by its
budget has decayed its learning rate by then whether or not it reached S steps (Loshchilov &
Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts", for the cosine shape).
"""

from __future__ import annotations

import math

__all__ = ["lr_at", "WarmupCosine"]


def lr_at(step: int, lr: float, min_lr: float, warmup_steps: int, total_steps: int,
          time_fraction: float = 0.0) -> float:
    """The learning rate for optimiser step `step` (0-based); see the module docstring."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    p = max((step - warmup_steps) / span, time_fraction)
    if p >= 1.0:
        return min_lr
    # lr = lr_min + 1/2 (1 + cos(pi p)) (lr_max - lr_min)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * p)) * (lr - min_lr)


class WarmupCosine:
    """Sets the learning rate of every param group of `optimizer` before each step.

    Stateless apart from its hyper-parameters: the step comes from the trainer, so resuming needs
    only the step count (`state_dict` records the settings for the run folder's trainer state).
    """

    def __init__(self, optimizer, lr: float, min_lr: float, warmup_steps: int, total_steps: int):
        self.optimizer = optimizer
        self.lr, self.min_lr = float(lr), float(min_lr)
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.last_lr = float("nan")

    def set(self, step: int, time_fraction: float = 0.0) -> float:
        """Apply lr(step) to the optimizer and return it."""
        lr = lr_at(step, self.lr, self.min_lr, self.warmup_steps, self.total_steps, time_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.last_lr = lr
        return lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "min_lr": self.min_lr, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "last_lr": self.last_lr}

    def load_state_dict(self, state: dict) -> None:
        self.last_lr = float(state.get("last_lr", float("nan")))
