"""Training records and hooks: ``History``, ``Callback``, ``EarlyStopping`` and ``Progress``.

Epochs are numbered from 1 everywhere in this API, as people count them and as the progress line
prints them: ``on_epoch_end(epoch, logs)`` gets 1 after the first epoch, and ``History.best_epoch``
and ``History.stopped_epoch`` are such numbers. (A ``Schedule`` takes ``t``, the number of epochs
completed, which is 0 during the first epoch.)
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from tinynet.core.checks import Array, check_float, check_int
from tinynet.core.module import Module

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
        return len(self.loss)

    def __getitem__(self, key: str) -> list[float]:
        if key in LOGGED:
            values: list[float] = getattr(self, key)
            return values
        if key in self.metrics:
            return self.metrics[key]
        raise KeyError(f"History has no {key!r}; available: {self.keys()}")

    def keys(self) -> list[str]:
        base = ["loss", "lr", "grad_norm"] + (["val_loss"] if self.val_loss else [])
        return base + list(self.metrics)

    def record(self, logs: dict[str, float]) -> None:
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

    def to_dict(self) -> dict[str, Any]:
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


class Callback:
    """Hooks into ``fit``. ``on_epoch_end`` returning True stops training after that epoch."""

    def on_train_begin(self, model: Module) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after epoch number ``epoch`` (from 1) with its ``logs`` (loss, val_loss, lr, metrics)."""
        return None

    def on_train_end(self, model: Module, history: History) -> None:
        """Called once after the last epoch, also after an early stop."""

    def stop_reason(self) -> str:
        """Why this callback stopped training, in words (asked when ``on_epoch_end`` returned True)."""
        return f"{type(self).__name__} stopped training"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the best epoch's weights are put back at the end of training, also when
    training ends by reaching ``epochs``. ``mode`` "auto" maximizes accuracy-like metrics
    (accuracy, precision, recall, f1, r2) and minimizes everything else.
    """

    MAXIMIZED = ("accuracy", "precision", "recall", "f1", "r2")

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
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be one of ['auto', 'min', 'max'], got {mode!r}")
        if mode == "auto":
            mode = "max" if monitor.removeprefix("val_") in self.MAXIMIZED else "min"
        self.mode = mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._best_state: dict[str, Array] | None = None
        self._model: Module | None = None
        self._wait = 0

    def on_train_begin(self, model: Module) -> None:
        self._model = model
        self.best, self.best_epoch, self._best_state, self._wait = None, None, None, 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not logged; available: {sorted(logs)}"
            )
        value = logs[self.monitor]
        if math.isfinite(value) and self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best and self._model is not None:
                self._best_state = self._model.state_dict()
            return False
        self._wait += 1
        return self._wait >= self.patience

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
