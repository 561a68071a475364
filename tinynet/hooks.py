"""Instrumenting every module of a model: the machinery under ``summary()`` and the profiler.

``instrument(model, wrap)`` replaces, for the duration of a ``with`` block, the ``forward``,
``backward`` and ``backward_parameters`` of every module in the tree by ``wrap(name, module, kind,
method)``, so a caller can record output shapes or time each layer without the layers knowing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from tinynet._checks import fmt_shape, one_line

if TYPE_CHECKING:  # this file sits below module.py, which calls it for summary()
    from tinynet.module import Module

Method = Callable[[Any], Any]
Wrapper = Callable[[str, "Module", str, Method], Method]
METHODS = ("forward", "backward", "backward_parameters")


@contextmanager
def instrument(model: Module, wrap: Wrapper) -> Iterator[list[tuple[str, Module]]]:
    """Wrap the methods of every module of ``model``; yields the ``(qualified_name, module)`` list."""
    modules = list(model.named_modules())
    try:
        for name, module in modules:
            for kind in METHODS:
                setattr(module, kind, wrap(name, module, kind, getattr(module, kind)))
        yield modules
    finally:
        for _, module in modules:
            for kind in METHODS:
                module.__dict__.pop(kind, None)


def shape_text(value: Any) -> str:
    """``(-1, 16)`` for an array (batch shown as -1); a list for several outputs."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shape_text(v) for v in value) + "]"
    shape = np.shape(value)
    return fmt_shape((-1, *shape[1:])) if shape else "()"


def example_input(model: Module, in_features: int | None) -> Any:
    """One sample for ``model``: ``model.example_input`` when it has one, else zeros of its width."""
    make = getattr(model, "example_input", None)
    if callable(make):
        return make(in_features)
    width = in_features if in_features is not None else model.input_width()
    if width is None:
        raise ValueError(f"summary: {type(model).__name__} does not know its input width; pass in_features=")
    return np.zeros((1, width), dtype=model.dtype or np.float64)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned text columns with a rule under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines)


def summary_table(model: Module, in_features: int | None = None) -> str:
    """Every module of ``model`` as a row (nested ones indented) with output shape and parameters."""
    probe = model.clone().eval()  # a copy, so the caller's caches and mode stay untouched
    shapes: dict[int, str] = {}

    def wrap(name: str, module: Module, kind: str, method: Method) -> Method:
        if kind != "forward":
            return method

        def recorded(x: Any) -> Any:
            y = method(x)
            shapes[id(module)] = shape_text(y)
            return y

        return recorded

    with instrument(probe, wrap):
        probe.forward(example_input(probe, in_features))
    rows: list[tuple[str, ...]] = []

    def add(name: str, module: Module, depth: int) -> None:
        count = str(module.num_parameters())
        rows.append((name, "  " * depth + one_line(module), shapes.get(id(module), "-"), count))
        for child_name, child in module.named_children():
            add(f"{name}.{child_name}" if name else child_name, child, depth + 1)

    children = list(probe.named_children())
    if children:  # the model itself is the table; its children are the rows
        for child_name, child in children:
            add(child_name, child, 0)
    else:
        add(type(probe).__name__, probe, 0)
    text = table(("name", "layer", "output shape", "params"), rows)
    return f"{text}\ntotal parameters: {model.num_parameters()}"
