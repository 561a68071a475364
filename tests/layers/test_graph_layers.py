"""Containers (Residual, Concat, weight sharing) and the layers of issue 7 against NumPy references."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn
from tinynet.tools.cases import MODULE_CASES, sample

Array = np.ndarray[Any, Any]


def test_batchnorm_matches_numpy_reference_in_both_modes() -> None:
    rng = np.random.default_rng(0)
    layer = tn.BatchNorm1d(3, momentum=0.2)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    layer.weight.data[:], layer.bias.data[:] = gamma, beta  # type: ignore[union-attr]
    running_mean, running_var = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = rng.standard_normal((8, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0]
        y = layer(x)
        mean, var = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).mean(axis=0)
        np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-12)
        running_mean = 0.8 * running_mean + 0.2 * mean
        running_var = 0.8 * running_var + 0.2 * var * 8 / 7  # the unbiased estimate for the running value
        np.testing.assert_allclose(layer.running_mean, running_mean, rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, running_var, rtol=1e-12)
    x = rng.standard_normal((5, 3))
    expected = gamma * (x - running_mean) / np.sqrt(running_var + 1e-5) + beta
    np.testing.assert_allclose(layer.eval()(x), expected, rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, running_mean, rtol=1e-12)  # eval does not update


def test_batchnorm_matches_pytorch() -> None:
    torch = require("torch")
    rng = np.random.default_rng(1)
    ours, theirs = tn.BatchNorm1d(4), torch.nn.BatchNorm1d(4).double()
    for _ in range(3):
        x = rng.standard_normal((6, 4))
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((2, 4))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_batchnorm_batch_of_one_in_training_is_an_error() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        tn.BatchNorm1d(3)(np.ones((1, 3)))
    assert tn.BatchNorm1d(3).eval()(np.ones((1, 3))).shape == (1, 3)


def test_layernorm_matches_numpy_reference() -> None:
    x = np.random.default_rng(2).standard_normal((4, 6)) * 3 + 1
    y = tn.LayerNorm(6)(x)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)


@pytest.mark.parametrize(
    ("module", "reference"),
    [
        (tn.GELU(), lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
        (tn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
        (tn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(np.minimum(x, 0)) - 1))),
        (tn.Softplus(2.0, 10.0), lambda x: np.where(2 * x > 10, x, np.log1p(np.exp(2 * x)) / 2)),
    ],
)
def test_new_activations_match_formulas(module: tn.Module, reference: Any) -> None:
    x = np.linspace(-8, 8, 41).reshape(1, -1)
    np.testing.assert_allclose(module(x), reference(x), rtol=1e-12, atol=1e-15)
    with np.errstate(over="raise"):
        assert np.isfinite(module(np.array([[-1e4, 1e4]]))).all()


def test_gelu_and_softplus_match_pytorch() -> None:
    torch = require("torch")
    x = np.linspace(-6, 6, 25).reshape(1, -1)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(tn.GELU()(x), torch.nn.functional.gelu(t).numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        tn.GELU("tanh")(x), torch.nn.functional.gelu(t, approximate="tanh").numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        tn.Softplus(1.5, 5.0)(x), torch.nn.functional.softplus(t, 1.5, 5.0).numpy(), rtol=1e-12
    )


def test_dropout_training_and_eval() -> None:
    x = np.ones((200, 50))
    layer = tn.Dropout(0.3, rng=0)
    y = layer(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)  # the same mask scales the gradient
    np.testing.assert_array_equal(layer.eval()(x), x)
    again = tn.Dropout(0.3, rng=0)(x)
    np.testing.assert_array_equal(again, y)  # reproducible from the seed
    assert tn.Dropout(0.5)(np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    for bad in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError, match="p must"):
            tn.Dropout(bad)


def test_residual_adds_and_checks_shapes() -> None:
    inner = tn.Dense(3, 3, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(tn.Residual(inner)(x), inner(x) + x)
    with pytest.raises(
        ValueError, match=r"Residual: module output shape \(2, 4\) does not match shortcut shape \(2, 3\)"
    ):
        tn.Residual(tn.Dense(3, 4))(x)
    with pytest.raises(ValueError, match=r"Residual\.module Dense\(5 -> 3\)"):
        tn.Residual(tn.Dense(5, 3))(x)


def test_concat_joins_features_and_splits_gradients() -> None:
    a, b = tn.Dense(3, 2, rng=0), tn.Dense(3, 4, rng=1)
    x = np.random.default_rng(0).standard_normal((5, 3))
    model = tn.Concat(a, b)
    y = model(x)
    np.testing.assert_allclose(y, np.concatenate([a(x), b(x)], axis=1))
    g = np.random.default_rng(1).standard_normal(y.shape)
    a(x), b(x), model(x)  # refresh caches in order
    expected = a.backward(g[:, :2]) + b.backward(g[:, 2:])
    model.zero_grad()
    np.testing.assert_allclose(model.backward(g), expected)
    with pytest.raises(ValueError, match="at least one branch"):
        tn.Concat()


def test_same_object_twice_is_rejected_with_a_pointer_to_clone() -> None:
    layer = tn.Dense(3, 3)
    for make in (
        lambda: tn.Sequential(layer, tn.ReLU(), layer),
        lambda: tn.Concat(layer, layer),
        lambda: tn.Residual(layer, layer),
        lambda: tn.Sequential(tn.Residual(layer), layer),
    ):
        with pytest.raises(ValueError, match=r"clone\(share_parameters=True\)"):
            make()


def test_shared_weights_accumulate_both_gradients() -> None:
    layer = tn.Dense(3, 3, rng=0)
    twin = layer.clone(share_parameters=True)
    model = tn.Sequential(layer, tn.Tanh(), twin)
    assert len(model.parameters()) == 2 and twin.weight is layer.weight
    x = np.random.default_rng(0).standard_normal((4, 3))
    h = np.tanh(layer(x))
    g = np.ones((4, 3))
    model(x)
    model.zero_grad()
    model.backward(g)
    w = layer.weight.data
    dh = (g @ w.T) * (1 - h**2)
    np.testing.assert_allclose(layer.weight.grad, h.T @ g + x.T @ dh, rtol=1e-12)


@pytest.mark.parametrize(("name", "factory", "specs"), MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_every_module_runs_in_float32_and_in_summary(name: str, factory: Any, specs: list[Any]) -> None:
    module = factory().to(np.float32)
    x = sample(specs[0], np.random.default_rng(0), np.float32)
    y = module(x)
    outputs = y if isinstance(y, list) else [y]
    assert all(v.dtype == np.float32 for v in outputs), name
    grads = module.backward([np.ones_like(v) for v in outputs] if isinstance(y, list) else np.ones_like(y))
    assert all(g is None or g.dtype == np.float32 for g in (grads if isinstance(grads, list) else [grads])), (
        name
    )
    width = specs[0][1] if isinstance(specs[0], tuple) and len(specs[0]) == 2 else None
    if width is not None or hasattr(module, "example_input"):
        assert "total parameters" in module.summary(in_features=width)


def test_summary_lists_nested_containers() -> None:
    model = tn.Sequential(
        tn.Dense(4, 8),
        tn.Residual(tn.Sequential(tn.LayerNorm(8), tn.Dense(8, 8))),
        tn.Dropout(0.1),
        tn.Dense(8, 2),
    )
    text = model.summary()
    assert (
        "Residual" in text
        and "Dropout(p=0.1)" in text
        and f"total parameters: {model.num_parameters()}" in text
    )


def test_batchnorm_buffers_are_saved(tmp_path: Any) -> None:
    model = tn.Sequential(tn.Dense(3, 4, rng=0), tn.BatchNorm1d(4))
    for _ in range(3):
        model(np.random.default_rng(0).standard_normal((8, 3)))
    assert "1.running_mean" in model.state_dict()
    tn.save(model, tmp_path / "bn.npz")
    loaded = tn.load(tmp_path / "bn.npz")
    np.testing.assert_array_equal(loaded[1].running_var, model[1].running_var)  # type: ignore[attr-defined]
