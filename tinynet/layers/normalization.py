"""Normalization layers: ``BatchNorm1d`` (over the batch) and ``LayerNorm`` (over the features).

Both compute x_hat = (x - mean) / sqrt(var + eps) with the biased variance and y = gamma x_hat + beta.
With N values per statistic and dx_hat = g * gamma, the input gradient is

    dL/dx = (N dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) / (N sqrt(var + eps))

with the sums over the normalized axis; dL/dgamma += sum_batch(g x_hat), dL/dbeta += sum_batch(g).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import override

from tinynet.core.checks import (
    Array,
    as_batch,
    as_float_dtype,
    check_float,
    check_grad_out,
    check_int,
    fmt_shape,
)
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module


def _normalized_grad(grad_hat: Array, x_hat: Array, inv_std: Array, axis: int) -> Array:
    """The input gradient of x_hat = (x - mean) * inv_std along ``axis`` (see the module docstring)."""
    n = x_hat.shape[axis]
    total = grad_hat.sum(axis=axis, keepdims=True)
    projected = (grad_hat * x_hat).sum(axis=axis, keepdims=True)
    grad_in: Array = (grad_hat * n - total - x_hat * projected) * (inv_std / n)
    return grad_in


class _Norm(Module):
    """Shared parts: the affine parameters and input checks."""

    caches: ClassVar[tuple[str, ...]] = ("_x_hat", "_inv_std")

    def __init__(self, num_features: int, eps: float, affine: bool, dtype: DTypeLike) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features", minimum=1)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        resolved = as_float_dtype(dtype)
        shape = (self.num_features,)
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
        array = as_batch(x, "x", dtype)
        if array.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r} expected input with {self.num_features} features, "
                f"got shape {fmt_shape(array.shape)}"
            )
        return array

    @override
    def input_width(self) -> int:
        return self.num_features

    def _normalize(self, x: Array, mean: Array, var: Array) -> Array:
        """x_hat = (x - mean) / sqrt(var + eps), cached with 1 / sqrt(var + eps); then the affine map."""
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean) * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        if self.weight is None or self.bias is None:
            return x_hat
        y: Array = x_hat * self.weight.data + self.bias.data
        return y

    def _affine_backward(self, grad_out: Array) -> tuple[Array, Array, Array]:
        """dL/dx_hat (accumulating dL/dgamma and dL/dbeta), and the cached x_hat and 1 / std."""
        x_hat, inv_std = self._cached(self._x_hat), self._cached(self._inv_std)
        grad_out = check_grad_out(grad_out, x_hat.shape, self)
        if self.weight is None or self.bias is None:
            return grad_out, x_hat, inv_std
        self.weight.grad += (grad_out * x_hat).sum(axis=0)
        self.bias.grad += grad_out.sum(axis=0)
        grad_hat: Array = grad_out * self.weight.data
        return grad_hat, x_hat, inv_std

    def _dtype(self) -> Any:
        return self.weight.data.dtype if self.weight is not None else None


@register_module
class BatchNorm1d(_Norm):
    """Batch normalization over the batch axis, as ``torch.nn.BatchNorm1d``.

    x: (batch, num_features) -> y: (batch, num_features)
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
        super().__init__(num_features, eps, affine, dtype)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0)
        self.affine = bool(affine)
        resolved = as_float_dtype(dtype)
        self.running_mean: Array = allocate((self.num_features,), resolved)
        self.running_var: Array = allocate((self.num_features,), resolved, 1.0)

    @override
    def forward(self, x: Array) -> Array:
        x = self._input(x, self._dtype() or self.running_mean.dtype)
        if self.training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(
                    f"{self!r} needs more than 1 sample per batch in training mode to estimate a variance, "
                    f"got shape {fmt_shape(x.shape)}; use eval() or a larger batch"
                )
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            self.running_mean *= 1.0 - self.momentum
            self.running_mean += self.momentum * mean
            self.running_var *= 1.0 - self.momentum
            self.running_var += self.momentum * var * (n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        return self._normalize(x, mean, var)

    @override
    def backward(self, grad_out: Array) -> Array:
        grad_hat, x_hat, inv_std = self._affine_backward(grad_out)
        if not self.training:  # the statistics are constants in eval mode
            grad_in: Array = grad_hat * inv_std
            return grad_in
        return _normalized_grad(grad_hat, x_hat, inv_std, axis=0)


@register_module
class LayerNorm(_Norm):
    """Layer normalization over the features of each sample, as ``torch.nn.LayerNorm(num_features)``.

    x: (batch, num_features) -> y: (batch, num_features); the same in training and eval mode.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(num_features, eps, elementwise_affine, dtype)
        self.elementwise_affine = bool(elementwise_affine)

    @override
    def forward(self, x: Array) -> Array:
        x = self._input(x, self._dtype())  # without parameters the input's float dtype is kept
        mean = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        return self._normalize(x, mean, var)

    @override
    def backward(self, grad_out: Array) -> Array:
        grad_hat, x_hat, inv_std = self._affine_backward(grad_out)
        return _normalized_grad(grad_hat, x_hat, inv_std, axis=1)
