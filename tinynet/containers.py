"""Containers: modules made of modules, under the same forward/backward contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn, overload

import numpy as np
from typing_extensions import override

from tinynet._checks import Array
from tinynet.activations import as_float_input
from tinynet.module import Module


def reraise_with_context(error: Exception, context: str) -> NoReturn:
    """Re-raise ``error`` as the same type with ``context`` (which child failed) added.

    Exception types whose constructor does not take one message keep their message and get the
    context as a note instead.
    """
    try:
        wrapped = type(error)(f"{error}\n  in {context}")
    except Exception:  # an exception type with a custom constructor: keep it as it is
        if hasattr(error, "add_note"):  # Python >= 3.11
            error.add_note(f"  in {context}")
        raise error from None
    raise wrapped.with_traceback(error.__traceback__) from None


def describe(module: Module) -> str:
    """A one-line description of a module for error context."""
    text = repr(module)
    return text if "\n" not in text else type(module).__name__


def check_distinct(modules: list[Module], owner: str) -> None:
    """Reject the same module object placed twice: its cache would be overwritten."""
    seen: dict[int, int] = {}
    for index, module in enumerate(modules):
        if not isinstance(module, Module):
            raise TypeError(f"{owner}: child {index} must be a Module, got {type(module).__name__}")
        for inner in module.modules():
            if id(inner) in seen:
                raise ValueError(
                    f"{owner}: {inner!r} appears more than once (child {seen[id(inner)]} and "
                    f"child {index}); its forward cache would be overwritten. Use "
                    "module.clone(share_parameters=True) to reuse its weights in a second place"
                )
            seen[id(inner)] = index


class Sequential(Module):
    """Apply modules in order; backward runs them in reverse.

    x -> m0 -> m1 -> ... -> y;   dL/dx = m0.backward(m1.backward(... mN.backward(g)))

    Supports ``len``, indexing, slicing, iteration and ``append``. An error inside a child is
    re-raised with the child's index and repr added.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        layers = list(modules)
        check_distinct(layers, "Sequential")
        self.layers = layers

    @override
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for index, module in enumerate(self.layers):
            yield str(index), module

    @override
    def forward(self, x: Array) -> Array:
        index = 0
        try:
            for index, module in enumerate(self.layers):  # noqa: B007 (index is read on error)
                x = module.forward(x)
        except Exception as error:
            reraise_with_context(error, f"Sequential[{index}] {describe(self.layers[index])}")
        return x

    @override
    def backward(self, grad_out: Array) -> Array:
        return self._backward_to(grad_out, 0)

    @override
    def zero_grad(self) -> None:
        for module in self.layers:
            module.zero_grad()

    def _backward_to(self, grad_out: Array, stop: int) -> Array:
        """Run ``backward`` of layers len-1 .. stop and return the gradient at layer ``stop``'s input."""
        index = len(self.layers) - 1
        try:
            for index in range(len(self.layers) - 1, stop - 1, -1):
                grad_out = self.layers[index].backward(grad_out)
        except Exception as error:
            reraise_with_context(error, f"Sequential[{index}] {describe(self.layers[index])}")
        return grad_out

    @override
    def backward_parameters(self, grad_out: Array) -> None:
        if not self.layers:
            return
        grad_out = self._backward_to(grad_out, 1)
        try:
            self.layers[0].backward_parameters(grad_out)
        except Exception as error:
            reraise_with_context(error, f"Sequential[0] {describe(self.layers[0])}")

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end and return self."""
        check_distinct([*self.layers, module], "Sequential")
        self.layers.append(module)
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    @override
    def summary_rows(self, x: Array, name: str) -> tuple[list[tuple[str, str, str, int]], Array]:
        rows: list[tuple[str, str, str, int]] = []
        prefix = "" if name == type(self).__name__ else f"{name}."
        for index, module in enumerate(self.layers):
            child_rows, x = module.summary_rows(x, f"{prefix}{index}")
            rows += child_rows
        return rows, x

    @override
    def get_config(self) -> dict[str, Any]:
        return {}

    @override
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for index, module in enumerate(self.layers):
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({index}): {child}")
        lines.append(")")
        return "\n".join(lines)


class Residual(Module):
    """A skip connection: y = module(x) + shortcut(x), the shortcut being the identity by default.

    backward: dL/dx = module.backward(g) + (shortcut.backward(g) if a shortcut is given else g)

            +--> module ---+
        x --+              (+)--> y
            +--> shortcut -+
    """

    def __init__(self, module: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        check_distinct([module] if shortcut is None else [module, shortcut], "Residual")
        self.module = module
        self.shortcut = shortcut
        self._ran: bool | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        try:
            main = self.module.forward(x)
        except Exception as error:
            reraise_with_context(error, f"Residual.module {describe(self.module)}")
        if self.shortcut is None:
            skip = x
        else:
            try:
                skip = self.shortcut.forward(x)
            except Exception as error:
                reraise_with_context(error, f"Residual.shortcut {describe(self.shortcut)}")
        if main.shape != skip.shape:
            raise ValueError(
                f"Residual: module output shape {main.shape} does not match shortcut shape {skip.shape}; "
                "give a shortcut that maps the input to the module's output width, e.g. Dense(in, out)"
            )
        self._ran = True
        y: Array = main + skip
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        self._cached(self._ran)
        grad_in = self.module.backward(grad_out)
        skip = grad_out if self.shortcut is None else self.shortcut.backward(grad_out)
        total: Array = grad_in + skip
        return total

    @override
    def __repr__(self) -> str:
        inner = repr(self.module).replace("\n", "\n  ")
        shortcut = "identity" if self.shortcut is None else repr(self.shortcut).replace("\n", "\n  ")
        return f"Residual(\n  (module): {inner}\n  (shortcut): {shortcut}\n)"


class Concat(Module):
    """Parallel branches on the same input, outputs joined along the features.

    y = [b_1(x), b_2(x), ...];  dL/dx = sum_i b_i.backward(g_i), g_i the slice of g for branch i

            +--> branch 1 --+
        x --+--> branch 2 --+--> [y_1, y_2, ...]
            +--> ...      --+
    """

    def __init__(self, *branches: Module) -> None:
        super().__init__()
        if not branches:
            raise ValueError("Concat needs at least one branch, got none")
        layers = list(branches)
        check_distinct(layers, "Concat")
        self.branches = layers
        self._widths: list[int] | None = None

    @override
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for index, module in enumerate(self.branches):
            yield str(index), module

    @override
    def forward(self, x: Array) -> Array:
        outputs = []
        for index, branch in enumerate(self.branches):
            try:
                outputs.append(branch.forward(x))
            except Exception as error:
                reraise_with_context(error, f"Concat[{index}] {describe(branch)}")
        rows = {out.shape[0] for out in outputs}
        if len(rows) != 1 or any(out.ndim != 2 for out in outputs):
            raise ValueError(
                "Concat: branches must return 2-D outputs with one batch size, "
                f"got shapes {[o.shape for o in outputs]}"
            )
        self._widths = [out.shape[1] for out in outputs]
        return np.concatenate(outputs, axis=1)

    @override
    def backward(self, grad_out: Array) -> Array:
        widths = self._cached(self._widths)
        total: Array | None = None
        start = 0
        for index, (branch, width) in enumerate(zip(self.branches, widths, strict=True)):
            try:
                grad = branch.backward(grad_out[:, start : start + width])
            except Exception as error:
                reraise_with_context(error, f"Concat[{index}] {describe(branch)}")
            total = grad if total is None else total + grad
            start += width
        assert total is not None  # Concat has at least one branch
        return total

    @override
    def __repr__(self) -> str:
        lines = ["Concat("]
        lines += [f"  ({i}): " + repr(b).replace("\n", "\n  ") for i, b in enumerate(self.branches)]
        lines.append(")")
        return "\n".join(lines)
