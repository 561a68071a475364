"""Pooling, as ``torch.nn``: ``MaxPool1d/2d``, ``AvgPool1d/2d`` and ``AdaptiveAvgPool1d/2d``.

Both passes go over the K positions of the window, each one strided view of the padded input of
the output's shape (no loop over output positions or batch elements, no copy of every window, no
``np.add.at``): the forward pass combines them (a running maximum, or a sum), the backward pass
adds each position's share of the gradient into its strided slice.

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
from typing_extensions import override

from tinynet.core.checks import Array, as_float_input, check_grad_out, fmt_shape
from tinynet.core.module import Module
from tinynet.core.registry import register_module
from tinynet.layers.conv import tuple_of


class _PoolNd(Module):
    """What max and average pooling share: the windows of the padded input, and the scatter back."""

    caches: ClassVar[tuple[str, ...]] = ("_saved", "_padded_shape", "_out", "_views_cache")
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
        self._views_cache: list[Array] | None = None

    def _slices(self, x: Any, fill: float) -> tuple[Array, list[Array]]:
        """The input (checked) and, for each window position, the strided view of the padded input
        it reads (N, C, *out); caches the shapes backward needs."""
        array = as_float_input(x)
        if array.ndim != self.dims + 2:
            shape = "(N, C, L)" if self.dims == 1 else "(N, C, H, W)"
            raise ValueError(f"{self!r} expected input {shape}, got shape {fmt_shape(array.shape)}")
        views, padded_shape, out = self._views(array, fill)
        self._padded_shape, self._out = padded_shape, out
        return array, views

    def _views(self, array: Array, fill: float) -> tuple[list[Array], tuple[int, ...], tuple[int, ...]]:
        pads = [(p, p) for p in self.padding]
        padded = np.pad(array, [(0, 0), (0, 0), *pads], constant_values=fill) if any(self.padding) else array
        sizes = padded.shape[2:]
        if any(size < k for size, k in zip(sizes, self.kernel_size, strict=True)):
            raise ValueError(f"{self!r}: the input {fmt_shape(array.shape)} is smaller than the kernel")
        out = tuple(
            (size - k) // s + 1 for size, k, s in zip(sizes, self.kernel_size, self.stride, strict=True)
        )
        views = [padded[self._target(offset, out)] for offset in np.ndindex(*self.kernel_size)]
        return views, padded.shape, out

    def _target(self, offset: tuple[int, ...], out: tuple[int, ...]) -> tuple[slice, ...]:
        """The strided slice of the padded input that window position ``offset`` reads."""
        spatial = [slice(k, k + s * (o - 1) + 1, s) for k, s, o in zip(offset, self.stride, out, strict=True)]
        return (slice(None), slice(None), *spatial)

    def _scatter(self, per_offset: Any, dtype: Any) -> Array:
        """dL/dx from ``per_offset(j)``, the gradient reaching each window's position j (called
        once per position, in order)."""
        padded_shape, out = self._cached(self._padded_shape), self._cached(self._out)
        grad = np.zeros(padded_shape, dtype=dtype)
        for j, offset in enumerate(np.ndindex(*self.kernel_size)):
            grad[self._target(offset, out)] += per_offset(j)
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
        _, views = self._slices(x, -np.inf)
        y: Array = views[0].copy()
        for view in views[1:]:
            np.maximum(y, view, out=y)
        self._saved, self._views_cache = y, views  # the views read the padded input: no copy
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        g, y = self._grad(grad_out), self._cached(self._saved)
        views = self._cached(self._views_cache)
        taken = np.zeros(y.shape, dtype=bool)  # equal maxima: the first position in the window wins

        def share(j: int) -> Array:
            first = (views[j] == y) & ~taken
            taken[...] |= first
            chosen: Array = np.where(first, g, 0.0)
            return chosen

        return self._scatter(share, g.dtype)


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
        array, views = self._slices(x, 0.0)
        total = views[0].copy()
        for view in views[1:]:
            total += view
        if self.count_include_pad or not any(self.padding):
            count: Any = math.prod(self.kernel_size)
        else:  # the real elements in each window: the windows of a padded field of ones
            ones, _, _ = self._views(np.ones((1, 1, *array.shape[2:]), dtype=array.dtype), 0.0)
            count = sum(ones[1:], ones[0].copy())
        self._saved = np.asarray(1.0 / count, dtype=array.dtype)
        y: Array = total * self._saved
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        share = self._grad(grad_out) * self._cached(self._saved)
        return self._scatter(lambda j: share, share.dtype)


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
