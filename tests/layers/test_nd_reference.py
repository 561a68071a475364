"""Layers on tensors of rank 2 to 4 match PyTorch in forward and backward (float64 and float32)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

torch = require("torch")
SHAPES = [(5, 4), (3, 6, 4), (2, 3, 5, 4)]
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def compare(
    ours: tn.Module, theirs: Any, x: np.ndarray, dtype: Any, params: dict[str, Any] | None = None
) -> None:
    """Forward, input gradient and every named parameter gradient (``params``: our name -> theirs,
    transposed for Dense weights)."""
    x = x.astype(dtype)
    y = ours(x)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    ours.zero_grad()
    gx = ours.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    tol = TOL[dtype]
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=tol, atol=tol)
    assert y.dtype == gx.dtype == dtype
    for name, get in (params or {}).items():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, get(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_acts_on_the_last_axis_as_linear(shape: tuple[int, ...], dtype: Any) -> None:
    dense = tn.Dense(4, 3, rng=0, dtype=dtype)
    linear = torch.nn.Linear(4, 3).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.weight.data.T))
        linear.bias.copy_(torch.tensor(dense.bias.data))
    x = np.random.default_rng(0).standard_normal(shape)
    compare(
        dense,
        linear,
        x,
        dtype,
        {"weight": lambda: linear.weight.grad.numpy().T, "bias": lambda: linear.bias.grad.numpy()},
    )


Factory = Callable[[], tuple[tn.Module, Any]]
ELEMENT_WISE: dict[str, Factory] = {
    "ReLU": lambda: (tn.ReLU(), torch.nn.ReLU()),
    "Tanh": lambda: (tn.Tanh(), torch.nn.Tanh()),
    "Sigmoid": lambda: (tn.Sigmoid(), torch.nn.Sigmoid()),
    "GELU": lambda: (tn.GELU(), torch.nn.GELU()),
    "ELU": lambda: (tn.ELU(0.7), torch.nn.ELU(0.7)),
    "LeakyReLU": lambda: (tn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
    "Softplus": lambda: (tn.Softplus(2.0, 3.0), torch.nn.Softplus(2.0, 3.0)),
    "Identity": lambda: (tn.Identity(), torch.nn.Identity()),
    "Softmax-last": lambda: (tn.Softmax(), torch.nn.Softmax(dim=-1)),
    "Softmax-axis1": lambda: (tn.Softmax(axis=1), torch.nn.Softmax(dim=1)),
    "Flatten": lambda: (tn.Flatten(), torch.nn.Flatten()),
    "Flatten-1-2": lambda: (tn.Flatten(1, 2), torch.nn.Flatten(1, 2)),
    "Dropout-eval": lambda: (tn.Dropout(0.5).eval(), torch.nn.Dropout(0.5).eval()),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(ELEMENT_WISE))
def test_shape_agnostic_layers_on_any_rank(name: str, shape: tuple[int, ...], dtype: Any) -> None:
    if name == "Flatten-1-2" and len(shape) < 3:
        shape = (*shape, 2)
    ours, theirs = ELEMENT_WISE[name]()
    compare(
        ours,
        theirs.double() if dtype == np.float64 else theirs.float(),
        np.random.default_rng(0).standard_normal(shape),
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_permute_and_reshape_as_torch(dtype: Any) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    compare(tn.Permute((0, 3, 1, 2)), lambda t: t.permute(0, 3, 1, 2), x, dtype)
    compare(tn.Reshape((4, -1)), lambda t: t.reshape(2, 4, -1), x, dtype)


def test_shape_layers_refuse_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="start_axis must not be 0"):
        tn.Flatten(0)
    with pytest.raises(ValueError, match=r"keeps the batch axis 0 first, got \(1, 0, 2\)"):
        tn.Permute((1, 0, 2))
    with pytest.raises(ValueError, match=r"expected input of rank 3, got shape \(2, 3\)"):
        tn.Permute((0, 2, 1))(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(5,\)"):
        tn.Reshape((2, -1))(np.ones((3, 5)))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        tn.Softmax(axis=2)(np.ones((3, 5)))
    layers = [tn.Flatten(1, 2), tn.Reshape((4, -1)), tn.Permute((0, 2, 1)), tn.Softmax(axis=1)]
    assert [type(m).from_config(m.get_config()).get_config() for m in layers] == [
        m.get_config() for m in layers
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm1d_on_n_c_and_n_c_l(shape: tuple[int, ...], training: bool, dtype: Any) -> None:
    ours = tn.BatchNorm1d(3, momentum=0.2, dtype=dtype)
    theirs = torch.nn.BatchNorm1d(3, momentum=0.2).to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for param in (theirs.weight, theirs.bias):
            param.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.running_mean.copy_(torch.tensor(rng.standard_normal(3)))
        theirs.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, 3)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items() if k != "num_batches_tracked"})
    ours.train(training), theirs.train(training)
    grads = {"weight": lambda: theirs.weight.grad.numpy(), "bias": lambda: theirs.bias.grad.numpy()}
    compare(ours, theirs, rng.standard_normal(shape) * 2 + 1, dtype, grads)
    tol = TOL[dtype]
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("normalized", "shape"),
    [(4, (5, 4)), (4, (2, 3, 4)), ((3, 4), (2, 3, 4)), ((3, 4), (2, 5, 3, 4))],
    ids=str,
)
def test_layernorm_over_the_trailing_axes(normalized: Any, shape: tuple[int, ...], dtype: Any) -> None:
    ours = tn.LayerNorm(normalized, dtype=dtype)
    theirs = torch.nn.LayerNorm(normalized).to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(4)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.standard_normal(theirs.weight.shape)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(theirs.bias.shape)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    grads = {"weight": lambda: theirs.weight.grad.numpy(), "bias": lambda: theirs.bias.grad.numpy()}
    compare(ours, theirs, rng.standard_normal(shape) * 3, dtype, grads)


def test_a_layernorm_of_tinynet_0_2_loads_from_its_old_settings() -> None:
    old = tn.LayerNorm.from_config(
        {"num_features": 5, "eps": 1e-5, "elementwise_affine": True, "dtype": "float64"}
    )
    assert old.normalized_shape == (5,) and old.get_config()["normalized_shape"] == [5]
    with pytest.raises(TypeError, match="exactly one"):
        tn.LayerNorm(5, num_features=5)


def test_a_sequence_graph_trains_with_fit_and_shows_its_shapes() -> None:
    """Input(shape=(L, E)) -> Dense -> LayerNorm -> Flatten -> Dense: fit, summary, save, load, ONNX."""
    rng = np.random.default_rng(0)
    steps, features = 6, 4
    x = rng.standard_normal((120, steps, features))
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)  # the sign of a sum over the sequence
    seq = tn.Input(shape=(steps, features), name="sequence")
    h = tn.LayerNorm(8)(tn.Tanh()(tn.Dense(features, 8, rng=1)(seq)))
    model = tn.Graph(inputs=seq, outputs=tn.Dense(steps * 8, 2, rng=2)(tn.Flatten()(h)))
    history = tn.fit(
        model, x, y, loss=tn.CrossEntropyLoss(), optimizer=tn.Adam(model.parameters(), lr=0.01),
        epochs=30, batch_size=16, rng=0, verbose=0,
    )  # fmt: skip
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert tn.metrics.accuracy(y, tn.predict(model, x)) > 0.9
    summary = model.summary()
    for row in ("Input(shape=(6, 4))", "(-1, 6, 8)", "(-1, 48)", "(-1, 2)"):
        assert row in summary, summary
    assert 'label="sequence: (batch, 6, 4)"' in model.to_dot()


def test_the_sequence_graph_saves_loads_and_exports(tmp_path: Any) -> None:
    ort = require("onnxruntime")
    require("onnx")
    seq = tn.Input(shape=(6, 4), name="sequence")
    h = tn.LayerNorm(8)(tn.Dense(4, 8, rng=1)(seq))
    model = tn.Graph(inputs=seq, outputs=tn.Dense(48, 2, rng=2)(tn.Flatten()(h)))
    x = np.random.default_rng(0).standard_normal((5, 6, 4))
    tn.save(model, tmp_path / "seq.npz")
    loaded = tn.load(tmp_path / "seq.npz")
    np.testing.assert_array_equal(loaded(x), model(x))
    proto = tn.export_onnx(model)
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [
        "batch",
        6,
        4,
    ]
    (out,) = ort.InferenceSession(proto.SerializeToString()).run(None, {"sequence": x.astype(np.float32)})
    np.testing.assert_allclose(out, model(x), rtol=1e-4, atol=1e-5)


def test_a_per_position_classifier_trains_on_n_c_l_scores() -> None:
    """Scores (N, C, L) against labels (N, L): a per-position tagger, ignore_index marking padding."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5, 3))
    labels = (x[:, :, 0] > 0).astype(np.int64)
    labels[:, -1] = -100  # padding: never counted
    model = tn.Sequential(tn.Dense(3, 2, rng=3), tn.Permute((0, 2, 1)))  # (N, L, C) -> (N, C, L)
    history = tn.fit(
        model, x, labels, loss=tn.CrossEntropyLoss(), optimizer=tn.Adam(model.parameters(), lr=0.05),
        epochs=40, batch_size=16, rng=0, verbose=0,
    )  # fmt: skip
    predicted = tn.predict(model, x).argmax(axis=1)
    assert history.loss[-1] < history.loss[0] and np.mean(predicted[:, :-1] == labels[:, :-1]) > 0.95


def test_embedding_on_indices_of_rank_3_as_torch() -> None:
    ours = tn.Embedding(7, 3, rng=0)
    theirs = torch.nn.Embedding(7, 3, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    idx = np.random.default_rng(0).integers(0, 7, (2, 4, 3))
    y = ours(idx)
    expected = theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(y, expected.detach().numpy())
    g = np.random.default_rng(1).standard_normal(y.shape)
    ours.zero_grad()
    ours.backward(g)
    expected.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_fit_streams_a_memory_mapped_rank_3_array(tmp_path: Any) -> None:
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=(200, 5, 3))
    x[:] = np.random.default_rng(0).standard_normal(x.shape)
    y = (np.asarray(x[:, :, 0]).sum(axis=1) > 0).astype(np.int64)
    model = tn.Sequential(tn.Dense(3, 4, rng=0), tn.Flatten(), tn.Dense(20, 2, rng=1))
    history = tn.fit(model, x, y, loss=tn.CrossEntropyLoss(), optimizer=tn.Adam(model.parameters(), lr=0.02),
                     epochs=15, batch_size=20, rng=0, verbose=0)  # fmt: skip
    assert history.loss[-1] < history.loss[0] and isinstance(x, np.memmap)
