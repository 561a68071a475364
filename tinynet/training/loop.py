"""The training loop: ``fit`` with callbacks and early stopping, plus ``predict`` and ``evaluate``.

One step, in this fixed order:
model(x) -> loss(y_hat, y) -> model.zero_grad() -> model.backward_parameters(loss.backward())
-> regularizer.apply(params) -> clipper(params) -> optimizer.step()

Data: ``x`` is an array ``(n, features)``, or a list (or a dict by input name) of arrays for a
model with several inputs; ``y`` likewise for several outputs, each with its own loss. Arrays are
read batch by batch (each batch gathered on its own with fancy indexing), so anything that
supports ``a[indices]`` along the first axis works, ``np.memmap`` included, and the memory ``fit``
uses does not grow with the number of rows (training metrics keep the epoch's predictions).
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinynet.core.checks import (
    Array,
    RngLike,
    as_array,
    as_generator,
    check_float,
    check_int,
    fmt_shape,
    one_line,
)
from tinynet.core.config import Configurable, plain
from tinynet.core.module import Module
from tinynet.core.parameter import find_groups
from tinynet.data import minibatch_indices
from tinynet.training.callbacks import Callback, EarlyStopping, History, Partial, Progress, Run
from tinynet.training.clip import Clipper, global_norm
from tinynet.training.losses import CrossEntropyLoss, Loss, class_indices
from tinynet.training.metrics import get_metric
from tinynet.training.optim import Optimizer
from tinynet.training.regularizers import Regularizer
from tinynet.training.schedules import Schedule

Metric = Callable[[Any, Any], float]
CHUNK_ELEMENTS = 2**20  # elements checked at a time: validating a memory map or a sparse matrix stays small


class TrainingDivergedError(FloatingPointError):
    """The loss, a gradient, the weights, the learning rate or a metric became NaN or infinite.

    The model holds finite weights: those of the start of the epoch in which it happened when the
    weights themselves went bad. ``epoch`` and ``step`` say where (numbered from 1; ``step`` is 0
    when it was found after the epoch's steps), ``history`` holds the epochs completed before.
    ``what`` says where and what went wrong without the advice, for a caller that gives its own.
    """

    def __init__(
        self,
        message: str,
        epoch: int = 0,
        step: int = 0,
        history: History | None = None,
        *,
        what: str | None = None,
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history
        self.what = what if what is not None else message


# -- data: one or several aligned arrays -----------------------------------------------------------
class Columns:
    """One or several arrays with the same number of rows, taken batch by batch.

    ``x`` may be one array-like, a list or tuple of arrays, or a dict by name; ``take`` returns
    the same structure for a batch of rows. Plain Python lists are converted to arrays; arrays and
    array-likes with a ``shape`` (``np.memmap``) are indexed as they are, never copied whole.
    """

    def __init__(self, x: Any, name: str, *, targets: bool = False) -> None:
        self.name = name
        self.keys: list[str] | None = None
        self.several = True  # a list or dict of arrays, handed to the model as such
        if isinstance(x, dict):
            self.keys = [str(k) for k in x]
            parts = list(x.values())
        elif isinstance(x, (list, tuple)) and x and all(hasattr(item, "shape") for item in x):
            parts = list(x)
        else:
            parts, self.several = [x], False
        self.arrays = [self._check(part, self._label(i, len(parts)), targets) for i, part in enumerate(parts)]
        rows = {len(a) for a in self.arrays}
        if len(rows) > 1:
            sizes = ", ".join(f"{self._label(i, len(parts))}: {len(a)}" for i, a in enumerate(self.arrays))
            raise ValueError(f"{name} arrays must have the same number of rows, got {sizes}")

    def _label(self, index: int, count: int) -> str:
        if self.keys is not None:
            return f"{self.name}[{self.keys[index]!r}]"
        return self.name if count == 1 else f"{self.name}[{index}]"

    @staticmethod
    def _check(part: Any, label: str, targets: bool) -> Any:
        array = part if hasattr(part, "shape") and hasattr(part, "dtype") else np.asarray(part)
        if isinstance(array, np.ndarray) and type(array) not in (np.ndarray, np.memmap):
            array = np.asarray(array)  # np.matrix and friends: `*` would mean something else
        kind = np.dtype(array.dtype).kind
        if kind not in "fiub":
            raise TypeError(
                f"{label} must be a real numeric array, got dtype {array.dtype} with shape {array.shape}"
            )
        ndim = len(array.shape)
        if targets:
            if ndim < 1:
                raise ValueError(f"{label} must have a sample axis, got shape {fmt_shape(array.shape)}")
        elif ndim < 2 and not (ndim == 1 and kind in "iu"):
            raise ValueError(
                f"{label} must be (batch, features) or (batch, ...), got {ndim}-D shape {array.shape}; "
                "use x.reshape(-1, 1) for a single feature or x.reshape(1, -1) for a single sample"
            )
        if array.shape[0] == 0:
            raise ValueError(f"{label} must hold at least one sample, got shape {fmt_shape(array.shape)}")
        if not targets and ndim == 2 and array.shape[1] == 0:
            raise ValueError(f"{label} must have at least one feature, got shape {fmt_shape(array.shape)}")
        if kind == "f":
            rows = max(1, CHUNK_ELEMENTS // max(1, math.prod(array.shape[1:])))
            for start in range(0, array.shape[0], rows):
                chunk = np.asarray(array[start : start + rows])
                if not np.isfinite(chunk).all():
                    bad = np.argwhere(~np.isfinite(chunk))[0]
                    where = (int(bad[0]) + start, *(int(i) for i in bad[1:]))
                    raise ValueError(f"{label} must be finite, found {chunk[tuple(bad)]} at index {where}")
        return array

    def __len__(self) -> int:
        return len(self.arrays[0])

    def _structure(self, parts: list[Any]) -> Any:
        if self.keys is not None:
            return dict(zip(self.keys, parts, strict=True))
        return parts if self.several else parts[0]

    def take(self, index: Any) -> Any:
        """Rows ``index`` (indices or a slice) of every array, as the structure ``x`` came in."""
        if not self.several:  # the common case, once per training step
            rows = self.arrays[0][index]
            return rows if type(rows) is np.ndarray else np.asarray(rows)
        return self._structure([np.asarray(a[index]) for a in self.arrays])

    def part(self, i: int) -> Any:
        return self.arrays[i]


def _split_last(data: Columns, n_val: int) -> tuple[Columns, Columns]:
    """The first rows for training, the last ``n_val`` rows for validation (views, no copies)."""
    head, tail = Columns.__new__(Columns), Columns.__new__(Columns)
    for part, rows in ((head, slice(None, -n_val)), (tail, slice(-n_val, None))):
        part.name, part.keys, part.several = data.name, data.keys, data.several
        part.arrays = [a[rows] for a in data.arrays]
    return head, tail


# -- outputs and losses -----------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _Objective:
    """The (weighted) sum of one loss per output: value and gradients for the model's outputs."""

    def __init__(self, loss: Loss | Sequence[Loss], loss_weights: Sequence[float] | None) -> None:
        self.losses = _as_list(loss)
        for i, item in enumerate(self.losses):
            if not isinstance(item, Loss):
                label = "loss" if len(self.losses) == 1 else f"loss[{i}]"
                raise TypeError(
                    f"{label} must be a tinynet Loss such as CrossEntropyLoss(), got {type(item).__name__}"
                )
        weights = [1.0] * len(self.losses) if loss_weights is None else list(loss_weights)
        if len(weights) != len(self.losses):
            raise ValueError(
                f"loss_weights must have one weight per loss ({len(self.losses)}), got {len(weights)}"
            )
        self.weights = [check_float(w, f"loss_weights[{i}]", low=0.0) for i, w in enumerate(weights)]
        self.single = len(self.losses) == 1 and self.weights[0] == 1.0

    def __call__(self, outputs: Any, targets: Any, sample_weight: Array | None) -> float:
        if self.single and not isinstance(outputs, list):  # one output: the loss itself, per step
            loss = self.losses[0]
            value = loss(outputs, targets) if sample_weight is None else loss(outputs, targets, sample_weight)
            return float(value)
        outs, ts = _as_list(outputs), _as_list(targets)
        if len(outs) != len(self.losses) or len(ts) != len(self.losses):
            raise ValueError(
                f"the model gives {len(outs)} outputs and there are {len(ts)} targets for "
                f"{len(self.losses)} losses; give one loss and one target per output"
            )
        total = 0.0
        for loss, weight, out, target in zip(self.losses, self.weights, outs, ts, strict=True):
            value = loss(out, target) if sample_weight is None else loss(out, target, sample_weight)
            total += weight * value
        return total

    def gradient(self) -> Any:
        if self.single:
            return self.losses[0].backward()
        grads = [loss.backward() * w for loss, w in zip(self.losses, self.weights, strict=True)]
        return grads if len(grads) > 1 else grads[0]


def _probe(model: Module, x: Columns, y: Columns, objective: _Objective) -> None:
    """Run one sample through the model and the losses before any training, to fail early and clearly."""
    shapes = ", ".join(fmt_shape(tuple(a.shape)) for a in x.arrays)
    try:
        out = predict(model, x.take(slice(0, 1)))
    except (ValueError, TypeError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(f"x of shape {shapes} does not fit the model: {error}") from None
    for loss, output, target in zip(objective.losses, _as_list(out), y.arrays, strict=False):
        if isinstance(loss, CrossEntropyLoss) and len(target.shape) == len(output.shape) - 1:
            labels = np.asarray(target)
            labels = labels[labels != loss.ignore_index]
            classes = np.unique(
                class_indices(labels, output.shape[1], f"y (for a model with {output.shape[1]} outputs)")
            )
            if len(classes) < 2:
                raise ValueError(
                    f"y holds a single class ({classes.tolist()}); "
                    "training a classifier needs at least 2 classes"
                )
    try:
        objective(out, y.take(slice(0, 1)), None)
    except (ValueError, TypeError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        out_shapes = ", ".join(fmt_shape((len(x), *o.shape[1:])) for o in _as_list(out))
        target_shapes = ", ".join(fmt_shape(tuple(a.shape)) for a in y.arrays)
        raise kind(
            f"y of shape {target_shapes} does not fit the model's output of shape {out_shapes} for "
            f"{', '.join(type(loss).__name__ for loss in objective.losses)}: {error}"
        ) from None


# -- fit --------------------------------------------------------------------------------------------
def fit(
    model: Module,
    x: Any,
    y: Any,
    *,
    loss: Loss | Sequence[Loss],
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
    metrics: MetricSpec = (),
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
    sample_weight: Any = None,
    loss_weights: Sequence[float] | None = None,
) -> History:
    """Train ``model`` on ``(x, y)`` with minibatch gradient descent and return the ``History``.

    x: (n, features), or a list or dict of arrays for several inputs; y: (n,) class indices or
    targets, or (n, k), or a list for several outputs (then ``loss`` is a list too, combined with
    ``loss_weights``). ``sample_weight`` (n,) weighs each row's loss. ``validation_split`` holds out
    the *last* fraction of the rows before shuffling (as Keras). A final batch of a single row
    joins the batch before it. The same ``rng`` seed and data give bit-identical weights and
    history. The model is left in the mode it was in. Any non-finite loss, gradient, weight,
    learning rate or logged value stops training with ``TrainingDivergedError``, the model holding
    finite weights; Ctrl-C stops it after the running step (``KeyboardInterrupt.history``). With a
    ``tn.Checkpoint`` among the ``callbacks`` the call is resumable: run again after any kill, it
    continues from the newest checkpoint to the result an uninterrupted call gives, bit for bit.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a tinynet Module, got {type(model).__name__}")
    objective = _Objective(loss, loss_weights)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a tinynet Optimizer such as SGD(...), got {type(optimizer).__name__}"
        )
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    validation_split = check_float(
        validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False
    )
    xs, ys = Columns(x, "x"), Columns(y, "y", targets=True)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must have the same length, got len(x)={len(xs)} and len(y)={len(ys)}")
    weights = None
    if sample_weight is not None:
        weights = as_array(sample_weight, "sample_weight").astype(np.float64)
        if weights.shape != (len(xs),):
            raise ValueError(
                f"sample_weight must have one weight per sample, shape ({len(xs)},), "
                f"got {fmt_shape(weights.shape)}"
            )
    if validation_data is not None and validation_split > 0.0:
        raise ValueError("pass either validation_data or validation_split, not both")
    val: tuple[Columns, Columns] | None = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        val = (
            Columns(validation_data[0], "validation x"),
            Columns(validation_data[1], "validation y", targets=True),
        )
        if len(val[0]) != len(val[1]):
            raise ValueError(
                "validation x and validation y must have the same length, "
                f"got {len(val[0])} and {len(val[1])}"
            )
    elif validation_split > 0.0:
        n_val = round(len(xs) * validation_split)
        if n_val < 1 or n_val >= len(xs):
            raise ValueError(
                f"validation_split={validation_split} leaves {len(xs) - n_val} training and {n_val} "
                f"validation samples out of {len(xs)}; both must be at least 1"
            )
        (xs, x_val), (ys, y_val) = _split_last(xs, n_val), _split_last(ys, n_val)
        val = x_val, y_val
        if weights is not None:
            weights = weights[:-n_val]
    _probe(model, xs, ys, objective)
    named_metrics = resolve_metrics(metrics)
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

    settings = {
        "model": {name: list(shape) for name, shape in model.state_shapes().items()},
        "optimizer": _described(optimizer),
        "loss": [_described(item) for item in (loss if isinstance(loss, Sequence) else [loss])],
        "loss_weights": None if loss_weights is None else [float(w) for w in loss_weights],
        "epochs": epochs,
        "batch_size": batch_size,
        "shuffle": bool(shuffle),
        "rows": len(xs),
        "validation_rows": None if val is None else len(val[0]),
        "sample_weight": weights is not None,
        "schedule": _described(schedule),
        "clipper": _described(clipper),
        "regularizer": _described(regularizer),
        "early_stopping": _described(early_stopping),
        "metrics": _metric_names(named_metrics),
    }
    generators = {"shuffle": generator} if generator is not None else {}
    generators.update(_generators(model))
    ordered = [hook for hook in hooks if not hook.final] + [hook for hook in hooks if hook.final]
    regular, final = [hook for hook in ordered if not hook.final], [hook for hook in ordered if hook.final]
    run = Run(model, optimizer, History(), epochs, settings, generators, ordered)
    trainer = _Trainer(model, objective, optimizer, clipper, regularizer, named_metrics)
    was_training = model.training
    model.train()
    for hook in ordered:
        hook.on_train_begin(model)
    for hook in final + regular:  # a checkpoint restores the run first: weights, state, position
        hook.on_run_begin(run)
    history = run.history
    first = run.epoch + 1 if history.stopped_epoch is None else epochs + 1
    stepped = [hook for hook in ordered if hook.wants_steps()]
    try:
        with _DeferredInterrupt() as interrupt:
            for epoch in range(first, epochs + 1):
                if schedule is not None:
                    _set_lr(optimizer, schedule, epoch, history)
                logs = trainer.run_epoch(
                    xs, ys, weights, batch_size, generator, epoch, history, interrupt, run, stepped
                )
                if val is not None:
                    val_logs = evaluate(
                        model,
                        _Lazy(val[0]),
                        _Lazy(val[1]),
                        loss,
                        metrics,
                        max(batch_size, 1024),
                        loss_weights,
                    )
                    logs["val_loss"] = val_logs.pop("loss") + trainer.penalty()
                    logs.update((f"val_{name}", value) for name, value in val_logs.items())
                interrupt.check(epoch, 0)
                history.record(logs)
                bad = [key for key, value in logs.items() if not math.isfinite(value)]
                if bad:
                    what = f"training diverged at epoch {epoch}: {', '.join(f'{k} = {logs[k]}' for k in bad)}"
                    raise TrainingDivergedError(
                        f"{what}; the model keeps that epoch's (finite) weights",
                        epoch=epoch,
                        history=history,
                        what=what,
                    )
                stop = [hook for hook in regular if hook.on_epoch_end(epoch, logs)]
                if stop:
                    history.stopped_epoch = epoch
                    history.stop_reason = "; ".join(hook.stop_reason() for hook in stop)
                run.epoch = epoch
                for hook in final:  # checkpoints: the epoch is complete, its stop decision known
                    hook.on_epoch_end(epoch, logs)
                if stop:
                    break
    except (KeyboardInterrupt, TrainingDivergedError) as error:
        error.history = history  # type: ignore[union-attr]
        model.train(was_training)
        raise
    model.train(was_training)
    for hook in ordered:
        hook.on_train_end(model, history)
    return history


def _described(setting: Any) -> Any:
    """A setting of a ``fit`` call as JSON, to compare a resumed call with the checkpoint's."""
    if setting is None:
        return None
    if isinstance(setting, Configurable):
        try:
            config = setting.get_config()
        except TypeError:
            return one_line(setting)
        return {"class": type(setting).__name__, **{k: _described(v) for k, v in config.items()}}
    if isinstance(setting, (list, tuple)):
        return [_described(item) for item in setting]
    if isinstance(setting, (bool, int, float, str)):
        return plain(setting)
    if isinstance(setting, EarlyStopping):
        return {
            "patience": setting.patience,
            "min_delta": setting.min_delta,
            "monitor": setting.monitor,
            "restore_best": setting.restore_best,
            "mode": setting.mode,
        }
    return getattr(setting, "__qualname__", type(setting).__name__)  # a plain function: its name


def _metric_names(metrics: Any) -> Any:
    """The names of ``resolve_metrics``'s result: a list, or a list per output."""
    return [_metric_names(m) if isinstance(m, list) else m[0] for m in metrics]


def _generators(model: Module) -> dict[str, np.random.Generator]:
    """Every random generator the model's layers hold (Dropout's), by ``module.attribute`` name."""
    found: dict[str, np.random.Generator] = {}
    for name, module in model.named_modules():
        for attribute, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{name or 'model'}.{attribute}"] = value
    return found


class _Lazy:
    """Rows of a ``Columns`` for ``evaluate``, read batch by batch rather than all at once."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns


def _set_lr(optimizer: Optimizer, schedule: Callable[[int], float], epoch: int, history: History) -> None:
    lr = schedule(epoch - 1)  # t = epochs completed
    if not (isinstance(lr, (int, float, np.floating)) and math.isfinite(lr)):
        raise TrainingDivergedError(
            f"the schedule gave the learning rate {lr!r} for epoch {epoch}; training stopped with the "
            "weights of the epoch before",
            epoch=epoch,
            history=history,
        )
    optimizer.lr = float(lr)


class _DeferredInterrupt:
    """Hold Ctrl-C until the running step has finished, so the weights are never half-updated.

    Inside the block, SIGINT only sets ``requested``; ``check`` raises ``KeyboardInterrupt`` at the
    next step boundary (and after validation); the handler found is put back afterwards. It does
    nothing outside the main thread (where signals cannot be caught), when SIGINT is deliberately
    ignored (``SIG_IGN``: a worker process, ``nohup``), or when the handler was not set from Python
    (it could not be put back).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if current is not None and current is not signal.SIG_IGN:
                self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def check(self, epoch: int, step: int) -> None:
        if self.requested:
            where = f"epoch {epoch}, step {step}" if step else f"epoch {epoch}"
            raise KeyboardInterrupt(
                f"training interrupted after {where}; the model holds the weights of that step and "
                "the exception's .history the epochs before it"
            )

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Trainer:
    """One epoch of minibatch steps in the fixed order, with divergence detection."""

    def __init__(
        self,
        model: Module,
        objective: _Objective,
        optimizer: Optimizer,
        clipper: Clipper | None,
        regularizer: Regularizer | None,
        metrics: Any,
    ) -> None:
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.clipper, self.regularizer, self.metrics = clipper, regularizer, metrics
        self.params = model.parameters()
        self.has_buffers = any(True for _ in model.named_buffers())

    def penalty(self) -> float:
        return self.regularizer.penalty(self.params) if self.regularizer is not None else 0.0

    def state_finite(self) -> bool:
        """The weights and the floating-point buffers (BatchNorm's running statistics) are finite:
        a running variance can overflow while the loss stays finite, and it is saved with the model."""
        groups = find_groups(self.params)
        arrays = [g.data for g in groups] if groups is not None else [p.data for p in self.params]
        if self.has_buffers:
            arrays += [
                b for _, b in self.model.named_buffers() if np.issubdtype(np.asarray(b).dtype, np.floating)
            ]
        return all(np.isfinite(a).all() for a in arrays)

    def snapshot(self) -> tuple[Any, ...]:
        """The weights (and buffers) at the start of an epoch: whole flat buffers when there are some."""
        groups = find_groups(self.params)
        buffers = [np.array(b, copy=True) for _, b in self.model.named_buffers()] if self.has_buffers else []
        if groups is not None:
            return groups, [g.data.copy() for g in groups], buffers
        return None, self.model.state_dict(), buffers

    def restore(self, snapshot: tuple[Any, ...]) -> None:
        groups, saved, buffers = snapshot
        if groups is not None and all(g.valid for g in groups):
            for group, data in zip(groups, saved, strict=True):
                group.data[...] = data
            for (_, target), value in zip(self.model.named_buffers(), buffers, strict=True):
                np.copyto(target, value)
        elif groups is None:
            self.model.load_state_dict(saved)

    def grad_norm(self, groups: list[Any] | None) -> float:
        """The global gradient norm: one dot product per flat buffer, else parameter by parameter."""
        if groups is not None and all(g.valid for g in groups):
            total = 0.0
            for group in groups:
                group.resolve_grads()
                total += float(np.vdot(group.grad, group.grad))
            if math.isfinite(total):
                return math.sqrt(total)
        try:
            return global_norm(self.params)  # rescues an overflowing square, names a NaN's parameter
        except FloatingPointError:
            return math.inf

    def run_epoch(
        self,
        x: Columns,
        y: Columns,
        weights: Array | None,
        batch_size: int,
        generator: np.random.Generator | None,
        epoch: int,
        history: History,
        interrupt: _DeferredInterrupt,
        run: Run | None = None,
        stepped: Sequence[Callback] = (),
    ) -> dict[str, float]:
        """One pass over the data; returns the epoch's logs (loss, lr, grad_norm, train metrics).

        ``run.partial``, when it holds this epoch (a checkpoint restored it), resumes the epoch after
        its last step: the same order is drawn again from the shuffling's state at the epoch's start,
        and the running sums continue. ``stepped`` callbacks see the epoch so far after every step.
        """
        model, objective, params, regularizer = self.model, self.objective, self.params, self.regularizer
        resume = (
            run.partial
            if run is not None and run.partial is not None and run.partial.epoch == epoch
            else None
        )
        if resume is not None and generator is not None and resume.shuffle_start is not None:
            generator.bit_generator.state = resume.shuffle_start
        shuffle_start = dict(generator.bit_generator.state) if generator is not None and stepped else None
        total_loss, total_norm, steps = (
            (resume.total_loss, resume.total_norm, resume.steps) if resume else (0.0, 0.0, 0)
        )
        snapshot = self.snapshot()  # the epoch's start: restored should the weights go non-finite
        groups = snapshot[0]
        outputs: list[Any] = list(resume.outputs) if resume else []
        targets: list[Any] = list(resume.targets) if resume else []
        done = resume.step if resume else 0
        # overflow and NaN are detected after each step and raised as TrainingDivergedError,
        # so NumPy's own warnings about them would only be noise
        with np.errstate(over="ignore", invalid="ignore"):
            batches = minibatch_indices(len(x), batch_size, generator, join_single=True)
            for step, index in enumerate(batches, 1):
                if step <= done:  # trained before the checkpoint this epoch resumes from
                    continue
                xb, yb = x.take(index), y.take(index)
                pred = model.forward(xb)
                value = objective(pred, yb, None if weights is None else weights[index])
                if regularizer is not None:
                    value += regularizer.penalty(params)
                model.zero_grad()
                model.backward_parameters(objective.gradient())  # dL/dx of the data is never needed
                if regularizer is not None:
                    regularizer.apply(params)
                if self.clipper is not None:
                    try:
                        norm = self.clipper(params)
                    except FloatingPointError:
                        norm = math.inf
                else:
                    norm = self.grad_norm(groups)
                if not (math.isfinite(value) and math.isfinite(norm)):
                    self._diverged(snapshot, epoch, step, f"loss {value}, gradient norm {norm}", history)
                self.optimizer.step()
                total_loss += value * len(index)
                total_norm += norm
                steps += 1
                if self.metrics:
                    outputs.append(pred)
                    targets.append(yb)
                if stepped and run is not None:
                    run.partial = Partial(
                        epoch, step, shuffle_start, total_loss, total_norm, steps, outputs, targets
                    )
                    for hook in stepped:
                        hook.on_step_end(run)
                if interrupt.requested:
                    interrupt.check(epoch, step)
            if not self.state_finite():  # an update overflowed: caught here at the latest
                what = "a weight or running statistic after the epoch's last update"
                self._diverged(snapshot, epoch, 0, what, history)
        if run is not None:
            run.partial = None
        logs = {"loss": total_loss / len(x), "lr": self.optimizer.lr, "grad_norm": total_norm / max(steps, 1)}
        if self.metrics:
            logs.update(_metric_logs(self.metrics, outputs, targets))
        return logs

    def _diverged(
        self, snapshot: tuple[Any, ...], epoch: int, step: int, what: str, history: History
    ) -> None:
        if not self.state_finite():
            self.restore(snapshot)
        where = f"epoch {epoch}, step {step}" if step else f"the end of epoch {epoch}"
        raise TrainingDivergedError(
            f"training diverged at {where}: {what} is not finite; the model holds the last finite "
            f"weights (from the start of epoch {epoch} if the weights went bad). Lower the learning "
            "rate or clip gradients",
            epoch=epoch,
            step=step,
            history=history,
            what=f"training diverged at {where}: {what} is not finite",
        )


MetricSpec = Sequence[str | Metric] | Sequence[Sequence[str | Metric]]


def resolve_metrics(metrics: MetricSpec) -> list[tuple[str, Metric]] | list[list[tuple[str, Metric]]]:
    """Metric names or callables; for a model with several outputs, one list per output."""
    if metrics and all(isinstance(m, (list, tuple)) for m in metrics):
        return [[get_metric(m) for m in per_output] for per_output in metrics]  # type: ignore[union-attr]
    return [get_metric(m) for m in metrics]  # type: ignore[arg-type]


def _metric_logs(metrics: Any, outputs: list[Any], targets: list[Any]) -> dict[str, float]:
    """Each metric on the concatenated outputs; with several outputs named ``<metric>_<output index>``.

    ``metrics`` is one list for every output, or one list per output.
    """
    outs = [_as_list(o) for o in outputs]
    ts = [_as_list(t) for t in targets]
    count = len(outs[0])
    per_output = metrics if metrics and isinstance(metrics[0], list) else [metrics] * count
    if len(per_output) != count:
        raise ValueError(f"metrics has {len(per_output)} lists for a model with {count} outputs")
    logs = {}
    for k in range(count):
        if not per_output[k]:
            continue
        pred = np.concatenate([o[k] for o in outs])
        true = np.concatenate([t[k] for t in ts])
        for name, metric in per_output[k]:
            logs[name if count == 1 else f"{name}_{k}"] = float(metric(true, pred))
    return logs


# -- predict and evaluate ----------------------------------------------------------------------------
def predict(model: Module, x: Any, batch_size: int | None = None) -> Any:
    """The model's output for ``x`` in eval mode (the previous mode is restored), batch by batch.

    ``x`` as for ``fit``; the result is an array, or a list for a model with several outputs.
    """
    data = x.columns if isinstance(x, _Lazy) else Columns(x, "x")
    size = len(data) if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
    was_training = model.training
    model.eval()
    try:
        if size >= len(data):
            return model.forward(data.take(slice(None)))
        parts = [_as_list(model.forward(data.take(slice(i, i + size)))) for i in range(0, len(data), size)]
        joined = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        return joined if len(joined) > 1 else joined[0]
    finally:
        model.train(was_training)


def evaluate(
    model: Module,
    x: Any,
    y: Any,
    loss: Loss | Sequence[Loss],
    metrics: MetricSpec = (),
    batch_size: int | None = None,
    loss_weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` on ``(x, y)`` in eval mode (batch by batch with ``batch_size``)."""
    objective = _Objective(loss, loss_weights)
    xs = x.columns if isinstance(x, _Lazy) else Columns(x, "x")
    ys = y.columns if isinstance(y, _Lazy) else Columns(y, "y", targets=True)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must have the same length, got len(x)={len(xs)} and len(y)={len(ys)}")
    pred = predict(model, _Lazy(xs), batch_size)
    targets = ys.take(slice(None))
    result = {"loss": float(objective(pred, targets, None))}
    result.update(_metric_logs(resolve_metrics(metrics), [pred], [targets]))
    return result
