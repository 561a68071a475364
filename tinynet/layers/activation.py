"""Element-wise activations and Softmax. Each caches the cheapest tensor its backward needs.

| module     | forward y = f(x)                         | backward dL/dx                       | caches |
|------------|------------------------------------------|--------------------------------------|--------|
| Identity   | x                                        | g                                    | -      |
| ReLU       | max(x, 0)                                | g * [y > 0]                          | y      |
| LeakyReLU  | x if x > 0 else s * x                    | g * (1 if y > 0 else s)              | y      |
| Sigmoid    | 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2 | g * y * (1 - y)                     | y      |
| Tanh       | tanh(x)                                  | g * (1 - y^2)                        | y      |
| Softmax    | exp(x - max x) / sum exp(x - max x)      | y * (g - sum(g * y))  (last axis)    | y      |
| GELU       | x Phi(x) (or its tanh approximation)     | g * (Phi(x) + x phi(x))              | x, Phi |
| ELU        | x if x > 0 else a (exp(x) - 1)           | g * (1 if y > 0 else y + a)          | y      |
| Softplus   | log(1 + exp(b x)) / b, x past threshold  | g * sigmoid(b x)                     | x      |

Every backward checks that ``grad_out`` has the forward output's shape.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from typing_extensions import override

from tinynet.core.checks import Array, as_float_input, check_float, check_grad_out, check_int
from tinynet.core.module import Module
from tinynet.core.registry import register_module
from tinynet.layers.special import erf


class Activation(Module):
    """Base of parameter-free element-wise layers: they cache one tensor of the output's shape."""

    caches: ClassVar[tuple[str, ...]] = ("_saved",)
    preserves_width: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._saved: Array | None = None

    @override
    def zero_grad(self) -> None:
        """Nothing to zero: no parameters."""

    def _backward_inputs(self, grad_out: Any) -> tuple[Array, Array]:
        """``(grad_out, saved)`` after checking that ``grad_out`` has the saved tensor's shape."""
        saved = self._cached(self._saved)
        if type(grad_out) is np.ndarray and grad_out.shape == saved.shape:  # the common case is free
            return grad_out, saved
        return check_grad_out(grad_out, saved.shape, self), saved


@register_module
class Identity(Activation):
    """y = x; dL/dx = g. A placeholder, e.g. a linear output layer."""

    @override
    def forward(self, x: Array) -> Array:
        y = as_float_input(x)
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        return self._backward_inputs(grad_out)[0]


@register_module
class ReLU(Activation):
    """y = max(x, 0); dL/dx = g * [y > 0] (the subgradient at 0 is 0, as in PyTorch)."""

    @override
    def forward(self, x: Array) -> Array:
        y = np.maximum(as_float_input(x), 0.0)
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        return g * (y > 0)


@register_module
class LeakyReLU(Activation):
    """y = x for x > 0, else s * x; dL/dx = g * (1 if y > 0 else s), s = ``negative_slope`` >= 0."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float(negative_slope, "negative_slope", low=0.0)

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        if self.negative_slope <= 1.0:  # max(x, s x) is x for x > 0 and s x otherwise
            y = x * self.negative_slope
            np.maximum(x, y, out=y)
        else:
            y = np.where(x > 0, x, x * self.negative_slope)
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        # s >= 0 keeps the sign of x, so y > 0 exactly where x > 0
        slope = (y > 0).astype(g.dtype)
        slope *= 1.0 - self.negative_slope
        slope += self.negative_slope
        slope *= g
        return slope


@register_module
class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)); dL/dx = g * y * (1 - y).

    Computed as (1 + tanh(x / 2)) / 2, which cannot overflow or underflow for any finite x.
    """

    @override
    def forward(self, x: Array) -> Array:
        y = np.tanh(as_float_input(x) * 0.5)
        y *= 0.5
        y += 0.5
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        slope = 1.0 - y
        slope *= y
        slope *= g
        return slope


@register_module
class Tanh(Activation):
    """y = tanh(x); dL/dx = g * (1 - y^2)."""

    @override
    def forward(self, x: Array) -> Array:
        y = np.tanh(as_float_input(x))
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        slope = y * y
        np.subtract(1.0, slope, out=slope)
        slope *= g
        return slope


def softmax(x: Array, axis: int = -1) -> Array:
    """exp(x - max x) / sum exp(x - max x) along ``axis``: stable for any finite x."""
    shifted: Array = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):  # far-below-max entries underflow to 0: the right answer
        np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


