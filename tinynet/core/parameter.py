"""``Parameter`` (a trainable tensor and its gradient) and ``FlatGroup`` (flat storage for many).

An optimizer moves its parameters into flat storage (Torch7's ``getParameters``): one contiguous
data buffer and one gradient buffer per dtype, each ``Parameter.data`` and ``.grad`` a view into
them, so an update, a clip or a penalty over the whole model is a handful of NumPy calls. The
views keep the contract: ``.data`` and ``.grad`` are writable arrays of the parameter's shape, and
in-place writes (``p.data[...] = v``, ``p.data -= v``) land in the buffer the optimizer updates.
*Assigning* a new array (``p.data = a``, as ``Module.to`` does) detaches the parameter; its group
turns invalid and the optimizer rebuilds its storage, state included, before its next step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from tinynet.core.checks import Array, fmt_shape


class Parameter:
    """A trainable tensor: ``data`` and its accumulated gradient ``grad`` (same shape and dtype).

    ``regularize`` is True for weights and False for biases; regularizers only touch the former.

    ``zero_grad()`` is lazy: it marks the gradient as zero, and the first layer product after it
    is written straight into ``grad`` (``accumulate_matmul``, ``accumulate_sum``) instead of being
    added to a buffer of zeros, which saves a pass over the weights and a weight-sized temporary
    every step. Reading ``grad`` fills in the zeros first, so ``grad`` always shows the true value;
    only an array obtained from ``grad`` *before* ``zero_grad()`` is not cleared. The gradient
    buffer itself is allocated on first use: a model that only predicts never pays for it.
    Copies and pickles carry ``data`` but not the gradient (a clone starts with zero gradients).
    """

    __slots__ = ("_data", "_grad", "_group", "_regularize", "_zeroed", "name")

    def __init__(self, data: Any, regularize: bool = True, name: str = "", *, copy: bool = True) -> None:
        # a plain ndarray, also for np.matrix and other subclasses; copy=False adopts a fresh array
        array = np.array(data, copy=True) if copy else np.asarray(data)
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        self._data: Array = array
        self._grad: Array | None = None  # allocated on first use
        self._zeroed = True  # True: the gradient is zero though the buffer may hold old values
        self._group: FlatGroup | None = None
        self._regularize = bool(regularize)
        self.name = name

    @property
    def data(self) -> Array:
        """The values, an array of ``shape``; assigning another array replaces them."""
        return self._data

    @data.setter
    def data(self, value: Array) -> None:
        if value is not self._data:  # `p.data -= u` assigns the same view back: nothing to do
            self._detach()
            self._data = value

    def _buffer(self) -> Array:
        if self._grad is None:
            self._grad = np.empty_like(self._data)  # its contents do not matter while _zeroed
        return self._grad

    @property
    def grad(self) -> Array:
        """The gradient, same shape as ``data``; zero after ``zero_grad`` until backward adds to it."""
        buffer = self._buffer()
        if self._zeroed:
            buffer.fill(0.0)
            self._zeroed = False
        return buffer

    @grad.setter
    def grad(self, value: Array) -> None:
        if value is not self._grad:
            self._detach()
            self._grad = value
        self._zeroed = False

    @property
    def regularize(self) -> bool:
        """Whether regularizers (L1, L2) apply to this parameter (weights yes, biases no)."""
        return self._regularize

    @regularize.setter
    def regularize(self, value: bool) -> None:
        if bool(value) != self._regularize:
            self._detach()  # flat storage keeps regularized parameters first
            self._regularize = bool(value)

    def _detach(self) -> None:
        if self._group is not None:
            self._group.valid = False
            self._group = None

    def to(self, dtype: DTypeLike) -> None:
        """Cast ``data`` (and the gradient, once allocated) to ``dtype``; a real change detaches it."""
        if self._data.dtype == np.dtype(dtype):
            return
        self._detach()
        self._data = self._data.astype(dtype)
        if self._grad is not None:
            self._grad = self._grad.astype(dtype)

    def zero_grad(self) -> None:
        """Set the gradient to zero (lazily: see the class docstring)."""
        self._zeroed = True

    def accumulate_matmul(self, a: Array, b: Array) -> None:
        """grad += a @ b, computed straight into the buffer when the gradient is zero."""
        if self._zeroed:
            np.matmul(a, b, out=self._grad if self._grad is not None else self._buffer())
            self._zeroed = False
        else:
            buffer = self._buffer()
            buffer += a @ b

    def accumulate_sum(self, a: Array, axis: int) -> None:
        """grad += a.sum(axis), reduced straight into the buffer when the gradient is zero.

        The column sums of a 2-D ``a`` are a product with a vector of ones, which BLAS does in a
        fraction of the time of a NumPy reduction on small arrays (a bias gradient, every step).
        """
        buffer = self._grad if self._grad is not None else self._buffer()
        if axis == 0 and a.ndim == 2 and a.dtype == buffer.dtype:
            ones = _ones(a.shape[0], a.dtype)
            if self._zeroed:
                np.dot(ones, a, out=buffer)
            else:
                buffer += ones @ a
        elif self._zeroed:
            np.add.reduce(a, axis=axis, out=buffer)
        else:
            buffer += np.add.reduce(a, axis=axis)
        self._zeroed = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return tuple(self._data.shape)

    @property
    def size(self) -> int:
        """The number of values in ``data``."""
        return int(self._data.size)

    def __getstate__(self) -> dict[str, Any]:
        # neither the flat group nor the gradient: a copy or a pickle stands alone and stays small
        return {"data": self._data, "regularize": self._regularize, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = np.array(state["data"])
        self._grad = None
        self._zeroed = True
        self._group = None
        self._regularize = bool(state["regularize"])
        self.name = str(state["name"])

    def __repr__(self) -> str:
        return (
            f"Parameter(name={self.name!r}, shape={fmt_shape(self.shape)}, "
            f"dtype={self._data.dtype}, regularize={self._regularize})"
        )


_ONES: dict[tuple[int, np.dtype[Any]], Array] = {}


def _ones(n: int, dtype: np.dtype[Any]) -> Array:
    """A read-only vector of n ones (kept: batch sizes repeat)."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = np.ones(n, dtype)
        ones.setflags(write=False)
        _ONES[key] = ones
    return ones


