"""The gradient-check case list: every built-in Module and Loss with the inputs it is checked on.

``tinynet gradcheck`` and the test suite both run this one list; a meta-test fails when an
exported Module or Loss has no case. An input is given by its shape (drawn with |x| >= 0.1, so
ReLU-like kinks never sit inside a finite-difference step) or by a function of a Generator and a
dtype (category indices, several inputs); ``sample`` makes one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinynet.core.checks import Array
from tinynet.core.module import Module
from tinynet.core.node import Input
from tinynet.layers.activation import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    softmax,
)
from tinynet.layers.attention import MultiheadAttention, TransformerEncoderLayer
from tinynet.layers.containers import Concat, Residual, Sequential
from tinynet.layers.conv import Conv1d, Conv2d
from tinynet.layers.core import Dense, Dropout, Dropout2d, Flatten, Permute, Reshape
from tinynet.layers.embedding import Embedding, PositionalEmbedding
from tinynet.layers.graph import Graph
from tinynet.layers.merge import Add, Concatenate, Multiply, Select
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
from tinynet.training.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MAELoss, MSELoss

InputSpec = tuple[int, ...] | Callable[[np.random.Generator, Any], Any]
ModuleCase = tuple[str, Callable[[], Module], list[InputSpec]]
LossCase = tuple[str, Callable[[], Loss], Callable[[np.random.Generator], tuple[Any, Any]]]


def away_from_kink(shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    """Standard normal values pushed away from 0: sign(x) (|x| + 0.1)."""
    x = rng.standard_normal(shape)
    result: Array = np.sign(x) * (np.abs(x) + 0.1)
    return result


def sample(spec: InputSpec, rng: np.random.Generator, dtype: Any = np.float64) -> Any:
    """An input for a case: floats away from kinks for a shape, or what the function makes."""
    if callable(spec):
        return spec(rng, dtype)
    return away_from_kink(spec, rng).astype(dtype)


def indices(high: int, shape: tuple[int, ...]) -> InputSpec:
    """Integer category indices in [0, high) (never perturbed by the check)."""
    return lambda rng, dtype: rng.integers(0, high, shape)


def several(*shapes: tuple[int, ...]) -> InputSpec:
    """A list of float inputs, for merge layers."""
    return lambda rng, dtype: [sample(shape, rng, dtype) for shape in shapes]


def two_input_graph() -> Graph:
    """Numbers and category indices in, two outputs; a shared layer, fan-out, every merge layer."""
    x = Input(3, name="x")
    c = Input(2, name="c", dtype=np.int64)
    shared = Dense(3, 3, rng=21)
    a = Tanh()(shared(x))
    b = shared(a)  # the same weights a second time
    e = Flatten()(Embedding(5, 2, rng=22)(c))  # (batch, 2, 2) -> (batch, 4)
    joined = Concatenate()([Add()([a, b]), e, Multiply()([a, x])])
    return Graph(inputs=[x, c], outputs=[Dense(10, 2, rng=23)(joined), Sigmoid()(Dense(3, 1, rng=24)(b))])


def fan_out_graph() -> Graph:
    """One input read by two branches that meet again."""
    x = Input(4, name="x")
    h = Dense(4, 5, rng=25)(x)
    return Graph(inputs=x, outputs=Add()([ReLU()(h), GELU("tanh")(h)]))


def dropout_with_fixed_mask() -> Dropout:
    layer = Dropout(0.4)
    layer.fixed_mask = np.random.default_rng(0).random((4, 5)) >= 0.4
    return layer


def batchnorm_eval() -> BatchNorm1d:
    layer = BatchNorm1d(3)
    layer.running_mean[:] = [0.5, -1.0, 2.0]
    layer.running_var[:] = [0.3, 2.0, 1.5]
    layer.weight.data[:] = [1.5, -0.5, 2.0]  # type: ignore[union-attr]
    return layer.eval()


def distinct(shape: tuple[int, ...]) -> InputSpec:
    """Values far apart (no ties, every gap >> the check's step): max pooling is smooth there."""

    def make(rng: np.random.Generator, dtype: Any) -> Any:
        return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1).astype(dtype)

    return make


def dropout2d_with_fixed_mask() -> Dropout2d:
    layer = Dropout2d(0.5)
    layer.fixed_mask = np.random.default_rng(1).random((2, 3, 1, 1)) >= 0.5
    return layer


