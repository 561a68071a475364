"""Layers with parameters, randomness or shape logic: ``Dense``, ``Dropout`` and ``Flatten``."""

from __future__ import annotations

import math
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
    """Fully connected layer on the last axis, as ``torch.nn.Linear``.

    x: (batch, ..., in_features) -> y: (batch, ..., out_features)

    forward:  y = x @ W + b,            W: (in, out), b: (out,)
    backward: dL/dx = g @ W.T,  dL/dW += x.T @ g,  dL/db += sum(g) over every axis but the last

    Leading axes are folded into one (a view when x is contiguous), so any rank is one GEMM.
    Integer input is cast to the layer's dtype; so is float input of the other precision.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")  # the saved weights replace them
    setting_attributes: ClassVar[dict[str, str]] = {"bias": "has_bias"}

    caches: ClassVar[tuple[str, ...]] = ("_x", "_lead")

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
        self._x: Array | None = None  # the input as (rows, in_features)
        self._lead: tuple[int, ...] | None = None  # the leading axes of an input of rank > 2

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
            x = as_batch(x, "x", w.dtype, any_rank=True)
        if x.shape[-1] != self.in_features:
            hint = ""
            if x.ndim > 2 and math.prod(x.shape[1:]) == self.in_features:
                hint = (
                    f"; to feed all {fmt_shape(x.shape[1:])} of each sample, put Flatten() before it "
                    "(Dense acts on the last axis, and Embedding returns (batch, seq, dim))"
                )
            axis = " on its last axis" if x.ndim > 2 else ""
            raise ValueError(
                f"{self!r} expected input with {self.in_features} features{axis}, got shape "
                f"{fmt_shape(x.shape)}{hint}"
            )
        lead = None
        if x.ndim > 2:
            lead = x.shape[:-1]
            x = x.reshape(-1, self.in_features)
        self._x, self._lead = x, lead
        y = x @ w
        if self.bias is not None:
            y += self.bias.data
        return y if lead is None else y.reshape(*lead, self.out_features)

    @override
    def backward(self, grad_out: Array) -> Array:
        grad_out = self.backward_parameters(grad_out)
        grad_in: Array = grad_out @ self.weight.data.T
        return grad_in if self._lead is None else grad_in.reshape(*self._lead, self.in_features)

    @override
    def backward_parameters(self, grad_out: Array) -> Any:
        """dL/dW += x.T @ g, dL/db += sum(g); returns the checked g as (rows, out_features)
        (``backward`` goes on with it)."""
        x = self._x
        if x is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        lead = self._lead
        if lead is None:
            if not (type(grad_out) is np.ndarray and grad_out.shape == (x.shape[0], self.out_features)):
                grad_out = check_grad_out(grad_out, (x.shape[0], self.out_features), self)
        else:
            grad_out = check_grad_out(grad_out, (*lead, self.out_features), self).reshape(
                -1, self.out_features
            )
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


def _axis(axis: int, ndim: int, owner: object, name: str) -> int:
    """``axis`` of an input of rank ``ndim`` as a non-negative index, never the batch axis."""
    resolved = axis + ndim if axis < 0 else axis
    if not 1 <= resolved < ndim:
        raise ValueError(
            f"{owner!r}: {name} {axis} does not name a non-batch axis of an input of rank {ndim}"
        )
    return resolved


@register_module
class Flatten(Module):
    """Flatten axes ``start_axis`` .. ``end_axis`` (inclusive) into one, as ``torch.nn.Flatten``.

    x: (batch, d1, ..., dn) -> y: (batch, d1 * ... * dn) by default;  backward reshapes the
    gradient back. The batch axis is never flattened: ``start_axis`` >= 1.
    """

    caches: ClassVar[tuple[str, ...]] = ("_shape",)

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        super().__init__()
        self.start_axis = check_int(start_axis, "start_axis")
        self.end_axis = check_int(end_axis, "end_axis")
        if self.start_axis == 0:
            raise ValueError("start_axis must not be 0: the batch axis stays first")
        self._shape: tuple[int, ...] | None = None

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape an input of ``shape`` flattens to."""
        if len(shape) < 2:
            return (*shape, 1) if shape else shape
        start = _axis(self.start_axis, len(shape), self, "start_axis")
        end = _axis(self.end_axis, len(shape), self, "end_axis")
        if end < start:
            raise ValueError(f"{self!r}: end_axis comes before start_axis for an input of rank {len(shape)}")
        return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])

    @override
    def forward(self, x: Array) -> Array:
        array = as_array(x, "x")
        if array.ndim < 1:
            raise ValueError(f"Flatten expected input with a batch axis, got shape {fmt_shape(array.shape)}")
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        self._shape = array.shape
        return array.reshape(self.output_shape(array.shape))

    @override
    def backward(self, grad_out: Array) -> Array:
        shape = self._cached(self._shape)
        return check_grad_out(grad_out, self.output_shape(shape), self).reshape(shape)


