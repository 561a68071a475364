"""Convolutions: ``Conv1d`` on ``(N, C, L)`` and ``Conv2d`` on ``(N, C, H, W)``, as ``torch.nn``.

One implementation serves both (``_ConvNd``): the input is padded, its windows are taken as a
strided view (``sliding_window_view``: no copy), laid out once as columns (im2col) and multiplied
with the weights in one (batched, for ``groups``) GEMM. With K the kernel's positions:

    forward:  y[n, o, p] = b[o] + sum_{c in o's group, k} W[o, c, k] x_pad[n, c, p * stride + k * dilation]
    backward: dL/dW = g^T cols;  dL/db = sum over n and p of g;
              dL/dx_pad[n, c, p * stride + k * dilation] += sum_o W[o, c, k] g[n, o, p]

The input gradient is accumulated with one strided slice addition per kernel position (K of
them: no loop over positions or batch elements, no ``np.add.at``). Weights are
``(out_channels, in_channels / groups, *kernel_size)`` as PyTorch, so parity tests copy them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike
from typing_extensions import Self, override

from tinynet.core.checks import (
    Array,
    RngLike,
    as_array,
    as_float_dtype,
    as_generator,
    check_grad_out,
    check_int,
    fmt_shape,
)
from tinynet.core.init import Initializer, get_initializer
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module

PADDING_MODES = ("valid", "same")


def tuple_of(value: int | Sequence[int], dims: int, name: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``dims`` ints, each >= ``minimum``, as a tuple."""
    values = (value,) * dims if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != dims:
        raise ValueError(f"{name} must be an int or {dims} ints, got {value!r}")
    return tuple(check_int(v, name, minimum=minimum) for v in values)


def torch_uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype: Any) -> Array:
    """PyTorch's default for convolution weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    result: Array = rng.uniform(-bound, bound, shape).astype(dtype)
    return result


def conv_pads(conv: _ConvNd) -> list[tuple[int, int]]:
    """(before, after) zeros on each spatial axis of ``conv``'s input."""
    if conv.padding == "valid":
        return [(0, 0)] * conv.dims
    if conv.padding == "same":  # PyTorch: the odd one out goes after
        totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    assert isinstance(conv.padding, tuple)
    return [(p, p) for p in conv.padding]


