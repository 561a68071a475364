"""Training records and hooks: ``History``, ``Callback``, ``EarlyStopping``, ``Progress``, and the
logs people already read: ``CSVLogger`` (a row per epoch) and ``TensorBoard`` (event files).

Epochs are numbered from 1 everywhere in this API, as people count them and as the progress line
prints them: ``on_epoch_end(epoch, logs)`` gets 1 after the first epoch, and ``History.best_epoch``
and ``History.stopped_epoch`` are such numbers. (A ``Schedule`` takes ``t``, the number of epochs
completed, which is 0 during the first epoch.)
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import numpy as np

from tinynet._version import install_hint
from tinynet.core.checks import Array, check_float, check_int
from tinynet.core.module import Module

if TYPE_CHECKING:  # a Run only carries the optimizer; nothing here calls it
    from tinynet.training.optim import Optimizer

LOGGED = ("loss", "val_loss", "lr", "grad_norm")


@dataclass
class History:
    """Per-epoch records of a ``fit`` run (JSON-able through ``to_dict``).

    ``loss`` includes the regularization penalty; ``grad_norm`` is the mean over the epoch's steps
    of the global gradient norm before clipping; ``metrics`` maps names such as ``"accuracy"`` and
    ``"val_accuracy"`` to lists. ``best_epoch`` is the epoch (from 1) whose weights early stopping
    found best, ``restored_epoch`` the epoch whose weights the model holds after training when
    they are not the last epoch's, ``stopped_epoch`` the epoch after which a callback stopped
    training (None when every epoch ran), and ``stop_reason`` says why in words.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    restored_epoch: int | None = None
    stopped_epoch: int | None = None
    stop_reason: str | None = None

    @property
    def epochs(self) -> int:
        """How many epochs were recorded."""
        return len(self.loss)

    def __getitem__(self, key: str) -> list[float]:
        if key in LOGGED:
            values: list[float] = getattr(self, key)
            return values
        if key in self.metrics:
            return self.metrics[key]
        raise KeyError(f"History has no {key!r}; available: {self.keys()}")

    def keys(self) -> list[str]:
        """The recorded series: loss, lr, grad_norm, val_loss (with validation), the metrics."""
        base = ["loss", "lr", "grad_norm"] + (["val_loss"] if self.val_loss else [])
        return base + list(self.metrics)

    def record(self, logs: dict[str, float]) -> None:
        """Append one epoch's ``logs`` (name -> value) to their series."""
        for key, value in logs.items():
            if key in LOGGED:
                getattr(self, key).append(value)
            else:
                self.metrics.setdefault(key, []).append(value)

    def extend(self, other: History) -> None:
        """Append ``other``'s epochs (a later fit of the same model) after this history's own."""
        offset = self.epochs
        for key in LOGGED:
            getattr(self, key).extend(getattr(other, key))
        for key, values in other.metrics.items():
            self.metrics.setdefault(key, []).extend(values)
        for key in ("best_epoch", "restored_epoch", "stopped_epoch"):
            value = getattr(other, key)
            setattr(self, key, None if value is None else value + offset)
        self.stop_reason = other.stop_reason

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The history ``to_dict`` described (a checkpoint's); ``ValueError`` when it is damaged."""
        try:
            history = cls(
                metrics={str(k): [float(v) for v in values] for k, values in data["metrics"].items()}
            )
            for key in LOGGED:
                getattr(history, key).extend(float(v) for v in data[key])
            for key in ("best_epoch", "restored_epoch", "stopped_epoch"):
                value = data.get(key)
                setattr(history, key, None if value is None else int(value))
            reason = data.get("stop_reason")
            history.stop_reason = None if reason is None else str(reason)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"the training history is damaged ({type(error).__name__}: {error})") from None
        return history

    def to_dict(self) -> dict[str, Any]:
        """The history as JSON-ready data, as ``history.json`` holds it."""
        return {
            "epochs": self.epochs,
            "loss": self.loss,
            "val_loss": self.val_loss,
            "lr": self.lr,
            "grad_norm": self.grad_norm,
            "metrics": self.metrics,
            "best_epoch": self.best_epoch,
            "restored_epoch": self.restored_epoch,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
        }