def batchnorm2d_eval() -> BatchNorm2d:
    layer = BatchNorm2d(3)
    layer.running_mean[:] = [0.5, -1.0, 2.0]
    layer.running_var[:] = [0.3, 2.0, 1.5]
    return layer.eval()


def shared_weights() -> Sequential:
    """The same Parameter objects used twice: the gradient accumulates from both uses."""
    layer = Dense(3, 3, rng=7)
    return Sequential(layer, Tanh(), layer.clone(share_parameters=True))


MODULE_CASES: list[ModuleCase] = [
    ("Dense", lambda: Dense(4, 3, rng=0), [(5, 4), (1, 4), (3, 6, 4), (2, 3, 2, 4)]),
    ("Dense-nobias", lambda: Dense(3, 2, bias=False, rng=1), [(4, 3)]),
    ("Dense-xavier", lambda: Dense(3, 5, init="xavier", rng=2), [(2, 3)]),
    ("Identity", Identity, [(3, 4), (1, 2), (2, 3, 4)]),
    ("ReLU", ReLU, [(4, 5), (1, 3), (2, 3, 4, 2)]),
    ("LeakyReLU", lambda: LeakyReLU(0.1), [(4, 5), (1, 3), (2, 3, 4)]),
    ("Sigmoid", Sigmoid, [(4, 5), (1, 3), (2, 3, 4)]),
    ("Tanh", Tanh, [(4, 5), (1, 3), (2, 3, 4)]),
    ("Softmax", Softmax, [(4, 5), (1, 3), (2, 3, 4)]),
    ("Softmax-axis1", lambda: Softmax(axis=1), [(2, 4, 3), (3, 5)]),
    ("Flatten", Flatten, [(3, 2, 4), (1, 5), (2, 3, 2, 2)]),
    ("Flatten-middle", lambda: Flatten(1, 2), [(2, 3, 2, 4)]),
    ("Reshape", lambda: Reshape((3, -1)), [(2, 6), (2, 3, 4)]),
    ("Permute", lambda: Permute((0, 2, 1)), [(2, 3, 4)]),
    ("Permute-4d", lambda: Permute((0, 3, 1, 2)), [(2, 3, 4, 2)]),
    (
        "Sequential",
        lambda: Sequential(Dense(4, 6, rng=3), Tanh(), Dense(6, 3, rng=4), Softmax()),
        [(5, 4), (1, 4)],
    ),
    ("GELU", GELU, [(4, 5), (1, 3), (2, 3, 4)]),
    ("GELU-tanh", lambda: GELU("tanh"), [(4, 5)]),
    ("ELU", lambda: ELU(0.7), [(4, 5), (1, 3), (2, 2, 3)]),
    ("Softplus", lambda: Softplus(2.0, threshold=3.0), [(4, 5), (1, 3), (2, 2, 3)]),
    ("Dropout-fixed-mask", dropout_with_fixed_mask, [(4, 5)]),
    ("Dropout-eval", lambda: Dropout(0.5).eval(), [(3, 4), (2, 3, 4)]),
    ("BatchNorm1d-train", lambda: BatchNorm1d(3), [(5, 3), (2, 3), (2, 3, 4)]),
    ("BatchNorm1d-eval", batchnorm_eval, [(4, 3), (1, 3), (2, 3, 5)]),
    ("BatchNorm1d-noaffine", lambda: BatchNorm1d(4, affine=False), [(6, 4), (3, 4, 2)]),
    ("LayerNorm", lambda: LayerNorm(5), [(3, 5), (1, 5), (2, 3, 5), (2, 2, 3, 5)]),
    ("LayerNorm-2-axes", lambda: LayerNorm((3, 4)), [(2, 3, 4), (2, 2, 3, 4)]),
    ("LayerNorm-noaffine", lambda: LayerNorm(4, elementwise_affine=False), [(2, 4), (2, 3, 4)]),
    ("Residual", lambda: Residual(Sequential(Dense(4, 4, rng=8), Tanh())), [(3, 4), (1, 4)]),
    ("Residual-shortcut", lambda: Residual(Dense(3, 5, rng=9), Dense(3, 5, rng=10)), [(4, 3)]),
    (
        "Concat",
        lambda: Concat(Dense(3, 2, rng=11), Sequential(Dense(3, 4, rng=12), Sigmoid()), Identity()),
        [(4, 3)],
    ),
    ("shared-weights", shared_weights, [(4, 3)]),
    (
        "Sequential-nested",
        lambda: Sequential(Sequential(Dense(3, 4, rng=5), Sigmoid()), Dense(4, 2, rng=6)),
        [(3, 3)],
    ),
    ("Dropout-training", lambda: Dropout(0.3, rng=3), [(4, 5), (2, 3, 4)]),
    (
        "Embedding",
        lambda: Embedding(6, 3, rng=13),
        [indices(6, (5,)), indices(6, (4, 2)), indices(6, (2, 3, 2))],
    ),
    ("Embedding-flatten", lambda: Embedding(6, 3, flatten=True, rng=14), [indices(6, (4, 2))]),
    ("Add", Add, [several((4, 3), (4, 3), (4, 3))]),
    ("Multiply", Multiply, [several((4, 3), (4, 3))]),
    ("Concatenate", Concatenate, [several((4, 2), (4, 3))]),
    (
        "Graph-two-inputs-two-outputs",
        two_input_graph,
        [lambda rng, dtype: [sample((4, 3), rng, dtype), rng.integers(0, 5, (4, 2))]],
    ),
    ("Graph-fan-out", fan_out_graph, [(3, 4)]),
    ("Conv1d", lambda: Conv1d(2, 3, 3, rng=30), [(2, 2, 7)]),
    (
        "Conv1d-stride-pad-dilation",
        lambda: Conv1d(2, 4, 3, stride=2, padding=2, dilation=2, rng=31),
        [(2, 2, 9)],
    ),
    ("Conv1d-same-groups", lambda: Conv1d(4, 4, 4, padding="same", groups=2, rng=32), [(2, 4, 6)]),
    ("Conv2d", lambda: Conv2d(2, 3, 3, rng=33), [(2, 2, 5, 4)]),
    ("Conv2d-stride-pad", lambda: Conv2d(2, 2, (3, 2), stride=(2, 1), padding=1, rng=34), [(2, 2, 6, 5)]),
    (
        "Conv2d-depthwise-nobias",
        lambda: Conv2d(3, 3, 3, groups=3, bias=False, padding="same", rng=35),
        [(2, 3, 4, 4)],
    ),
    ("MaxPool1d", lambda: MaxPool1d(3, 2, 1), [distinct((2, 3, 8))]),
    ("MaxPool2d", lambda: MaxPool2d(2), [distinct((2, 2, 4, 6))]),
    ("MaxPool2d-overlap", lambda: MaxPool2d(3, 1, 1), [distinct((1, 2, 4, 4))]),
    ("AvgPool1d", lambda: AvgPool1d(3, 2, 1), [(2, 3, 7)]),
    ("AvgPool2d", lambda: AvgPool2d(2), [(2, 2, 4, 6)]),
    ("AvgPool2d-pad-exclude", lambda: AvgPool2d(3, 2, 1, count_include_pad=False), [(2, 2, 5, 5)]),
    ("AdaptiveAvgPool1d", AdaptiveAvgPool1d, [(2, 3, 5)]),
    ("AdaptiveAvgPool2d", AdaptiveAvgPool2d, [(2, 3, 4, 3)]),
    ("BatchNorm2d-train", lambda: BatchNorm2d(3), [(2, 3, 4, 3)]),
    ("BatchNorm2d-eval", batchnorm2d_eval, [(2, 3, 3, 2)]),
    ("Dropout2d-fixed-mask", dropout2d_with_fixed_mask, [(2, 3, 4, 4)]),
    (
        "Sequential-cnn",
        lambda: Sequential(
            Conv2d(1, 2, 3, padding=1, rng=36), ReLU(), MaxPool2d(2), Flatten(), Dense(8, 3, rng=37)
        ),
        [(2, 1, 4, 4)],
    ),
]


