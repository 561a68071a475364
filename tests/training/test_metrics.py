"""Metrics: hand-computed small cases, independent NumPy formulas, and scikit-learn when installed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import require

from tinynet.training import metrics as m

Y_TRUE = np.array([0, 1, 2, 2, 1, 0, 1])
Y_PRED = np.array([0, 2, 2, 2, 1, 1, 1])


def test_hand_computed_classification() -> None:
    # class 0: TP 1, predicted 1, support 2 -> P 1,   R 1/2, F1 2/3
    # class 1: TP 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3
    # class 2: TP 2, predicted 3, support 2 -> P 2/3, R 1,   F1 4/5
    assert m.accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 7)
    assert m.precision(Y_TRUE, Y_PRED) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert m.recall(Y_TRUE, Y_PRED) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m.recall(Y_TRUE, Y_PRED, average="weighted") == pytest.approx((2 * 0.5 + 3 * 2 / 3 + 2 * 1) / 7)
    assert m.precision(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(
        (2 * 1 + 3 * 2 / 3 + 2 * 2 / 3) / 7
    )
    assert m.f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 2 / 3 + 4 / 5) / 3)
    assert m.f1(Y_TRUE, Y_PRED, average="micro") == pytest.approx(5 / 7)
    np.testing.assert_array_equal(m.confusion_matrix(Y_TRUE, Y_PRED), [[1, 1, 0], [0, 2, 1], [0, 0, 2]])
    assert m.confusion_matrix([0, 1], [1, 1], n_classes=3).shape == (3, 3)


def test_scores_and_one_hot_are_argmaxed() -> None:
    scores = np.eye(3)[Y_PRED] * 0.9 + 0.05
    assert m.accuracy(np.eye(3)[Y_TRUE], scores) == pytest.approx(5 / 7)


def test_precision_zero_division_is_zero() -> None:
    # class 1 is never predicted: its precision counts as 0, as scikit-learn's zero_division=0
    assert m.precision([0, 1], [0, 0]) == pytest.approx((0.5 + 0.0) / 2)


def test_hand_computed_regression() -> None:
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    assert m.mse(y, p) == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    assert m.mae(y, p) == pytest.approx(2.5 / 4)
    assert m.rmse(y, p) == pytest.approx(np.sqrt(2.25 / 4))
    assert m.r2(y, p) == pytest.approx(1 - 2.25 / 5.0)
    assert m.mse(y, p.reshape(-1, 1)) == m.mse(y, p)


def test_r2_constant_target_follows_scikit_learn() -> None:
    assert m.r2([3.0, 3.0, 3.0], [3.0, 3.0, 3.0]) == 1.0
    assert m.r2([3.0, 3.0, 3.0], [3.0, 2.0, 3.0]) == 0.0


def test_random_data_against_numpy_formulas() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(200), rng.standard_normal(200)
    assert m.mse(y, p) == pytest.approx(np.mean((y - p) ** 2), rel=1e-14)
    assert m.mae(y, p) == pytest.approx(np.mean(np.abs(y - p)), rel=1e-14)
    assert m.r2(y, p) == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-14)
    t, q = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    cm = np.zeros((4, 4), dtype=int)
    for a, b in zip(t, q, strict=True):
        cm[a, b] += 1
    np.testing.assert_array_equal(m.confusion_matrix(t, q), cm)
    precision_c = np.diag(cm) / cm.sum(axis=0)
    recall_c = np.diag(cm) / cm.sum(axis=1)
    assert m.precision(t, q) == pytest.approx(precision_c.mean(), rel=1e-14)
    assert m.recall(t, q, average="weighted") == pytest.approx(
        np.sum(recall_c * cm.sum(axis=1)) / 300, rel=1e-14
    )
    f1_c = 2 * precision_c * recall_c / (precision_c + recall_c)
    assert m.f1(t, q) == pytest.approx(f1_c.mean(), rel=1e-14)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_matches_scikit_learn(average: str) -> None:
    sk = require("sklearn.metrics")
    rng = np.random.default_rng(1)
    for _ in range(20):
        t, q = rng.integers(0, 5, 50), rng.integers(0, 5, 50)
        assert m.precision(t, q, average) == pytest.approx(
            sk.precision_score(t, q, average=average, zero_division=0)
        )
        assert m.recall(t, q, average) == pytest.approx(
            sk.recall_score(t, q, average=average, zero_division=0)
        )
        assert m.f1(t, q, average) == pytest.approx(sk.f1_score(t, q, average=average, zero_division=0))
    y, p = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    assert m.r2(y, p) == pytest.approx(sk.r2_score(y, p))
    assert m.mse(y, p) == pytest.approx(sk.mean_squared_error(y, p))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: m.accuracy([0, 1], [0]), "same length"),
        (lambda: m.mse([1.0, 2.0], [1.0]), "same shape"),
        (lambda: m.precision([0, 1], [0, 1], average="binary"), "average must be one of"),
        (lambda: m.accuracy([0.5, 1.0], [0, 1]), "integer class labels"),
        (lambda: m.accuracy([], []), "empty"),
        (lambda: m.mse([np.nan], [1.0]), "finite"),
        (lambda: m.get_metric("auc"), "metric must be one of"),
    ],
)
def test_metric_errors(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_reports_are_dicts_with_text_tables() -> None:
    report = m.classification_report(Y_TRUE, Y_PRED, target_names=["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["b"]["support"] == 3
    assert report["macro avg"]["precision"] == pytest.approx(m.precision(Y_TRUE, Y_PRED))
    text = str(report)
    assert "precision" in text and "macro avg" in text and text.count("\n") == 6
    regression = m.regression_report([1.0, 2.0], [1.0, 3.0])
    assert set(regression) == {"mse", "mae", "rmse", "r2"} and "RMSE" in str(regression)