@dataclass
class Partial:
    """An epoch in progress: ``step`` steps of epoch ``epoch`` done, the shuffling generator's state
    at the epoch's start (its order is drawn again from it), and the epoch's running sums and, for
    training metrics, its predictions and targets so far."""

    epoch: int
    step: int
    shuffle_start: dict[str, Any] | None
    total_loss: float
    total_norm: float
    steps: int
    outputs: list[Any]
    targets: list[Any]


@dataclass
class Run:
    """A ``fit`` call in progress, as a resumable callback (``tn.Checkpoint``) sees it: what it
    saves, and what it restores before the first epoch (``epoch``: the epochs completed so far).

    ``settings`` describes the call (model, optimizer, loss, data shapes, batch size, schedule, ...)
    as JSON, so a resume can refuse a call that is not the same; ``generators`` are every random
    stream training draws from, by name: the shuffling and each layer's (Dropout's) generator.
    """

    model: Module
    optimizer: Optimizer
    history: History
    epochs: int
    settings: dict[str, Any]
    generators: dict[str, np.random.Generator]
    callbacks: list[Callback]
    epoch: int = 0
    partial: Partial | None = None  # the unfinished epoch, between steps (see Callback.on_step_end)


class Callback:
    """Hooks into ``fit``. ``on_epoch_end`` returning True stops training after that epoch.

    A callback with ``final = True`` (a checkpoint) restores the run before the others see it
    (``on_run_begin``) and runs after them at each epoch's end, once the stop decision is in
    ``history``. One that keeps state across epochs (``EarlyStopping``) gives it
    with ``get_state`` (JSON-able values and arrays) and takes it back with ``set_state``, so that
    a resumed run continues exactly.
    """

    final: ClassVar[bool] = False

    def on_train_begin(self, model: Module) -> None:
        """Called once before the first epoch."""

    def on_run_begin(self, run: Run) -> None:
        """Called after ``on_train_begin`` with the whole run (a checkpoint restores into it; a
        logger learns which epoch a resumed run continues from)."""

    def wants_steps(self) -> bool:
        """Whether ``fit`` should call ``on_step_end`` after every step (by default: when it is
        overridden); a callback that does not costs nothing per step."""
        return type(self).on_step_end is not Callback.on_step_end

    def on_step_end(self, run: Run) -> None:
        """Called after every training step, with ``run.partial`` describing the epoch so far, when
        ``wants_steps()`` (a checkpoint every M steps)."""

    def get_state(self) -> dict[str, Any]:
        """What this callback must carry into a resumed run (values JSON-able or arrays)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take back what ``get_state`` gave (from a checkpoint)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after epoch number ``epoch`` (from 1) with its ``logs`` (loss, val_loss, lr, metrics)."""
        return None

    def on_train_end(self, model: Module, history: History) -> None:
        """Called once after the last epoch, also after an early stop."""

    def stop_reason(self) -> str:
        """Why this callback stopped training, in words (asked when ``on_epoch_end`` returned True)."""
        return f"{type(self).__name__} stopped training"


MAXIMIZED = ("accuracy", "precision", "recall", "f1", "r2")  # what "auto" maximizes; the rest is minimized


