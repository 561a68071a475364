"""Element-wise activations and Softmax. Each caches the cheapest tensor its backward needs.

| module     | forward y = f(x)                         | backward dL/dx                       | caches |
|------------|------------------------------------------|--------------------------------------|--------|
| Identity   | x                                        | g                                    | -      |
| ReLU       | max(x, 0)                                | g * [y > 0]                          | y      |
| LeakyReLU  | x if x > 0 else s * x                    | g * (1 if y > 0 else s)              | y      |
| Sigmoid    | 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2 | g * y * (1 - y)                     | y      |
| Tanh       | tanh(x)                                  | g * (1 - y^2)                        | y      |
| Softmax    | exp(x - max x) / sum exp(x - max x)      | y * (g - sum(g * y))  (last axis)    | y      |
| GELU       | x Phi(x) (or its tanh approximation)     | g * (Phi(x) + x phi(x))              | x      |
| ELU        | x if x > 0 else a (exp(x) - 1)           | g * (1 if y > 0 else y + a)          | y      |
| Softplus   | log(1 + exp(b x)) / b, x past threshold  | g * sigmoid(b x)                     | x      |
"""

from __future__ import annotations

import math
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
    with np.errstate(under="ignore"):  # far-below-max entries underflow to 0: the right answer
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


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_erf = np.frompyfunc(math.erf, 1, 1)


class GELU(Module):
    """Gaussian error linear unit, y = x Phi(x), as ``torch.nn.GELU``.

    approximate="none":  y = x (1 + erf(x / sqrt(2))) / 2;   dy/dx = Phi(x) + x phi(x)
    approximate="tanh":  y = x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3);
                         dy/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2
    NumPy has no vectorized erf, so the exact form calls ``math.erf`` per element: prefer "tanh"
    where speed matters. Caches x and t (or Phi(x)).
    """

    APPROXIMATIONS = ("none", "tanh")

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in self.APPROXIMATIONS:
            raise ValueError(f"approximate must be one of {list(self.APPROXIMATIONS)}, got {approximate!r}")
        self.approximate = approximate
        self._x: Array | None = None
        self._t: Array | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        self._x = x
        if self.approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            self._t = t
            y: Array = 0.5 * x * (1.0 + t)
            return y
        cdf: Array = 0.5 * (1.0 + np.asarray(_erf(x * _INV_SQRT_2), dtype=x.dtype))
        self._t = cdf
        result: Array = x * cdf
        return result

    @override
    def backward(self, grad_out: Array) -> Array:
        x = self._cached(self._x)
        if self.approximate == "tanh":
            t = self._cached(self._t)
            du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
            slope: Array = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
        else:
            cdf = self._cached(self._t)
            with np.errstate(under="ignore"):  # the density of a large |x| underflows to 0
                pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
            slope = cdf + x * pdf
        grad_in: Array = grad_out * slope
        return grad_in

    @override
    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


class ELU(Activation):
    """y = x for x > 0, else alpha (exp(x) - 1);  dL/dx = g * (1 if y > 0 else y + alpha), alpha > 0."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0, low_inclusive=False)

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        # expm1 only of the non-positive part: exp of a large positive x would overflow
        y = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))
        self._y = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        y = self._cached(self._y)
        grad_in: Array = grad_out * np.where(y > 0, 1.0, y + self.alpha)
        return grad_in

    @override
    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Softplus(Module):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold (as PyTorch).

    dL/dx = g * sigmoid(beta x) (1 where beta x > threshold). Caches x.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = check_float(beta, "beta", low=0.0, low_inclusive=False)
        self.threshold = check_float(threshold, "threshold", low=0.0, low_inclusive=False)
        self._x: Array | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        self._x = x
        z = self.beta * x
        with np.errstate(under="ignore"):  # log(1 + exp(z)) of a very negative z underflows to 0
            y: Array = np.where(z > self.threshold, x, np.logaddexp(0.0, z) / self.beta)
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        x = self._cached(self._x)
        z = self.beta * x
        sig = 0.5 + 0.5 * np.tanh(0.5 * z)
        grad_in: Array = grad_out * np.where(z > self.threshold, 1.0, sig)
        return grad_in

    @override
    def get_config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}
