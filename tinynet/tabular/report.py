"""Test metrics of a table model: metrics.json's content and the text ``tinynet train`` prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinynet.core.checks import Array
from tinynet.training import metrics

MAX_SHOWN_CLASSES = 30  # more classes than this: no confusion matrix printed or drawn


def confusion_text(matrix: Array, classes: Sequence[str]) -> str:
    """The confusion matrix as aligned text: columns as wide as the widest class name or count."""
    width = max([len(c) for c in classes] + [len(str(int(matrix.max(initial=0))))])
    lines = [" " * (width + 1) + " ".join(f"{c:>{width}}" for c in classes)]
    for name, row in zip(classes, matrix, strict=True):
        lines.append(f"{name:>{width}} " + " ".join(f"{int(count):>{width}d}" for count in row))
    return "\n".join(lines)


def classification(y_true: Array, predicted: Array, classes: Sequence[str]) -> tuple[dict[str, Any], str]:
    """metrics.json's content, and the report with the confusion matrix as text."""
    report = metrics.classification_report(y_true, predicted, target_names=list(classes))
    matrix = metrics.confusion_matrix(y_true, predicted, n_classes=len(classes))
    parts = [f"test metrics ({len(y_true)} samples)", str(report)]
    if len(classes) <= MAX_SHOWN_CLASSES:
        parts += ["\nconfusion matrix (rows: true, columns: predicted)", confusion_text(matrix, classes)]
    else:  # a table of k x k counts nobody can read on a console: metrics.json keeps it
        parts.append(f"\nconfusion matrix: {len(classes)} classes, too many to print; it is in metrics.json")
    text = "\n".join(parts)
    present = [c for c in report if c not in ("accuracy", "macro avg", "weighted avg")]
    return {
        "accuracy": metrics.accuracy(y_true, predicted),
        "precision": metrics.precision(y_true, predicted),
        "recall": metrics.recall(y_true, predicted),
        "f1": metrics.f1(y_true, predicted),
        "average": "macro (the unweighted mean over classes; per_class has each class)",
        "classes": list(classes),
        "per_class": {name: report[name] for name in present},
        "confusion_matrix": matrix.tolist(),
    }, text


def regression(y_true: Array, predicted: Array) -> tuple[dict[str, Any], str]:
    """metrics.json's content (MSE, MAE, RMSE, R2 in the target's units), and the report as text."""
    report = metrics.regression_report(y_true, predicted)
    return dict(report), f"test metrics ({len(y_true)} samples, original units)\n{report}"


def chance_note(train_loss: float, accuracy: float, y_train: Array, n_classes: int) -> str | None:
    """A hint when a classifier learned nothing: its loss stayed at ln(k) and it predicts one class."""
    majority = float(np.bincount(y_train, minlength=n_classes).max()) / len(y_train)
    stuck = train_loss >= 0.97 * math.log(n_classes)
    if stuck and accuracy <= majority + 0.02:
        return (
            f"note: the model is at chance level (test accuracy {accuracy:.3f}, as good as always predicting "
            f"the largest class; the training loss stayed near ln {n_classes} = {math.log(n_classes):.3f}). "
            "Try a larger --learning_rate, --weight_init he or xavier (random starts tiny and learns "
            "slowly), more --epochs, or --optimizer adam"
        )
    return None
