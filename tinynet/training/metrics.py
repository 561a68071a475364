"""Evaluation metrics as plain functions on arrays, following scikit-learn's definitions.

Classification metrics take class labels, or scores/probabilities ``(n, k)`` for ``y_pred``
(argmax is taken; one-hot ``y_true`` rows likewise). Regression metrics take ``(n,)`` or
``(n, k)`` arrays (``(n, 1)`` equals ``(n,)``); multi-output values are averaged uniformly.

| metric    | definition                                                                 |
|-----------|----------------------------------------------------------------------------|
| accuracy  | mean(y_pred == y_true)                                                      |
| precision | per class TP / (TP + FP); 0 when nothing was predicted (zero_division=0)   |
| recall    | per class TP / (TP + FN)                                                   |
| f1        | per class 2 P R / (P + R)                                                  |
| mse, mae  | mean((y - p)^2), mean(abs(y - p));  rmse = sqrt(mse)                       |
| r2        | 1 - SS_res / SS_tot; constant y: 1 if predictions are perfect, else 0      |

``average``: "macro" (unweighted mean over classes), "weighted" (by support) or "micro"
(global counts: equals accuracy for single-label problems). Classes are the sorted union of the
labels in ``y_true`` and ``y_pred``, as scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet.core.checks import Array, as_array, check_finite
from tinynet.core.choices import Choices


def _labels(y: Any, name: str) -> Array:
    array = as_array(y, name)
    if array.ndim == 2 and array.shape[1] > 1:
        array = array.argmax(axis=1)
    elif array.ndim == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels or 2-D scores, got shape {array.shape}")
    if array.dtype.kind == "f":
        check_finite(array, name)
        if not np.all(array == np.round(array)):
            raise ValueError(
                f"{name} must hold integer class labels, got non-integer values such as "
                f"{array[array != np.round(array)][0]}"
            )
    return array.astype(np.int64)


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    if len(t) == 0:
        raise ValueError("y_true and y_pred must not be empty")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted label equals the true label."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> Array:
    """Counts ``C[i, j]`` of samples of true class i predicted as j; classes 0..n_classes-1.

    ``n_classes`` defaults to max(label) + 1 over both arrays.
    """
    t, p = _pair(y_true, y_pred)
    if min(t.min(), p.min()) < 0:
        raise ValueError("confusion_matrix: labels must be non-negative class indices")
    k = int(max(t.max(), p.max())) + 1 if n_classes is None else int(n_classes)
    if max(t.max(), p.max()) >= k:
        raise ValueError(f"confusion_matrix: labels must be < n_classes={k}, got {max(t.max(), p.max())}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _per_class(t: Array, p: Array) -> tuple[Array, Array, Array]:
    """True positives, predicted counts and support for each class in the union of labels."""
    classes = np.union1d(t, p)
    tp = np.array([np.sum((t == c) & (p == c)) for c in classes], dtype=np.float64)
    predicted = np.array([np.sum(p == c) for c in classes], dtype=np.float64)
    support = np.array([np.sum(t == c) for c in classes], dtype=np.float64)
    return tp, predicted, support


def _safe_divide(num: Array, den: Array) -> Array:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


AVERAGES = ("macro", "micro", "weighted")


def _average(values: Array, support: Array, average: str) -> float:
    if average == "macro":
        return float(values.mean())
    return float(np.sum(values * support) / support.sum())


def _scores(y_true: Any, y_pred: Any, average: str) -> tuple[float, float, float]:
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {list(AVERAGES)}, got {average!r}")
    t, p = _pair(y_true, y_pred)
    tp, predicted, support = _per_class(t, p)
    if average == "micro":
        micro = float(tp.sum() / len(t))  # single-label: micro P = R = F1 = accuracy
        return micro, micro, micro
    precision_c = _safe_divide(tp, predicted)
    recall_c = _safe_divide(tp, support)
    f1_c = _safe_divide(2 * precision_c * recall_c, precision_c + recall_c)
    return (
        _average(precision_c, support, average),
        _average(recall_c, support, average),
        _average(f1_c, support, average),
    )


def precision(y_true: Any, y_pred: Any, average: str = "macro") -> float:
    """Precision TP / (TP + FP), averaged over classes (see the module table)."""
    return _scores(y_true, y_pred, average)[0]


def recall(y_true: Any, y_pred: Any, average: str = "macro") -> float:
    """Recall TP / (TP + FN), averaged over classes."""
    return _scores(y_true, y_pred, average)[1]


def f1(y_true: Any, y_pred: Any, average: str = "macro") -> float:
    """F1 = 2 P R / (P + R) per class, averaged over classes."""
    return _scores(y_true, y_pred, average)[2]


def _regression_pair(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    t = as_array(y_true, "y_true").astype(np.float64)
    p = as_array(y_pred, "y_pred").astype(np.float64)
    t = t.reshape(-1, 1) if t.ndim == 1 else t
    p = p.reshape(-1, 1) if p.ndim == 1 else p
    if t.ndim != 2 or p.ndim != 2:
        raise ValueError(f"y_true and y_pred must be 1-D or 2-D, got shapes {t.shape} and {p.shape}")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    if len(t) == 0:
        raise ValueError("y_true and y_pred must not be empty")
    check_finite(t, "y_true")
    check_finite(p, "y_pred")
    return t, p


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error: mean((y - p)^2)."""
    t, p = _regression_pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error: mean(abs(y - p))."""
    t, p = _regression_pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error: sqrt(mean((y - p)^2)) (of the uniform multi-output MSE)."""
    return float(np.sqrt(mse(y_true, y_pred)))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot per output, averaged uniformly.

    For a constant target (SS_tot = 0) the score is 1.0 when the predictions are exact and 0.0
    otherwise (scikit-learn's ``force_finite=True``).
    """
    t, p = _regression_pair(y_true, y_pred)
    ss_res = np.sum((t - p) ** 2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    scores = np.where(ss_res == 0, 1.0, 0.0)
    np.subtract(1.0, ss_res / np.where(ss_tot > 0, ss_tot, 1.0), out=scores, where=ss_tot > 0)
    return float(scores.mean())


@dataclass(frozen=True)
class Metric:
    """A named metric with what ranking by it needs: ``metric(y_true, y_pred) -> float``."""

    function: Callable[[Any, Any], float]
    task: str  # "classification" or "regression": the targets it scores
    higher_is_better: bool

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        return self.function(y_true, y_pred)


# The metric names of fit(metrics=...), the command line's reports and the search's --scoring.
METRICS: Choices[Metric] = Choices(
    "metric",
    {
        "accuracy": Metric(accuracy, "classification", True),
        "precision": Metric(precision, "classification", True),
        "recall": Metric(recall, "classification", True),
        "f1": Metric(f1, "classification", True),
        "mse": Metric(mse, "regression", False),
        "mae": Metric(mae, "regression", False),
        "rmse": Metric(rmse, "regression", False),
        "r2": Metric(r2, "regression", True),
    },
)


def get_metric(metric: str | Callable[[Any, Any], float]) -> tuple[str, Callable[[Any, Any], float]]:
    """Resolve a metric name (see ``METRICS``) or a callable ``metric(y_true, y_pred) -> float``."""
    if isinstance(metric, str):
        return metric, METRICS[metric]
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    raise TypeError(f"metric must be a name or a callable, got {type(metric).__name__}")


class Report(dict[str, Any]):
    """A metrics dict whose ``str`` is a readable text table."""

    def __init__(self, values: dict[str, Any], table: str) -> None:
        super().__init__(values)
        self.table = table

    def __str__(self) -> str:
        return self.table


def classification_report(y_true: Any, y_pred: Any, target_names: Sequence[str] | None = None) -> Report:
    """Per-class precision, recall, F1 and support plus accuracy and macro/weighted averages."""
    t, p = _pair(y_true, y_pred)
    classes = np.union1d(t, p)
    tp, predicted, support = _per_class(t, p)
    prec, rec = _safe_divide(tp, predicted), _safe_divide(tp, support)
    f1_c = _safe_divide(2 * prec * rec, prec + rec)
    names = [
        target_names[c] if target_names is not None and 0 <= c < len(target_names) else str(c)
        for c in classes.tolist()
    ]
    values: dict[str, Any] = {
        name: {"precision": float(a), "recall": float(b), "f1": float(c), "support": int(s)}
        for name, a, b, c, s in zip(names, prec, rec, f1_c, support, strict=True)
    }
    values["accuracy"] = accuracy(t, p)
    for avg in ("macro", "weighted"):
        values[f"{avg} avg"] = {
            "precision": _average(prec, support, avg),
            "recall": _average(rec, support, avg),
            "f1": _average(f1_c, support, avg),
            "support": len(t),
        }
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    for name in [*names, "macro avg", "weighted avg"]:
        row = values[name]
        lines.append(
            f"{name:<{width}} {row['precision']:>9.3f} {row['recall']:>9.3f} {row['f1']:>9.3f} "
            f"{row['support']:>9d}"
        )
    lines.insert(
        len(names) + 1, f"{'accuracy':<{width}} {'':>9} {'':>9} {values['accuracy']:>9.3f} {len(t):>9d}"
    )
    return Report(values, "\n".join(lines))


def regression_report(y_true: Any, y_pred: Any) -> Report:
    """MSE, MAE, RMSE and R^2 in a dict with a text table."""
    values = {name: METRICS[name](y_true, y_pred) for name in ("mse", "mae", "rmse", "r2")}
    table = "\n".join(
        f"{name.upper() if name != 'r2' else 'R2':<6} {value:>12.4f}" for name, value in values.items()
    )
    return Report(values, table)
