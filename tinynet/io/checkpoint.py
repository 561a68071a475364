"""Training that survives a kill: ``Checkpoint``, a ``fit`` callback that saves and resumes a run.

    tn.fit(model, x, y, loss=..., optimizer=..., epochs=50, callbacks=[tn.Checkpoint("run/")])

Every ``every`` epochs, and after the last (or an early stop), the callback writes
``run/checkpoint-<epoch>.npz``: the weights and buffers, the optimizer's state, step count and
learning rate, the ``History``, the epoch reached, every callback's state (``EarlyStopping``'s best
weights and patience) and every random stream of the run (the shuffling, each Dropout's generator).
Running the same ``fit`` call again — after Ctrl-C, a closed laptop, a killed process — resumes from
the newest checkpoint, and the result is bit-identical to a run that was never interrupted. A call
that differs from the checkpoint's (another model, optimizer, batch size, data size, schedule, ...)
is refused with a ``CheckpointMismatchError`` naming what differs.

The files are model files (``tinynet.io.model_file``) with the run's state beside the weights:
written atomically under a new name, so a kill during a write leaves the previous checkpoint whole,
then the ones beyond ``keep`` are removed; read without unpickling, into the run's own arrays (no
allocation beyond the model's and the optimizer's size), a damaged newest file falling back to the
one before. ``save_best="val_loss"`` also keeps ``best.npz``, a plain model file (``tn.load``)
of the epoch with the best value so far, like Keras's ``ModelCheckpoint(save_best_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from typing import Any

import numpy as np

from tinynet.core.checks import Array, check_int
from tinynet.io.model_file import ModelFileError, load_metadata, read_into, save, write_archive
from tinynet.training.callbacks import Callback, History, Partial, Run, improved, monitor_mode

FORMAT = "tinynet-checkpoint"
# checkpoint-<epochs done>.npz, or checkpoint-<epochs done>-<steps into the next>.npz
NAME = re.compile(r"^checkpoint-(\d{1,9})(?:-(\d{1,9}))?\.npz$")


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by another training run than the one asked to resume from it:
    ``path`` is the checkpoint, ``differences`` says what differs, a line each."""

    def __init__(self, message: str, path: str = "", differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.path, self.differences = path, differences or []


def _encode(value: Any) -> Any:
    """JSON for a generator's state: integers (128-bit ones) as decimal strings."""
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {"int": str(int(value))}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"int"} and isinstance(value["int"], str) and value["int"].lstrip("-").isdigit():
            return int(value["int"])
        return {k: _decode(v) for k, v in value.items()}
    return value


def differences(saved: Any, current: Any, where: str = "") -> list[str]:
    """Each setting that differs between the checkpoint's run and this one, in words."""
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current)):
            name = f"{where}.{key}" if where else key
            if key not in current or key not in saved:
                found.append(f"{name}: {'only in the checkpoint' if key in saved else 'new in this run'}")
            else:
                found += differences(saved[key], current[key], name)
        return found
    if saved != current:
        return [f"{where}: {saved!r} in the checkpoint, {current!r} now"]
    return []


def _optimizer_arrays(run: Run) -> dict[str, Array]:
    """The optimizer's state of every parameter (views), named as the checkpoint stores them."""
    return {
        f"optimizer/{index}/{name}": view
        for index, state in enumerate(run.optimizer.param_states())
        for name, view in state.items()
    }


