"""Normalization layers: ``BatchNorm1d`` (over the batch) and ``LayerNorm`` (over trailing axes).

Both compute x_hat = (x - mean) / sqrt(var + eps) with the biased variance and y = gamma x_hat + beta.
With N values per statistic and dx_hat = g * gamma, the input gradient is

    dL/dx = (N dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) / (N sqrt(var + eps))

with the sums over the normalized axes; dL/dgamma += sum(g x_hat), dL/dbeta += sum(g), summed over
every axis gamma does not have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import override

from tinynet.core.checks import (
    Array,
    as_array,
    as_float_dtype,
    check_float,
    check_grad_out,
    check_int,
    fmt_shape,
)
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module


def _normalized_grad(grad_hat: Array, x_hat: Array, inv_std: Array, axes: tuple[int, ...]) -> Array:
    """The input gradient of x_hat = (x - mean) * inv_std over ``axes`` (see the module docstring)."""
    n = math.prod(x_hat.shape[a] for a in axes)
    total = grad_hat.sum(axis=axes, keepdims=True)
    projected = (grad_hat * x_hat).sum(axis=axes, keepdims=True)
    grad_in: Array = (grad_hat * n - total - x_hat * projected) * (inv_std / n)
    return grad_in


class _Norm(Module):
    """Shared parts: the affine parameters of ``shape``, the normalization and its gradient."""

    caches: ClassVar[tuple[str, ...]] = ("_x_hat", "_inv_std")

    def __init__(self, shape: tuple[int, ...], eps: float, affine: bool, dtype: DTypeLike) -> None:
        super().__init__()
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        resolved = as_float_dtype(dtype)
        self.weight = (
            Parameter(allocate(shape, resolved, 1.0), regularize=False, name="weight", copy=False)
            if affine
            else None
        )
        self.bias = (
            Parameter(allocate(shape, resolved), regularize=False, name="bias", copy=False)
            if affine
            else None
        )
        self._x_hat: Array | None = None
        self._inv_std: Array | None = None

    def _input(self, x: Any, dtype: Any) -> Array:
        array = as_array(x, "x")
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        elif array.dtype.kind != "f":
            array = array.astype(np.float64)
        return array

    def _normalize(self, x: Array, mean: Array, var: Array, affine_shape: tuple[int, ...]) -> Array:
        """x_hat = (x - mean) / sqrt(var + eps), cached with 1 / sqrt(var + eps); then the affine map
        with gamma and beta seen as ``affine_shape`` (broadcasting against x)."""
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean) * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        if self.weight is None or self.bias is None:
            return x_hat
        y: Array = x_hat * self.weight.data.reshape(affine_shape) + self.bias.data.reshape(affine_shape)
        return y

    def _affine_backward(self, grad_out: Array, sum_axes: tuple[int, ...]) -> tuple[Array, Array, Array]:
        """dL/dx_hat (accumulating dL/dgamma and dL/dbeta, summed over ``sum_axes``), and the
        cached x_hat and 1 / std."""
        x_hat, inv_std = self._cached(self._x_hat), self._cached(self._inv_std)
        grad_out = check_grad_out(grad_out, x_hat.shape, self)
        if self.weight is None or self.bias is None:
            return grad_out, x_hat, inv_std
        shape = self.weight.shape
        self.weight.grad += (grad_out * x_hat).sum(axis=sum_axes).reshape(shape)
        self.bias.grad += grad_out.sum(axis=sum_axes).reshape(shape)
        view = [1] * x_hat.ndim
        for axis in range(x_hat.ndim):
            if axis not in sum_axes:
                view[axis] = x_hat.shape[axis]
        grad_hat: Array = grad_out * self.weight.data.reshape(view)
        return grad_hat, x_hat, inv_std

    def _dtype(self) -> Any:
        return self.weight.data.dtype if self.weight is not None else None


@register_module
class BatchNorm1d(_Norm):
    """Batch normalization per channel, as ``torch.nn.BatchNorm1d``.

    x: (batch, C) or (batch, C, L) -> y: the same shape; statistics per channel C, over the batch
    (and L).
    training: batch mean and biased variance normalize; the running estimates update as
              running = (1 - momentum) running + momentum * batch statistic (unbiased variance)
    eval:     the running mean and variance normalize (a fixed affine map)
    """

    buffers: ClassVar[tuple[str, ...]] = ("running_mean", "running_var")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.num_features = check_int(num_features, "num_features", minimum=1)
        super().__init__((self.num_features,), eps, affine, dtype)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0)
        self.affine = bool(affine)
        resolved = as_float_dtype(dtype)
        self.running_mean: Array = allocate((self.num_features,), resolved)
        self.running_var: Array = allocate((self.num_features,), resolved, 1.0)

    @override
    def input_width(self) -> int:
        return self.num_features

    ranks: ClassVar[tuple[int, ...]] = (2, 3)  # (N, C) or (N, C, L)

    def _axes(self, x: Array) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The axes the statistics run over (all but the channels), and the shape gamma broadcasts as."""
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            c = self.num_features
            layouts = {2: f"(batch, {c})", 3: f"(batch, {c}, L)", 4: f"(batch, {c}, H, W)"}
            shapes = " or ".join(layouts[r] for r in self.ranks)
            raise ValueError(f"{self!r} expected input {shapes}, got shape {fmt_shape(x.shape)}")
        return (0, *range(2, x.ndim)), (self.num_features, *(1,) * (x.ndim - 2))

    @override
    def forward(self, x: Array) -> Array:
        x = self._input(x, self._dtype() or self.running_mean.dtype)
        axes, view = self._axes(x)
        if self.training:
            n = math.prod(x.shape[a] for a in axes)
            if n < 2:
                raise ValueError(
                    f"{self!r} needs more than 1 value per channel in training mode to estimate a variance, "
                    f"got shape {fmt_shape(x.shape)}; use eval() or a larger batch"
                )
            mean = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            self.running_mean *= 1.0 - self.momentum
            self.running_mean += self.momentum * mean.reshape(-1)
            self.running_var *= 1.0 - self.momentum
            self.running_var += self.momentum * var.reshape(-1) * (n / (n - 1))
        else:
            mean, var = self.running_mean.reshape(view), self.running_var.reshape(view)
        return self._normalize(x, mean, var, view)

    @override
    def backward(self, grad_out: Array) -> Array:
        x_hat = self._cached(self._x_hat)
        axes = (0, *range(2, x_hat.ndim))
        grad_hat, x_hat, inv_std = self._affine_backward(grad_out, axes)
        if not self.training:  # the statistics are constants in eval mode
            grad_in: Array = grad_hat * inv_std
            return grad_in
        return _normalized_grad(grad_hat, x_hat, inv_std, axes)


