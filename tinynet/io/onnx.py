"""ONNX export: a trained tinynet model as a file every serving stack reads (``tinynet-nn[onnx]``).

    tn.export_onnx(model, "model.onnx")                      # opset 17, float32, any batch size
    tn.export_onnx(model, "model.onnx", opset=20)            # GELU as the native Gelu op

Every built-in layer and container converts: Dense (Gemm), the activations, Softmax, Identity,
Flatten, Dropout (identity at inference), BatchNorm1d (its running statistics), LayerNorm
(LayerNormalization), GELU (exact and tanh: ``Gelu`` from opset 20, below it the formula with
``Erf`` or ``Tanh``), ELU, Softplus (with PyTorch's beta and threshold), LeakyReLU, Embedding
(Gather), Sequential, Residual, Concat, Graph and its merge layers. The model is written in
inference mode (eval).

A custom module takes part through a ``to_onnx(builder, inputs) -> outputs`` method that adds its
nodes with the ``OnnxBuilder`` it is given and returns the names of its output tensors:

    class Swish(tn.Module):
        def to_onnx(self, builder, inputs):
            (x,) = inputs
            return [builder.node("Mul", [x, builder.node("Sigmoid", [x])])]

A module with neither a built-in converter nor ``to_onnx`` is refused with an error naming it.

A model trained on a table goes out with its preprocessing inside the graph through
``TabularModel.to_onnx`` (``tinynet.tabular.onnx``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinynet._version import install_hint
from tinynet.core.checks import as_float_dtype, check_int, one_line
from tinynet.core.files import atomic_write_bytes
from tinynet.core.inspect import example_input
from tinynet.core.module import Module
from tinynet.layers.activation import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from tinynet.layers.attention import MultiheadAttention, TransformerEncoderLayer
from tinynet.layers.containers import Concat, Residual, Sequential
from tinynet.layers.conv import Conv1d, Conv2d, conv_pads
from tinynet.layers.core import Dense, Dropout, Dropout2d, Flatten, Permute, Reshape
from tinynet.layers.embedding import Embedding, PositionalEmbedding
from tinynet.layers.graph import Graph
from tinynet.layers.merge import Add, Concatenate, Merge, Multiply, Select
from tinynet.layers.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from tinynet.layers.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from tinynet.layers.recurrent import GRU, LSTM, RNN

INSTALL_HINT = install_hint("onnx")
OPSETS = range(13, 22)


class ExportError(ValueError):
    """The model cannot be written as ONNX (a module without a converter, an unsupported setting)."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - exercised by hiding the module in a test
        raise ImportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


class OnnxBuilder:
    """Collects the nodes and initializers of an ONNX graph; what ``to_onnx`` hooks are given.

    ``dtype`` is the float type of every tensor (float32 or float64); ``opset`` the operator set.
    """

    def __init__(self, opset: int, dtype: np.dtype[Any]) -> None:
        self.onnx = _onnx()
        self.opset = opset
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.ml_domain = False  # the ai.onnx.ml operators (LabelEncoder) are used
        self.taken: set[str] = set()  # names chosen from outside (inputs, outputs): never made again
        self._count = 0

    @property
    def tensor_type(self) -> int:
        mapping = self.onnx.helper.np_dtype_to_tensor_dtype
        return int(mapping(self.dtype))

    def fresh(self, hint: str) -> str:
        """A new, unique tensor name (never one of ``taken``)."""
        self._count += 1
        while f"{hint}_{self._count}" in self.taken:
            self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``value`` (floats in the builder's dtype); returns its name."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(
        self, op: str, inputs: Sequence[str], hint: str | None = None, domain: str = "", **attributes: Any
    ) -> str:
        """Add one node with one output; returns the output's name."""
        output = self.fresh(hint or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], domain=domain, **attributes))
        if domain == "ai.onnx.ml":
            self.ml_domain = True
        return output

    def node_outputs(
        self, op: str, inputs: Sequence[str], count: int, hint: str, **attributes: Any
    ) -> list[str]:
        """Add one node with ``count`` outputs (an ``LSTM``'s Y, Y_h, Y_c); returns their names."""
        outputs = [self.fresh(hint) for _ in range(count)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outputs, **attributes))
        return outputs

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """An int64 initializer (shapes, axes, permutations)."""
        return self.constant(np.array(list(values), dtype=np.int64), hint, dtype=np.int64)


