"""Element-wise activations and Softmax. Each caches the cheapest tensor its backward needs.

| module     | forward y = f(x)                         | backward dL/dx                       | caches |
|------------|------------------------------------------|--------------------------------------|--------|
| Identity   | x                                        | g                                    | -      |
| ReLU       | max(x, 0)                                | g * [y > 0]                          | y      |
| LeakyReLU  | x if x > 0 else s * x                    | g * (1 if y > 0 else s)              | y      |
| Sigmoid    | 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2 | g * y * (1 - y)                     | y      |
| Tanh       | tanh(x)                                  | g * (1 - y^2)                        | y      |
| Softmax    | exp(x - max x) / sum exp(x - max x)      | y * (g - sum(g * y))  (last axis)    | y      |
"""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import override

from tinynet._checks import Array, as_array, check_float
from tinynet.module import Module


def as_float_input(x: Any) -> Array:
    """Return ``x`` as a float array; integer and bool input becomes float64."""
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return array
    return as_array(array, "x").astype(np.float64)


class Activation(Module):
    """Base of parameter-free element-wise layers that cache their output ``y``."""

    def __init__(self) -> None:
        super().__init__()
        self._y: Array | None = None


class Identity(Module):
    """y = x; dL/dx = g. A placeholder, e.g. a linear output layer."""

    def __init__(self) -> None:
        super().__init__()
        self._ran: bool | None = None

    @override
    def forward(self, x: Array) -> Array:
        self._ran = True
        return as_float_input(x)

    @override
    def backward(self, grad_out: Array) -> Array:
        self._cached(self._ran)
        return grad_out


class ReLU(Activation):
    """y = max(x, 0); dL/dx = g * [y > 0] (the subgradient at 0 is 0, as in PyTorch)."""

    @override
    def forward(self, x: Array) -> Array:
        y = np.maximum(as_float_input(x), 0.0)
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        return grad_out * (y > 0)


class LeakyReLU(Activation):
    """y = x for x > 0, else s * x; dL/dx = g * (1 if y > 0 else s), s = ``negative_slope`` >= 0."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", low=0.0)

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        y = np.where(x > 0, x, x * self.negative_slope)
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        # s >= 0 keeps the sign of x, so y > 0 exactly where x > 0
        return np.where(y > 0, grad_out, grad_out * self.negative_slope)

    @override
    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)); dL/dx = g * y * (1 - y).

    Computed as (1 + tanh(x / 2)) / 2, which cannot overflow or underflow for any finite x.
    """

    @override
    def forward(self, x: Array) -> Array:
        y = np.tanh(as_float_input(x) * 0.5)
        y *= 0.5
        y += 0.5
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        return grad_out * y * (1.0 - y)


class Tanh(Activation):
    """y = tanh(x); dL/dx = g * (1 - y^2)."""

    @override
    def forward(self, x: Array) -> Array:
        y = np.tanh(as_float_input(x))
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        return grad_out * (1.0 - y * y)


def softmax(x: Array, axis: int = -1) -> Array:
    """exp(x - max x) / sum exp(x - max x) along ``axis``: stable for any finite x."""
    shifted: Array = x - x.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


class Softmax(Activation):
    """Softmax over the last axis.

    x: (batch, k) -> y: (batch, k), rows sum to 1.
    forward:  y_i = exp(x_i - max x) / sum_j exp(x_j - max x)
    backward: the Jacobian-vector product dL/dx = y * (g - sum_j g_j y_j)

    For training a classifier prefer a linear output and ``CrossEntropyLoss``, which fuses the two.
    """

    @override
    def forward(self, x: Array) -> Array:
        y = softmax(as_float_input(x))
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        dot: Array = np.sum(grad_out * y, axis=-1, keepdims=True)
        grad_in: Array = y * (grad_out - dot)
        return grad_in