@register_module
class BatchNorm2d(BatchNorm1d):
    """Batch normalization per channel of images, as ``torch.nn.BatchNorm2d``: x (N, C, H, W), the
    statistics of each channel over N, H and W (see ``BatchNorm1d``)."""

    ranks: ClassVar[tuple[int, ...]] = (4,)


@register_module
class LayerNorm(_Norm):
    """Layer normalization over the trailing axes ``normalized_shape`` of each sample, as
    ``torch.nn.LayerNorm(normalized_shape)``.

    x: (batch, ..., *normalized_shape) -> y: the same shape; the same in training and eval mode.
    ``normalized_shape`` is an int (the last axis) or a tuple; gamma and beta have that shape.
    ``num_features`` is the name tinynet 0.2 gave a one-axis ``normalized_shape`` (its model files
    use it).
    """

    not_settings: ClassVar[tuple[str, ...]] = ("num_features",)

    def __init__(
        self,
        normalized_shape: int | Sequence[int] | None = None,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype: DTypeLike = np.float64,
        *,
        num_features: int | None = None,
    ) -> None:
        if (normalized_shape is None) == (num_features is None):
            raise TypeError(
                "LayerNorm takes normalized_shape (or, as tinynet 0.2, num_features), exactly one"
            )
        shape = normalized_shape if normalized_shape is not None else num_features
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)  # type: ignore[arg-type]
        self.normalized_shape = tuple(check_int(d, "normalized_shape", minimum=1) for d in dims)
        if not self.normalized_shape:
            raise ValueError("normalized_shape must name at least one axis")
        self.num_features = math.prod(self.normalized_shape)
        super().__init__(self.normalized_shape, eps, elementwise_affine, dtype)
        self.elementwise_affine = bool(elementwise_affine)

    @override
    def input_width(self) -> int | None:
        return self.normalized_shape[0] if len(self.normalized_shape) == 1 else None

    def _axes(self, x: Array) -> tuple[int, ...]:
        k = len(self.normalized_shape)
        if x.ndim < k + 1 or x.shape[-k:] != self.normalized_shape:
            raise ValueError(
                f"{self!r} expected input (batch, ..., {', '.join(map(str, self.normalized_shape))}), "
                f"got shape {fmt_shape(x.shape)}"
            )
        return tuple(range(x.ndim - k, x.ndim))

    @override
    def forward(self, x: Array) -> Array:
        x = self._input(x, self._dtype())  # without parameters the input's float dtype is kept
        axes = self._axes(x)
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        return self._normalize(x, mean, var, self.normalized_shape)

    @override
    def backward(self, grad_out: Array) -> Array:
        x_hat = self._cached(self._x_hat)
        axes = tuple(range(x_hat.ndim - len(self.normalized_shape), x_hat.ndim))
        leading = tuple(range(x_hat.ndim - len(self.normalized_shape)))
        grad_hat, x_hat, inv_std = self._affine_backward(grad_out, leading)
        return _normalized_grad(grad_hat, x_hat, inv_std, axes)