# -- the built-in converters --------------------------------------------------------------------------
Converter = Callable[[Any, OnnxBuilder, list[str]], list[str]]


def _dense(m: Dense, b: OnnxBuilder, x: list[str]) -> list[str]:
    # MatMul acts on the last axis for any rank (Gemm takes 2-D only)
    y = b.node("MatMul", [x[0], b.constant(m.weight.data, "weight")], "dense")
    if m.bias is not None:
        y = b.node("Add", [y, b.constant(m.bias.data, "bias")], "dense")
    return [y]


def _conv(m: Conv1d | Conv2d, b: OnnxBuilder, x: list[str]) -> list[str]:
    pads = conv_pads(m)
    inputs = [x[0], b.constant(m.weight.data, "weight")]
    if m.bias is not None:
        inputs.append(b.constant(m.bias.data, "bias"))
    return [
        b.node(
            "Conv",
            inputs,
            "conv",
            kernel_shape=list(m.kernel_size),
            strides=list(m.stride),
            dilations=list(m.dilation),
            group=m.groups,
            pads=[p for p, _ in pads] + [p for _, p in pads],
        )
    ]


def _pool(op: str, m: Any, b: OnnxBuilder, x: list[str], **extra: Any) -> list[str]:
    pads = list(m.padding) * 2
    shape: dict[str, Any] = {"kernel_shape": list(m.kernel_size), "strides": list(m.stride), "pads": pads}
    return [b.node(op, x, op.lower(), **shape, **extra)]


def _flatten(m: Flatten, b: OnnxBuilder, x: list[str]) -> list[str]:
    if m.start_axis == 1 and m.end_axis == -1:
        return [b.node("Flatten", x, "flatten", axis=1)]
    # the target shape from the input's own: dims before start, -1, dims after end
    shape = b.node("Shape", x)
    head = b.node(
        "Slice",
        [
            shape,
            b.constant(np.array([0]), dtype=np.int64),
            b.constant(np.array([m.start_axis]), dtype=np.int64),
        ],
    )
    parts = [head, b.constant(np.array([-1]), dtype=np.int64)]
    if m.end_axis != -1:
        after = m.end_axis + 1  # negative: counted from the end, as Slice does
        big = np.iinfo(np.int64).max
        parts.append(
            b.node(
                "Slice",
                [
                    shape,
                    b.constant(np.array([after]), dtype=np.int64),
                    b.constant(np.array([big]), dtype=np.int64),
                ],
            )
        )
    return [b.node("Reshape", [x[0], b.node("Concat", parts, axis=0)], "flatten")]


def _gelu(m: GELU, b: OnnxBuilder, x: list[str]) -> list[str]:
    if b.opset >= 20:
        return [b.node("Gelu", x, "gelu", approximate=m.approximate)]
    (v,) = x
    if m.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = b.node("Mul", [b.node("Mul", [v, v]), v])
        inner = b.node("Add", [v, b.node("Mul", [cube, b.constant(0.044715)])])
        t = b.node("Tanh", [b.node("Mul", [inner, b.constant(math.sqrt(2.0 / math.pi))])])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        t = b.node("Erf", [b.node("Mul", [v, b.constant(1.0 / math.sqrt(2.0))])])
    half = b.node("Mul", [v, b.constant(0.5)])
    return [b.node("Mul", [half, b.node("Add", [t, b.constant(1.0)])], "gelu")]


def _softplus(m: Softplus, b: OnnxBuilder, x: list[str]) -> list[str]:
    (v,) = x
    z = b.node("Mul", [v, b.constant(m.beta)])
    smooth = b.node("Div", [b.node("Softplus", [z]), b.constant(m.beta)])
    return [b.node("Where", [b.node("Greater", [z, b.constant(m.threshold)]), v, smooth], "softplus")]