def with_states(shape: tuple[int, ...], *states: tuple[int, ...]) -> InputSpec:
    """A sequence and initial states, for a recurrent layer called on [x, h_0, ...]."""
    return lambda rng, dtype: [sample(shape, rng, dtype), *(0.5 * sample(s, rng, dtype) for s in states)]


def with_padding(shape: tuple[int, ...], padded: list[list[int]], query_key_value: bool) -> InputSpec:
    """A sequence and a key padding mask (1: padding; a row of all ones is fully masked)."""

    def make(rng: np.random.Generator, dtype: Any) -> Any:
        x = sample(shape, rng, dtype)
        mask = np.array(padded, dtype=np.int64)
        return [x, x.copy(), 0.5 * x, mask] if query_key_value else [x, mask]

    return make


def attention_graph() -> Graph:
    """A GRU's output sequence and final state through their own layers; cross-attention on top."""
    x = Input(shape=(5, 3), name="x")
    out, h = GRU(3, 4, rng=40)(x)
    query = Dense(4, 4, rng=41)(out)
    attended = MultiheadAttention(4, 2, rng=42)([query, out, out])
    return Graph(inputs=x, outputs=[Flatten()(attended), Tanh()(Flatten()(h))])


RECURRENT_CASES: list[ModuleCase] = [
    ("RNN-tanh", lambda: RNN(3, 4, rng=43), [(2, 5, 3)]),
    ("RNN-relu-2-layers", lambda: RNN(3, 4, 2, "relu", rng=44), [(2, 4, 3)]),
    (
        "RNN-bidirectional-states",
        lambda: RNN(3, 4, bidirectional=True, rng=45),
        [with_states((2, 4, 3), (2, 2, 4))],
    ),
    ("RNN-time-major", lambda: RNN(3, 4, batch_first=False, rng=59), [(4, 2, 3)]),
    ("GRU", lambda: GRU(3, 4, rng=46), [(2, 6, 3), (1, 1, 3)]),
    (
        "GRU-2-layers-bidirectional-states",
        lambda: GRU(3, 3, num_layers=2, bidirectional=True, rng=47),
        [with_states((2, 4, 3), (2, 4, 3))],
    ),
    ("GRU-no-bias-dropout", lambda: GRU(2, 3, num_layers=2, bias=False, dropout=0.3, rng=48), [(3, 4, 2)]),
    ("LSTM", lambda: LSTM(3, 4, rng=49), [(2, 5, 3)]),
    (
        "LSTM-2-layers-bidirectional-states",
        lambda: LSTM(2, 3, num_layers=2, bidirectional=True, rng=50),
        [with_states((2, 4, 2), (2, 4, 3), (2, 4, 3))],
    ),
    ("Select", lambda: Select(1), [several((2, 3), (2, 4, 2))]),
    ("Select-after-LSTM", lambda: Sequential(LSTM(3, 4, rng=51), Select(0)), [(2, 4, 3)]),
    ("MultiheadAttention-self", lambda: MultiheadAttention(6, 2, rng=52), [(2, 4, 6)]),
    (
        "MultiheadAttention-causal-no-bias",
        lambda: MultiheadAttention(4, 1, bias=False, causal=True, rng=53),
        [(2, 5, 4)],
    ),
    (
        "MultiheadAttention-cross-weights",
        lambda: MultiheadAttention(6, 3, need_weights=True, average_attn_weights=False, rng=54),
        [several((2, 3, 6), (2, 5, 6), (2, 5, 6))],
    ),
    (
        "MultiheadAttention-padding-fully-masked",
        lambda: MultiheadAttention(4, 2, need_weights=True, rng=55),
        [with_padding((3, 4, 4), [[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], query_key_value=True)],
    ),
    (
        "MultiheadAttention-dropout-weights",
        lambda: MultiheadAttention(4, 2, dropout=0.3, need_weights=True, rng=62),
        [(2, 5, 4)],
    ),
    (
        "MultiheadAttention-time-major",
        lambda: MultiheadAttention(4, 2, batch_first=False, rng=60),
        [(5, 2, 4)],
    ),
    (
        "TransformerEncoderLayer-time-major",
        lambda: TransformerEncoderLayer(4, 1, 3, dropout=0.0, batch_first=False, rng=61),
        [(3, 2, 4)],
    ),
    ("TransformerEncoderLayer", lambda: TransformerEncoderLayer(4, 2, 6, dropout=0.0, rng=56), [(2, 3, 4)]),
    (
        "TransformerEncoderLayer-pre-norm-gelu-padding",
        lambda: TransformerEncoderLayer(
            4, 2, 5, dropout=0.2, activation="gelu", norm_first=True, causal=True, rng=57
        ),
        [with_padding((2, 4, 4), [[0, 0, 0, 1], [0, 0, 0, 0]], query_key_value=False)],
    ),
    ("PositionalEmbedding", lambda: PositionalEmbedding(6, 3, std=1.0, rng=58), [(2, 4, 3)]),
    ("Graph-recurrent-attention", attention_graph, [(2, 5, 3)]),
]
MODULE_CASES += RECURRENT_CASES


def _near(shape: tuple[int, ...], scale: float) -> Callable[[np.random.Generator], tuple[Array, Array]]:
    """Random targets, and predictions that are never on a kink (d = 0): target + away_from_kink."""

    def make(rng: np.random.Generator) -> tuple[Array, Array]:
        target = rng.standard_normal(shape) * scale
        return target + away_from_kink(shape, rng) * scale, target

    return make


# targets are drawn from each loss's whole documented domain: any real value for the regression
# losses, soft and hard labels for BCE, and for cross-entropy class indices and rows of any
# non-negative weights (probabilities, multi-hot rows, rows that do not sum to 1, a row of zeros)
LOSS_CASES: list[LossCase] = [
    ("MSELoss", MSELoss, lambda r: (r.standard_normal((5, 3)), r.standard_normal((5, 3)) * 3)),
    ("MSELoss-1d-target", MSELoss, lambda r: (r.standard_normal((4, 1)), r.standard_normal(4))),
    ("MAELoss", MAELoss, _near((5, 3), 3.0)),
    ("HuberLoss", lambda: HuberLoss(0.7), _near((6, 2), 2.0)),
    ("CrossEntropyLoss-index", CrossEntropyLoss, lambda r: (r.standard_normal((5, 4)), r.integers(0, 4, 5))),
    (
        "CrossEntropyLoss-probs",
        CrossEntropyLoss,
        lambda r: (r.standard_normal((3, 4)), softmax(r.standard_normal((3, 4)))),
    ),
    (
        "CrossEntropyLoss-multi-hot",
        CrossEntropyLoss,
        lambda r: (
            r.standard_normal((6, 4)),
            np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]] * 2, float),
        ),
    ),
    (
        "CrossEntropyLoss-unnormalized",
        CrossEntropyLoss,
        lambda r: (r.standard_normal((4, 3)), r.uniform(0.0, 3.0, (4, 3))),
    ),
    (
        "CrossEntropyLoss-smoothing-index",
        lambda: CrossEntropyLoss(label_smoothing=0.2),
        lambda r: (r.standard_normal((5, 4)), r.integers(0, 4, 5)),
    ),
    (
        "CrossEntropyLoss-smoothing-unnormalized",
        lambda: CrossEntropyLoss(label_smoothing=0.3),
        lambda r: (r.standard_normal((4, 3)), r.uniform(0.0, 2.0, (4, 3))),
    ),
    ("CrossEntropyLoss-batch1", CrossEntropyLoss, lambda r: (r.standard_normal((1, 3)), np.array([2]))),
    (
        "CrossEntropyLoss-classes-at-axis-1",
        CrossEntropyLoss,
        lambda r: (r.standard_normal((3, 4, 5)), r.integers(0, 4, (3, 5))),
    ),
    (
        "CrossEntropyLoss-4d-weights",
        CrossEntropyLoss,
        lambda r: (r.standard_normal((2, 3, 2, 2)), r.uniform(0.0, 2.0, (2, 3, 2, 2))),
    ),
    (
        "CrossEntropyLoss-ignore-index-sum",
        lambda: CrossEntropyLoss(reduction="sum"),
        lambda r: (r.standard_normal((6, 3)), np.array([0, -100, 2, 1, -100, 2])),
    ),
    ("MSELoss-3d", MSELoss, lambda r: (r.standard_normal((2, 3, 4)), r.standard_normal((2, 3, 4)))),
    (
        "BCEWithLogitsLoss-3d",
        BCEWithLogitsLoss,
        lambda r: (r.standard_normal((2, 3, 2)), r.uniform(size=(2, 3, 2))),
    ),
    ("BCEWithLogitsLoss", BCEWithLogitsLoss, lambda r: (r.standard_normal((5, 2)), r.uniform(size=(5, 2)))),
    (
        "BCEWithLogitsLoss-hard",
        BCEWithLogitsLoss,
        lambda r: (r.standard_normal((5, 2)) * 3, (r.uniform(size=(5, 2)) < 0.5) * 1.0),
    ),
]