@register_module
class Softmax(Activation):
    """Softmax over ``axis`` (default: the last), as ``torch.nn.Softmax(dim=axis)``.

    x: any shape -> y: the same shape, summing to 1 along ``axis``.
    forward:  y_i = exp(x_i - max x) / sum_j exp(x_j - max x)
    backward: the Jacobian-vector product dL/dx = y * (g - sum_j g_j y_j), sums along ``axis``

    For training a classifier prefer a linear output and ``CrossEntropyLoss``, which fuses the two.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = check_int(axis, "axis")

    @override
    def forward(self, x: Array) -> Array:
        array = as_float_input(x)
        if not -array.ndim <= self.axis < array.ndim:
            raise ValueError(f"{self!r}: axis {self.axis} is out of range for input of shape {array.shape}")
        y = softmax(array, axis=self.axis)
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        dot: Array = np.sum(g * y, axis=self.axis, keepdims=True)
        grad_in: Array = y * (g - dot)
        return grad_in


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@register_module
class GELU(Activation):
    """Gaussian error linear unit, y = x Phi(x), as ``torch.nn.GELU``.

    approximate="none":  y = x (1 + erf(x / sqrt(2))) / 2;   dy/dx = Phi(x) + x phi(x)
    approximate="tanh":  y = x (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3);
                         dy/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2
    erf is vectorized (``tinynet.layers.special.erf``, within 3e-15 of ``math.erf``), so both forms cost
    a few element-wise passes. Caches x and t = tanh(u) (or Phi(x)).
    """

    caches: ClassVar[tuple[str, ...]] = ("_t",)
    APPROXIMATIONS = ("none", "tanh")

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in self.APPROXIMATIONS:
            raise ValueError(f"approximate must be one of {list(self.APPROXIMATIONS)}, got {approximate!r}")
        self.approximate = approximate
        self._t: Array | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        self._saved = x
        if self.approximate == "tanh":
            t = x * x  # x * x * x: x**3 takes NumPy's slow general power path
            t *= 0.044715
            t += 1.0
            t *= x
            t *= _SQRT_2_OVER_PI
            np.tanh(t, out=t)
            self._t = t
            y = t + 1.0
            y *= 0.5
        else:
            y = erf(x * _INV_SQRT_2)
            y += 1.0
            y *= 0.5
            self._t = y.copy()  # Phi(x)
        y *= x
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, x = self._backward_inputs(grad_out)
        t = self._cached(self._t)
        x2 = x * x
        if self.approximate == "tanh":
            # 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
            x2 *= 3 * 0.044715
            x2 += 1.0
            x2 *= x
            x2 *= 0.5 * _SQRT_2_OVER_PI
            slope = t * t
            np.subtract(1.0, slope, out=slope)
            slope *= x2
            slope += 0.5
            slope += 0.5 * t
        else:
            # Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
            x2 *= -0.5
            with np.errstate(under="ignore"):  # the density of a large |x| underflows to 0
                np.exp(x2, out=x2)
            x2 *= _INV_SQRT_2PI
            x2 *= x
            slope = x2
            slope += t
        slope *= g
        return slope


@register_module
class ELU(Activation):
    """y = x for x > 0, else alpha (exp(x) - 1);  dL/dx = g * (1 if y > 0 else y + alpha), alpha > 0."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0, low_inclusive=False)

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        # expm1 only of the non-positive part: exp of a large positive x would overflow
        negative = np.minimum(x, 0.0)
        np.expm1(negative, out=negative)
        negative *= self.alpha
        y = np.maximum(x, 0.0)
        y += negative
        self._saved = y
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._backward_inputs(grad_out)
        # y + alpha where y <= 0, and 1 where y > 0: min(y, 0) + alpha is alpha (exp(x) - 1) + alpha
        slope = np.minimum(y, 0.0)
        slope += self.alpha
        np.copyto(slope, 1.0, where=y > 0)
        slope *= g
        return slope


@register_module
class Softplus(Activation):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold (as PyTorch).

    dL/dx = g * sigmoid(beta x) (1 where beta x > threshold). Caches x.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = check_float(beta, "beta", low=0.0, low_inclusive=False)
        self.threshold = check_float(threshold, "threshold", low=0.0, low_inclusive=False)

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        self._saved = x
        z = x * self.beta
        with np.errstate(under="ignore"):  # log(1 + exp(z)) of a very negative z underflows to 0
            y = np.logaddexp(0.0, z)
        y /= self.beta
        np.copyto(y, x, where=z > self.threshold)
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, x = self._backward_inputs(grad_out)
        z = x * self.beta
        above = z > self.threshold
        z *= 0.5
        np.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        np.copyto(z, 1.0, where=above)
        z *= g
        return z