def monitor_mode(monitor: str, mode: str) -> str:
    """ "min" or "max" for a logged value: ``mode`` itself, or for "auto" "max" on accuracy-like
    values (with or without ``val_``) and "min" on everything else."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be one of ['auto', 'min', 'max'], got {mode!r}")
    if mode == "auto":
        return "max" if monitor.removeprefix("val_") in MAXIMIZED else "min"
    return mode


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` (None: nothing yet) by more than ``min_delta`` in ``mode``."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the best epoch's weights are put back at the end of training, also when
    training ends by reaching ``epochs``. ``mode`` "auto" maximizes accuracy-like metrics
    (accuracy, precision, recall, f1, r2) and minimizes everything else.
    """

    MAXIMIZED = MAXIMIZED

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 0.0,
        monitor: str = "val_loss",
        restore_best: bool = True,
        mode: str = "auto",
    ) -> None:
        self.patience = check_int(patience, "patience", minimum=0)
        self.min_delta = check_float(min_delta, "min_delta", low=0.0)
        self.monitor = monitor
        self.restore_best = bool(restore_best)
        self.mode = monitor_mode(monitor, mode)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._best_state: dict[str, Array] | None = None
        self._model: Module | None = None
        self._wait = 0

    def on_train_begin(self, model: Module) -> None:
        self._model = model
        self.best, self.best_epoch, self._best_state, self._wait = None, None, None, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not logged; available: {sorted(logs)}"
            )
        value = logs[self.monitor]
        if math.isfinite(value) and improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best and self._model is not None:
                self._best_state = self._model.state_dict()
            return False
        self._wait += 1
        return self._wait >= self.patience

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch, "wait": self._wait}
        if self._best_state is not None:
            state.update((f"best_state/{name}", value) for name, value in self._best_state.items())
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_epoch = None if state.get("best_epoch") is None else int(state["best_epoch"])
        self._wait = int(state.get("wait", 0))
        arrays = {
            k[len("best_state/") :]: np.array(v) for k, v in state.items() if k.startswith("best_state/")
        }
        self._best_state = arrays or None

    def stop_reason(self) -> str:
        better = "lower" if self.mode == "min" else "higher"
        return f"{self.monitor} was not {better} than its best for {self.patience} epochs"

    def on_train_end(self, model: Module, history: History) -> None:
        history.best_epoch = self.best_epoch
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)
            if self.best_epoch != history.epochs:
                history.restored_epoch = self.best_epoch


def ending(history: History, planned: int) -> str:
    """One plain sentence on how training ended, e.g. for the end of a progress display."""
    if history.stopped_epoch is not None:
        text = f"stopped early after epoch {history.stopped_epoch} of {planned}: {history.stop_reason}"
    else:
        text = f"ran all {planned} epochs (no early stop)"
    if history.restored_epoch is not None:
        text += f"; restored the weights of epoch {history.restored_epoch}, the best"
    elif history.best_epoch is not None:
        text += "; the last epoch was the best"
    return text


class Progress(Callback):
    """One progress line per epoch: rewritten in place on a terminal, plain lines otherwise.

    The line shows the loss, every metric logged (validation ones included), the learning rate,
    the time so far and the time left; at the end one line says how training ended.
    """

    def __init__(
        self, epochs: int, stream: TextIO | None = None, live: bool | None = None, announce_end: bool = True
    ) -> None:
        self.epochs = epochs
        self.announce_end = announce_end
        self.stream: Any = stream if stream is not None else sys.stdout
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = is_tty if live is None else live and is_tty
        self.start = time.perf_counter()

    def on_train_begin(self, model: Module) -> None:
        self.start = time.perf_counter()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:  # the reader went away (`| head`): training goes on without output
            self.stream = _Discard()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / epoch * (self.epochs - epoch)
        parts = [f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}", f"loss {logs['loss']:.4f}"]
        parts += [
            f"{key} {value:.4f}" for key, value in logs.items() if key not in ("loss", "lr", "grad_norm")
        ]
        parts += [f"lr {logs['lr']:.3g}", f"{elapsed:.1f}s", f"ETA {eta:.1f}s"]
        line = "  ".join(parts)
        self._write("\r" + line + "\x1b[K" if self.live else line + "\n")

    def on_train_end(self, model: Module, history: History) -> None:
        text = ending(history, self.epochs) + "\n" if self.announce_end else ""
        self._write(("\n" if self.live else "") + text)


