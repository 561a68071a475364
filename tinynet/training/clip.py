"""Gradient clippers: ``clipper(params) -> float``, the global gradient norm before clipping.

| clipper           | effect on each gradient g                                          |
|-------------------|--------------------------------------------------------------------|
| ClipValue(v)      | clip every element into [-v, v]                                    |
| ClipNorm(c)       | per parameter: g *= c / norm(g) when norm(g) > c                   |
| ClipGlobalNorm(c) | all together: g *= min(1, c / (total + 1e-6)),                     |
|                   | total = sqrt(sum norm(g)^2) (PyTorch's ``clip_grad_norm_``)        |

A non-finite gradient raises ``FloatingPointError`` naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tinynet.core.checks import Array, check_float
from tinynet.core.config import Configurable
from tinynet.core.parameter import Parameter, find_groups


def grad_norms(params: Sequence[Parameter]) -> list[float]:
    """The L2 norm of each parameter's gradient; raises ``FloatingPointError`` on NaN or inf."""
    norms = []
    for index, param in enumerate(params):
        grad = param.grad
        norm = math.sqrt(float(np.vdot(grad, grad)))  # vdot flattens without a copy
        if not math.isfinite(norm):
            if np.isfinite(param.grad).all():  # finite but overflowing when squared
                scale = float(np.abs(param.grad).max())
                norm = scale * float(np.linalg.norm(param.grad / scale))
            if not math.isfinite(norm):
                label = param.name or "parameter"
                raise FloatingPointError(
                    f"gradient of params[{index}] ({label}, shape {param.grad.shape}) is not finite"
                )
        norms.append(norm)
    return norms


def flat_grads(params: Sequence[Parameter]) -> list[Array] | None:
    """The whole gradient buffers when ``params`` are exactly some optimizer's flat storage, else None."""
    groups = find_groups(params)
    if groups is None:
        return None
    for group in groups:
        group.resolve_grads()
    return [group.grad for group in groups]


def global_norm(params: Sequence[Parameter]) -> float:
    """sqrt(sum of squared gradient norms) over all ``params``."""
    flat = flat_grads(params)
    if flat is not None:
        total = sum(float(np.vdot(grad, grad)) for grad in flat)
        if math.isfinite(total):
            return math.sqrt(total)
        # not finite: the per-parameter pass below rescues overflow and names a NaN's parameter
    return math.sqrt(sum(n * n for n in grad_norms(params)))


class Clipper(Configurable):
    """Base class: ``__call__`` clips the gradients in place and returns the global norm before."""

    def __call__(self, params: Sequence[Parameter]) -> float:
        raise NotImplementedError


class ClipValue(Clipper):
    """Clip every gradient element into [-max_value, max_value]."""

    def __init__(self, max_value: float) -> None:
        self.max_value = check_float(max_value, "max_value", low=0.0, low_inclusive=False)

    def __call__(self, params: Sequence[Parameter]) -> float:
        total = global_norm(params)
        for grad in flat_grads(params) or [param.grad for param in params]:
            np.clip(grad, -self.max_value, self.max_value, out=grad)
        return total


class ClipNorm(Clipper):
    """Rescale each parameter's gradient on its own to norm at most ``max_norm``."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = check_float(max_norm, "max_norm", low=0.0, low_inclusive=False)

    def __call__(self, params: Sequence[Parameter]) -> float:
        norms = grad_norms(params)
        for param, norm in zip(params, norms, strict=True):
            if norm > self.max_norm:
                param.grad *= self.max_norm / norm
        return math.sqrt(sum(n * n for n in norms))


class ClipGlobalNorm(Clipper):
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    coefficient = min(1, max_norm / (total + 1e-6)), as PyTorch's ``clip_grad_norm_``.
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm = check_float(max_norm, "max_norm", low=0.0, low_inclusive=False)

    def __call__(self, params: Sequence[Parameter]) -> float:
        total = global_norm(params)
        coefficient = self.max_norm / (total + 1e-6)
        if coefficient < 1.0:
            for grad in flat_grads(params) or [param.grad for param in params]:
                grad *= coefficient
        return total