class _ConvNd(Module):
    """The shared convolution over ``dims`` spatial axes (see the module docstring)."""

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")  # the saved weights replace them
    setting_attributes: ClassVar[dict[str, str]] = {"bias": "has_bias"}
    caches: ClassVar[tuple[str, ...]] = ("_cols", "_padded_shape", "_out", "_work")
    dims: ClassVar[int] = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        init: str | Initializer = "torch",
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        d = self.dims
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.kernel_size = tuple_of(kernel_size, d, "kernel_size", 1)
        self.stride = tuple_of(stride, d, "stride", 1)
        self.dilation = tuple_of(dilation, d, "dilation", 1)
        self.groups = check_int(groups, "groups", minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"in_channels ({self.in_channels}) and out_channels ({self.out_channels}) must be "
                f"divisible by groups ({self.groups})"
            )
        if isinstance(padding, str):
            if padding not in PADDING_MODES:
                raise ValueError(
                    f"padding must be an int, {d} ints, or one of {list(PADDING_MODES)}, got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' needs stride 1 (as PyTorch)")
            self.padding: int | tuple[int, ...] | str = padding
        else:
            self.padding = tuple_of(padding, d, "padding", 0)
        self.has_bias = bool(bias)
        resolved = as_float_dtype(dtype)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        fan_in = shape[1] * math.prod(self.kernel_size)
        generator = as_generator(rng)
        if init == "torch":
            weight = torch_uniform(shape, fan_in, generator, resolved)
        else:
            flat = np.asarray(get_initializer(init)(fan_in, self.out_channels, generator, resolved))
            weight = np.ascontiguousarray(flat.T.reshape(shape), dtype=resolved)  # one layout, one GEMM order
        self.weight = Parameter(weight, regularize=True, name="weight", copy=False)
        self.bias: Parameter | None = None
        if self.has_bias:
            values = (
                torch_uniform((self.out_channels,), fan_in, generator, resolved)
                if init == "torch"
                else allocate((self.out_channels,), resolved)
            )
            self.bias = Parameter(values, regularize=False, name="bias", copy=False)
        self._cols: Array | None = None
        self._padded_shape: tuple[int, ...] | None = None
        self._out: tuple[int, ...] | None = None
        self._work: dict[str, Array] | None = None  # buffers reused from step to step

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any, zeroed: bool = False) -> Array:
        """A working array of ``shape``, the same one every step while the shape stays (its
        contents are whatever the last step left, or zeros when it is new and ``zeroed``)."""
        work = self._work if self._work is not None else {}
        self._work = work
        buffer = work.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.zeros(shape, dtype) if zeroed else np.empty(shape, dtype)
            work[name] = buffer
        return buffer

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """The layer with zero weights (no random draw): a model file's weights are loaded next."""
        return cls(**config, init="zeros")

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.weight.data.dtype

    def _check(self, x: Any) -> Array:
        array = as_array(x, "x")
        if array.dtype != self.weight.data.dtype:
            array = array.astype(self.weight.data.dtype)
        if array.ndim != self.dims + 2 or array.shape[1] != self.in_channels:
            expected = ", ".join(
                [
                    "batch",
                    str(self.in_channels),
                    *("HW"[i] if self.dims == 2 else "L" for i in range(self.dims)),
                ]
            )
            raise ValueError(f"{self!r} expected input ({expected}), got shape {fmt_shape(array.shape)}")
        return array

    @override
    def forward(self, x: Array) -> Array:
        x = self._check(x)
        d, g = self.dims, self.groups
        pads = conv_pads(self)
        padded = x
        if any(p != (0, 0) for p in pads):  # the borders stay zero: only the inside is written
            shape = (*x.shape[:2], *(size + b + a for size, (b, a) in zip(x.shape[2:], pads, strict=True)))
            padded = self._buffer("padded", shape, x.dtype, zeroed=True)
            inside = [slice(b, b + size) for size, (b, _) in zip(x.shape[2:], pads, strict=True)]
            target = (slice(None), slice(None), *inside)
            padded[target] = x
        spans = [dil * (k - 1) + 1 for dil, k in zip(self.dilation, self.kernel_size, strict=True)]
        if any(padded.shape[2 + i] < spans[i] for i in range(d)):
            raise ValueError(
                f"{self!r}: the input {fmt_shape(x.shape)} is smaller than the kernel's span {tuple(spans)}"
            )
        windows = sliding_window_view(padded, spans, axis=tuple(range(2, 2 + d)))
        steps = [slice(None, None, s) for s in self.stride] + [
            slice(None, None, dil) for dil in self.dilation
        ]
        index = (slice(None), slice(None), *steps)
        windows = windows[index]  # (N, C, *out, *kernel), a view
        n, out = x.shape[0], tuple(windows.shape[2 : 2 + d])
        positions = n * math.prod(out)
        # im2col as (C, *kernel, N, *out): the copy reads whole rows, and the rows of each group are
        # the columns of one GEMM, (C/g * K, N * P)
        order = (1, *range(2 + d, 2 + 2 * d), 0, *range(2, 2 + d))
        laid_out = windows.transpose(order)
        columns = self._buffer("cols", laid_out.shape, x.dtype)
        np.copyto(columns, laid_out)
        cols = columns.reshape(g, -1, positions)
        w = self.weight.data.reshape(g, self.out_channels // g, -1)
        y = np.matmul(w, cols, out=self._buffer("y", (g, self.out_channels // g, positions), x.dtype))
        y = y.reshape(self.out_channels, positions)  # (out, N * P)
        if self.bias is not None:
            y += self.bias.data[:, None]
        self._cols, self._padded_shape, self._out = cols, padded.shape, out
        result: Array = np.moveaxis(y.reshape(self.out_channels, n, *out), 0, 1).copy()  # never the buffer
        return result

    def _grad_rows(self, grad_out: Any) -> Array:
        """dL/dy as (g, out/g, N * P), the layout of the forward GEMM's output."""
        cols, out = self._cached(self._cols), self._cached(self._out)
        n = cols.shape[2] // max(1, math.prod(out))
        grad = check_grad_out(grad_out, (n, self.out_channels, *out), self)
        rows = self._buffer("rows", (self.out_channels, n, *out), cols.dtype)
        np.copyto(rows, np.moveaxis(grad, 1, 0))
        return rows.reshape(self.groups, self.out_channels // self.groups, -1)

    @override
    def backward_parameters(self, grad_out: Array) -> Any:
        rows = self._grad_rows(grad_out)
        cols = self._cached(self._cols)
        self.weight.grad += np.matmul(rows, cols.transpose(0, 2, 1)).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += rows.sum(axis=2).reshape(-1)
        return rows

    @override
    def backward(self, grad_out: Array) -> Array:
        rows = self.backward_parameters(grad_out)
        padded_shape, out = self._cached(self._padded_shape), self._cached(self._out)
        n, kernel = padded_shape[0], self.kernel_size
        w = self.weight.data.reshape(self.groups, self.out_channels // self.groups, -1)
        # dL/dcols in the forward's (C, *kernel, N, *out) layout: each kernel position's slice
        # (C, N, *out) is added into one strided slice of the padded input, kept channels-first
        # (C, N, ...) so that the additions read and write whole rows; one transpose at the end
        shape = (self.groups, w.shape[2], rows.shape[2])
        grad_cols = np.matmul(w.transpose(0, 2, 1), rows, out=self._buffer("grad_cols", shape, rows.dtype))
        grad_cols = grad_cols.reshape(self.in_channels, *kernel, n, *out)
        channels_first = (padded_shape[1], padded_shape[0], *padded_shape[2:])
        grad_padded = self._buffer("grad_padded", channels_first, grad_cols.dtype)
        grad_padded.fill(0.0)
        for offset in np.ndindex(*kernel):
            spatial = [
                slice(k * dil, k * dil + s * (o - 1) + 1, s)
                for k, dil, s, o in zip(offset, self.dilation, self.stride, out, strict=True)
            ]
            target = (slice(None), slice(None), *spatial)
            source = (slice(None), *offset)
            grad_padded[target] += grad_cols[source]
        pads = conv_pads(self)
        kept = [slice(b, size - a) for (b, a), size in zip(pads, padded_shape[2:], strict=True)]
        crop = (slice(None), slice(None), *kept)
        result: Array = grad_padded[crop].swapaxes(0, 1).copy()  # never the buffer
        return result

    @override
    def extra_repr(self) -> str:
        parts = [f"{self.in_channels} -> {self.out_channels}", f"kernel_size={self.kernel_size}"]
        parts += [
            f"{name}={getattr(self, name)}"
            for name in ("stride", "dilation")
            if any(v != 1 for v in getattr(self, name))
        ]
        if self.padding not in ("valid",) and self.padding != (0,) * self.dims:
            parts.append(f"padding={self.padding!r}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if not self.has_bias:
            parts.append("bias=False")
        return ", ".join(parts)


@register_module
class Conv1d(_ConvNd):
    """1-D convolution, as ``torch.nn.Conv1d``: x (N, C_in, L) -> y (N, C_out, L_out),
    L_out = floor((L + pad_before + pad_after - dilation (k - 1) - 1) / stride) + 1.

    ``padding``: an int, or "valid" (none) or "same" (stride 1: L_out = L). ``groups``: channels in
    groups convolved separately (``groups = in_channels``: depthwise). ``init`` "torch" (PyTorch's
    default, U(+-1/sqrt(fan_in)) for weights and bias) or any tinynet initializer (bias then zero).
    """

    dims: ClassVar[int] = 1


@register_module
class Conv2d(_ConvNd):
    """2-D convolution, as ``torch.nn.Conv2d``: x (N, C_in, H, W) -> y (N, C_out, H_out, W_out),
    each spatial size as Conv1d's; ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an
    int or a pair."""

    dims: ClassVar[int] = 2
