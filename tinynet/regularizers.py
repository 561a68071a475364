"""Weight penalties on parameters with ``regularize=True`` (weights, never biases).

penalty = l1 * sum(abs(w)) + (l2 / 2) * sum(w^2);   apply adds l1 * sign(w) + l2 * w to w.grad.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinynet._checks import check_float
from tinynet.module import Parameter


class Regularizer:
    """L1 and L2 penalties; ``L1``, ``L2`` and ``L1L2`` only choose which are on."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = check_float(l1, "l1", low=0.0)
        self.l2 = check_float(l2, "l2", low=0.0)

    def penalty(self, params: Sequence[Parameter]) -> float:
        """l1 * sum(abs(w)) + (l2 / 2) * sum(w^2) over the regularized parameters."""
        total = 0.0
        for param in params:
            if param.regularize:
                w = param.data.reshape(-1)
                if self.l1:
                    total += self.l1 * float(np.abs(w).sum())
                if self.l2:
                    total += 0.5 * self.l2 * float(np.dot(w, w))
        return total

    def apply(self, params: Sequence[Parameter]) -> None:
        """Add the penalty's gradient, l1 * sign(w) + l2 * w, into each regularized ``.grad``."""
        for param in params:
            if param.regularize:
                if self.l1:
                    param.grad += self.l1 * np.sign(param.data)
                if self.l2:
                    param.grad += self.l2 * param.data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    """penalty = l1 * sum(abs(w))."""

    def __init__(self, l1: float) -> None:
        super().__init__(l1=l1)


class L2(Regularizer):
    """penalty = (l2 / 2) * sum(w^2); gradient l2 * w."""

    def __init__(self, l2: float) -> None:
        super().__init__(l2=l2)


class L1L2(Regularizer):
    """penalty = l1 * sum(abs(w)) + (l2 / 2) * sum(w^2)."""
