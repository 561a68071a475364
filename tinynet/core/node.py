"""Symbolic nodes of the functional graph (Keras's functional API, Torch7's nngraph).

``Input(features)`` or ``Input(shape=(L, E))`` makes a node; calling a module on a node
(``Dense(4, 16)(x)``) or a merge layer on a list of nodes (``Add()([a, b])``) runs the module once on
a small example batch to learn the output shape, and returns a new node. Nothing is computed for
real until ``Graph(inputs, outputs)`` is built and called on arrays. This file sits below
``module.py`` so that ``Module.__call__`` can recognize a node; it only calls modules' public
methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from tinynet.core.checks import check_int, one_line

if TYPE_CHECKING:  # the graph machinery is below the modules it wires
    from tinynet.core.module import Module

EXAMPLE_ROWS = 2


class Node:
    """A symbolic tensor of shape (batch, *shape): the output of ``module`` applied to ``inputs``.

    An ``Input`` node has no module and no inputs. ``name`` is given to inputs by the user and to the
    other nodes by the ``Graph`` that holds them.
    """

    def __init__(
        self,
        module: Module | None,
        inputs: list[Node],
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        name: str,
    ) -> None:
        self.module = module
        self.inputs = inputs
        self.shape = shape  # one sample's shape, without the batch axis
        self.dtype = dtype
        self.name = name

    @property
    def width(self) -> int:
        """The size of the last axis (the features of a (batch, features) node)."""
        return self.shape[-1]

    @property
    def is_input(self) -> bool:
        return self.module is None

    def example(self) -> Any:
        """A batch of zeros shaped like this node's values."""
        return np.zeros((EXAMPLE_ROWS, *self.shape), dtype=self.dtype)

    @staticmethod
    def apply(module: Module, x: Any) -> Node:
        return apply_module(module, x)

    def __repr__(self) -> str:
        made = "Input" if self.module is None else one_line(self.module)
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
    """True for a Node, or a non-empty list or tuple of Nodes (the input of a merge layer)."""
    if isinstance(x, Node):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(item, Node) for item in x)


def _describe(node: Node) -> str:
    return f"input {node.name!r}" if node.module is None else f"the output of {one_line(node.module)}"


def apply_module(module: Module, x: Any) -> Node:
    """The node of ``module`` applied to node ``x`` (or a list of nodes, for a merge layer).

    The module runs once, in eval mode, on zeros of the inputs' shapes; a width that does not fit is
    a ``ValueError`` naming the module and the input nodes. Its caches are cleared afterwards.
    """
    several = isinstance(x, (list, tuple))
    inputs = list(x) if several else [x]
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
    y = np.asarray(y)
    if y.ndim < 2 or y.shape[0] != EXAMPLE_ROWS:
        raise ValueError(
            f"{one_line(module)} must return (batch, ...) values with at least one axis besides the batch "
            f"in a graph, got shape {y.shape}"
        )
    return Node(module, inputs, tuple(int(d) for d in y.shape[1:]), y.dtype, "")
