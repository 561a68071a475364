"""Losses: ``loss(pred, target, sample_weight=None) -> float``, ``loss.backward() -> dL/dpred``.

| loss              | per element l (d = p - t, z logits)                 | dl/dpred                  |
|-------------------|-----------------------------------------------------|---------------------------|
| MSELoss           | d^2                                                 | 2 d                       |
| MAELoss           | abs(d)                                              | sign(d)                   |
| HuberLoss         | 0.5 d^2 if abs(d) <= delta else delta (abs(d) - delta / 2) | clip(d, -delta, delta) |
| CrossEntropyLoss  | per row: logsumexp(z) sum_k t_k - sum_k t_k z_k     | softmax(z) sum_k t_k - t  |
| BCEWithLogitsLoss | max(z, 0) - z t + log(1 + exp(-abs(z)))             | sigmoid(z) - t            |

Every loss takes predictions of any shape (batch first) with a target of the same shape (class
indices for CrossEntropyLoss: the prediction's shape without its class axis 1). Reduction: the mean
over all elements (PyTorch's ``reduction="mean"``; positions for CrossEntropyLoss). With
``sample_weight`` w (one non-negative weight per sample) it is the weighted mean over samples,
L = sum_i w_i l_i / sum_i w_i with l_i the mean of sample i, as scikit-learn weighs
samples; all-equal weights give exactly the unweighted value. The gradient is scaled alike.

A 1-D regression target ``(batch,)`` against a prediction ``(batch, 1)`` is reshaped to
``(batch, 1)``, never broadcast into ``(batch, batch)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from typing_extensions import override

from tinynet.core.checks import Array, as_array, check_finite, check_float, fmt_shape
from tinynet.core.config import Configurable


class Loss(Configurable):
    """Base class: ``__call__`` computes the loss and caches what ``backward`` needs.

    Subclasses implement ``forward(pred, target, weights)``, where ``weights`` is None (plain mean)
    or the per-row factors w_i / sum(w) of ``sample_weight``, shape (batch, 1).
    """

    def __init__(self) -> None:
        self._grad: Array | None = None

    def __call__(self, pred: Any, target: Any, sample_weight: Any = None) -> float:
        if sample_weight is None:  # a custom loss written as forward(pred, target) keeps working
            return self.forward(pred, target)
        return self.forward(pred, target, row_weights(sample_weight, np.shape(pred)))

    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        """The loss of ``pred`` (batch, ...) against ``target``, averaged over rows (``weights``
        None) or weighted by ``weights`` (batch, 1), the normalized ``sample_weight``; caches what
        ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(pred, target, weights)")

    def backward(self) -> Array:
        """dL/dpred for the last call, same shape and dtype as ``pred``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before the loss was computed")
        return self._grad

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_grad": None}  # never the last batch's gradient


def row_weights(sample_weight: Any, pred_shape: tuple[int, ...]) -> Array:
    """Per-row factors w_i / sum(w) of shape (batch, 1), after checking ``sample_weight``."""
    w = as_array(sample_weight, "sample_weight").astype(np.float64)
    batch = pred_shape[0] if pred_shape else 0
    if w.shape != (batch,):
        raise ValueError(
            f"sample_weight must have one weight per sample, shape ({batch},), got {fmt_shape(w.shape)}"
        )
    check_finite(w, "sample_weight")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got {w[w < 0][0]}")
    total = float(w.sum())
    if total <= 0.0:
        raise ValueError("sample_weight must have a positive sum, got all zeros")
    weights: Array = (w / total).reshape(-1, 1)
    return weights


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


def _scale(array: Array, weights: Array | None) -> Array:
    """The factor turning per-element values of ``array`` into their share of the reduced loss."""
    if weights is None:
        return np.asarray(1.0 / array.size, dtype=array.dtype)
    per_row = array.size // array.shape[0]
    scale: Array = (weights / per_row).astype(array.dtype)
    return scale.reshape(-1, *([1] * (array.ndim - 1)))  # one factor per sample, whatever its rank


class MSELoss(Loss):
    """Mean squared error: L = mean((p - t)^2); dL/dp = 2 (p - t) / n, n = number of elements."""

    @override
    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        diff = _difference(pred, target, "MSELoss")
        if weights is None:
            value = float(np.vdot(diff, diff)) / diff.size
            diff *= 2.0 / diff.size
        else:
            scale = _scale(diff, weights)
            value = float(np.sum(diff * diff * scale))
            diff *= 2.0 * scale
        self._grad = diff
        return value


class MAELoss(Loss):
    """Mean absolute error (PyTorch's L1Loss): L = mean(abs(p - t)); dL/dp = sign(p - t) / n."""

    @override
    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        diff = _difference(pred, target, "MAELoss")
        scale = _scale(diff, weights)
        value = float(np.sum(np.abs(diff) * scale))
        self._grad = np.sign(diff) * scale
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
    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        diff = _difference(pred, target, "HuberLoss")
        scale = _scale(diff, weights)
        absolute = np.abs(diff)
        quadratic = np.minimum(absolute, self.delta)
        # 0.5 q^2 + delta (|d| - q) equals both branches of the piecewise definition
        value = float(np.sum((0.5 * quadratic * quadratic + self.delta * (absolute - quadratic)) * scale))
        self._grad = np.clip(diff, -self.delta, self.delta) * scale
        return value


_EXP_FLOOR = {2: -8.0, 4: -60.0, 8: -600.0}
_UNSIGNED: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.uint16),
    4: np.dtype(np.uint32),
    8: np.dtype(np.uint64),
}


