"""Values of activations and losses against their formulas, including extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest

import tinynet as tn


def test_sigmoid_is_stable_and_exact() -> None:
    x = np.array([[-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]])
    with np.errstate(all="raise"):
        y = tn.Sigmoid()(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[0, 2:5], 1 / (1 + np.exp(-x[0, 2:5])), rtol=1e-15)
    assert y[0, 0] == 0.0 and y[0, -1] == 1.0


def test_softmax_rows_sum_to_one_and_shift_invariant() -> None:
    x = np.random.default_rng(0).standard_normal((4, 5)) * 100
    y = tn.Softmax()(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(tn.Softmax()(x + 1e3), y, rtol=1e-12, atol=1e-300)


def test_leaky_relu_values() -> None:
    y = tn.LeakyReLU(0.2)(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(y, [[-0.4, 0.0, 3.0]])


def test_regression_losses_match_formulas() -> None:
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    d = p - t
    assert tn.MSELoss()(p, t) == pytest.approx(np.mean(d**2), rel=1e-14)
    assert tn.MAELoss()(p, t) == pytest.approx(np.mean(np.abs(d)), rel=1e-14)
    huber = np.where(np.abs(d) <= 0.5, 0.5 * d**2, 0.5 * (np.abs(d) - 0.25))
    assert tn.HuberLoss(0.5)(p, t) == pytest.approx(np.mean(huber), rel=1e-14)


def test_1d_target_is_reshaped_not_broadcast() -> None:
    pred = np.array([[1.0], [2.0], [3.0]])
    loss = tn.MSELoss()
    assert loss(pred, np.array([1.0, 2.0, 4.0])) == pytest.approx(1 / 3)
    assert loss.backward().shape == (3, 1)
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match pred shape \(3, 1\)"):
        loss(pred, np.zeros(4))


def test_cross_entropy_matches_log_softmax_formula() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, 5)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(5), y])
    loss = tn.CrossEntropyLoss()
    assert loss(z, y) == pytest.approx(expected, rel=1e-14)
    one_hot = np.eye(4)[y]
    assert loss(z, one_hot) == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_is_finite_for_huge_logits() -> None:
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    loss = tn.CrossEntropyLoss()
    assert loss(z, np.array([1, 1])) == pytest.approx(1e4)  # row 0: logsumexp 1e4 - (-1e4) = 2e4, row 1: 0
    assert np.isfinite(loss.backward()).all()
    assert loss(z, np.array([0, 1])) == pytest.approx(0.0, abs=1e-12)


def test_cross_entropy_rejects_bad_labels() -> None:
    z = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[-1, 5\]"):
        tn.CrossEntropyLoss()(z, np.array([0, 5, -1]))
    with pytest.raises(TypeError, match="integer class indices"):
        tn.CrossEntropyLoss()(z, np.array([0.0, 1.0, 2.0]))


def test_bce_with_logits_is_stable() -> None:
    z = np.array([[1e4], [-1e4], [0.0]])
    t = np.array([1.0, 0.0, 1.0])
    loss = tn.BCEWithLogitsLoss()
    assert loss(z, t) == pytest.approx(np.log(2) / 3)
    assert np.isfinite(loss.backward()).all()


def test_float32_losses_keep_float32_gradients() -> None:
    z = np.ones((2, 3), dtype=np.float32)
    loss = tn.CrossEntropyLoss()
    loss(z, np.array([0, 1]))
    assert loss.backward().dtype == np.float32