def _batchnorm(m: BatchNorm1d, b: OnnxBuilder, x: list[str]) -> list[str]:
    ones, zeros = np.ones(m.num_features), np.zeros(m.num_features)
    scale = m.weight.data if m.weight is not None else ones
    shift = m.bias.data if m.bias is not None else zeros
    inputs = [
        x[0],
        b.constant(scale),
        b.constant(shift),
        b.constant(m.running_mean),
        b.constant(m.running_var),
    ]
    return [b.node("BatchNormalization", inputs, "batchnorm", epsilon=m.eps)]


def _layernorm(m: LayerNorm, b: OnnxBuilder, x: list[str]) -> list[str]:
    if b.opset < 17:
        raise ExportError(f"{one_line(m)} needs opset 17 or later (LayerNormalization), got {b.opset}")
    scale = m.weight.data if m.weight is not None else np.ones(m.normalized_shape)
    shift = m.bias.data if m.bias is not None else np.zeros(m.normalized_shape)
    return [
        b.node(
            "LayerNormalization",
            [x[0], b.constant(scale), b.constant(shift)],
            "layernorm",
            axis=-len(m.normalized_shape),
            epsilon=m.eps,
        )
    ]


def _embedding(m: Embedding, b: OnnxBuilder, x: list[str]) -> list[str]:
    gathered = b.node("Gather", [b.constant(m.weight.data, "table"), x[0]], "embedding", axis=0)
    if not m.flatten:
        return [gathered]
    return [b.node("Reshape", [gathered, b.constant(np.array([0, -1], np.int64), "shape")], "embedding")]


def _residual(m: Residual, b: OnnxBuilder, x: list[str]) -> list[str]:
    main = convert(m.module, b, x)
    skip = x if m.shortcut is None else convert(m.shortcut, b, x)
    return [b.node("Add", [main[0], skip[0]], "residual")]


def _sequential(m: Sequential, b: OnnxBuilder, x: list[str]) -> list[str]:
    for layer in m.layers:
        x = convert(layer, b, x)
    return x


def _concat(m: Concat, b: OnnxBuilder, x: list[str]) -> list[str]:
    return [b.node("Concat", [convert(branch, b, x)[0] for branch in m.branches], "concat", axis=1)]


def _multiply(m: Multiply, b: OnnxBuilder, x: list[str]) -> list[str]:
    out = x[0]
    for other in x[1:]:
        out = b.node("Mul", [out, other], "multiply")
    return [out]


def _graph(m: Graph, b: OnnxBuilder, x: list[str]) -> list[str]:
    values: dict[str, Any] = {name: tensor for (name, _, _), tensor in zip(m.input_specs, x, strict=True)}
    for wire, layer in zip(m.wires, m.layers, strict=True):
        reads = [values[n] for n in wire.inputs]
        several = len(reads) == 1 and isinstance(reads[0], list)  # a Select reading a module's outputs
        outs = convert(layer, b, reads[0] if several else reads)
        values[wire.name] = outs if len(outs) > 1 else outs[0]
    return [values[name] for name in m.output_names]


# -- sequences: recurrent layers and attention ---------------------------------------------------------
# PyTorch's gate order -> ONNX's: LSTM i f g o -> i o f c; GRU r z n -> z r h
GATE_ORDER: dict[type, list[int]] = {RNN: [0], GRU: [1, 0, 2], LSTM: [0, 3, 1, 2]}


