"""Weight penalties on parameters with ``regularize=True`` (weights, never biases).

penalty = l1 * sum(abs(w)) + (l2 / 2) * sum(w^2);   apply adds l1 * sign(w) + l2 * w to w.grad.

When the parameters are an optimizer's flat storage, the weights of one dtype are a single slice
(regularized parameters come first there), so both are a few NumPy calls for the whole model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tinynet.core.checks import Array, check_float
from tinynet.core.config import Configurable
from tinynet.core.parameter import Parameter, find_groups


def _weights(params: Sequence[Parameter], with_grads: bool) -> Iterator[tuple[Array, Array | None]]:
    """``(w, grad of w)`` as flat arrays over the regularized weights (grad None unless asked for)."""
    groups = find_groups(params)
    if groups is not None:
        for group in groups:
            if group.n_regularized:
                if with_grads:
                    group.resolve_grads()
                n = group.n_regularized
                yield group.data[:n], group.grad[:n] if with_grads else None
        return
    for param in params:
        if param.regularize:
            yield param.data.reshape(-1), param.grad.reshape(-1) if with_grads else None


class Regularizer(Configurable):
    """L1 and L2 penalties; ``L1``, ``L2`` and ``L1L2`` only choose which are on."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = check_float(l1, "l1", low=0.0)
        self.l2 = check_float(l2, "l2", low=0.0)

    def penalty(self, params: Sequence[Parameter]) -> float:
        """l1 * sum(abs(w)) + (l2 / 2) * sum(w^2) over the regularized parameters."""
        total = 0.0
        for w, _ in _weights(params, with_grads=False):
            if self.l1:
                total += self.l1 * float(np.abs(w).sum())
            if self.l2:
                total += 0.5 * self.l2 * float(np.dot(w, w))
        return total

    def apply(self, params: Sequence[Parameter]) -> None:
        """Add the penalty's gradient, l1 * sign(w) + l2 * w, into each regularized ``.grad``."""
        for w, grad in _weights(params, with_grads=True):
            assert grad is not None  # asked for
            if self.l1:
                grad += self.l1 * np.sign(w)
            if self.l2:
                grad += self.l2 * w


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
