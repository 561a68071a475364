"""``Module``: the contract every layer and container follows.

A module computes ``forward(x)`` and caches only what its ``backward(grad_out)`` needs; ``backward``
returns the gradient with respect to the input and *adds* into each parameter's ``.grad``.
Parameters, child modules and buffers are found automatically from the instance's attributes (also
inside lists and tuples), in assignment order, as in PyTorch: a custom layer registers nothing.
Three class attributes describe the rest: ``settings`` (the constructor arguments that rebuild it),
``buffers`` (saved arrays that are not trained) and ``caches`` (forward state, never copied or
pickled).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Self

from tinynet.core.checks import Array, as_float_dtype, fmt_shape, one_line
from tinynet.core.config import Configurable
from tinynet.core.inspect import Dot, dot_text, summary_table
from tinynet.core.node import Node, is_symbolic
from tinynet.core.parameter import Parameter

T = TypeVar("T")

__all__ = ["Module", "Parameter"]


_CACHES: dict[type, tuple[str, ...]] = {}


def _all_caches(cls: type[Module]) -> tuple[str, ...]:
    """The ``caches`` of ``cls`` and its bases (computed once per class)."""
    if cls not in _CACHES:
        names: list[str] = []
        for klass in cls.__mro__:
            names += [n for n in vars(klass).get("caches", ()) if n not in names]
        _CACHES[cls] = tuple(names)
    return _CACHES[cls]


def _attribute_items(module: Module, kind: type[T]) -> Iterator[tuple[str, T]]:
    """``(name, value)`` of attributes of type ``kind``, list and tuple items as ``name.i``."""
    for name, value in vars(module).items():
        if isinstance(value, kind):
            yield name, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, kind):
                    yield f"{name}.{i}", item


class Module(Configurable):
    """Base class of every layer and container.

    Subclasses implement ``forward(x) -> y`` and ``backward(grad_out) -> grad_in``.
    """

    buffers: ClassVar[tuple[str, ...]] = ()
    caches: ClassVar[tuple[str, ...]] = ()
    preserves_width: ClassVar[bool] = False  # True for element-wise layers: out width == in width
    takes_parts: ClassVar[bool] = False  # True for Select: it reads another module's list of outputs
    training: bool = True  # class default, so a subclass that skips super().__init__() works

    def __init__(self) -> None:
        self.training = True

    # -- the contract --------------------------------------------------------------------------
    def forward(self, x: Any) -> Any:
        """Compute the output for ``x`` and cache what ``backward`` needs.

        ``x`` is an array (batch, features); a merge layer takes a list of them, a Graph a list or a
        dict. The output is an array (a Graph with several outputs gives a list).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def backward(self, grad_out: Any) -> Any:
        """Return dL/dx for dL/dy = ``grad_out``; add parameter gradients into ``.grad``.

        A module with several inputs returns a list; integer inputs (indices) have no gradient: None.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad_out)")

    def backward_parameters(self, grad_out: Any) -> None:
        """Accumulate the parameter gradients only, for when nobody reads dL/dx.

        Training calls this on the whole model: the first layer's input gradient is never used,
        and for a wide input it is the largest product of the step (Torch7 splits backward the
        same way, into updateGradInput and accGradParameters). The default runs ``backward`` and
        drops its result, so a custom layer needs nothing; ``Dense`` and the containers skip work.
        """
        self.backward(grad_out)

    def __call__(self, x: Any, **options: Any) -> Any:
        """``forward(x)``, passing on keyword ``options`` (an attention layer's masks); on a symbolic
        ``Node`` (or a list of them) it adds a node to a graph instead."""
        if type(x) is np.ndarray or not is_symbolic(x):
            if options:
                forward: Any = self.forward
                return forward(x, **options)
            return self.forward(x)
        if options:
            raise TypeError(
                f"{one_line(self)}: keyword arguments {sorted(options)} cannot be given with symbolic "
                "nodes; give a mask as an input node instead"
            )
        return Node.apply(self, x)

    def _cached(self, value: T | None) -> T:
        """Return a cached tensor, or raise ``RuntimeError`` when ``forward`` has not run."""
        if value is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return value

    def input_width(self) -> int | None:
        """The number of input features this module expects, when it knows it (Dense, norms)."""
        return None

    # -- discovery -----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, child)`` for child modules in attribute order (lists as ``name.i``)."""
        return _attribute_items(self, Module)

    def children(self) -> Iterator[Module]:
        """The direct submodules, in order (``named_children`` without the names)."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(qualified_name, module)`` for this module (name ``prefix``) and every descendant."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """Yield this module and every descendant, depth first."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(
        self, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(qualified_name, parameter)`` pairs such as ``("0.weight", p)``.

        A parameter used in several places (``clone(share_parameters=True)``) comes once, under its
        first name, unless ``remove_duplicate=False``.
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in _attribute_items(module, Parameter):
                if remove_duplicate:
                    if id(param) in seen:
                        continue
                    seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> list[Parameter]:
        """Every distinct parameter of this module and its children, in a stable order."""
        return [param for _, param in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Array]]:
        """Yield ``(qualified_name, array)`` for non-trainable saved state (running statistics)."""
        for module_name, module in self.named_modules(prefix):
            for name in module.buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    def num_parameters(self) -> int:
        """The number of trainable values: the sum of every parameter's size."""
        return sum(param.size for param in self.parameters())

    def get_submodule(self, target: str) -> Module:
        """The descendant with qualified name ``target`` (``""`` is this module)."""
        for name, module in self.named_modules():
            if name == target:
                return module
        raise KeyError(f"{type(self).__name__} has no submodule {target!r}")

    def set_parameter(self, target: str, param: Parameter) -> None:
        """Put ``param`` at qualified name ``target`` (``"0.weight"``, ``"branches.1.weight"``)."""
        for module_name, module in self.named_modules():
            for name, _ in _attribute_items(module, Parameter):
                if (f"{module_name}.{name}" if module_name else name) == target:
                    attribute, _, index = name.partition(".")
                    if index:
                        getattr(module, attribute)[int(index)] = param
                    else:
                        setattr(module, attribute, param)
                    return
        raise KeyError(f"{type(self).__name__} has no parameter {target!r}")

    # -- training state ------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Reset every parameter gradient to zero (lazily, see ``Parameter``)."""
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
        """Cast every parameter, gradient and buffer to ``dtype`` (float32 or float64), in place.

        A real change of dtype gives the parameters new arrays; an optimizer holding them rebuilds
        its flat storage (and casts its state) before its next step.
        """
        resolved = as_float_dtype(dtype)
        for param in self.parameters():
            param.to(resolved)
        for module in self.modules():
            for name in module.buffers:
                setattr(module, name, getattr(module, name).astype(resolved, copy=False))
        return self

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The dtype of the first parameter (or buffer), or None for a module with neither."""
        for _, param in self.named_parameters():
            return param.data.dtype
        for _, buffer in self.named_buffers():
            return np.asarray(buffer).dtype
        return None

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Array]:
        """A copy of every parameter and buffer, keyed by qualified name."""
        state = {name: param.data.copy() for name, param in self.named_parameters()}
        state.update((name, np.array(value, copy=True)) for name, value in self.named_buffers())
        return state

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every entry of ``state_dict()``, without copying anything."""
        shapes = {name: param.shape for name, param in self.named_parameters()}
        shapes.update((name, tuple(np.shape(value))) for name, value in self.named_buffers())
        return shapes

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy ``state`` into this module's parameters and buffers, in place.

        Names and shapes must match exactly; otherwise ``ValueError`` lists every missing key,
        unexpected key and shape mismatch, and nothing is changed.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        targets = {name: param.data for name, param in self.named_parameters()}
        targets.update(self.named_buffers())
        arrays = {name: np.asarray(value) for name, value in state.items()}
        given = {name: (array.shape, array.dtype) for name, array in arrays.items()}
        problems = state_problems({name: target.shape for name, target in targets.items()}, given)
        if problems:
            raise ValueError(f"load_state_dict: state does not fit {type(self).__name__}: {problems}")
        for name, target in targets.items():  # in place: references to .data stay valid
            np.copyto(target, arrays[name], casting="unsafe")

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the forward caches: a copy or a pickle never carries the last batch."""
        state = self.__dict__.copy()
        for name in _all_caches(type(self)):
            if name in state:
                state[name] = None
        return state

    # -- description ---------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """Rebuild from ``get_config()`` and rebuilt children: ``cls(*children, **config)``."""
        factory: Any = cls
        module: Self = factory(*children, **config)
        return module

    def clone(self, share_parameters: bool = False) -> Self:
        """A deep copy with its own caches; with ``share_parameters`` the same Parameter objects."""
        memo: dict[int, Any] = {}
        if share_parameters:
            memo.update((id(param), param) for param in self.parameters())
        return copy.deepcopy(self, memo)

    def dot_nodes(self, dot: Dot, sources: list[str]) -> list[str]:
        """Draw this module into ``dot`` fed by node ids ``sources``; return the ids of its outputs.

        A leaf is one box; containers draw their children and how data flows between them.
        """
        node = dot.node(one_line(self))
        for source in sources:
            dot.edge(source, node)
        return [node]

    def to_dot(self) -> str:
        """Graphviz DOT text of the model (``dot -Tpng model.dot -o model.png`` draws it)."""
        return dot_text(self)

    def summary(self, in_features: int | tuple[int, ...] | None = None) -> str:
        """A table of every layer, nested ones indented, with output shapes and parameter counts.

        The model (a copy of it, in eval mode) runs once on one sample of ``in_features`` features,
        or of shape ``in_features`` when it is a tuple (default: the width the model declares, see
        ``input_width``) to find the output shapes.
        """
        return summary_table(self, in_features)


def state_problems(
    expected: dict[str, tuple[int, ...]], given: dict[str, tuple[tuple[int, ...], np.dtype[Any]]]
) -> str:
    """Every missing key, unexpected key, shape mismatch and non-numeric entry, or ``""``.

    ``expected`` maps names to shapes, ``given`` maps names to ``(shape, dtype)``.
    """
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    mismatched = [
        f"{name}: expected {fmt_shape(shape)}, got {fmt_shape(given[name][0])}"
        for name, shape in expected.items()
        if name in given and tuple(given[name][0]) != tuple(shape)
    ]
    not_numeric = [
        f"{name} (dtype {given[name][1]})"
        for name in expected
        if name in given and given[name][1].kind not in "fiub"
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if mismatched:
        problems.append("shape mismatches [" + "; ".join(mismatched) + "]")
    if not_numeric:
        problems.append("non-numeric values [" + "; ".join(not_numeric) + "]")
    return ", ".join(problems)
