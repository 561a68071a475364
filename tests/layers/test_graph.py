"""The functional graph: several inputs and outputs, shared layers, Embedding, and their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn
from tinynet.tools.cases import two_input_graph

rng = np.random.default_rng(0)


def inputs(n: int = 6) -> list[Any]:
    return [rng.standard_normal((n, 3)), rng.integers(0, 5, (n, 2))]


def test_forward_takes_a_list_or_a_dict_and_gives_a_list() -> None:
    graph = two_input_graph()
    x = inputs()
    by_list = graph(x)
    by_dict = graph({"c": x[1], "x": x[0]})
    assert [y.shape for y in by_list] == [(6, 2), (6, 1)]
    for a, b in zip(by_list, by_dict, strict=True):
        np.testing.assert_array_equal(a, b)


def test_backward_gives_none_for_index_inputs_and_adds_fan_out_gradients() -> None:
    x = tn.Input(3, name="x")
    h = tn.Dense(3, 3, rng=1)(x)
    graph = tn.Graph(inputs=x, outputs=tn.Add()([h, h]))  # h read twice: its gradient counts twice
    data = rng.standard_normal((4, 3))
    graph(data)
    grad = graph.backward(np.ones((4, 3)))
    dense = graph.layers[0]
    np.testing.assert_allclose(grad, 2 * np.ones((4, 3)) @ dense.weight.data.T)  # type: ignore[attr-defined]
    graph = two_input_graph()
    graph(inputs(4))
    grads = graph.backward([np.ones((4, 2)), np.ones((4, 1))])
    assert grads[0].shape == (4, 3) and grads[1] is None


def test_a_module_called_twice_shares_its_weights_with_its_own_cache() -> None:
    x = tn.Input(3, name="x")
    shared = tn.Dense(3, 3, rng=2)
    graph = tn.Graph(inputs=x, outputs=shared(tn.Tanh()(shared(x))))
    first, second = graph.layers[0], graph.layers[2]
    assert first is shared and second is not shared
    assert second.weight is shared.weight and second.bias is shared.bias  # type: ignore[attr-defined]
    assert graph.num_parameters() == 12
    tn.gradcheck(graph, rng.standard_normal((4, 3)), rng=0)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: tn.Graph(inputs=tn.Input(3, name="a"), outputs=tn.Dense(3, 2)(tn.Input(3, name="b"))),
            r"input 'a' is not used by any output",
        ),
        (
            lambda: (lambda a, b: tn.Graph(inputs=a, outputs=tn.Add()([a, b])))(
                tn.Input(3, name="a"), tn.Input(3, name="b")
            ),
            r"an output depends on input 'b', which is not in inputs \['a'\]",
        ),
        (
            lambda: (lambda a: tn.Graph(inputs=[a, tn.Input(2, name="a")], outputs=a))(tn.Input(3, name="a")),
            "two inputs are named 'a'",
        ),
        (
            lambda: tn.Dense(4, 2)(tn.Input(3, name="x")),
            r"cannot apply Dense\(4 -> 2\) to input 'x' \(batch, 3\) float64",
        ),
        (
            lambda: tn.Add()([tn.Input(3, name="p"), tn.Input(2, name="q")]),
            r"cannot apply Add\(\) to input 'p' \(batch, 3\) float64, input 'q' \(batch, 2\)",
        ),
        (lambda: tn.Graph(inputs=[], outputs=tn.Input(2)), "inputs must be a Node or a non-empty list"),
    ],
)
def test_wiring_mistakes_are_errors_at_construction_naming_the_node(build: Any, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match) as info:
        build()
    assert type(info.value) is (TypeError if "non-empty list" in match else ValueError)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (lambda: inputs()[0], TypeError, r"Graph takes 2 inputs \['x', 'c'\]: pass a list or a dict"),
        (lambda: {"x": inputs()[0]}, ValueError, r"missing \['c'\], unexpected \[\]"),
        (lambda: [inputs()[0], inputs()[1].astype(float)], TypeError, "input 'c' takes integer indices"),
        (
            lambda: [inputs()[0][:, :2], inputs()[1]],
            ValueError,
            r"input 'x' takes shape \(batch, 3\), got \(6, 2\)",
        ),
        (lambda: [inputs(6)[0], inputs(5)[1]], ValueError, "inputs must have one batch size"),
        (
            lambda: [inputs()[0], np.full((6, 2), 5)],
            ValueError,
            r"index 5 at position \(0, 0\) is outside \[0, 5\)",
        ),
    ],
)
def test_bad_graph_inputs(x: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        two_input_graph()(x())


def test_graphs_save_load_and_clone(tmp_path: Path) -> None:
    graph = two_input_graph()
    x = inputs()
    path = tmp_path / "graph.npz"
    tn.save(graph, path)
    loaded = tn.load(path)
    assert isinstance(loaded, tn.Graph) and repr(loaded) == repr(graph)
    for a, b in zip(graph(x), loaded(x), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.layers[2].weight is loaded.layers[0].weight, "the shared layer stays shared"  # type: ignore[attr-defined]
    clone = graph.clone()
    for a, b in zip(graph(x), clone(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_trains_several_inputs_and_outputs_with_weighted_losses() -> None:
    n = 200
    numbers = rng.standard_normal((n, 3))
    codes = rng.integers(0, 5, (n, 2))
    label = ((numbers[:, 0] + codes[:, 0] % 2) > 0.5).astype(np.int64)
    value = (1 / (1 + np.exp(-2 * numbers[:, 1]))).reshape(-1, 1)  # the second head ends in a Sigmoid
    graph = two_input_graph()
    history = tn.fit(
        graph,
        [numbers, codes],
        [label, value],
        loss=[tn.CrossEntropyLoss(), tn.MSELoss()],
        loss_weights=[1.0, 0.5],
        optimizer=tn.Adam(graph.parameters(), lr=0.02),
        epochs=30,
        batch_size=32,
        validation_split=0.2,
        metrics=[["accuracy"], ["r2"]],  # one list per output
        rng=0,
        verbose=0,
    )
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert history.metrics["r2_1"][-1] > 0.7
    assert {"accuracy_0", "val_accuracy_0", "r2_1", "val_r2_1"} <= set(history.metrics)
    probabilities, values = tn.predict(graph, [numbers, codes], batch_size=64)
    assert probabilities.shape == (n, 2) and values.shape == (n, 1)
    losses = [tn.CrossEntropyLoss(), tn.MSELoss()]
    result = tn.evaluate(graph, [numbers, codes], [label, value], losses, [["accuracy"], []])
    assert result["accuracy_0"] > 0.8


def test_summary_lists_every_node_with_what_it_reads_and_dot_draws_it(tmp_path: Path) -> None:
    graph = two_input_graph()
    text = graph.summary()
    lines = text.splitlines()
    assert lines[0].split() == ["name", "layer", "output", "shape", "params", "reads"]
    assert any(line.startswith("x ") and "Input(3)" in line for line in lines)
    assert any(line.startswith("c ") and "Input(2, int64)" in line for line in lines)
    assert any(line.startswith("concatenate ") and line.endswith("add, flatten, multiply") for line in lines)
    assert any("0 (shared)" in line for line in lines)
    dot = graph.to_dot()
    assert dot.startswith('digraph "Graph"') and dot.count("->") >= 14 and 'label="x: (batch, 3)"' in dot


def test_embedding_matches_pytorch() -> None:
    torch = require("torch")
    layer = tn.Embedding(7, 4, rng=0)
    reference = torch.nn.Embedding(7, 4, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.weight.data))
    idx = np.array([[1, 3, 1], [6, 0, 1]])  # repeated indices add up
    y = layer(idx)
    expected = reference(torch.from_numpy(idx))  # (batch, seq, dim), as PyTorch
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=0)
    g = rng.standard_normal(y.shape)
    layer.zero_grad()
    assert layer.backward(g) is None
    expected.backward(torch.from_numpy(g))
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-15, atol=1e-15)
    flat = tn.Embedding(7, 4, flatten=True)  # tinynet 0.2's output: a sample's vectors side by side
    flat.weight.data[...] = layer.weight.data
    np.testing.assert_array_equal(flat(idx), y.reshape(2, -1))


def test_embedding_refuses_bad_indices() -> None:
    layer = tn.Embedding(3, 2, rng=0)
    with pytest.raises(
        ValueError, match=r"Embedding\(3, 2\): index 3 at position \(1,\) is outside \[0, 3\)"
    ):
        layer(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"index -1 at position \(0, 1\)"):
        layer(np.array([[0, -1]]))
    with pytest.raises(TypeError, match="takes integer indices, got dtype float64"):
        layer(np.array([0.0, 1.0]))
