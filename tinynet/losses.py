"""Losses: ``loss(pred, target) -> float`` (mean reduction, as PyTorch), ``loss.backward() -> dL/dpred``.

| loss              | value (mean reduction)                           | dL/dpred                   |
|-------------------|--------------------------------------------------|----------------------------|
| MSELoss           | mean((p - t)^2)                                  | 2 (p - t) / n              |
| MAELoss           | mean(abs(p - t))                                 | sign(p - t) / n            |
| HuberLoss         | mean(0.5 d^2 if abs(d) <= delta                  | clip(d, -delta, delta) / n |
|                   |      else delta (abs(d) - delta / 2))            |                            |
| CrossEntropyLoss  | mean_rows(logsumexp(z) - sum_k t_k z_k)          | (softmax(z) - t) / batch   |
| BCEWithLogitsLoss | mean(max(z, 0) - z t + log(1 + exp(-abs(z))))    | (sigmoid(z) - t) / n       |

n is the number of elements, d = p - t, z are logits.

A 1-D regression target ``(batch,)`` against a prediction ``(batch, 1)`` is reshaped to
``(batch, 1)``, never broadcast into ``(batch, batch)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import override

from tinynet._checks import Array, as_array, check_float, fmt_shape


class Loss:
    """Base class: ``__call__`` computes the loss and caches what ``backward`` needs."""

    def __init__(self) -> None:
        self._grad: Array | None = None

    def __call__(self, pred: Any, target: Any) -> float:
        return self.forward(pred, target)

    def forward(self, pred: Any, target: Any) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(pred, target)")

    def backward(self) -> Array:
        """dL/dpred for the last call, same shape and dtype as ``pred``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before the loss was computed")
        return self._grad

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _prediction(pred: Any, loss: str) -> Array:
    array = as_array(pred, "pred")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{loss}: pred must hold at least one sample, got shape {fmt_shape(array.shape)}")
    return array


def _paired_target(pred: Array, target: Any, loss: str) -> Array:
    """Return ``target`` as pred's dtype and shape; a (batch,) target for a (batch, 1) pred is reshaped."""
    t = as_array(target, "target").astype(pred.dtype, copy=False)
    if t.shape != pred.shape:
        if t.ndim == 1 and pred.ndim == 2 and pred.shape == (t.shape[0], 1):
            t = t.reshape(-1, 1)
        elif pred.ndim == 1 and t.ndim == 2 and t.shape == (pred.shape[0], 1):
            t = t.reshape(-1)
        else:
            raise ValueError(
                f"{loss}: target shape {fmt_shape(t.shape)} does not match pred shape {fmt_shape(pred.shape)}"
            )
    return t


def _difference(pred: Any, target: Any, loss: str) -> Array:
    """pred - target as a new array, after the shape checks of ``_paired_target``."""
    p = _prediction(pred, loss)
    diff: Array = p - _paired_target(p, target, loss)
    return diff


class MSELoss(Loss):
    """Mean squared error: L = mean((p - t)^2); dL/dp = 2 (p - t) / n, n = number of elements."""

    @override
    def forward(self, pred: Any, target: Any) -> float:
        diff = _difference(pred, target, "MSELoss")
        value = float(np.vdot(diff, diff)) / diff.size
        diff *= 2.0 / diff.size
        self._grad = diff
        return value


class MAELoss(Loss):
    """Mean absolute error (PyTorch's L1Loss): L = mean(abs(p - t)); dL/dp = sign(p - t) / n."""

    @override
    def forward(self, pred: Any, target: Any) -> float:
        diff = _difference(pred, target, "MAELoss")
        value = float(np.abs(diff).sum()) / diff.size
        self._grad = np.sign(diff) / diff.size
        return value


