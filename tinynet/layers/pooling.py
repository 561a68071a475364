"""Pooling, as ``torch.nn``: ``MaxPool1d/2d``, ``AvgPool1d/2d`` and ``AdaptiveAvgPool1d/2d``.

Windows are a strided view of the padded input (``sliding_window_view``); the backward pass adds
the gradient back with one strided slice addition per window position (K of them: no loop over
positions or batch elements, no ``np.add.at``).

    max:  y = max over the window (padding is -inf; among equal maxima the first in the window's
          row-major order takes the gradient, as PyTorch);  dL/dx at the argmax += g
    avg:  y = sum over the window / K (``count_include_pad=False``: / the real elements in it);
          dL/dx += g / that count at every window position
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from typing_extensions import override

from tinynet.core.checks import Array, as_float_input, check_grad_out, fmt_shape
from tinynet.core.module import Module
from tinynet.core.registry import register_module
from tinynet.layers.conv import tuple_of


class _PoolNd(Module):
    """What max and average pooling share: the windows of the padded input, and the scatter back."""

    caches: ClassVar[tuple[str, ...]] = ("_saved", "_padded_shape", "_out")
    dims: ClassVar[int] = 0

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__()
        d = self.dims
        self.kernel_size = tuple_of(kernel_size, d, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else tuple_of(stride, d, "stride", 1)
        self.padding = tuple_of(padding, d, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"padding {self.padding} must be at most half the kernel {self.kernel_size}")
        self._saved: Array | None = None
        self._padded_shape: tuple[int, ...] | None = None
        self._out: tuple[int, ...] | None = None

    def _windows(self, x: Any, fill: float) -> tuple[Array, Array]:
        """The input (checked) and its windows (N, C, *out, K); caches the shapes backward needs."""
        array = as_float_input(x)
        if array.ndim != self.dims + 2:
            shape = "(N, C, L)" if self.dims == 1 else "(N, C, H, W)"
            raise ValueError(f"{self!r} expected input {shape}, got shape {fmt_shape(array.shape)}")
        windows, padded_shape = self._view(array, fill)
        self._padded_shape, self._out = padded_shape, tuple(windows.shape[2 : 2 + self.dims])
        return array, windows

    def _view(self, array: Array, fill: float) -> tuple[Array, tuple[int, ...]]:
        """The windows (N, C, *out, K) of ``array`` padded with ``fill`` (a copy), and the padded shape."""
        pads = [(p, p) for p in self.padding]
        padded = np.pad(array, [(0, 0), (0, 0), *pads], constant_values=fill) if any(self.padding) else array
        if any(padded.shape[2 + i] < k for i, k in enumerate(self.kernel_size)):
            raise ValueError(f"{self!r}: the input {fmt_shape(array.shape)} is smaller than the kernel")
        view = sliding_window_view(padded, self.kernel_size, axis=tuple(range(2, 2 + self.dims)))
        steps = [slice(None, None, s) for s in self.stride]
        index = (slice(None), slice(None), *steps)
        view = view[index]
        return view.reshape(*view.shape[: 2 + self.dims], -1), padded.shape

    def _scatter(self, per_offset: Any) -> Array:
        """dL/dx from ``per_offset(j)``, the gradient reaching each window's position j."""
        padded_shape, out = self._cached(self._padded_shape), self._cached(self._out)
        grad = np.zeros(padded_shape, dtype=np.result_type(per_offset(0).dtype, np.float32))
        for j, offset in enumerate(np.ndindex(*self.kernel_size)):
            spatial = [
                slice(k, k + s * (o - 1) + 1, s) for k, s, o in zip(offset, self.stride, out, strict=True)
            ]
            target = (slice(None), slice(None), *spatial)
            grad[target] += per_offset(j)
        kept = [slice(p, size - p) for p, size in zip(self.padding, padded_shape[2:], strict=True)]
        crop = (slice(None), slice(None), *kept)
        result: Array = grad[crop]
        return result

    def _grad(self, grad_out: Any) -> Array:
        padded_shape, out = self._cached(self._padded_shape), self._cached(self._out)
        return check_grad_out(grad_out, (*padded_shape[:2], *out), self)

    @override
    def extra_repr(self) -> str:
        parts = [f"kernel_size={self.kernel_size}"]
        if self.stride != self.kernel_size:
            parts.append(f"stride={self.stride}")
        if any(self.padding):
            parts.append(f"padding={self.padding}")
        return ", ".join(parts)