class FlatGroup:
    """Distinct parameters of one dtype stored in one data buffer and one gradient buffer.

    Regularized parameters come first, so a weight penalty is one slice: ``data[:n_regularized]``.
    ``valid`` turns False when a member is detached (a new array assigned to its ``data`` or
    ``grad``, or its ``regularize`` flag changed) or moved into another group.
    """

    __slots__ = ("data", "grad", "n_regularized", "params", "valid")

    def __init__(self, params: Sequence[Parameter]) -> None:
        ordered = [p for p in params if p.regularize] + [p for p in params if not p.regularize]
        dtype = ordered[0].data.dtype
        total = sum(p.size for p in ordered)
        self.data: Array = np.empty(total, dtype)
        self.grad: Array = np.empty(total, dtype)
        self.params = ordered
        self.n_regularized = sum(p.size for p in ordered if p.regularize)
        offset = 0
        for p in ordered:
            data_view = self.data[offset : offset + p.size].reshape(p.shape)
            grad_view = self.grad[offset : offset + p.size].reshape(p.shape)
            data_view[...] = p.data
            if p._zeroed:
                grad_view.fill(0.0)
            else:
                grad_view[...] = p._buffer()
            p._detach()
            p._data, p._grad, p._group, p._zeroed = data_view, grad_view, self, False
            offset += p.size
        self.valid = True

    def views(self, buffer: Array) -> list[Array]:
        """Views of a buffer laid out like ``data``, one per member in ``params`` order."""
        result, offset = [], 0
        for p in self.params:
            result.append(buffer[offset : offset + p.size].reshape(p.shape))
            offset += p.size
        return result

    def resolve_grads(self) -> None:
        """Write the zeros of lazily zeroed gradients, so ``grad`` holds every true value."""
        for p in self.params:
            if p._zeroed:
                p._buffer().fill(0.0)
                p._zeroed = False


def distinct(params: Iterable[Parameter]) -> list[Parameter]:
    """``params`` without repeats, in order."""
    seen: set[int] = set()
    result = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            result.append(p)
    return result


def flatten(params: Sequence[Parameter]) -> list[FlatGroup]:
    """Put distinct ``params`` into flat storage, one group per dtype (reused when already so)."""
    unique = distinct(params)
    existing = find_groups(unique)
    if existing is not None:
        return existing
    by_dtype: dict[np.dtype[Any], list[Parameter]] = {}
    for p in unique:
        by_dtype.setdefault(p.data.dtype, []).append(p)
    return [FlatGroup(members) for members in by_dtype.values()]


def find_groups(params: Sequence[Parameter]) -> list[FlatGroup] | None:
    """The valid flat groups holding exactly ``params`` (each once), or None when there are none.

    Clippers and regularizers call this to run over whole buffers; without flat storage they loop
    over the parameters one by one.
    """
    groups: list[FlatGroup] = []
    count = 0
    for p in params:
        group = p._group
        if group is None or not group.valid:
            return None
        if not groups or groups[-1] is not group:
            if any(g is group for g in groups):
                continue
            groups.append(group)
            count += len(group.params)
    if count != len(params) or len({id(p) for p in params}) != len(params):
        return None
    return groups


class AllocationRefusedError(ValueError):
    """Building a model from a file asked for more elements than the file holds."""


_BUDGET: ContextVar[list[int] | None] = ContextVar("tinynet_allocation_budget", default=None)


@contextmanager
def allocation_budget(total: int, largest: int, transient: int | None = None) -> Iterator[None]:
    """While active, ``allocate`` refuses an array of more than ``largest`` elements, or more than
    ``total`` elements in all: building a model from a file can never allocate more than it holds.
    With ``transient``, ``check_transient`` refuses temporary arrays larger than that.
    """
    token = _BUDGET.set([total, largest, -1 if transient is None else transient])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def check_transient(count: int, what: str) -> None:
    """Under ``allocation_budget``, refuse a temporary array (an example batch a graph runs while it
    is rebuilt, or what a layer returns for it) of more elements than the file holds in all."""
    budget = _BUDGET.get()
    if budget is not None and budget[2] >= 0 and count > budget[2]:
        raise AllocationRefusedError(
            f"{what} would hold {count} elements, more than the file's weights hold ({budget[2]})"
        )


def allocate(shape: tuple[int, ...], dtype: DTypeLike, fill: float = 0.0) -> Array:
    """A new array of ``shape`` filled with ``fill``, for parameters and buffers of built-in layers.

    Zeros come from ``calloc``, so memory is only touched when written. Under ``allocation_budget``
    the request is checked before anything is allocated.
    """
    count = math.prod(shape)
    budget = _BUDGET.get()
    if budget is not None:
        if count > budget[1] or count > budget[0]:
            raise AllocationRefusedError(
                f"the architecture asks for an array of shape {fmt_shape(shape)} ({count} elements), "
                f"more than the file's weights hold ({budget[0]} elements left, largest array {budget[1]})"
            )
        budget[0] -= count
    if fill == 0.0:
        return np.zeros(shape, dtype)
    return np.full(shape, fill, dtype)
