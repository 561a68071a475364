"""Inspecting a model: ``summary()`` tables, DOT drawings, and the instrumenting under the profiler.

``instrument(model, wrap)`` replaces, for the duration of a ``with`` block, the ``forward``,
``backward`` and ``backward_parameters`` of every module in the tree by ``wrap(name, module, kind,
method)``, so a caller can record output shapes or time each layer without the layers knowing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from tinynet.core.checks import fmt_shape, one_line

if TYPE_CHECKING:  # this file sits below module.py, which calls it for summary()
    from tinynet.core.module import Module

Method = Callable[..., Any]  # forward(x) (attention layers also take mask keywords), backward(g)
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


def walk(model: Module) -> Iterator[tuple[str, Module, int]]:
    """``(qualified_name, module, depth)`` of every module below ``model`` in tree order.

    The model itself is left out when it has children (they are its rows); a single layer is
    its own row, named after its class.
    """

    def visit(name: str, module: Module, depth: int) -> Iterator[tuple[str, Module, int]]:
        yield name, module, depth
        for child_name, child in module.named_children():
            yield from visit(f"{name}.{child_name}" if name else child_name, child, depth + 1)

    children = list(model.named_children())
    if not children:
        yield type(model).__name__, model, 0
        return
    for child_name, child in children:
        yield from visit(child_name, child, 0)


def shape_text(value: Any) -> str:
    """``(-1, 16)`` for an array (batch shown as -1); a list for several outputs."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shape_text(v) for v in value) + "]"
    shape = np.shape(value)
    return fmt_shape((-1, *shape[1:])) if shape else "()"


def example_input(model: Module, in_features: int | tuple[int, ...] | None) -> Any:
    """One sample for ``model``: ``model.example_input`` when it has one (or the first of its
    ``layers`` does: indices for an Embedding, a sequence for a recurrent layer), else zeros of the
    shape ``in_features`` (an int: that many features; a tuple: one sample's shape) or of its width."""
    make = getattr(model, "example_input", None)
    layers = getattr(model, "layers", None)
    if not callable(make) and isinstance(layers, list) and layers:
        make = getattr(layers[0], "example_input", None)
    if callable(make):
        return make(in_features)
    shape = in_features if in_features is not None else model.input_width()
    if shape is None:
        raise ValueError(f"summary: {type(model).__name__} does not know its input width; pass in_features=")
    sample = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = model.dtype if model.dtype is not None else np.float64
    return np.zeros((1, *sample), dtype=dtype)


def example_sequence(
    in_features: int | tuple[int, ...] | None, width: int, dtype: Any, steps: int = 4
) -> np.ndarray[Any, Any]:
    """One sequence of zeros for a sequence layer's ``summary()``: ``steps`` steps of ``width``
    features, or of the sample shape ``in_features`` when it is a tuple (L, E)."""
    shape = in_features if isinstance(in_features, tuple) else (steps, width)
    sample: np.ndarray[Any, Any] = np.zeros((1, *shape), dtype=dtype)
    return sample


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned text columns with a rule under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines)


def summary_table(model: Module, in_features: int | tuple[int, ...] | None = None) -> str:
    """Every module of ``model`` as a row (nested ones indented) with output shape and parameters."""
    probe = model.clone().eval()  # a copy, so the caller's caches and mode stay untouched
    shapes: dict[int, str] = {}

    def wrap(name: str, module: Module, kind: str, method: Method) -> Method:
        if kind != "forward":
            return method

        def recorded(x: Any, **options: Any) -> Any:
            y = method(x, **options)
            shapes[id(module)] = shape_text(y)
            return y

        return recorded

    with instrument(probe, wrap):
        probe.forward(example_input(probe, in_features))
    reads: dict[str, list[str]] = getattr(probe, "node_inputs", dict)()  # a Graph names what each node reads
    seen: set[int] = set()
    rows: list[tuple[str, ...]] = []
    for name, shape, dtype in input_specs(probe):
        kind = "" if dtype.kind == "f" else f", {dtype.name}"
        given = str(shape[0]) if len(shape) == 1 else f"shape={shape}"
        rows.append((name, f"Input({given}{kind})", fmt_shape((-1, *shape)), "0", ""))

    for name, module, depth in walk(probe):
        params = module.parameters()
        count = str(sum(p.size for p in params))
        if params and depth == 0 and not [p for p in params if id(p) not in seen]:
            count = "0 (shared)"
        seen.update(id(p) for p in params)
        layer = "  " * depth + one_line(module)
        top_reads = ", ".join(reads.get(name, [])) if depth == 0 else ""
        rows.append((name, layer, shapes.get(id(module), "-"), count, top_reads))
    header: tuple[str, ...] = ("name", "layer", "output shape", "params", "reads")
    if not reads:
        header, rows = header[:4], [row[:4] for row in rows]
    text = table(header, rows)
    return f"{text}\ntotal parameters: {model.num_parameters()}"


def input_specs(model: Module) -> list[tuple[str, tuple[int, ...], np.dtype[Any]]]:
    """A ``Graph``'s named inputs ``(name, sample shape, dtype)``; empty for any other module."""
    specs: list[tuple[str, tuple[int, ...], np.dtype[Any]]] = getattr(model, "input_specs", [])
    return specs


def dot_text(model: Module) -> str:
    """Graphviz DOT text of ``model``: its inputs, each module's ``dot_nodes``, its outputs."""
    dot = Dot(type(model).__name__)
    specs = input_specs(model)
    labels = [f"{name}: (batch, {', '.join(map(str, shape))})" for name, shape, _ in specs] or ["input"]
    sources = [dot.node(label, "ellipse") for label in labels]
    outputs = model.dot_nodes(dot, sources)
    for index, out in enumerate(outputs):
        dot.edge(out, dot.node("output" if len(outputs) == 1 else f"output {index}", "ellipse"))
    return dot.text()


class Dot:
    """Graphviz DOT text built node by node (``Module.to_dot`` drives it)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []
        self.count = 0

    def node(self, label: str, shape: str = "box") -> str:
        """Add a node and return its id."""
        self.count += 1
        name = f"n{self.count}"
        text = label.replace("\\", "\\\\").replace('"', '\\"')
        self.lines.append(f'  {name} [label="{text}", shape={shape}];')
        return name

    def edge(self, source: str, target: str, label: str = "") -> None:
        extra = f' [label="{label}"]' if label else ""
        self.lines.append(f"  {source} -> {target}{extra};")

    def text(self) -> str:
        head = [f'digraph "{self.title}" {{', "  rankdir=TB;", '  node [fontname="Helvetica"];']
        return "\n".join([*head, *self.lines, "}"]) + "\n"