def _gates(values: np.ndarray, order: list[int]) -> np.ndarray:
    """Rows of a (G * H, ...) weight or (G * H,) bias reordered gate by gate."""
    blocks = np.split(values, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _time_major(b: OnnxBuilder, tensor: str, batch_first: bool) -> str:
    return b.node("Transpose", [tensor], "time_major", perm=[1, 0, 2]) if batch_first else tensor


def _recurrent(m: RNN | GRU | LSTM, b: OnnxBuilder, x: list[str]) -> list[str]:
    """One ONNX RNN/GRU/LSTM node per layer (both directions in it), time-major inside."""
    op, order, d, h = type(m).__name__, GATE_ORDER[type(m)], m.num_directions, m.hidden_size
    seq = _time_major(b, x[0], m.batch_first)
    states = [_time_major(b, s, m.batch_first) for s in x[1:]]  # (layers * D, N, H)
    finals: list[list[str]] = [[] for _ in range(m.states)]
    attributes: dict[str, Any] = {"hidden_size": h, "direction": "bidirectional" if d == 2 else "forward"}
    if isinstance(m, GRU):
        attributes["linear_before_reset"] = 1  # PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    if isinstance(m, RNN):
        attributes["activations"] = ["Relu" if m.nonlinearity == "relu" else "Tanh"] * d
    for layer in range(m.num_layers):
        params = [m.cell_parameters(layer, direction) for direction in range(d)]
        w = np.stack([_gates(w_ih.data, order) for w_ih, _, _, _ in params])
        r = np.stack([_gates(w_hh.data, order) for _, w_hh, _, _ in params])
        inputs = [seq, b.constant(w, "W"), b.constant(r, "R")]
        biases = [(bi, bh) for _, _, bi, bh in params if bi is not None and bh is not None]
        if biases:  # ONNX's B: [W_b, R_b] per direction
            stacked = [np.concatenate([_gates(bi.data, order), _gates(bh.data, order)]) for bi, bh in biases]
            inputs.append(b.constant(np.stack(stacked), "B"))
        else:
            inputs.append("")
        inputs.append("")  # sequence_lens: every sequence is whole
        span = [b.ints([layer * d]), b.ints([(layer + 1) * d]), b.ints([0])]
        inputs += [b.node("Slice", [state, *span], "initial") for state in states]
        while inputs[-1] == "":  # no trailing empty optional inputs
            inputs.pop()
        outs = b.node_outputs(op, inputs, 1 + m.states, op.lower(), **attributes)
        for final, out in zip(finals, outs[1:], strict=True):
            final.append(out)
        # Y (L, D, N, H) -> (L, N, D * H), the next layer's input
        seq = b.node("Transpose", [outs[0]], "merge_directions", perm=[0, 2, 1, 3])
        seq = b.node("Reshape", [seq, b.ints([0, 0, -1])], "merge_directions")
    results = [seq]
    for parts in finals:
        results.append(b.node("Concat", parts, "final_state", axis=0) if len(parts) > 1 else parts[0])
    return [_time_major(b, r, m.batch_first) for r in results]  # back to batch-major: a swap either way


def _attention_heads(b: OnnxBuilder, tensor: str, m: MultiheadAttention, perm: list[int]) -> str:
    split = b.node("Reshape", [tensor, b.ints([0, 0, m.num_heads, m.embed_dim // m.num_heads])], "heads")
    return b.node("Transpose", [split], "heads", perm=perm)


def _multihead_attention(m: MultiheadAttention, b: OnnxBuilder, x: list[str]) -> list[str]:
    """MatMul, Softmax, MatMul per head; masks as Where, and a fully masked row as zeros."""
    e = m.embed_dim
    q, k, v = (x * 3)[:3] if len(x) == 1 else x[:3]
    if not m.batch_first:
        q, k, v = (_time_major(b, t, True) for t in (q, k, v))
    w = m.in_proj_weight.data
    bias = m.in_proj_bias.data if m.in_proj_bias is not None else None
    projected = []
    for i, tensor in enumerate((q, k, v)):
        y = b.node("MatMul", [tensor, b.constant(w[i * e : (i + 1) * e].T, "in_proj")], "project")
        if bias is not None:
            y = b.node("Add", [y, b.constant(bias[i * e : (i + 1) * e], "in_proj_bias")], "project")
        projected.append(y)
    queries = _attention_heads(b, projected[0], m, [0, 2, 1, 3])  # (N, h, L, d)
    keys_t = _attention_heads(b, projected[1], m, [0, 2, 3, 1])  # (N, h, d, S)
    values = _attention_heads(b, projected[2], m, [0, 2, 1, 3])
    scores = b.node("MatMul", [queries, keys_t], "scores")
    scores = b.node("Mul", [scores, b.constant(1.0 / math.sqrt(e // m.num_heads))], "scores")
    blocked = None
    if m.causal:  # (L, S): True above the diagonal, built from the scores' own shape
        sizes = b.node("Slice", [b.node("Shape", [scores]), b.ints([2]), b.ints([4])], "lengths")
        one = b.onnx.numpy_helper.from_array(np.ones(1, b.dtype))
        ones = b.node("ConstantOfShape", [sizes], "ones", value=one)
        future = b.node("Trilu", [ones, b.constant(np.array(1), dtype=np.int64)], "future", upper=1)
        blocked = b.node("Cast", [future], "causal", to=b.onnx.TensorProto.BOOL)
    if len(x) == 4:  # key_padding_mask (N, S): nonzero is padding
        padding = b.node("Cast", [x[3]], "padding", to=b.onnx.TensorProto.BOOL)
        padding = b.node("Unsqueeze", [padding, b.ints([1, 2])], "padding")
        blocked = padding if blocked is None else b.node("Or", [blocked, padding], "blocked")
    if blocked is not None:
        scores = b.node("Where", [blocked, b.constant(np.finfo(b.dtype).min), scores], "masked")
    probs = b.node("Softmax", [scores], "attention", axis=-1)
    if blocked is not None:  # 0 for a row with no allowed key (Softmax would spread it evenly)
        allowed = b.node("Cast", [b.node("Not", [blocked])], "allowed", to=b.tensor_type)
        count = b.node("ReduceSum", [allowed, b.ints([-1])], "allowed", keepdims=1)
        probs = b.node("Mul", [probs, b.node("Min", [count, b.constant(1.0)])], "attention")
    heads = b.node("MatMul", [probs, values], "heads_out")
    merged = b.node("Transpose", [heads], "merge_heads", perm=[0, 2, 1, 3])
    merged = b.node("Reshape", [merged, b.ints([0, 0, e])], "merge_heads")
    y = b.node("MatMul", [merged, b.constant(m.out_proj_weight.data.T, "out_proj")], "attention_out")
    if m.out_proj_bias is not None:
        y = b.node("Add", [y, b.constant(m.out_proj_bias.data, "out_proj_bias")], "attention_out")
    y = y if m.batch_first else _time_major(b, y, True)
    if not m.need_weights:
        return [y]
    if not m.average_attn_weights:
        return [y, probs]
    total = b.node("ReduceSum", [probs, b.ints([1])], "weights", keepdims=0)
    return [y, b.node("Mul", [total, b.constant(1.0 / m.num_heads)], "weights")]


def _transformer_encoder_layer(m: TransformerEncoderLayer, b: OnnxBuilder, x: list[str]) -> list[str]:
    h = _time_major(b, x[0], not m.batch_first)  # batch-major inside (a swap when time-major)
    mask = x[1:]

    def attend(t: str) -> str:
        return convert(m.self_attn, b, [t, t, t, *mask])[0]

    def feed_forward(t: str) -> str:
        for part in (m.linear1, m.activation, m.linear2):
            t = convert(part, b, [t])[0]
        return t

    def norm(layer: LayerNorm, t: str) -> str:
        return convert(layer, b, [t])[0]

    if m.norm_first:
        h = b.node("Add", [h, attend(norm(m.norm1, h))], "residual")
        y = b.node("Add", [h, feed_forward(norm(m.norm2, h))], "residual")
    else:
        h = norm(m.norm1, b.node("Add", [h, attend(h)], "residual"))
        y = norm(m.norm2, b.node("Add", [h, feed_forward(h)], "residual"))
    return [_time_major(b, y, not m.batch_first)]


def _positional_embedding(m: PositionalEmbedding, b: OnnxBuilder, x: list[str]) -> list[str]:
    length = b.node("Slice", [b.node("Shape", x), b.ints([1]), b.ints([2])], "length")
    table = b.node("Slice", [b.constant(m.weight.data, "positions"), b.ints([0]), length, b.ints([0])])
    return [b.node("Add", [x[0], table], "positional")]


CONVERTERS: dict[type, Converter] = {
    Dense: _dense,
    ReLU: lambda m, b, x: [b.node("Relu", x)],
    LeakyReLU: lambda m, b, x: [b.node("LeakyRelu", x, alpha=m.negative_slope)],
    Sigmoid: lambda m, b, x: [b.node("Sigmoid", x)],
    Tanh: lambda m, b, x: [b.node("Tanh", x)],
    Softmax: lambda m, b, x: [b.node("Softmax", x, axis=m.axis)],
    Identity: lambda m, b, x: [b.node("Identity", x)],
    Dropout: lambda m, b, x: [b.node("Identity", x, "dropout")],
    Flatten: _flatten,
    Reshape: lambda m, b, x: [b.node("Reshape", [x[0], b.constant(np.array([0, *m.shape]), dtype=np.int64)])],
    Permute: lambda m, b, x: [b.node("Transpose", x, "permute", perm=list(m.axes))],
    GELU: _gelu,
    ELU: lambda m, b, x: [b.node("Elu", x, alpha=m.alpha)],
    Softplus: _softplus,
    BatchNorm1d: _batchnorm,
    BatchNorm2d: _batchnorm,
    Conv1d: _conv,
    Conv2d: _conv,
    MaxPool1d: lambda m, b, x: _pool("MaxPool", m, b, x),
    MaxPool2d: lambda m, b, x: _pool("MaxPool", m, b, x),
    AvgPool1d: lambda m, b, x: _pool("AveragePool", m, b, x, count_include_pad=int(m.count_include_pad)),
    AvgPool2d: lambda m, b, x: _pool("AveragePool", m, b, x, count_include_pad=int(m.count_include_pad)),
    AdaptiveAvgPool1d: lambda m, b, x: [b.node("GlobalAveragePool", x, "global_average")],
    AdaptiveAvgPool2d: lambda m, b, x: [b.node("GlobalAveragePool", x, "global_average")],
    Dropout2d: lambda m, b, x: [b.node("Identity", x, "dropout")],
    LayerNorm: _layernorm,
    Embedding: _embedding,
    Sequential: _sequential,
    Residual: _residual,
    Concat: _concat,
    Add: lambda m, b, x: [b.node("Sum" if len(x) > 2 else "Add", x, "add")],
    Multiply: _multiply,
    Concatenate: lambda m, b, x: [b.node("Concat", x, "concatenate", axis=1)],
    Graph: _graph,
    Select: lambda m, b, x: [x[m.index]],
    RNN: _recurrent,
    GRU: _recurrent,
    LSTM: _recurrent,
    MultiheadAttention: _multihead_attention,
    TransformerEncoderLayer: _transformer_encoder_layer,
    PositionalEmbedding: _positional_embedding,
}


def convert(module: Module, builder: OnnxBuilder, inputs: list[str]) -> list[str]:
    """Add ``module``'s nodes reading tensors ``inputs``; returns its output tensors' names."""
    hook = getattr(module, "to_onnx", None)
    if callable(hook):
        return list(hook(builder, inputs))
    converter = CONVERTERS.get(type(module))
    if converter is None:
        raise ExportError(
            f"cannot export {one_line(module)} to ONNX: it has no to_onnx(builder, inputs) method and no "
            "built-in converter; give it one (see tinynet.io.onnx)"
        )
    return converter(module, builder, inputs)


# -- writing ----------------------------------------------------------------------------------------
def model_proto(
    builder: OnnxBuilder, inputs: list[Any], outputs: list[Any], name: str, metadata: dict[str, str]
) -> Any:
    onnx = builder.onnx
    graph = onnx.helper.make_graph(builder.nodes, name, inputs, outputs, builder.initializers)
    opsets = [onnx.helper.make_opsetid("", builder.opset)]
    if builder.ml_domain:
        opsets.append(onnx.helper.make_opsetid("ai.onnx.ml", 3))
    model = onnx.helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=onnx.helper.find_min_ir_version_for(opsets),
        producer_name="tinynet",
    )
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


def check_options(opset: int, dtype: Any) -> tuple[int, np.dtype[Any]]:
    opset = check_int(opset, "opset", minimum=OPSETS.start)
    if opset not in OPSETS:
        raise ValueError(f"opset must be in [{OPSETS.start}, {OPSETS.stop - 1}], got {opset}")
    return opset, as_float_dtype(dtype)


def export_onnx(
    model: Module,
    path: str | None = None,
    *,
    opset: int = 17,
    dtype: Any = "float32",
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    in_features: int | tuple[int, ...] | None = None,
) -> Any:
    """Write ``model`` (in eval mode) as ONNX to ``path`` and return the ``onnx.ModelProto``.

    Inputs are ``(batch, features)`` with any batch size (or ``(batch, *in_features)`` when
    ``in_features`` is a tuple, one sample's shape): one per Graph input (integer inputs as int64),
    named like the Graph's inputs or ``input``; outputs ``output`` (or ``output_0``, ...). A model
    that does not declare its input width (one element-wise layer) needs ``in_features``.
    The IR version is the lowest that supports ``opset``; ``onnx.checker.check_model(full_check=True)``
    passes before anything is written.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a tinynet Module, got {type(model).__name__}")
    opset, resolved = check_options(opset, dtype)
    builder = OnnxBuilder(opset, resolved)
    onnx = builder.onnx
    if isinstance(model, Merge):
        raise ExportError(f"{one_line(model)} takes several inputs: export it inside a tn.Graph")
    try:
        example = example_input(model, in_features)
    except ValueError:
        raise ExportError(
            f"{one_line(model)} does not declare its input width: pass in_features= (or wrap it in a "
            "tn.Graph)"
        ) from None
    examples = example if isinstance(example, list) else [example]
    graph_names = [name for name, _, _ in getattr(model, "input_specs", [])] or ["input"]
    names = list(input_names) if input_names is not None else graph_names
    if len(names) != len(examples):
        raise ValueError(f"input_names must name {len(examples)} inputs, got {len(names)}")
    inputs = [
        onnx.helper.make_tensor_value_info(
            name,
            onnx.TensorProto.INT64 if a.dtype.kind in "iu" else builder.tensor_type,
            ["batch", *a.shape[1:]],
        )
        for name, a in zip(names, examples, strict=True)
    ]
    was_training = model.training
    model.eval()
    try:
        shapes = [np.shape(y)[1:] for y in _as_list(copy.deepcopy(model).forward(example))]
        tensors = convert(model, builder, names)
    finally:
        model.train(was_training)
    if output_names is not None:
        outs = list(output_names)
    else:
        outs = ["output"] if len(tensors) == 1 else [f"output_{i}" for i in range(len(tensors))]
    if len(outs) != len(tensors):
        raise ValueError(f"output_names must name {len(tensors)} outputs, got {len(outs)}")
    for tensor, name in zip(tensors, outs, strict=True):
        builder.nodes.append(onnx.helper.make_node("Identity", [tensor], [name]))
    outputs = [
        onnx.helper.make_tensor_value_info(name, builder.tensor_type, ["batch", *shape])
        for name, shape in zip(outs, shapes, strict=True)
    ]
    proto = model_proto(builder, inputs, outputs, type(model).__name__, {"tinynet_model": one_line(model)})
    if path is not None:
        atomic_write_bytes(path, proto.SerializeToString())
    return proto


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


__all__ = [
    "CONVERTERS",
    "ExportError",
    "OnnxBuilder",
    "check_options",
    "convert",
    "export_onnx",
    "model_proto",
]