@register_module
class Reshape(Module):
    """Give each sample the shape ``shape`` (one entry may be -1), as ``x.reshape(batch, *shape)``.

    x: (batch, ...) -> y: (batch, *shape);  backward reshapes the gradient back.
    """

    caches: ClassVar[tuple[str, ...]] = ("_shape",)  # (input shape, output shape)

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        self.shape = tuple(check_int(d, f"shape[{i}]", minimum=-1) for i, d in enumerate(shape))
        if 0 in self.shape or self.shape.count(-1) > 1:
            raise ValueError(f"shape must hold sizes >= 1 and at most one -1, got {self.shape}")
        self._shape: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @override
    def forward(self, x: Array) -> Array:
        array = as_float_input(x)
        if array.ndim < 1:
            raise ValueError(f"{self!r} expected input with a batch axis, got shape {fmt_shape(array.shape)}")
        size, known = math.prod(array.shape[1:]), math.prod(d for d in self.shape if d != -1)
        if (size != known and -1 not in self.shape) or (-1 in self.shape and size % known):
            raise ValueError(f"{self!r} cannot reshape samples of shape {fmt_shape(array.shape[1:])}")
        y = array.reshape(array.shape[0], *self.shape)
        self._shape = (array.shape, y.shape)
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        shape_in, shape_out = self._cached(self._shape)
        return check_grad_out(grad_out, shape_out, self).reshape(shape_in)


@register_module
class Permute(Module):
    """Reorder the axes: y = x.transpose(axes), ``axes`` a permutation of every axis with the batch
    axis first (``axes[0] == 0``), as ``torchvision.ops.Permute``; backward applies the inverse.

    Permute((0, 2, 1)): (N, C, L) -> (N, L, C).
    """

    caches: ClassVar[tuple[str, ...]] = ("_shape",)

    def __init__(self, axes: Sequence[int]) -> None:
        super().__init__()
        self.axes = tuple(check_int(a, f"axes[{i}]", minimum=0) for i, a in enumerate(axes))
        if sorted(self.axes) != list(range(len(self.axes))) or not self.axes or self.axes[0] != 0:
            raise ValueError(
                f"axes must be a permutation of 0..n-1 that keeps the batch axis 0 first, got {self.axes}"
            )
        self.inverse = tuple(int(i) for i in np.argsort(self.axes))
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Array) -> Array:
        array = as_float_input(x)
        if array.ndim != len(self.axes):
            raise ValueError(
                f"{self!r} expected input of rank {len(self.axes)}, got shape {fmt_shape(array.shape)}"
            )
        self._shape = array.shape
        y: Array = array.transpose(self.axes)
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        shape = self._cached(self._shape)
        expected = tuple(shape[a] for a in self.axes)
        grad_in: Array = check_grad_out(grad_out, expected, self).transpose(self.inverse)
        return grad_in


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
            keep = self.rng.random(self.mask_shape(x.shape)) >= self.p
        mask = keep.astype(x.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        y: Array = x * mask
        return y

    def mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the random keep-mask for an input of ``shape``: one draw per element."""
        return shape

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


@register_module
class Dropout2d(Dropout):
    """Channel dropout, as ``torch.nn.Dropout2d``: in training each channel of each sample of
    (N, C, H, W) (or (N, C, L)) is zeroed whole with probability p, the rest scaled by 1 / (1 - p).
    Neighbouring pixels are correlated, so dropping single ones regularizes little."""

    @override
    def mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 3:
            raise ValueError(
                f"{self!r} expected input (N, C, ...) with spatial axes, got shape {fmt_shape(shape)}"
            )
        return (shape[0], shape[1], *(1,) * (len(shape) - 2))