class HuberLoss(Loss):
    """Huber loss with threshold ``delta`` > 0, d = p - t:

    L = mean(0.5 d^2 if abs(d) <= delta else delta (abs(d) - delta / 2));
    dL/dp = clip(d, -delta, delta) / n.
    """

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = check_float(delta, "delta", low=0.0, low_inclusive=False)

    @override
    def forward(self, pred: Any, target: Any) -> float:
        diff = _difference(pred, target, "HuberLoss")
        absolute = np.abs(diff)
        quadratic = np.minimum(absolute, self.delta)
        # 0.5 q^2 + delta (|d| - q) equals both branches of the piecewise definition
        value = float(np.sum(0.5 * quadratic * quadratic + self.delta * (absolute - quadratic))) / diff.size
        self._grad = np.clip(diff, -self.delta, self.delta) / diff.size
        return value

    @override
    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta}


def class_indices(target: Any, n_classes: int, loss: str) -> Array:
    """Validate integer class labels in ``[0, n_classes)``, listing the bad ones."""
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{loss}: 1-D target must hold integer class indices, got dtype {labels.dtype}; "
            "pass labels.astype(int) or one-hot rows"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):  # two reductions, then detail
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise ValueError(
            f"{loss}: class labels must be in [0, {n_classes}) for {n_classes} outputs, "
            f"got {sorted(set(bad.tolist()))[:10]}"
        )
    return labels


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, fused and stable.

    pred z: (batch, k) logits; target: class indices (batch,) or probability rows (batch, k).
    L = mean_rows(logsumexp(z) - sum_k t_k z_k),  logsumexp(z) = m + log(sum exp(z - m)), m = max z
    dL/dz = (softmax(z) - t) / batch
    """

    @override
    def forward(self, pred: Any, target: Any) -> float:
        z = _prediction(pred, "CrossEntropyLoss")
        if z.ndim != 2:
            raise ValueError(
                f"CrossEntropyLoss: pred must be 2-D logits (batch, classes), got shape {fmt_shape(z.shape)}"
            )
        batch, k = z.shape
        t = np.asarray(target)
        # one pass gives both softmax(z) (the gradient's base) and logsumexp(z) (the loss)
        m = z.max(axis=1, keepdims=True)
        grad = z - m
        with np.errstate(under="ignore"):  # far-below-max logits underflow to 0: the right answer
            np.exp(grad, out=grad)
        total = grad.sum(axis=1, keepdims=True)
        lse = m + np.log(total)  # (batch, 1)
        if t.ndim == 1:
            if t.shape[0] != batch:
                raise ValueError(f"CrossEntropyLoss: target has {t.shape[0]} labels for a batch of {batch}")
            labels = class_indices(t, k, "CrossEntropyLoss")
            rows = self._rows(batch)
            value = (float(lse.sum()) - float(z[rows, labels].sum())) / batch
            total *= batch
            grad /= total  # softmax(z) / batch
            grad[rows, labels] -= 1.0 / batch
        else:
            t = _paired_target(z, t, "CrossEntropyLoss")
            value = (float(np.vdot(lse[:, 0], t.sum(axis=1))) - float(np.vdot(t, z))) / batch
            total *= batch
            grad /= total
            grad -= t / batch
        self._grad = grad
        return float(value)

    def _rows(self, batch: int) -> Array:
        """0..batch-1, kept between calls: the batch size rarely changes."""
        rows: Array | None = getattr(self, "_row_index", None)
        if rows is None or len(rows) != batch:
            rows = np.arange(batch)
            self._row_index = rows
        return rows


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z with targets t in [0, 1], stable for any finite z.

    L = mean(max(z, 0) - z t + log(1 + exp(-abs(z))));  dL/dz = (sigmoid(z) - t) / n
    """

    @override
    def forward(self, pred: Any, target: Any) -> float:
        z = _prediction(pred, "BCEWithLogitsLoss")
        t = _paired_target(z, target, "BCEWithLogitsLoss")
        with np.errstate(under="ignore"):  # exp(-|z|) underflows to 0 for large |z|: exact enough
            softplus = np.log1p(np.exp(-np.abs(z)))
        value = float(np.sum(np.maximum(z, 0.0) - z * t + softplus)) / z.size
        sig = np.tanh(z * 0.5)
        sig *= 0.5
        sig += 0.5
        sig -= t
        sig /= z.size
        self._grad = sig
        return value
