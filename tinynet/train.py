"""The training loop: ``fit`` with callbacks and early stopping, plus ``predict`` and ``evaluate``.

One step, in DESIGN.md's fixed order:
model(x) -> loss(y_hat, y) -> model.zero_grad() -> model.backward(loss.backward())
-> regularizer.apply(params) -> clipper(params) -> optimizer.step()
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinynet._checks import (
    Array,
    RngLike,
    as_array,
    as_batch,
    as_generator,
    check_finite,
    check_float,
    check_int,
    fmt_shape,
)
from tinynet.callbacks import Callback, EarlyStopping, History, Progress
from tinynet.clip import Clipper, global_norm
from tinynet.losses import CrossEntropyLoss, Loss, class_indices
from tinynet.metrics import get_metric
from tinynet.module import Module
from tinynet.optim import Optimizer
from tinynet.regularizers import Regularizer
from tinynet.schedules import Schedule

Metric = Callable[[Any, Any], float]


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model holds its last finite weights.

    ``epoch`` and ``step`` say where (0-based), ``history`` holds the epochs completed before.
    """

    def __init__(self, message: str, epoch: int = -1, step: int = -1, history: History | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history


def _as_targets(y: Any) -> Array:
    array = as_array(y, "y")
    if array.ndim == 0 or array.ndim > 2:
        raise ValueError(f"y must be 1-D (n,) or 2-D (n, k), got shape {array.shape}")
    return array


def _check_data(x: Any, y: Any, prefix: str = "") -> tuple[Array, Array]:
    xs = as_batch(x, f"{prefix}x")
    ys = _as_targets(y)
    if len(xs) != len(ys):
        raise ValueError(
            f"{prefix}x and {prefix}y must have the same length, got len(x)={len(xs)} and len(y)={len(ys)}"
        )
    if len(xs) == 0:
        raise ValueError(f"{prefix}x must hold at least one sample, got shape {xs.shape}")
    if xs.shape[1] == 0:
        raise ValueError(f"{prefix}x must have at least one feature, got shape {xs.shape}")
    check_finite(xs, f"{prefix}x")
    check_finite(ys, f"{prefix}y")
    return xs, ys


def _probe(model: Module, x: Array, y: Array, loss: Loss) -> None:
    """Run one sample through the model and the loss before any training, to fail early and clearly."""
    try:
        out = predict(model, x[:1])
    except (ValueError, TypeError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(f"x of shape {fmt_shape(x.shape)} does not fit the model: {error}") from None
    if isinstance(loss, CrossEntropyLoss) and y.ndim == 1:
        classes = np.unique(class_indices(y, out.shape[1], f"y (for a model with {out.shape[1]} outputs)"))
        if len(classes) < 2:
            raise ValueError(
                f"y holds a single class ({classes.tolist()}); training a classifier needs at least 2 classes"
            )
    try:
        loss(out, y[:1])
    except (ValueError, TypeError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(
            f"y of shape {fmt_shape(y.shape)} does not fit the model's output of shape "
            f"{fmt_shape((len(x), *out.shape[1:]))} for {type(loss).__name__}: {error}"
        ) from None


def fit(
    model: Module,
    x: Any,
    y: Any,
    *,
    loss: Loss,
    optimizer: Optimizer,
    epochs: int = 100,
    batch_size: int = 32,
    shuffle: bool = True,
    rng: RngLike = None,
    schedule: Schedule | Callable[[int], float] | None = None,
    clipper: Clipper | None = None,
    regularizer: Regularizer | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    early_stopping: EarlyStopping | None = None,
    metrics: Sequence[str | Metric] = (),
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
) -> History:
    """Train ``model`` on ``(x, y)`` with minibatch gradient descent and return the ``History``.

    x: (n, features); y: (n,) class indices or targets, or (n, k). ``validation_split`` holds out
    the *last* fraction of the samples before shuffling (as Keras). The same ``rng`` seed and data
    give bit-identical weights and history. A non-finite loss or gradient stops training with
    ``TrainingDivergedError`` and leaves finite weights in the model.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a tinynet Module, got {type(model).__name__}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a tinynet Loss such as CrossEntropyLoss(), got {type(loss).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a tinynet Optimizer such as SGD(...), got {type(optimizer).__name__}"
        )
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    validation_split = check_float(
        validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False
    )
    xs, ys = _check_data(x, y)
    if validation_data is not None and validation_split > 0.0:
        raise ValueError("pass either validation_data or validation_split, not both")
    val: tuple[Array, Array] | None = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        val = _check_data(*validation_data, prefix="validation ")
    elif validation_split > 0.0:
        n_val = round(len(xs) * validation_split)
        if n_val < 1 or n_val >= len(xs):
            raise ValueError(
                f"validation_split={validation_split} leaves {len(xs) - n_val} training and {n_val} "
                f"validation samples out of {len(xs)}; both must be at least 1"
            )
        xs, ys, val = xs[:-n_val], ys[:-n_val], (xs[-n_val:], ys[-n_val:])
    _probe(model, xs, ys, loss)
    named_metrics = [get_metric(m) for m in metrics]
    generator = as_generator(rng) if shuffle else None
    hooks: list[Callback] = list(callbacks)
    if early_stopping is not None:
        if early_stopping.monitor.startswith("val_") and val is None:
            raise ValueError(
                f"EarlyStopping monitors {early_stopping.monitor!r} but there is no validation data; "
                "pass validation_data or validation_split, or monitor='loss'"
            )
        hooks.append(early_stopping)
    if verbose:
        hooks.append(Progress(epochs))

    history = History()
    trainer = _Trainer(model, loss, optimizer, clipper, regularizer, named_metrics)
    model.train()
    for hook in hooks:
        hook.on_train_begin(model)
    try:
        with _DeferredInterrupt() as interrupt:
            for epoch in range(epochs):
                if schedule is not None:
                    optimizer.lr = schedule(epoch)
                logs = trainer.run_epoch(xs, ys, batch_size, generator, epoch, history, interrupt)
                if val is not None:
                    val_logs = evaluate(model, val[0], val[1], loss, metrics)
                    logs["val_loss"] = val_logs.pop("loss") + trainer.penalty()
                    logs.update((f"val_{name}", value) for name, value in val_logs.items())
                history.record(logs)
                if any([hook.on_epoch_end(epoch, logs) for hook in hooks]):
                    history.stopped_epoch = epoch
                    break
    except KeyboardInterrupt as error:
        error.history = history  # type: ignore[attr-defined]
        raise
    finally:
        model.train()
    for hook in hooks:
        hook.on_train_end(model, history)
    return history


class _DeferredInterrupt:
    """Hold Ctrl-C until the running step has finished, so the weights are never half-updated.

    Inside the block, SIGINT only sets ``requested``; the loop raises ``KeyboardInterrupt`` at the
    next step boundary. Outside the main thread (where signals cannot be caught) it does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Trainer:
    """One epoch of minibatch steps in DESIGN.md's order, with divergence detection."""

    def __init__(
        self,
        model: Module,
        loss: Loss,
        optimizer: Optimizer,
        clipper: Clipper | None,
        regularizer: Regularizer | None,
        metrics: list[tuple[str, Metric]],
    ) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.clipper, self.regularizer, self.metrics = clipper, regularizer, metrics
        self.params = model.parameters()

    def penalty(self) -> float:
        return self.regularizer.penalty(self.params) if self.regularizer is not None else 0.0

    def run_epoch(
        self,
        x: Array,
        y: Array,
        batch_size: int,
        generator: np.random.Generator | None,
        epoch: int,
        history: History,
        interrupt: _DeferredInterrupt,
    ) -> dict[str, float]:
        """One pass over the data; returns the epoch's logs (loss, lr, grad_norm, train metrics)."""
        model, loss, params = self.model, self.loss, self.params
        total_loss, total_norm, steps = 0.0, 0.0, 0
        snapshot = model.state_dict()  # the epoch's start: a fallback should a step leave non-finite weights
        if generator is not None:  # one shuffled copy per epoch; the minibatches are then views of it
            order = generator.permutation(len(x))
            x, y = x[order], y[order]
        outputs: list[Array] = []
        # overflow and NaN are detected after each step and raised as TrainingDivergedError,
        # so NumPy's own warnings about them would only be noise
        with np.errstate(over="ignore", invalid="ignore"):
            for step, start in enumerate(range(0, len(x), batch_size)):
                xb, yb = x[start : start + batch_size], y[start : start + batch_size]
                pred = model(xb)
                value = loss(pred, yb) + self.penalty()
                model.zero_grad()
                model.backward_parameters(loss.backward())  # dL/dx of the data is never needed
                if self.regularizer is not None:
                    self.regularizer.apply(params)
                try:
                    norm = self.clipper(params) if self.clipper is not None else global_norm(params)
                except FloatingPointError:
                    norm = math.inf
                if not (math.isfinite(value) and math.isfinite(norm)):
                    _diverged(model, snapshot, epoch, step, value, history)
                self.optimizer.step()
                total_loss += value * len(xb)
                total_norm += norm
                steps += 1
                if self.metrics:
                    outputs.append(pred)
                if interrupt.requested:
                    raise KeyboardInterrupt(
                        f"training interrupted after epoch {epoch + 1}, step {step + 1}; the model holds "
                        "the weights of that step and the exception's .history the epochs before it"
                    )
        logs = {"loss": total_loss / len(x), "lr": self.optimizer.lr, "grad_norm": total_norm / max(steps, 1)}
        if self.metrics:
            pred_all = np.concatenate(outputs)
            for name, metric in self.metrics:
                logs[name] = float(metric(y, pred_all))
        return logs


def _diverged(
    model: Module, snapshot: dict[str, Array], epoch: int, step: int, value: float, history: History
) -> None:
    weights_finite = all(np.isfinite(p.data).all() for p in model.parameters())
    if not weights_finite:
        model.load_state_dict(snapshot)
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch + 1}, step {step + 1}: loss {value}, non-finite loss or "
        "gradient; the model keeps its last finite weights. Lower the learning rate or clip gradients",
        epoch=epoch,
        step=step,
        history=history,
    )


def predict(model: Module, x: Any, batch_size: int | None = None) -> Array:
    """The model's output for ``x`` in eval mode (the previous mode is restored), batch by batch."""
    xs = as_batch(x, "x")
    size = len(xs) if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
    was_training = model.training
    model.eval()
    try:
        if size >= len(xs):
            out: Array = model.forward(xs)
            return out
        return np.concatenate([model.forward(xs[i : i + size]) for i in range(0, len(xs), size)])
    finally:
        model.train(was_training)


def evaluate(
    model: Module,
    x: Any,
    y: Any,
    loss: Loss,
    metrics: Sequence[str | Metric] = (),
    batch_size: int | None = None,
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` on ``(x, y)`` in eval mode."""
    xs, ys = _check_data(x, y)
    pred = predict(model, xs, batch_size)
    result = {"loss": float(loss(pred, ys))}
    for name, metric in (get_metric(m) for m in metrics):
        result[name] = float(metric(ys, pred))
    return result
