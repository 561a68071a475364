"""Merge layers: several inputs in, one output out (the joints of a functional ``Graph``).

| layer       | forward, inputs x_1 .. x_n           | backward, g = dL/dy                 |
|-------------|--------------------------------------|-------------------------------------|
| Add         | y = x_1 + ... + x_n                  | dL/dx_i = g                         |
| Multiply    | y = x_1 * ... * x_n (element-wise)   | dL/dx_i = g * prod_{j != i} x_j     |
| Concatenate | y = [x_1, ..., x_n] (feature axis)   | dL/dx_i = the slice of g for x_i    |

``forward`` takes a list of arrays (batch, width_i); ``backward`` returns a list of gradients.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np
from typing_extensions import override

from tinynet.core.checks import Array, as_float_input, check_grad_out, check_int, fmt_shape
from tinynet.core.module import Module
from tinynet.core.registry import register_module


class Merge(Module):
    """Base of merge layers: checks the list of inputs and the gradient's shape."""

    caches: ClassVar[tuple[str, ...]] = ("_inputs", "_shape")

    def __init__(self) -> None:
        super().__init__()
        self._inputs: list[Array] | None = None
        self._shape: tuple[int, ...] | None = None

    def _arrays(self, xs: Any, same_shape: bool) -> list[Array]:
        if not isinstance(xs, (list, tuple)) or len(xs) < 2:
            raise TypeError(
                f"{type(self).__name__} takes a list of at least 2 arrays, got {type(xs).__name__}"
            )
        arrays = [as_float_input(x) for x in xs]
        shapes = [a.shape for a in arrays]
        if any(a.ndim != 2 for a in arrays) or len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"{type(self).__name__} inputs must be 2-D with one batch size, got shapes "
                f"{[fmt_shape(s) for s in shapes]}"
            )
        if same_shape and len(set(shapes)) != 1:
            raise ValueError(
                f"{type(self).__name__} inputs must have the same shape, got {[fmt_shape(s) for s in shapes]}"
            )
        return arrays

    def _grad_out(self, grad_out: Array) -> Array:
        return check_grad_out(grad_out, self._cached(self._shape), self)


@register_module
class Add(Merge):
    """y = x_1 + ... + x_n;  dL/dx_i = g."""

    @override
    def forward(self, x: Any) -> Array:
        arrays = self._arrays(x, same_shape=True)
        y: Array = np.add.reduce(np.stack(arrays), axis=0) if len(arrays) > 2 else arrays[0] + arrays[1]
        self._shape, self._inputs = y.shape, [np.empty(0)] * len(arrays)
        return y

    @override
    def backward(self, grad_out: Array) -> Any:
        g = self._grad_out(grad_out)
        return [g] * len(self._cached(self._inputs))


@register_module
class Multiply(Merge):
    """y = x_1 * ... * x_n element-wise;  dL/dx_i = g * prod_{j != i} x_j."""

    @override
    def forward(self, x: Any) -> Array:
        arrays = self._arrays(x, same_shape=True)
        y = arrays[0] * arrays[1]
        for a in arrays[2:]:
            y *= a
        self._shape, self._inputs = y.shape, arrays
        return y

    @override
    def backward(self, grad_out: Array) -> Any:
        g = self._grad_out(grad_out)
        arrays = self._cached(self._inputs)
        grads = []
        for i in range(len(arrays)):
            grad = g.copy()
            for j, a in enumerate(arrays):
                if j != i:
                    grad *= a
            grads.append(grad)
        return grads


@register_module
class Concatenate(Merge):
    """y = [x_1, ..., x_n] along the features;  dL/dx_i = the columns of g that x_i filled."""

    @override
    def forward(self, x: Any) -> Array:
        arrays = self._arrays(x, same_shape=False)
        y = np.concatenate(arrays, axis=1)
        self._shape, self._inputs = y.shape, [np.empty(a.shape[1]) for a in arrays]
        return y

    @override
    def backward(self, grad_out: Array) -> Any:
        g = self._grad_out(grad_out)
        bounds = np.cumsum([0, *(len(w) for w in self._cached(self._inputs))])
        return [g[:, a:b] for a, b in itertools.pairwise(bounds)]


@register_module
class Select(Module):
    """One output of a module that returns several: ``Select(0)`` after an ``RNN``/``GRU``/``LSTM``
    keeps ``output`` from ``[output, h_n]`` in a ``Sequential`` (PyTorch's ``out, h = rnn(x)``).

    forward: y = x[index];  backward: [None, ..., g (at index), ..., None], one entry per output
    (None: no gradient flows into that output). A ``Graph`` adds these nodes itself when a
    multi-output call is unpacked (``out, h = tn.GRU(4, 8)(x)``).
    """

    caches: ClassVar[tuple[str, ...]] = ("_count", "_shape")
    takes_parts: ClassVar[bool] = True  # reads a module's list of outputs in a Graph

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = check_int(index, "index", minimum=0)
        self._count: int | None = None
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Any) -> Array:
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{self!r} takes the list of outputs of a module, got {type(x).__name__}")
        if self.index >= len(x):
            raise ValueError(f"{self!r}: index {self.index} is out of range for {len(x)} outputs")
        y = np.asarray(x[self.index])
        self._count, self._shape = len(x), y.shape
        return y

    @override
    def backward(self, grad_out: Array) -> list[Array | None]:
        grads: list[Array | None] = [None] * self._cached(self._count)
        grads[self.index] = check_grad_out(grad_out, self._cached(self._shape), self)
        return grads

    @override
    def extra_repr(self) -> str:
        return str(self.index)
