"""The containers: ``Sequential``, ``Residual`` and ``Concat`` (parallel branches on one input).

Each builds on ``tinynet.core.container.Container``, which names the failing child in any error.
``Concat`` runs branches on the *same* input and joins their outputs; the merge layer
``Concatenate`` (``tinynet.layers.merge``) joins *different* inputs in a ``Graph``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, overload

import numpy as np
from typing_extensions import override

from tinynet.core.checks import Array, as_float_input, fmt_shape, one_line
from tinynet.core.container import Container, check_distinct
from tinynet.core.inspect import Dot
from tinynet.core.module import Module
from tinynet.core.registry import register_module


@register_module
class Sequential(Container):
    """Apply modules in order; backward runs them in reverse.

    x -> m0 -> m1 -> ... -> y;   dL/dx = m0.backward(m1.backward(... mN.backward(g)))

    Supports ``len``, indexing, slicing, iteration and ``append``.
    """

    caches: ClassVar[tuple[str, ...]] = ("_in_shapes",)

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        layers = list(modules)
        check_distinct(layers, "Sequential")
        self.layers = layers
        self._in_shapes: list[Any] | None = None

    @override
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for index, module in enumerate(self.layers):
            yield str(index), module

    @override
    def forward(self, x: Array) -> Array:
        shapes = []  # each layer's input shape: backward checks the dL/dx each layer returns
        for index, module in enumerate(self.layers):
            several = isinstance(x, (list, tuple))  # a list of inputs: nothing to compare in backward
            shapes.append(x.shape if type(x) is np.ndarray else None if several else np.shape(x))
            x = self.call_child(index, module.forward, x)
        self._in_shapes = shapes
        return x

    @override
    def backward(self, grad_out: Array) -> Array:
        return self._backward_to(grad_out, 0)

    def _backward_to(self, grad_out: Array, stop: int) -> Array:
        """Run ``backward`` of layers len-1 .. stop and return the gradient at layer ``stop``'s input."""
        shapes = self._cached(self._in_shapes) if self.layers else []
        for index in range(len(self.layers) - 1, stop - 1, -1):
            grad_out = self.call_child(index, self.layers[index].backward, grad_out)
            expected = shapes[index]
            if expected is None or grad_out is None:  # a list of inputs (or outputs): nothing to compare
                continue
            shape = grad_out.shape if type(grad_out) is np.ndarray else np.shape(grad_out)
            if shape != expected:
                error = ValueError(
                    f"{one_line(self.layers[index])}.backward returned dL/dx of shape "
                    f"{fmt_shape(np.shape(grad_out))}, but its input had shape {fmt_shape(expected)}"
                )
                self.add_context(error, str(index))
                raise error
        return grad_out

    @override
    def backward_parameters(self, grad_out: Array) -> None:
        if not self.layers:
            return
        grad_out = self._backward_to(grad_out, 1)
        self.call_child(0, self.layers[0].backward_parameters, grad_out)

    @override
    def zero_grad(self) -> None:
        for module in self.layers:  # every training step: no names, no generators
            module.zero_grad()

    @override
    def dot_nodes(self, dot: Dot, sources: list[str]) -> list[str]:
        for module in self.layers:
            sources = module.dot_nodes(dot, sources)
        return sources

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


@register_module
class Residual(Container):
    """A skip connection: y = module(x) + shortcut(x), the shortcut being the identity by default.

    backward: dL/dx = module.backward(g) + (shortcut.backward(g) if a shortcut is given else g)

            +--> module ---+
        x --+              (+)--> y
            +--> shortcut -+
    """

    not_settings: ClassVar[tuple[str, ...]] = ("module", "shortcut")  # children, saved as children

    caches: ClassVar[tuple[str, ...]] = ("_shape",)

    def __init__(self, module: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        check_distinct([module] if shortcut is None else [module, shortcut], "Residual")
        self.module = module
        self.shortcut = shortcut
        self._shape: tuple[int, ...] | None = None

    @override
    def forward(self, x: Array) -> Array:
        x = as_float_input(x)
        main = self.call_child("module", self.module.forward, x)
        skip = x if self.shortcut is None else self.call_child("shortcut", self.shortcut.forward, x)
        if main.shape != skip.shape:
            raise ValueError(
                f"Residual: module output shape {fmt_shape(main.shape)} does not match shortcut shape "
                f"{fmt_shape(skip.shape)}; give a shortcut that maps the input to the module's output "
                "width, e.g. Dense(in, out)"
            )
        self._shape = main.shape
        y: Array = main + skip
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        self._cached(self._shape)
        grad_in = self.call_child("module", self.module.backward, grad_out)
        skip = (
            grad_out
            if self.shortcut is None
            else self.call_child("shortcut", self.shortcut.backward, grad_out)
        )
        total: Array = grad_in + skip
        return total

    @override
    def dot_nodes(self, dot: Dot, sources: list[str]) -> list[str]:
        main = self.module.dot_nodes(dot, sources)
        skip = sources if self.shortcut is None else self.shortcut.dot_nodes(dot, sources)
        add = dot.node("+", "circle")
        for node in main + skip:
            dot.edge(node, add)
        return [add]


@register_module
class Concat(Container):
    """Parallel branches on the same input, outputs joined along the features.

    y = [b_1(x), b_2(x), ...];  dL/dx = sum_i b_i.backward(g_i), g_i the slice of g for branch i

            +--> branch 1 --+
        x --+--> branch 2 --+--> [y_1, y_2, ...]
            +--> ...      --+
    """

    caches: ClassVar[tuple[str, ...]] = ("_widths", "_rows")

    def __init__(self, *branches: Module) -> None:
        super().__init__()
        if not branches:
            raise ValueError("Concat needs at least one branch, got none")
        layers = list(branches)
        check_distinct(layers, "Concat")
        self.branches = layers
        self._widths: list[int] | None = None
        self._rows = 0

    @override
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for index, module in enumerate(self.branches):
            yield str(index), module

    @override
    def forward(self, x: Array) -> Array:
        outputs: list[Array] = [
            self.call_child(index, branch.forward, x) for index, branch in enumerate(self.branches)
        ]
        rows = {out.shape[0] for out in outputs}
        if len(rows) != 1 or any(out.ndim != 2 for out in outputs):
            raise ValueError(
                "Concat: branches must return 2-D outputs with one batch size, "
                f"got shapes {[fmt_shape(o.shape) for o in outputs]}"
            )
        self._widths = [out.shape[1] for out in outputs]
        self._rows = outputs[0].shape[0]
        return np.concatenate(outputs, axis=1)

    @override
    def backward(self, grad_out: Array) -> Array:
        widths = self._cached(self._widths)
        expected = (self._rows, sum(widths))
        if np.shape(grad_out) != expected:
            raise ValueError(
                f"Concat.backward: grad_out must have the shape of the forward output {fmt_shape(expected)}, "
                f"got {fmt_shape(np.shape(grad_out))}"
            )
        total: Any = None
        start = 0
        for index, (branch, width) in enumerate(zip(self.branches, widths, strict=True)):
            grad = self.call_child(index, branch.backward, grad_out[:, start : start + width])
            total = grad if total is None else total + grad
            start += width
        result: Array = total
        return result

    @override
    def dot_nodes(self, dot: Dot, sources: list[str]) -> list[str]:
        join = dot.node("concat", "trapezium")
        for branch in self.branches:
            for node in branch.dot_nodes(dot, sources):
                dot.edge(node, join)
        return [join]