def class_indices(target: Any, n_classes: int, name: str) -> Array:
    """Validate integer class labels in ``[0, n_classes)``, listing the bad ones."""
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer class indices, got dtype {labels.dtype}; "
            "pass labels.astype(int) or one-hot rows"
        )
    # one reduction: seen as unsigned, a negative label is huge and fails the same test
    unsigned = labels.view(_UNSIGNED[labels.dtype.itemsize]) if labels.dtype.kind == "i" else labels
    if labels.size and np.maximum.reduce(unsigned, axis=None) >= n_classes:
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise ValueError(
            f"{name} holds class labels outside [0, {n_classes}) for {n_classes} outputs: "
            f"{sorted(set(bad.tolist()))[:10]}"
        )
    return labels


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, fused and stable (PyTorch's ``CrossEntropyLoss``).

    pred z: (batch, k) logits, or (batch, k, d1, ...) with the classes at axis 1; target: class
    indices (batch,) / (batch, d1, ...), or weights of the same shape as z, non-negative:
    probabilities, multi-hot rows, any weights (a row need not sum to 1). Per position:
    l = logsumexp(z) s - sum_k t_k z_k,  s = sum_k t_k,  logsumexp(z) = m + log(sum exp(z - m))
    dl/dz = softmax(z) s - t                   (s = 1 for class indices: softmax(z) - onehot)

    ``reduction`` "mean" (the mean over positions, as PyTorch) or "sum"; a loss is one number here,
    so PyTorch's "none" is not offered. ``ignore_index`` (default -100, as PyTorch): positions whose
    class index equals it add nothing and are not counted (a batch of them only has loss 0).
    ``label_smoothing`` eps in [0, 1) mixes the target with the uniform distribution as PyTorch
    does: t <- (1 - eps) t + eps / k (class indices: the one-hot row).
    """

    REDUCTIONS = ("mean", "sum")

    def __init__(
        self, label_smoothing: float = 0.0, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.label_smoothing = check_float(
            label_smoothing, "label_smoothing", low=0.0, high=1.0, high_inclusive=False
        )
        self.ignore_index = int(ignore_index)
        if reduction not in self.REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(self.REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction

    @override
    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        plain = type(pred) is np.ndarray and pred.dtype.kind == "f"
        z = pred if plain else _prediction(pred, "CrossEntropyLoss")
        if z.ndim < 2 or z.shape[0] == 0:
            raise ValueError(
                "CrossEntropyLoss: pred must be logits (batch, classes) or (batch, classes, d1, ...), "
                f"got shape {fmt_shape(z.shape)}"
            )
        t = target if type(target) is np.ndarray else np.asarray(target)
        if z.ndim == 2:
            value, self._grad = self._rows(z, t, weights)
            return value
        # classes at axis 1: each position (sample, d1, ...) is a row of the 2-D computation
        k, positions = z.shape[1], math.prod(z.shape[2:])
        rows = np.moveaxis(z, 1, -1).reshape(-1, k)
        if t.shape == z.shape:
            t = np.moveaxis(t, 1, -1).reshape(-1, k)
        elif t.shape == (z.shape[0], *z.shape[2:]):
            t = t.reshape(-1)
        else:
            raise ValueError(
                f"CrossEntropyLoss: target shape {fmt_shape(t.shape)} fits neither class indices "
                f"{fmt_shape((z.shape[0], *z.shape[2:]))} nor weights {fmt_shape(z.shape)} of the prediction"
            )
        if weights is not None:  # a sample's weight shared by its positions
            weights = np.repeat(weights, positions, axis=0) / positions
        value, grad = self._rows(rows, t, weights)
        self._grad = np.moveaxis(grad.reshape(z.shape[0], *z.shape[2:], k), -1, 1)
        return value

    def _rows(self, z: Array, t: Array, weights: Array | None) -> tuple[float, Array]:
        """The loss and its gradient for logits z (rows, k); ignored rows carry no weight."""
        batch, k = z.shape
        count = batch  # the positions the mean runs over
        if t.ndim == 1:
            if t.shape[0] != batch:
                raise ValueError(f"CrossEntropyLoss: target has {t.shape[0]} labels for a batch of {batch}")
            ignored = t == self.ignore_index if t.dtype.kind in "iu" else None
            if ignored is not None and ignored.any():
                t = np.where(ignored, 0, t)
                kept = (weights[:, 0] if weights is not None else np.ones(batch)) * ~ignored
                count = int((~ignored).sum())
                total = kept.sum()
                weights = (kept / total if total > 0 else kept).reshape(-1, 1)
            labels = class_indices(t, k, "CrossEntropyLoss: target")
            if self.label_smoothing:  # the smoothed one-hot rows, through the general path below
                t = np.zeros((batch, k), dtype=z.dtype)
                t[np.arange(batch), labels] = 1.0
        else:
            t = _paired_target(z, t, "CrossEntropyLoss")
            check_finite(t, "CrossEntropyLoss: target")
            if (t < 0).any():
                raise ValueError(f"CrossEntropyLoss: target rows must be >= 0, got {t[t < 0][0]}")
        if self.label_smoothing and t.ndim == 2:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / k
        # one pass gives both softmax(z) (the gradient's base) and logsumexp(z) (the loss)
        # ufunc reductions directly: ndarray.max/.sum add a Python layer, and this runs every step
        m = np.maximum.reduce(z, axis=1, keepdims=True)
        grad = z - m
        # floored so exp never underflows (an errstate block would cost more than the whole exp):
        # exp(-600) in float64 and exp(-60) in float32 stay far above the smallest normal number even
        # after dividing by the batch, and next to the row's largest term (exp(0) = 1) they are below
        # rounding, so the loss (from logsumexp and the raw logits) and the gradient are unchanged
        np.maximum(grad, _EXP_FLOOR[grad.dtype.itemsize], out=grad)
        np.exp(grad, out=grad)
        total = np.add.reduce(grad, axis=1, keepdims=True)
        lse = np.log(total)
        lse += m  # (batch, 1)
        if t.ndim == 2:  # softmax(z) s, s a row's sum of weights (a row of zeros gives zeros)
            factor = np.add.reduce(t, axis=1, keepdims=True) / total
            if weights is None:
                factor /= batch
            else:
                factor *= weights.astype(z.dtype)
            with np.errstate(under="ignore"):  # a tiny weight times a tiny probability is 0
                grad *= factor
        elif weights is None:
            total *= batch
            grad /= total  # softmax(z) / batch
        else:
            grad /= total
            with np.errstate(under="ignore"):
                grad *= weights.astype(z.dtype)  # softmax(z) w_i / sum(w)
        if t.ndim == 1:
            flat = self._offsets(batch, k) + labels  # (row, label) as an index into the flattened array
            picked = z.reshape(-1).take(flat)
            grad.reshape(-1)[flat] -= 1.0 / batch if weights is None else weights[:, 0]
            if weights is None:
                value = (float(np.add.reduce(lse, axis=None)) - float(np.add.reduce(picked))) / batch
            else:
                value = float(np.dot(lse[:, 0] - picked, weights[:, 0]))
        else:
            per_row = lse[:, 0] * t.sum(axis=1) - np.einsum("ij,ij->i", t, z)
            grad -= t / batch if weights is None else t * weights
            value = float(per_row.sum()) / batch if weights is None else float(np.dot(per_row, weights[:, 0]))
        if self.reduction == "sum":
            value *= count
            grad *= count
        return float(value), grad

    def _offsets(self, batch: int, k: int) -> Array:
        """row * k for each row, kept between calls: the batch size rarely changes."""
        offsets: Array | None = getattr(self, "_row_offsets", None)
        if offsets is None or len(offsets) != batch or getattr(self, "_width", None) != k:
            offsets = np.arange(batch) * k
            self._row_offsets, self._width = offsets, k
        return offsets


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z with targets t in [0, 1], stable for any finite z.

    L = mean(max(z, 0) - z t + log(1 + exp(-abs(z))));  dL/dz = (sigmoid(z) - t) / n
    """

    @override
    def forward(self, pred: Any, target: Any, weights: Array | None = None) -> float:
        z = _prediction(pred, "BCEWithLogitsLoss")
        t = _paired_target(z, target, "BCEWithLogitsLoss")
        scale = _scale(z, weights)
        with np.errstate(under="ignore"):  # exp(-|z|) underflows to 0 for large |z|: exact enough
            softplus = np.log1p(np.exp(-np.abs(z)))
        value = float(np.sum((np.maximum(z, 0.0) - z * t + softplus) * scale))
        sig = np.tanh(z * 0.5)
        sig *= 0.5
        sig += 0.5
        sig -= t
        sig *= scale
        self._grad = sig
        return value