class _MaxPoolNd(_PoolNd):
    @override
    def forward(self, x: Array) -> Array:
        _, windows = self._windows(x, -np.inf)
        arg = windows.argmax(axis=-1)  # the first of equal maxima, as PyTorch
        self._saved = arg
        y: Array = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, arg = self._grad(grad_out), self._cached(self._saved)
        return self._scatter(lambda j: np.where(arg == j, g, 0.0))


class _AvgPoolNd(_PoolNd):
    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    @override
    def forward(self, x: Array) -> Array:
        array, windows = self._windows(x, 0.0)
        total = windows.sum(axis=-1)
        if self.count_include_pad or not any(self.padding):
            count: Any = math.prod(self.kernel_size)
        else:  # the real elements in each window: the windows of a padded field of ones
            ones = np.ones((1, 1, *array.shape[2:]), dtype=array.dtype)
            count = self._view(ones, 0.0)[0].sum(axis=-1)
        self._saved = np.asarray(1.0 / count, dtype=array.dtype)
        y: Array = total * self._saved
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        share = self._grad(grad_out) * self._cached(self._saved)
        return self._scatter(lambda j: share)


@register_module
class MaxPool1d(_MaxPoolNd):
    """Max over windows of ``kernel_size`` every ``stride`` (default: the kernel) on (N, C, L)."""

    dims: ClassVar[int] = 1


@register_module
class MaxPool2d(_MaxPoolNd):
    """Max over windows of ``kernel_size`` every ``stride`` (default: the kernel) on (N, C, H, W)."""

    dims: ClassVar[int] = 2


@register_module
class AvgPool1d(_AvgPoolNd):
    """Mean over windows on (N, C, L); ``count_include_pad`` as PyTorch."""

    dims: ClassVar[int] = 1


@register_module
class AvgPool2d(_AvgPoolNd):
    """Mean over windows on (N, C, H, W); ``count_include_pad`` as PyTorch."""

    dims: ClassVar[int] = 2


class _AdaptiveAvgPoolNd(Module):
    """Global average pooling: (N, C, *spatial) -> (N, C, 1, ...); only ``output_size=1``."""

    caches: ClassVar[tuple[str, ...]] = ("_shape",)
    dims: ClassVar[int] = 0

    def __init__(self, output_size: int | Sequence[int] = 1) -> None:
        super().__init__()
        sizes = tuple_of(output_size, self.dims, "output_size", 1)
        if any(s != 1 for s in sizes):
            raise ValueError(f"output_size must be 1 (global average pooling), got {output_size!r}")
        self.output_size = sizes
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Array) -> Array:
        array = as_float_input(x)
        if array.ndim != self.dims + 2:
            raise ValueError(
                f"{self!r} expected input with {self.dims} spatial axes, got {fmt_shape(array.shape)}"
            )
        self._shape = array.shape
        y: Array = array.mean(axis=tuple(range(2, array.ndim)), keepdims=True)
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        shape = self._cached(self._shape)
        g = check_grad_out(grad_out, (*shape[:2], *(1,) * self.dims), self)
        result: Array = np.broadcast_to(g / math.prod(shape[2:]), shape).copy()
        return result


@register_module
class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """The mean over L: (N, C, L) -> (N, C, 1), as ``torch.nn.AdaptiveAvgPool1d(1)``."""

    dims: ClassVar[int] = 1


@register_module
class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """The mean over H and W: (N, C, H, W) -> (N, C, 1, 1), as ``torch.nn.AdaptiveAvgPool2d(1)``."""

    dims: ClassVar[int] = 2
