"""Learning-rate schedules: pure callables ``schedule(t) -> lr`` for an epoch (or step) index t >= 0.

| schedule          | lr(t)                                                                   |
|-------------------|-------------------------------------------------------------------------|
| Constant          | lr                                                                      |
| InverseTimeDecay  | lr / (1 + decay_rate * t)   (``tinynet train --decay_rate``)            |
| ExponentialDecay  | lr * gamma^t                                                            |
| StepDecay         | lr * gamma^floor(t / step_size)                                         |
| CosineDecay       | min_lr + (lr - min_lr) (1 + cos(pi t / total)) / 2, min_lr for t >= total |
| Warmup            | then(0) (t + 1) / (warmup + 1) for t < warmup, then then(t - warmup)    |

Every schedule returns a finite value >= 0 for every t >= 0, also past its end.
"""

from __future__ import annotations

import math

from tinynet.core.checks import check_float, check_int
from tinynet.core.config import Configurable


class Schedule(Configurable):
    """Base class: subclasses implement ``lr_at(t)``; ``__call__`` validates t."""

    def __call__(self, t: int) -> float:
        return self.lr_at(check_int(t, "t", minimum=0))

    def lr_at(self, t: int) -> float:
        """The learning rate of epoch ``t`` (counted from 0)."""
        raise NotImplementedError


def _check_lr(lr: float, name: str = "lr") -> float:
    return check_float(lr, name, low=0.0, low_inclusive=False)


class Constant(Schedule):
    """lr(t) = lr."""

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr(lr)

    def lr_at(self, t: int) -> float:
        return self.lr


class InverseTimeDecay(Schedule):
    """lr(t) = lr / (1 + decay_rate * t)."""

    def __init__(self, lr: float, decay_rate: float) -> None:
        self.lr = _check_lr(lr)
        self.decay_rate = check_float(decay_rate, "decay_rate", low=0.0)

    def lr_at(self, t: int) -> float:
        return self.lr / (1.0 + self.decay_rate * t)


class ExponentialDecay(Schedule):
    """lr(t) = lr * gamma^t, 0 < gamma <= 1."""

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = _check_lr(lr)
        self.gamma = check_float(gamma, "gamma", low=0.0, high=1.0, low_inclusive=False)

    def lr_at(self, t: int) -> float:
        return self.lr * math.pow(self.gamma, t)


class StepDecay(Schedule):
    """lr(t) = lr * gamma^floor(t / step_size): multiply by gamma every ``step_size`` epochs."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = _check_lr(lr)
        self.step_size = check_int(step_size, "step_size", minimum=1)
        self.gamma = check_float(gamma, "gamma", low=0.0, high=1.0, low_inclusive=False)

    def lr_at(self, t: int) -> float:
        return self.lr * math.pow(self.gamma, t // self.step_size)


class CosineDecay(Schedule):
    """lr(t) = min_lr + (lr - min_lr) (1 + cos(pi t / total)) / 2 for t < total, min_lr after."""

    def __init__(self, lr: float, total: int, min_lr: float = 0.0) -> None:
        self.lr = _check_lr(lr)
        self.total = check_int(total, "total", minimum=1)
        self.min_lr = check_float(min_lr, "min_lr", low=0.0, high=self.lr)

    def lr_at(self, t: int) -> float:
        if t >= self.total:
            return self.min_lr
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t / self.total))


class Warmup(Schedule):
    """A linear ramp over ``warmup`` epochs up to ``then(0)``, then ``then(t - warmup)``.

    lr(t) = then(0) (t + 1) / (warmup + 1) for t < warmup; the ramp never yields 0.
    """

    def __init__(self, warmup: int, then: Schedule) -> None:
        self.warmup = check_int(warmup, "warmup", minimum=0)
        if not isinstance(then, Schedule):
            raise TypeError(f"then must be a Schedule, got {type(then).__name__}")
        self.then = then

    def lr_at(self, t: int) -> float:
        if t < self.warmup:
            return self.then(0) * (t + 1) / (self.warmup + 1)
        return self.then(t - self.warmup)
