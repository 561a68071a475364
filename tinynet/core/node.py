"""Symbolic nodes of the functional graph (Keras's functional API, Torch7's nngraph).

``Input(features)`` or ``Input(shape=(L, E))`` makes a node; calling a module on a node
(``Dense(4, 16)(x)``) or a merge layer on a list of nodes (``Add()([a, b])``) runs the module once on
a small example batch to learn the output shape, and returns a new node. Nothing is computed for
real until ``Graph(inputs, outputs)`` is built and called on arrays. A module that returns several
arrays (a recurrent layer's ``[output, h_n]``) gives a node with several ``parts``, unpacked as
``output, h_n = tn.GRU(4, 8)(x)``: each part is a node the ``Graph`` reads through a ``Select``.
This file sits below ``module.py`` so that ``Module.__call__`` can recognize a node; it only calls
modules' public methods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from tinynet.core.checks import check_int, one_line
from tinynet.core.parameter import check_transient

if TYPE_CHECKING:  # the graph machinery is below the modules it wires
    from tinynet.core.module import Module

EXAMPLE_ROWS = 2


class Node:
    """A symbolic tensor of shape (batch, *shape): the output of ``module`` applied to ``inputs``.

    An ``Input`` node has no module and no inputs. ``name`` is given to inputs by the user and to the
    other nodes by the ``Graph`` that holds them. A module with several outputs makes a node with
    ``parts`` (each output's sample shape and dtype); indexing or unpacking it gives one node per
    part (``part`` is its index; it has no module of its own, the graph reads it with ``Select``).
    """

    def __init__(
        self,
        module: Module | None,
        inputs: list[Node],
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        name: str,
        parts: list[tuple[tuple[int, ...], np.dtype[Any]]] | None = None,
        part: int | None = None,
    ) -> None:
        self.module = module
        self.inputs = inputs
        self.shape = shape  # one sample's shape, without the batch axis
        self.dtype = dtype
        self.name = name
        self.parts = parts
        self.part = part

    def __getitem__(self, index: int) -> Node:
        """The ``index``-th output of a module that returns several (``gru(x)[0]``)."""
        if self.parts is None:
            raise TypeError(f"{self!r} is a single output; only a node of several outputs can be indexed")
        i = check_int(index, "index")
        if not -len(self.parts) <= i < len(self.parts):
            raise IndexError(f"{self!r} has {len(self.parts)} outputs, got index {index}")
        i %= len(self.parts)
        shape, dtype = self.parts[i]
        return Node(None, [self], shape, dtype, "", part=i)

    def __iter__(self) -> Any:
        if self.parts is None:
            raise TypeError(f"{self!r} is a single output; it cannot be unpacked")
        return iter([self[i] for i in range(len(self.parts))])

    def __len__(self) -> int:
        if self.parts is None:
            raise TypeError(f"{self!r} is a single output; it has no len()")
        return len(self.parts)

    @property
    def width(self) -> int:
        """The size of the last axis (the features of a (batch, features) node)."""
        return self.shape[-1]

    @property
    def is_input(self) -> bool:
        """Whether this node is a graph input (``tn.Input``) rather than a module's output."""
        return self.module is None and self.part is None

    def example(self) -> Any:
        """A batch of zeros shaped like this node's values (a list of them for several parts)."""
        parts = self.parts if self.parts is not None else [(self.shape, self.dtype)]
        for shape, _ in parts:  # a model file cannot make a graph run on more than it holds
            check_transient(EXAMPLE_ROWS * math.prod(shape), f"an example batch of {_describe(self)}")
        if self.parts is not None:
            return [np.zeros((EXAMPLE_ROWS, *shape), dtype=dtype) for shape, dtype in self.parts]
        return np.zeros((EXAMPLE_ROWS, *self.shape), dtype=self.dtype)

    @staticmethod
    def apply(module: Module, x: Any) -> Node:
        return apply_module(module, x)

    def __repr__(self) -> str:
        made = (
            f"output {self.part} of {self.inputs[0]!r}"
            if self.part is not None
            else "Input"
            if self.module is None
            else one_line(self.module)
        )
        if self.parts is not None:
            shapes = ", ".join(f"{batch_shape(shape)} {dtype}" for shape, dtype in self.parts)
            return f"<Node {self.name or '?'}: {made} -> [{shapes}]>"
        return f"<Node {self.name or '?'}: {made} -> {batch_shape(self.shape)} {self.dtype}>"


def batch_shape(shape: tuple[int, ...]) -> str:
    """``(batch, 3, 4)`` for a sample shape ``(3, 4)``."""
    return "(batch, " + ", ".join(map(str, shape)) + ")"


def Input(
    features: int | None = None,
    name: str = "input",
    dtype: DTypeLike = np.float64,
    *,
    shape: Sequence[int] | None = None,
) -> Node:
    """A symbolic input: ``features`` columns, or samples of ``shape`` (``Input(shape=(L, E))``);
    float32/float64 values, or integers (category indices)."""
    if (features is None) == (shape is None):
        raise TypeError("Input takes features (an int) or shape (a tuple), exactly one")
    sample = (features,) if shape is None else tuple(shape)
    if not sample:
        raise ValueError("shape must have at least one axis besides the batch")
    sample = tuple(check_int(d, "features" if shape is None else "shape", minimum=1) for d in sample)
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32, float64 or an integer type, got {dtype!r}") from error
    if resolved.kind not in "fiu" or (resolved.kind == "f" and resolved.itemsize not in (4, 8)):
        raise TypeError(f"dtype must be float32, float64 or an integer type, got {resolved}")
    return Node(None, [], sample, resolved, name)


def is_symbolic(x: Any) -> bool:
    """True for a Node, or a non-empty list or tuple of Nodes (the input of a merge layer, or the
    initial states of a recurrent layer)."""
    if isinstance(x, Node):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(item, Node) for item in x)


