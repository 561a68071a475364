"""Layers with parameters, randomness or shape logic: ``Dense``, ``Dropout`` and ``Flatten``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Self, override

from tinynet.core.checks import (
    Array,
    RngLike,
    as_array,
    as_batch,
    as_float_dtype,
    as_float_input,
    as_generator,
    check_float,
    check_grad_out,
    check_int,
    fmt_shape,
)
from tinynet.core.init import Initializer, get_initializer
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module


@register_module
class Dense(Module):
    """Fully connected layer.

    x: (batch, in_features) -> y: (batch, out_features)

    forward:  y = x @ W + b,            W: (in, out), b: (out,)
    backward: dL/dx = g @ W.T,  dL/dW += x.T @ g,  dL/db += sum_batch(g)

    Integer input is cast to the layer's dtype; so is float input of the other precision.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")  # the saved weights replace them
    setting_attributes: ClassVar[dict[str, str]] = {"bias": "has_bias"}

    caches: ClassVar[tuple[str, ...]] = ("_x",)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str | Initializer = "he",
        bias: bool = True,
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        resolved = as_float_dtype(dtype)
        shape = (self.in_features, self.out_features)
        weight = np.asarray(get_initializer(init)(*shape, as_generator(rng), resolved))
        if weight.shape != shape:
            raise ValueError(f"init must return shape {fmt_shape(shape)}, got {fmt_shape(weight.shape)}")
        self.weight = Parameter(
            weight.astype(resolved, copy=False), regularize=True, name="weight", copy=False
        )
        self.has_bias = bool(bias)
        self.bias = (
            Parameter(allocate((self.out_features,), resolved), regularize=False, name="bias", copy=False)
            if self.has_bias
            else None
        )
        self._x: Array | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """The layer with zero weights (no random draw): a model file's weights are loaded next."""
        return cls(**config, init="zeros")

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.weight.data.dtype

    @override
    def input_width(self) -> int:
        return self.in_features

    @override
    def forward(self, x: Array) -> Array:
        w = self.weight.data
        if not (type(x) is np.ndarray and x.ndim == 2 and x.dtype == w.dtype):  # the common case is free
            x = as_batch(x, "x", w.dtype)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"{self!r} expected input with {self.in_features} features, got shape {fmt_shape(x.shape)}"
            )
        self._x = x
        y = x @ w
        if self.bias is not None:
            y += self.bias.data
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        grad_out = self.backward_parameters(grad_out)
        grad_in: Array = grad_out @ self.weight.data.T
        return grad_in

    @override
    def backward_parameters(self, grad_out: Array) -> Any:
        """dL/dW += x.T @ g, dL/db += sum(g); returns the checked g (``backward`` goes on with it)."""
        x = self._x
        if x is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        if not (type(grad_out) is np.ndarray and grad_out.shape == (x.shape[0], self.out_features)):
            grad_out = check_grad_out(grad_out, (x.shape[0], self.out_features), self)
        self.weight.accumulate_matmul(x.T, grad_out)
        if self.bias is not None:
            self.bias.accumulate_sum(grad_out, axis=0)
        return grad_out

    @override
    def zero_grad(self) -> None:
        self.weight.zero_grad()
        if self.bias is not None:
            self.bias.zero_grad()

    @override
    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}" + ("" if self.has_bias else ", bias=False")


@register_module
class Flatten(Module):
    """Flatten every axis after the batch axis.

    x: (batch, d1, d2, ...) -> y: (batch, d1 * d2 * ...);  backward reshapes the gradient back.
    """

    caches: ClassVar[tuple[str, ...]] = ("_shape",)

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Array) -> Array:
        array = as_array(x, "x")
        if array.ndim < 1:
            raise ValueError(f"Flatten expected input with a batch axis, got shape {fmt_shape(array.shape)}")
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        self._shape = array.shape
        return array.reshape(array.shape[0], int(np.prod(array.shape[1:])))

    @override
    def backward(self, grad_out: Array) -> Array:
        shape = self._cached(self._shape)
        return check_grad_out(grad_out, (shape[0], int(np.prod(shape[1:]))), self).reshape(shape)


@register_module
class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest.

    training: y = x * m,  m = [u >= p] / (1 - p), u ~ U(0, 1);  dL/dx = g * m
    eval:     y = x;      dL/dx = g
    ``fixed_mask``, when set, replaces the random keep-mask (gradient checks freeze it this way).
    """

    not_settings: ClassVar[tuple[str, ...]] = ("rng",)

    caches: ClassVar[tuple[str, ...]] = ("_mask", "_shape")
    preserves_width: ClassVar[bool] = True

    def __init__(self, p: float = 0.5, rng: RngLike = None) -> None:
        super().__init__()
        self.p = check_float(p, "p", low=0.0, high=1.0, high_inclusive=False)
        self.rng = as_generator(rng)
        self.fixed_mask: Array | None = None
        self._mask: Array | None = None
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        self._shape = x.shape
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        if self.fixed_mask is not None:
            keep = np.asarray(self.fixed_mask, dtype=bool)
        else:
            keep = self.rng.random(x.shape) >= self.p
        mask = keep.astype(x.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        y: Array = x * mask
        return y

    def freeze(self) -> None:
        """Fix the keep-mask to the one the last forward pass drew (``gradcheck`` does this)."""
        if self._mask is not None:
            self.fixed_mask = self._mask != 0

    @override
    def backward(self, grad_out: Array) -> Array:
        grad = check_grad_out(grad_out, self._cached(self._shape), self)
        if self._mask is None:
            return grad
        grad_in: Array = grad * self._mask
        return grad_in
