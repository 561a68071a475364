"""Every loss matches PyTorch in value and gradient over its whole documented target domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn
from tinynet.layers.activation import softmax

torch = require("torch")
F = torch.nn.functional
rng = np.random.default_rng(0)

Targets = Callable[[np.random.Generator, tuple[int, int]], Any]
# each target the loss documents: for cross-entropy, indices and rows of any non-negative weights
CE_TARGETS: dict[str, Targets] = {
    "indices": lambda r, s: r.integers(0, s[1], s[0]),
    "probabilities": lambda r, s: softmax(r.standard_normal(s)),
    "multi-hot": lambda r, s: (r.uniform(size=s) < 0.5).astype(float),
    "unnormalized": lambda r, s: r.uniform(0, 3, size=s),
    "a row of zeros": lambda r, s: np.vstack([np.zeros((1, s[1])), r.uniform(size=(s[0] - 1, s[1]))]),
    "one-hot": lambda r, s: np.eye(s[1])[r.integers(0, s[1], s[0])],
}
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def torch_loss(fn: Callable[..., Any], z: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    zt = torch.tensor(z, requires_grad=True)
    target = torch.tensor(t) if t.dtype.kind == "f" else torch.tensor(t, dtype=torch.long)
    value = fn(zt, target)
    value.backward()
    return float(value.detach()), zt.grad.numpy()


def check(loss: tn.Loss, fn: Callable[..., Any], z: np.ndarray, t: np.ndarray, dtype: Any) -> None:
    z = z.astype(dtype)
    t = t.astype(dtype) if t.dtype.kind == "f" else t
    value = loss(z, t)
    grad = loss.backward()
    expected_value, expected_grad = torch_loss(fn, z, t)
    tol = TOLERANCE[dtype]
    assert grad.dtype == z.dtype
    assert value == pytest.approx(expected_value, rel=tol, abs=tol)
    np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol * np.abs(expected_grad).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("kind", list(CE_TARGETS))
def test_cross_entropy_over_every_target_kind_with_label_smoothing(
    kind: str, smoothing: float, dtype: Any
) -> None:
    for shape in [(4, 3), (7, 5), (1, 2)]:
        z = rng.standard_normal(shape) * 3
        t = CE_TARGETS[kind](rng, shape)
        loss = tn.CrossEntropyLoss(label_smoothing=smoothing)
        check(loss, lambda a, b: F.cross_entropy(a, b, label_smoothing=smoothing), z, t, dtype)


def test_the_soft_target_gradient_is_softmax_times_the_row_sum_minus_the_target() -> None:
    z = rng.standard_normal((4, 3))
    t = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.5, 0.0], [0.2, 0.3, 0.5]])
    loss = tn.CrossEntropyLoss()
    loss(z, t)
    expected = (softmax(z) * t.sum(axis=1, keepdims=True) - t) / 4
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-12)
    assert np.abs(loss.backward() - (softmax(z) - t) / 4).max() > 0.05, "the old gradient was this far off"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("loss", "fn", "targets"),
    [
        (tn.MSELoss(), F.mse_loss, lambda r, s: r.standard_normal(s) * 5),
        (tn.MAELoss(), F.l1_loss, lambda r, s: r.standard_normal(s) * 5),
        (
            tn.HuberLoss(0.7),
            lambda a, b: F.huber_loss(a, b, delta=0.7),
            lambda r, s: r.standard_normal(s) * 3,
        ),
        (tn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits, lambda r, s: r.uniform(size=s)),
        (
            tn.BCEWithLogitsLoss(),
            F.binary_cross_entropy_with_logits,
            lambda r, s: (r.uniform(size=s) < 0.5) * 1.0,
        ),
    ],
    ids=["mse", "mae", "huber", "bce-soft", "bce-hard"],
)
def test_the_other_losses_over_their_targets(loss: tn.Loss, fn: Any, targets: Targets, dtype: Any) -> None:
    for shape in [(5, 3), (1, 1), (8, 2)]:
        check(loss, fn, rng.standard_normal(shape) * 4, targets(rng, shape), dtype)


def test_label_smoothing_is_checked_and_saved() -> None:
    with pytest.raises(ValueError, match=r"label_smoothing must be < 1\.0, got 1\.0"):
        tn.CrossEntropyLoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"target rows must be >= 0, got -0\.5"):
        tn.CrossEntropyLoss()(np.zeros((1, 2)), np.array([[1.0, -0.5]]))
    assert tn.CrossEntropyLoss(0.1).get_config() == {
        "label_smoothing": 0.1,
        "ignore_index": -100,
        "reduction": "mean",
    }
    assert repr(tn.CrossEntropyLoss(0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"


ND = [(4, 3, 5), (2, 3, 4, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", ND, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_classes_at_axis_1_indices_ignore_index_and_reduction(
    shape: tuple[int, ...], reduction: str, smoothing: float, dtype: Any
) -> None:
    z = rng.standard_normal(shape) * 2
    labels = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    labels.reshape(-1)[::3] = -100  # ignored positions
    loss = tn.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)
    check(
        loss,
        lambda a, b: F.cross_entropy(a, b, label_smoothing=smoothing, reduction=reduction),
        z,
        labels,
        dtype,
    )
    probabilities = rng.uniform(0, 2, shape)
    check(
        loss,
        lambda a, b: F.cross_entropy(a, b, label_smoothing=smoothing, reduction=reduction),
        z,
        probabilities,
        dtype,
    )


def test_another_ignore_index_and_a_batch_with_every_position_ignored() -> None:
    z = rng.standard_normal((5, 3))
    t = np.array([0, 7, 2, 7, 1])
    check(
        tn.CrossEntropyLoss(ignore_index=7),
        lambda a, b: F.cross_entropy(a, b, ignore_index=7),
        z,
        t,
        np.float64,
    )
    loss = tn.CrossEntropyLoss()
    assert loss(z, np.full(5, -100)) == 0.0 and not loss.backward().any()


@pytest.mark.parametrize("shape", ND, ids=str)
@pytest.mark.parametrize(
    ("loss", "fn"),
    [
        (tn.MSELoss(), F.mse_loss),
        (tn.MAELoss(), F.l1_loss),
        (tn.HuberLoss(0.7), lambda a, b: F.huber_loss(a, b, delta=0.7)),
        (tn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits),
    ],
    ids=["mse", "mae", "huber", "bce"],
)
def test_element_wise_losses_on_any_matching_shape(loss: tn.Loss, fn: Any, shape: tuple[int, ...]) -> None:
    target = rng.uniform(size=shape) if isinstance(loss, tn.BCEWithLogitsLoss) else rng.standard_normal(shape)
    check(loss, fn, rng.standard_normal(shape) * 2, target, np.float64)


@pytest.mark.parametrize("loss", [tn.MSELoss(), tn.CrossEntropyLoss()], ids=["mse", "cross-entropy"])
def test_sample_weights_weigh_whole_samples_whatever_their_rank(loss: tn.Loss) -> None:
    """A weight of 2 on a sample of shape (3, 5) counts it twice, as the sample repeated."""
    z = rng.standard_normal((3, 4, 5))
    target = rng.standard_normal((3, 4, 5)) if isinstance(loss, tn.MSELoss) else rng.integers(0, 4, (3, 5))
    weighted = loss(z, target, sample_weight=np.array([2.0, 1.0, 1.0]))
    grad = loss.backward()
    repeated = loss(np.concatenate([z[:1], z]), np.concatenate([target[:1], target]))
    np.testing.assert_allclose(weighted, repeated, rtol=1e-12)
    np.testing.assert_allclose(grad[1:], loss.backward()[2:], rtol=1e-12)