class _Discard:
    """A stream that drops everything (after the reader of ours closed its end)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class CSVLogger(Callback):
    """One row per epoch in a CSV file, as Keras's ``CSVLogger``: ``epoch`` then every logged value
    (loss, val_loss, lr, grad_norm, metrics), the header written once.

    A new run replaces the file unless ``append``; a resumed run (``tn.Checkpoint``) keeps the rows
    of the epochs it resumes after, drops any written later (by the run that was killed), and
    appends. Each row is flushed as it is written.
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = False, separator: str = ",") -> None:
        self.path = os.fspath(path)
        self.append = bool(append)
        self.separator = separator
        self._keys: list[str] | None = None
        self._resume_epoch: int | None = None

    def on_train_begin(self, model: Module) -> None:
        self._keys, self._resume_epoch = None, None

    def on_run_begin(self, run: Run) -> None:
        if run.epoch:
            self._resume_epoch = run.epoch

    def _existing(self) -> list[list[str]]:
        try:
            with open(self.path, newline="", encoding="utf-8") as handle:
                return list(csv.reader(handle, delimiter=self.separator))
        except FileNotFoundError:
            return []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self._keys is None:  # the first row of this run decides the columns
            rows = self._existing() if self.append or self._resume_epoch is not None else []
            if self._resume_epoch is not None and rows:  # the header and the epochs before the resume
                rows = [rows[0], *[r for r in rows[1:] if r and int(r[0]) <= self._resume_epoch]]
            self._keys = rows[0][1:] if rows else list(logs)
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(self.path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, delimiter=self.separator)
                writer.writerows(rows or [["epoch", *self._keys]])
        row = [str(epoch), *(repr(float(logs[k])) if k in logs else "" for k in self._keys)]
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle, delimiter=self.separator).writerow(row)
            handle.flush()


class TensorBoard(Callback):
    """TensorBoard event files under ``log_dir``: every logged value as a scalar per epoch (``loss``,
    ``val_loss``, ``lr``, ``grad_norm``, metrics), and with ``histograms`` each parameter's values.

    Written with ``tensorboardX`` (``pip install "tinynet-nn[tensorboard]"``), imported when training
    begins. The writer is made inside the process that trains (never pickled: a search's workers
    each open their own). A resumed run purges the steps after its checkpoint, so a killed run's
    later epochs do not show twice. ``tensorboard --logdir DIR`` shows them.
    """

    def __init__(self, log_dir: str | os.PathLike[str], histograms: bool = False) -> None:
        self.log_dir = os.fspath(log_dir)
        self.histograms = bool(histograms)
        self._writer: Any = None
        self._model: Module | None = None
        self._purge: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writer": None, "_model": None}

    def on_train_begin(self, model: Module) -> None:
        self._model, self._purge = model, None

    def on_run_begin(self, run: Run) -> None:
        if run.epoch:
            self._purge = run.epoch + 1

    def _open(self) -> Any:
        if self._writer is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ImportError(
                    f"TensorBoard logs need the tensorboardX package: {install_hint('tensorboard')}"
                ) from None
            # a file of its own even when a resumed run starts within the second its killed run did
            # (the names sort by the second, then by this suffix, in the order the runs wrote them)
            suffix = f".{time.time_ns():020d}.{os.getpid()}"
            self._writer = SummaryWriter(self.log_dir, purge_step=self._purge, filename_suffix=suffix)
        return self._writer

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        writer = self._open()
        for key, value in logs.items():
            writer.add_scalar(key, float(value), epoch)
        if self.histograms and self._model is not None:
            for name, param in self._model.named_parameters():
                writer.add_histogram(name, param.data, epoch)
        writer.flush()

    def on_train_end(self, model: Module, history: History) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