def _describe(node: Node) -> str:
    return f"input {node.name!r}" if node.module is None else f"the output of {one_line(node.module)}"


def apply_module(module: Module, x: Any) -> Node:
    """The node of ``module`` applied to node ``x`` (or a list of nodes, for a merge layer).

    The module runs once, in eval mode, on zeros of the inputs' shapes; a width that does not fit is
    a ``ValueError`` naming the module and the input nodes. Its caches are cleared afterwards. A
    module returning a list of arrays gives a node with ``parts``.
    """
    several = isinstance(x, (list, tuple))
    inputs = list(x) if several else [x]
    for node in inputs:
        if node.parts is not None and not module.takes_parts:
            raise TypeError(
                f"cannot apply {one_line(module)} to {_describe(node)}, which returns {len(node.parts)} "
                "outputs: unpack them first (output, h_n = layer(x)) or index one (layer(x)[0])"
            )
    examples = [node.example() for node in inputs]
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        y = module.forward(examples if several else examples[0])
    except (ValueError, TypeError) as error:
        described = ", ".join(f"{_describe(n)} {batch_shape(n.shape)} {n.dtype}" for n in inputs)
        kind = type(error) if type(error) in (ValueError, TypeError) else ValueError
        raise kind(f"cannot apply {one_line(module)} to {described}: {error}") from None
    finally:
        for m, mode in modes:
            m.training = mode
        for m in module.modules():
            for cache in type(m).caches:
                if hasattr(m, cache):
                    setattr(m, cache, None)
    values = [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]
    for value in values:  # a layer that grows its input (a concatenation) is stopped at once
        check_transient(value.size, f"the example output of {one_line(module)}")
        if value.ndim < 2 or value.shape[0] != EXAMPLE_ROWS:
            raise ValueError(
                f"{one_line(module)} must return (batch, ...) values with at least one axis besides the "
                f"batch in a graph, got shape {value.shape}"
            )
    specs = [(tuple(int(d) for d in v.shape[1:]), v.dtype) for v in values]
    if isinstance(y, (list, tuple)):
        return Node(module, inputs, (), values[0].dtype, "", parts=specs)
    return Node(module, inputs, specs[0][0], specs[0][1], "")
