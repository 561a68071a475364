"""``Graph``: a model made by calling modules on symbolic nodes, with several inputs and outputs.

    x = tn.Input(4, name="numbers")
    c = tn.Input(2, name="categories", dtype=np.int64)
    h = tn.Concatenate()([tn.Dense(4, 8)(x), tn.Embedding(10, 3)(c)])
    model = tn.Graph(inputs=[x, c], outputs=[tn.Dense(14, 3)(h), tn.Dense(14, 1)(h)])

The nodes run in a topological order fixed at construction. forward takes one array for one
input, or a list (in ``inputs`` order) or a dict by input name for several, and returns one array or
a list; backward takes the output gradient(s) and returns the input gradient(s), None for integer
inputs. The gradients of a node read by several layers add up. A module called at several places
shares its parameters (and buffers) across them, each use with its own forward cache (a clone).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
from typing_extensions import Self, override

from tinynet.core.checks import fmt_shape
from tinynet.core.container import Container
from tinynet.core.inspect import Dot
from tinynet.core.module import Module
from tinynet.core.node import Input, Node, apply_module, batch_shape
from tinynet.core.registry import register_module
from tinynet.layers.merge import Merge, Select


def _nodes(value: Node | Sequence[Node], what: str) -> list[Node]:
    nodes = [value] if isinstance(value, Node) else list(value)
    if not nodes or not all(isinstance(n, Node) for n in nodes):
        raise TypeError(
            f"{what} must be a Node or a non-empty list of Nodes (made with tn.Input and modules)"
        )
    return nodes


def _topological(outputs: list[Node]) -> list[Node]:
    """Every node the outputs depend on, each after the nodes it reads (depth-first, no recursion)."""
    order: list[Node] = []
    state: dict[int, str] = {}
    for root in outputs:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                state[id(node)] = "done"
                order.append(node)
                continue
            if state.get(id(node)) == "done":
                continue
            if state.get(id(node)) == "open":
                raise ValueError(f"the graph has a cycle through node {node.name or node!r}")
            state[id(node)] = "open"
            stack.append((node, True))
            stack.extend(
                (parent, False) for parent in reversed(node.inputs) if state.get(id(parent)) != "done"
            )
    return order


class _Wire:
    """One node of a built graph: its name, the names of the nodes it reads, and its kind."""

    __slots__ = ("inputs", "merge", "name")

    def __init__(self, name: str, inputs: list[str], merge: bool) -> None:
        self.name, self.inputs, self.merge = name, inputs, merge


@register_module
class Graph(Container):
    """A functional model over symbolic nodes (see the module docstring).

    Construction checks the wiring and names the nodes in topological order ("dense", "dense_1",
    ...; the names of ``state_dict`` keys): a node that depends on an input not in ``inputs``, an
    input no output uses, two inputs of one name, or a width that does not fit (found when the
    module was called on the node) are ``ValueError``s naming the node. The graph keeps its own
    record of the wiring, so the nodes may be reused to build other graphs.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("inputs", "outputs")  # get_config describes the wiring

    caches: ClassVar[tuple[str, ...]] = ("_shapes",)

    def __init__(self, inputs: Node | Sequence[Node], outputs: Node | Sequence[Node]) -> None:
        super().__init__()
        input_nodes, output_nodes = _nodes(inputs, "inputs"), _nodes(outputs, "outputs")
        self.single_input, self.single_output = isinstance(inputs, Node), isinstance(outputs, Node)
        names = [n.name for n in input_nodes]
        seen: set[str] = set()
        for node in input_nodes:
            if not node.is_input:
                raise ValueError(f"inputs must be tn.Input nodes; {node!r} is made by a module")
            if node.name in seen:
                raise ValueError(f"two inputs are named {node.name!r}; give each tn.Input its own name")
            seen.add(node.name)
        order = _topological(output_nodes)
        reached = {id(n) for n in order}
        for node in input_nodes:
            if id(node) not in reached:
                raise ValueError(f"input {node.name!r} is not used by any output")
        known = {id(n) for n in input_nodes}
        for node in order:
            if node.is_input and id(node) not in known:
                raise ValueError(
                    f"an output depends on input {node.name!r}, which is not in inputs {names}; "
                    "add it to inputs"
                )
        self.input_specs = [(n.name, n.shape, n.dtype) for n in input_nodes]  # (name, sample shape, dtype)
        label = {id(n): n.name for n in input_nodes}
        used_names, used_modules = set(names), set[int]()
        counts: dict[str, int] = {}  # per class, the last suffix given: naming stays linear
        self.wires: list[_Wire] = []
        layers: list[Module] = []
        for node in order:
            if node.is_input:
                continue
            module = Select(node.part) if node.module is None and node.part is not None else node.module
            assert module is not None
            base = type(module).__name__.lower()
            last = counts.get(base)  # None: the first of its class, named plainly
            count = 0 if last is None else last + 1
            name = base if count == 0 else f"{base}_{count}"
            while name in used_names:  # taken by an input's name only: a step or two at most
                count += 1
                name = f"{base}_{count}"
            counts[base] = count
            used_names.add(name)
            label[id(node)] = name
            if any(id(m) in used_modules for m in module.modules()):  # a second use: same weights, own cache
                module = _shared_clone(module)
            used_modules.update(id(m) for m in module.modules())
            layers.append(module)
            self.wires.append(_Wire(name, [label[id(p)] for p in node.inputs], _listed(module, node.inputs)))
        self.layers = layers
        self.output_names = [label[id(n)] for n in output_nodes]
        self._shapes: dict[str, tuple[int, ...]] | None = None

    # -- the Module contract -------------------------------------------------------------------
    @override
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for wire, module in zip(self.wires, self.layers, strict=True):
            yield wire.name, module

    def _bind(self, x: Any) -> dict[str, Any]:
        """The value of every input, by name, after checking what came in."""
        names = [name for name, _, _ in self.input_specs]
        one_array_in_a_list = isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape")
        if isinstance(x, dict):
            missing = [n for n in names if n not in x]
            unexpected = [k for k in x if k not in names]
            if missing or unexpected:
                raise ValueError(f"Graph inputs are {names}; missing {missing}, unexpected {unexpected}")
            parts = [x[n] for n in names]
        elif len(names) == 1 and not one_array_in_a_list:
            parts = [x]
        elif isinstance(x, (list, tuple)):
            if len(x) != len(names):
                raise ValueError(f"Graph takes {len(names)} inputs {names}, got a list of {len(x)}")
            parts = list(x)
        else:
            raise TypeError(f"Graph takes {len(names)} inputs {names}: pass a list or a dict, got one array")
        values: dict[str, Any] = {}
        batch = None
        for (name, shape, dtype), part in zip(self.input_specs, parts, strict=True):
            array = np.asarray(part)
            if dtype.kind in "iu":
                if array.dtype.kind not in "iu":
                    raise TypeError(f"input {name!r} takes integer indices, got dtype {array.dtype}")
                if array.ndim == 1 and shape == (1,):
                    array = array.reshape(-1, 1)
            elif array.dtype.kind not in "fiub":
                raise TypeError(f"input {name!r} must be a real numeric array, got dtype {array.dtype}")
            if array.shape[1:] != shape or array.ndim < 2:
                raise ValueError(
                    f"input {name!r} takes shape {batch_shape(shape)}, got {fmt_shape(array.shape)}"
                )
            if batch is not None and array.shape[0] != batch:
                raise ValueError(f"inputs must have one batch size, got {batch} and {array.shape[0]} rows")
            batch = array.shape[0]
            values[name] = array
        return values

    @override
    def forward(self, x: Any) -> Any:
        values = self._bind(x)
        for wire, module in zip(self.wires, self.layers, strict=True):
            args = [values[n] for n in wire.inputs]
            values[wire.name] = self.call_child(wire.name, module.forward, args if wire.merge else args[0])
        self._shapes = {k: _shape(v) for k, v in values.items()}
        outputs = [values[n] for n in self.output_names]
        return outputs[0] if self.single_output else outputs

    def _run_backward(self, grad_out: Any, need_inputs: bool) -> dict[str, Any]:
        shapes = self._cached(self._shapes)
        grads_out = [grad_out] if self.single_output else list(grad_out)
        if len(grads_out) != len(self.output_names):
            raise ValueError(f"Graph has {len(self.output_names)} outputs, got {len(grads_out)} gradients")
        grads: dict[str, Any] = {}
        for name, g in zip(self.output_names, grads_out, strict=True):
            g = np.asarray(g)
            if g.shape != shapes[name]:
                expected = fmt_shape(shapes[name])
                raise ValueError(
                    f"Graph.backward: grad_out of output {name!r} must have the shape of the forward output "
                    f"{expected}, got {fmt_shape(g.shape)}"
                )
            grads[name] = grads[name] + g if name in grads else g
        inputs = {name for name, _, _ in self.input_specs}
        for wire, module in zip(reversed(self.wires), reversed(self.layers), strict=True):
            g = grads.pop(wire.name, None)
            if g is None:  # read only by paths that carry no gradient (integer indices)
                shape = shapes[wire.name]
                g = [None] * len(shape) if isinstance(shape, list) else np.zeros(shape)
            if not need_inputs and all(n in inputs for n in wire.inputs):
                self.call_child(wire.name, module.backward_parameters, g)  # nobody reads dL/d(input data)
                continue
            result = self.call_child(wire.name, module.backward, g)
            for parent, grad in zip(wire.inputs, result if wire.merge else [result], strict=True):
                if grad is not None:
                    grads[parent] = _add(grads[parent], grad) if parent in grads else grad
        return grads

    @override
    def backward(self, grad_out: Any) -> Any:
        grads = self._run_backward(grad_out, need_inputs=True)
        result = [grads.get(name) if dtype.kind == "f" else None for name, _, dtype in self.input_specs]
        return result[0] if len(result) == 1 else result

    @override
    def backward_parameters(self, grad_out: Any) -> None:
        self._run_backward(grad_out, need_inputs=False)

    @override
    def input_width(self) -> int | None:
        if (
            len(self.input_specs) == 1
            and self.input_specs[0][2].kind == "f"
            and len(self.input_specs[0][1]) == 1
        ):
            return self.input_specs[0][1][0]
        return None

    def example_input(self, in_features: int | None = None) -> Any:
        """One sample of zeros for every input (integer zeros for index inputs)."""
        parts = [np.zeros((1, *shape), dtype=dtype) for _, shape, dtype in self.input_specs]
        return parts[0] if self.single_input else parts

    def node_inputs(self) -> dict[str, list[str]]:
        """The names of the nodes each node reads, by node name (for ``summary()``)."""
        return {wire.name: list(wire.inputs) for wire in self.wires}

    def followed_by(self, module: Module) -> Graph:
        """A graph of this one's layers (the same objects, no copies) with ``module`` after its output."""
        if not self.single_output:
            raise ValueError("followed_by needs a graph with a single output")
        inputs = [Input(shape=shape, name=name, dtype=dtype) for name, shape, dtype in self.input_specs]
        nodes: dict[str, Node] = {n.name: n for n in inputs}
        for wire, layer in zip(self.wires, self.layers, strict=True):
            reads = [nodes[name] for name in wire.inputs]
            nodes[wire.name] = apply_module(layer, reads if wire.merge else reads[0])
        output = apply_module(module, nodes[self.output_names[0]])
        return Graph(inputs[0] if self.single_input else inputs, output)

    @override
    def dot_nodes(self, dot: Dot, sources: list[str]) -> list[str]:
        ids = {name: [source] for (name, _, _), source in zip(self.input_specs, sources, strict=True)}
        for wire, module in zip(self.wires, self.layers, strict=True):
            feeding = [node for parent in wire.inputs for node in ids[parent]]
            ids[wire.name] = module.dot_nodes(dot, feeding)
        return [node for name in self.output_names for node in ids[name]]

    # -- configuration: the wiring, by node names ------------------------------------------------
    @override
    def get_config(self) -> dict[str, Any]:
        return {
            "inputs": [{"name": n, "shape": list(s), "dtype": d.name} for n, s, d in self.input_specs],
            "nodes": [{"name": w.name, "inputs": list(w.inputs)} for w in self.wires],
            "outputs": list(self.output_names),
            "single_input": self.single_input,
            "single_output": self.single_output,
        }

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Sequence[Module] = ()) -> Self:
        """Rebuild the wiring from ``get_config()``, calling each child on its input nodes again."""
        try:
            inputs = [  # "features": the single width of a file of tinynet 0.2
                Input(
                    shape=spec["shape"] if "shape" in spec else [spec["features"]],
                    name=spec["name"],
                    dtype=spec["dtype"],
                )
                for spec in config["inputs"]
            ]
            nodes = {n.name: n for n in inputs}
            specs = list(config["nodes"])
            if len(specs) != len(children):
                raise ValueError(f"{len(specs)} nodes but {len(children)} modules")
            for spec, module in zip(specs, children, strict=True):
                reads = [nodes[name] for name in spec["inputs"]]
                nodes[spec["name"]] = apply_module(module, reads if _listed(module, reads) else reads[0])
            outputs = [nodes[name] for name in config["outputs"]]
            graph = cls(
                inputs[0] if config.get("single_input") else inputs,
                outputs[0] if config.get("single_output") else outputs,
            )
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"the graph description is damaged ({type(error).__name__}: {error})") from None
        if [w.name for w in graph.wires] != [spec["name"] for spec in specs]:
            raise ValueError("the graph description is damaged: its nodes are not in topological order")
        return graph

    @override
    def extra_repr(self) -> str:
        ins = ", ".join(name for name, _, _ in self.input_specs)
        return f"inputs=[{ins}], outputs=[{', '.join(self.output_names)}]"


def _listed(module: Module, inputs: Sequence[Node]) -> bool:
    """Whether ``module`` reads a list of values: a merge layer, or a module called on several nodes
    (a recurrent layer on ``[x, h_0]``)."""
    return isinstance(module, Merge) or len(inputs) > 1


def _shape(value: Any) -> Any:
    """A value's shape, or the list of its parts' shapes (a module with several outputs)."""
    if isinstance(value, (list, tuple)):
        return [np.shape(v) for v in value]
    return np.shape(value)


def _add(a: Any, b: Any) -> Any:
    """a + b for gradients; lists (several outputs) add item by item, None standing for zero."""
    if isinstance(a, list):
        return [y if x is None else x if y is None else x + y for x, y in zip(a, b, strict=True)]
    return a + b


def _shared_clone(module: Module) -> Module:
    """A copy with the same Parameter objects and buffer arrays, but caches of its own."""
    memo: dict[int, Any] = {id(p): p for p in module.parameters()}
    memo.update((id(b), b) for _, b in module.named_buffers())
    return copy.deepcopy(module, memo)
