"""``Parameter`` and ``Module``: the contract every layer and container follows.

A module computes ``forward(x)`` and caches only what its ``backward(grad_out)`` needs; ``backward``
returns the gradient with respect to the input and *adds* into each parameter's ``.grad``.
Parameters, child modules and buffers are found automatically from the instance's attributes (also
inside lists and tuples), in assignment order, as in PyTorch: a custom layer registers nothing.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Self

from tinynet._checks import Array, as_float_dtype, fmt_shape

T = TypeVar("T")


class Parameter:
    """A trainable tensor: ``data`` and its accumulated gradient ``grad`` (same shape and dtype).

    ``regularize`` is True for weights and False for biases; regularizers only touch the former.

    ``zero_grad()`` is lazy: it marks the gradient as zero, and the first layer product after it
    is written straight into ``grad`` (``accumulate_matmul``, ``accumulate_sum``) instead of being
    added to a buffer of zeros, which saves a pass over the weights and a weight-sized temporary
    every step. Reading ``grad`` before that fills in the zeros, so ``grad`` always shows the
    true value; only an array obtained from ``grad`` *before* ``zero_grad()`` is not cleared.
    """

    __slots__ = ("_grad", "_zeroed", "data", "name", "regularize")

    def __init__(self, data: Any, regularize: bool = True, name: str = "") -> None:
        array = np.array(data, copy=True)
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        self.data: Array = array
        self._grad: Array = np.zeros_like(array)
        self._zeroed = False  # True: the gradient is zero though the buffer may still hold old values
        self.regularize = bool(regularize)
        self.name = name

    @property
    def grad(self) -> Array:
        if self._zeroed:
            self._grad.fill(0.0)
            self._zeroed = False
        return self._grad

    @grad.setter
    def grad(self, value: Array) -> None:
        self._grad = value
        self._zeroed = False

    def zero_grad(self) -> None:
        """Set the gradient to zero (lazily: see the class docstring)."""
        self._zeroed = True

    def accumulate_matmul(self, a: Array, b: Array) -> None:
        """grad += a @ b, computed straight into the buffer when the gradient is zero."""
        if self._zeroed:
            np.matmul(a, b, out=self._grad)
            self._zeroed = False
        else:
            self._grad += a @ b

    def accumulate_sum(self, a: Array, axis: int) -> None:
        """grad += a.sum(axis), reduced straight into the buffer when the gradient is zero."""
        if self._zeroed:
            np.add.reduce(a, axis=axis, out=self._grad)
            self._zeroed = False
        else:
            self._grad += np.add.reduce(a, axis=axis)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def size(self) -> int:
        return int(self.data.size)

    def __repr__(self) -> str:
        return (
            f"Parameter(name={self.name!r}, shape={fmt_shape(self.shape)}, "
            f"dtype={self.data.dtype}, regularize={self.regularize})"
        )


class Module:
    """Base class of every layer and container.

    Subclasses implement ``forward(x) -> y`` and ``backward(grad_out) -> grad_in``. Array state that
    is not trained but must be saved (running statistics) is listed by name in ``buffers``.
    """

    buffers: ClassVar[tuple[str, ...]] = ()
    training: bool = True  # class default, so a subclass that skips super().__init__() works

    def __init__(self) -> None:
        self.training = True

    # -- the contract --------------------------------------------------------------------------
    def forward(self, x: Array) -> Array:
        """Compute the output for ``x`` and cache what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def backward(self, grad_out: Array) -> Array:
        """Return dL/dx for dL/dy = ``grad_out``; add parameter gradients into ``.grad``."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad_out)")

    def backward_parameters(self, grad_out: Array) -> None:
        """Accumulate the parameter gradients only, for when nobody reads dL/dx.

        Training calls this on the whole model: the first layer's input gradient is never used,
        and for a wide input it is the largest product of the step (Torch7 splits backward the
        same way, into updateGradInput and accGradParameters). The default runs ``backward`` and
        drops its result, so a custom layer needs nothing; ``Dense`` and the containers skip work.
        """
        self.backward(grad_out)

    def __call__(self, x: Any) -> Array:
        return self.forward(x)

    def _cached(self, value: T | None) -> T:
        """Return a cached tensor, or raise ``RuntimeError`` when ``forward`` has not run."""
        if value is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return value

    # -- discovery -----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, child)`` for child modules in attribute order (lists as ``name.i``)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Parameter):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(qualified_name, parameter)`` pairs such as ``("0.weight", p)``; shared ones once."""
        seen: set[int] = set()
        for name, param in self._named_parameters_all(prefix):
            if id(param) not in seen:
                seen.add(id(param))
                yield name, param

    def _named_parameters_all(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, param in self._own_parameters():
            yield prefix + name, param
        for child_name, child in self.named_children():
            yield from child._named_parameters_all(f"{prefix}{child_name}.")

    def parameters(self) -> list[Parameter]:
        """Every distinct parameter of this module and its children, in a stable order."""
        return [param for _, param in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Array]]:
        """Yield ``(qualified_name, array)`` for non-trainable saved state (running statistics)."""
        for name in self.buffers:
            yield prefix + name, getattr(self, name)
        for child_name, child in self.named_children():
            yield from child.named_buffers(f"{prefix}{child_name}.")

    def num_parameters(self) -> int:
        return sum(param.size for param in self.parameters())

    # -- training state ------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Reset every parameter gradient to zero (in place)."""
        # one pass over the attributes, no names, no de-duplication (zeroing twice is harmless):
        # this runs every training step
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, (Parameter, Module)):
                    item.zero_grad()

    def train(self, mode: bool = True) -> Self:
        """Put this module and its children in training mode (``mode=False``: eval mode)."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Self:
        """Put this module and its children in evaluation mode."""
        return self.train(False)

    def to(self, dtype: DTypeLike) -> Self:
        """Cast every parameter, gradient and buffer to ``dtype`` (float32 or float64), in place."""
        resolved = as_float_dtype(dtype)
        for param in self.parameters():
            param.data = param.data.astype(resolved)
            param.grad = param.grad.astype(resolved)
        for module in self.modules():
            for name in module.buffers:
                setattr(module, name, getattr(module, name).astype(resolved))
        return self

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The dtype of the first parameter, or None for a module without parameters."""
        params = self.parameters()
        return params[0].data.dtype if params else None

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Array]:
        """A copy of every parameter and buffer, keyed by qualified name."""
        state = {name: param.data.copy() for name, param in self.named_parameters()}
        state.update((name, np.array(value, copy=True)) for name, value in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy ``state`` into this module's parameters and buffers, in place.

        Names and shapes must match exactly; otherwise ``ValueError`` lists every missing key,
        unexpected key and shape mismatch, and nothing is changed.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        targets = {name: param.data for name, param in self.named_parameters()}
        targets.update(self.named_buffers())
        missing = [name for name in targets if name not in state]
        unexpected = [name for name in state if name not in targets]
        mismatched = [
            f"{name}: expected {fmt_shape(target.shape)}, got {fmt_shape(np.shape(state[name]))}"
            for name, target in targets.items()
            if name in state and np.shape(state[name]) != target.shape
        ]
        not_numeric = [
            f"{name} (dtype {np.asarray(state[name]).dtype})"
            for name in targets
            if name in state and np.asarray(state[name]).dtype.kind not in "fiub"
        ]
        if missing or unexpected or mismatched or not_numeric:
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            if mismatched:
                problems.append("shape mismatches [" + "; ".join(mismatched) + "]")
            if not_numeric:
                problems.append("non-numeric values [" + "; ".join(not_numeric) + "]")
            raise ValueError(
                f"load_state_dict: state does not fit {type(self).__name__}: " + ", ".join(problems)
            )
        for name, target in targets.items():  # in place: references to .data stay valid
            np.copyto(target, np.asarray(state[name]), casting="unsafe")

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child._named_modules(f"{prefix}{name}.")

    # -- description ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments that rebuild this module (used by ``tinynet.save``)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """Rebuild from ``get_config()`` and rebuilt children: ``cls(*children, **config)``."""
        factory: Any = cls
        module: Self = factory(*children, **config)
        return module

    def extra_repr(self) -> str:
        """The constructor arguments that differ from their defaults, as ``key=value``."""
        defaults = inspect.signature(type(self).__init__).parameters

        def is_default(key: str, value: Any) -> bool:
            if key not in defaults:
                return False
            default = defaults[key].default
            if key == "dtype":  # np.float64 and "float64" are the same default
                return bool(np.dtype(default) == np.dtype(value))
            return bool(default == value)

        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if not is_default(k, v))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def clone(self, share_parameters: bool = False) -> Self:
        """A deep copy with its own caches; with ``share_parameters`` the same Parameter objects."""
        memo: dict[int, Any] = {}
        if share_parameters:
            memo.update((id(param), param) for param in self.parameters())
        return copy.deepcopy(self, memo)

    def summary_rows(self, x: Array, name: str) -> tuple[list[tuple[str, str, str, int]], Array]:
        """Rows ``(name, layer, output shape, parameters)`` for ``summary()`` and the output of x."""
        y = self.forward(x)
        return [(name, repr(self), fmt_shape((-1, *y.shape[1:])), self.num_parameters())], y

    def summary(self, in_features: int | None = None) -> str:
        """A table of layers with their output shapes (batch shown as -1) and parameter counts."""
        if in_features is None:
            declared = (getattr(m, "in_features", None) for m in self.modules())
            in_features = next((w for w in declared if isinstance(w, int)), None)
            if in_features is None:
                raise ValueError("summary: cannot infer the input width; pass in_features=")
        probe = self.clone().eval()  # a copy, so the caller's caches and mode stay untouched
        x = np.zeros((1, in_features), dtype=self.dtype or np.float64)
        rows, _ = probe.summary_rows(x, type(self).__name__)
        header = ("name", "layer", "output shape", "params")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
        table = [header, tuple("-" * w for w in widths), *rows]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
        ]
        lines.append(f"total parameters: {self.num_parameters()}")
        return "\n".join(lines)