class Checkpoint(Callback):
    """Save the run every ``every`` epochs (and at its end) into ``directory``, keep the newest
    ``keep`` files, and resume from the newest when ``fit`` is called again (see the module
    docstring). ``save_best`` names a logged value (``"val_loss"``, ``"val_accuracy"``, ...) whose
    best epoch is kept as ``best.npz``; ``mode`` "auto" maximizes accuracy-like values."""

    final = True  # runs after the other callbacks, once the epoch's stop decision is known

    def __init__(
        self,
        directory: str | os.PathLike[str],
        every: int = 1,
        keep: int = 1,
        save_best: str | None = None,
        mode: str = "auto",
        resume: bool = True,
        every_steps: int | None = None,
    ) -> None:
        self.directory = os.fspath(directory)
        self.every = check_int(every, "every", minimum=1)
        self.every_steps = None if every_steps is None else check_int(every_steps, "every_steps", minimum=1)
        self.keep = check_int(keep, "keep", minimum=1)
        self.save_best = save_best
        self.mode = monitor_mode(save_best or "", mode)
        self.resume = bool(resume)
        self.best: float | None = None
        self.resumed_from: str | None = None  # the file the last fit resumed from, and its epoch
        self.resumed_epoch = 0
        self._run: Run | None = None

    # -- files ---------------------------------------------------------------------------------
    def files(self) -> list[str]:
        """The checkpoint files in ``directory``, newest (highest epoch) first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = [(int(m.group(1)), int(m.group(2) or 0), name) for name in names if (m := NAME.match(name))]
        return [os.path.join(self.directory, name) for _, _, name in sorted(found, reverse=True)]

    @property
    def best_path(self) -> str:
        """``DIRECTORY/best.npz``: the weights of the best epoch so far (with early stopping)."""
        return os.path.join(self.directory, "best.npz")

    # -- the hooks -------------------------------------------------------------------------------
    def on_run_begin(self, run: Run) -> None:
        self._run, self.best, self.resumed_from, self.resumed_epoch = run, None, None, 0
        if not self.resume:
            return
        for path in self.files():
            try:
                self._restore(path, run)
            except ModelFileError as error:  # a damaged file: the one before is whole
                warnings.warn(f"skipping checkpoint {path}: {error}", RuntimeWarning, stacklevel=2)
                continue
            self.resumed_from, self.resumed_epoch = path, run.epoch
            return

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        run = self._run
        if run is None:
            raise RuntimeError("Checkpoint.on_epoch_end called outside fit")
        if self.save_best is not None:
            if self.save_best not in logs:
                raise ValueError(
                    f"Checkpoint: save_best {self.save_best!r} is not logged; available: {sorted(logs)}"
                )
            value = logs[self.save_best]
            if math.isfinite(value) and improved(value, self.best, self.mode):
                self.best = value
                save(run.model, self.best_path, {"epoch": epoch, self.save_best: value})
        last = epoch == run.epochs or run.history.stopped_epoch is not None
        if epoch % self.every == 0 or last:
            self._write(run, epoch)

    def wants_steps(self) -> bool:
        return self.every_steps is not None

    def on_step_end(self, run: Run) -> None:
        if self.every_steps is not None and run.optimizer.t % self.every_steps == 0:
            self._write(run, run.epoch)

    # -- writing and reading -----------------------------------------------------------------------
    def _write(self, run: Run, epoch: int) -> None:
        os.makedirs(self.directory, exist_ok=True)
        extra = _optimizer_arrays(run)
        callbacks = []
        for index, callback in enumerate(self._stateful(run)):
            values, arrays = {}, {}
            for key, value in callback.get_state().items():
                if isinstance(value, np.ndarray):
                    arrays[key] = list(value.shape)
                    extra[f"callbacks/{index}/{key}"] = value
                else:
                    values[key] = value
            callbacks.append({"class": type(callback).__name__, "state": values, "arrays": arrays})
        partial = run.partial
        described_partial = None
        if partial is not None:  # in the middle of the next epoch: its order, sums and predictions
            described_partial = {
                "epoch": partial.epoch,
                "step": partial.step,
                "shuffle_start": None if partial.shuffle_start is None else _encode(partial.shuffle_start),
                "total_loss": partial.total_loss,
                "total_norm": partial.total_norm,
                "steps": partial.steps,
            }
            for key, parts in (("outputs", partial.outputs), ("targets", partial.targets)):
                if not parts:
                    continue
                if not all(isinstance(part, np.ndarray) for part in parts):
                    raise ValueError(
                        "Checkpoint(every_steps=...) keeps the epoch's training metrics for one output; "
                        "with several outputs, checkpoint every epoch (every=1) instead"
                    )
                joined = np.concatenate(parts)
                extra[f"partial/{key}"] = joined
                described_partial[key] = {"shape": list(joined.shape), "dtype": joined.dtype.str}
        meta = {
            "format": FORMAT,
            "epoch": epoch,
            "partial": described_partial,
            "settings": run.settings,
            "history": run.history.to_dict(),
            "optimizer": {"t": run.optimizer.t, "lr": run.optimizer.lr},
            "generators": {name: _encode(g.bit_generator.state) for name, g in run.generators.items()},
            "callbacks": callbacks,
            "best": self.best,
        }
        step = f"-{partial.step:06d}" if partial is not None else ""
        path = os.path.join(self.directory, f"checkpoint-{epoch:06d}{step}.npz")
        write_archive(run.model, path, json.loads(json.dumps(meta)), extra)
        for old in self.files()[self.keep :]:
            with contextlib.suppress(FileNotFoundError):  # another process removed it first
                os.remove(old)

    @staticmethod
    def _stateful(run: Run) -> list[Callback]:
        """The callbacks that carry state from epoch to epoch (EarlyStopping), in order; loggers and
        progress lines carry none, so a resumed call may add or drop them."""
        return [callback for callback in run.callbacks if callback.get_state()]

    def _restore(self, path: str, run: Run) -> None:
        meta = load_metadata(path)
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{path}: not a tinynet checkpoint")
        changed = differences(meta.get("settings"), json.loads(json.dumps(run.settings)))
        if changed:
            raise CheckpointMismatchError(
                f"cannot resume from {path}: this fit call differs from the checkpoint's: "
                + "; ".join(changed)
                + ". Call fit as before, or start afresh in another directory (or resume=False)",
                path,
                changed,
            )
        try:
            epoch = int(meta["epoch"])
            history = History.from_dict(meta["history"])
            saved_callbacks = list(meta["callbacks"])
            generators = {name: _decode(state) for name, state in dict(meta["generators"]).items()}
            optimizer = dict(meta["optimizer"])
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path}: the checkpoint's state is damaged ({error})") from None
        stateful = self._stateful(run)
        saved_names = [str(saved.get("class")) for saved in saved_callbacks]
        if saved_names != [type(c).__name__ for c in stateful] or set(generators) != set(run.generators):
            difference = (
                f"stateful callbacks {saved_names} and random streams {sorted(generators)} in the "
                f"checkpoint, {[type(c).__name__ for c in stateful]} and {sorted(run.generators)} now"
            )
            raise CheckpointMismatchError(f"cannot resume from {path}: {difference}", path, [difference])
        targets = _optimizer_arrays(run)  # views into its flat storage: read straight in
        model_size = sum(math.prod(shape) for shape in run.model.state_shapes().values())
        budget = 2 * model_size + 2**16  # what a callback may keep: a copy of the weights, say
        callback_arrays: list[dict[str, Array]] = []
        for index, saved in enumerate(saved_callbacks):
            arrays = {}
            for key, shape in dict(saved.get("arrays", {})).items():
                size = math.prod(int(d) for d in shape)
                budget -= size
                if budget < 0 or any(int(d) < 0 for d in shape):
                    raise ModelFileError(f"{path}: the callbacks' arrays exceed what this model could need")
                arrays[key] = np.empty(tuple(int(d) for d in shape), run.model.dtype or np.float64)
                targets[f"callbacks/{index}/{key}"] = arrays[key]
            callback_arrays.append(arrays)
        partial_meta = meta.get("partial")
        partial_arrays: dict[str, Array] = {}
        if partial_meta is not None:
            rows = int(run.settings.get("rows", 0))
            for key in ("outputs", "targets"):
                described = partial_meta.get(key)
                if described is None:
                    continue
                shape = tuple(int(d) for d in described["shape"])
                dtype = np.dtype(described["dtype"])
                if (
                    dtype.kind not in "fiub"
                    or not shape
                    or shape[0] > rows
                    or math.prod(shape) > rows * 2**12
                ):
                    raise ModelFileError(f"{path}: the epoch's saved {key} do not fit this run")
                partial_arrays[key] = np.empty(shape, dtype)
                targets[f"partial/{key}"] = partial_arrays[key]
        read_into(path, run.model, targets)  # checks everything before it changes anything
        for index, callback in enumerate(stateful):
            callback.set_state({**dict(saved_callbacks[index].get("state", {})), **callback_arrays[index]})
        for name, generator in run.generators.items():
            generator.bit_generator.state = generators[name]
        run.optimizer.t = int(optimizer["t"])
        run.optimizer.lr = float(optimizer["lr"])
        run.history = history
        run.epoch = epoch
        run.partial = None
        if partial_meta is not None:
            start = partial_meta.get("shuffle_start")
            run.partial = Partial(
                int(partial_meta["epoch"]),
                int(partial_meta["step"]),
                None if start is None else _decode(start),
                float(partial_meta["total_loss"]),
                float(partial_meta["total_norm"]),
                int(partial_meta["steps"]),
                [partial_arrays["outputs"]] if "outputs" in partial_arrays else [],
                [partial_arrays["targets"]] if "targets" in partial_arrays else [],
            )
        best = meta.get("best")
        self.best = None if best is None else float(best)
