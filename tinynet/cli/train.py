"""``tinynet train``: a ``TabularModel`` on the training split, its test metrics, its files and plots.

The command only turns flags into settings and results into files; the table pipeline itself is
``tinynet.TabularModel``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinynet as tn
from tinynet._version import install_hint
from tinynet.cli.parser import CLIError, Interrupted
from tinynet.core.checks import Array
from tinynet.core.files import atomic_write_bytes
from tinynet.data import split_indices
from tinynet.data.split import StratifyError
from tinynet.tabular import TableData, TabularModel, TabularSettings, load_table, report
from tinynet.tabular.report import MAX_SHOWN_CLASSES
from tinynet.tabular.settings import SettingError
from tinynet.training.callbacks import ending

SEPARATORS = ("_", "-", ".")


# -- settings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """A ``tinynet train`` run: where the table comes from, the test split, and the model's settings.

    ``config.json`` holds these fields and the model's, flat, under the flags' names.
    """

    dataset: str
    model: TabularSettings
    delimiter: str = ","
    test_size: float = 0.2
    wanted_features: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        wanted = list(self.wanted_features) if self.wanted_features is not None else None
        own = {"dataset": self.dataset, "delimiter": self.delimiter, "test_size": self.test_size}
        return {**own, "wanted_features": wanted, **self.model.to_dict()}


def flag_text(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


HINTS = {"layers": "choose smaller --layers"}


def flag_error(error: SettingError) -> CLIError:
    """A library ``SettingError`` worded in the flags the user typed."""
    text = f"--{error.setting} {flag_text(error.value)}: {error.problem}"
    if error.fix:
        text += f"; use --{error.setting} {error.fix}"
    if error.setting in HINTS:
        text += f"; {HINTS[error.setting]}"
    return CLIError(text)


def model_settings(args: argparse.Namespace) -> TabularSettings:
    """The model's settings from the flags (their names are the fields' names)."""
    values = {name: getattr(args, name) for name in TabularSettings.field_names() if hasattr(args, name)}
    try:
        return TabularSettings(**values)
    except SettingError as error:
        raise flag_error(error) from None


def run_settings(args: argparse.Namespace, model: TabularSettings | None = None) -> RunSettings:
    return RunSettings(
        args.dataset,
        model or model_settings(args),
        args.delimiter,
        args.test_size,
        tuple(args.wanted_features) if getattr(args, "wanted_features", None) else None,
    )


def select(settings: RunSettings) -> TableData:
    """The table the flags name, and the rows and columns they choose."""
    try:
        table, name, default_target = load_table(settings.dataset, settings.delimiter)
        return TableData.select(table, settings.model, name, default_target)
    except SettingError as error:
        raise flag_error(error) from None


# -- output files -----------------------------------------------------------------------------------
def suffix(extension: str) -> str:
    """``--extension_name`` as a file name suffix: joined with ``_`` unless it starts with a separator."""
    if not extension:
        return ""
    if any(char in extension for char in ("/", "\\", "\0")) or ".." in extension:  # a separator anywhere
        raise CLIError(
            f"--extension_name {extension!r} must be a plain suffix (no path separators, no '..'): "
            "output files always go into --output_dir"
        )
    return extension if extension.startswith(SEPARATORS) else f"_{extension}"


def named_outputs(
    output_dir: str, extension: str, save: str | None, names: dict[str, str], model: str
) -> dict[str, str]:
    """``names`` by role as paths in ``output_dir`` with the suffix, and ``save`` (default: the
    folder's ``model<ext>.npz``) as ``"model"``; no two may be the same file."""
    ext = suffix(extension)
    paths = {}
    for role, name in names.items():
        stem, dot, kind = name.rpartition(".")
        paths[role] = os.path.join(output_dir, f"{stem}{ext}{dot}{kind}")
    paths["model"] = save or os.path.join(output_dir, f"{model}{ext}.npz")
    seen: dict[str, str] = {}
    for role, path in paths.items():
        key = os.path.realpath(path)
        if key in seen:
            raise CLIError(
                f"the {role} file and the {seen[key]} file would both be {path}; choose another --save"
            )
        seen[key] = role
    return paths


def output_paths(args: argparse.Namespace, classification: bool) -> dict[str, str]:
    """Every file a run writes, by role; no two may be the same file."""
    names = {"metrics": "metrics.json", "history": "history.json", "config": "config.json"}
    names["loss plot"] = "loss.png"
    names["class plot" if classification else "prediction plot"] = (
        "confusion_matrix.png" if classification else "predictions.png"
    )
    if args.wanted_features:
        names["feature plot"] = "features.png"
    return named_outputs(args.output_dir, args.extension_name, args.save, names, "model")


def prepare_folder(path: str, flag: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CLIError(f"{flag} {os.path.dirname(path) or folder}: exists and is not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise CLIError(f"{flag}: cannot create the folder {folder} ({error.strerror})") from None


def write_json(path: str, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def write_config(path: str, settings: RunSettings) -> None:
    """config.json: the run's settings and versions; ``tinynet train --config`` repeats the run."""
    write_json(
        path,
        {
            "tinynet": tn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "command": "tinynet train --config " + path,
            "settings": settings.to_dict(),
        },
    )


# -- the run ----------------------------------------------------------------------------------------
def train(
    model: TabularModel, data: TableData, rows: Array, callbacks: list[tn.Callback] | None = None
) -> TabularModel:
    """``model.fit`` on ``rows``, a divergence worded for the command line."""
    try:
        return model.fit(data, rows, callbacks=callbacks or [])
    except tn.TrainingDivergedError as error:
        settings = model.settings
        raise tn.TrainingDivergedError(
            f"{error.what}. Nothing was written. Lower --learning_rate (now {settings.learning_rate})"
            + ("" if settings.clip else " or add --clip 1.0"),
            epoch=error.epoch,
            step=error.step,
            history=error.history,
            what=error.what,
        ) from None


def test_report(model: TabularModel, data: TableData, train_rows: Array, test_rows: Array, say: Any) -> Any:
    """Print the test metrics (and a hint at chance level); return the evaluation."""
    evaluation = model.evaluate(data, test_rows)
    say("\n" + evaluation.text)
    if model.settings.classification and model.history is not None:
        note = report.chance_note(
            model.history.loss[-1],
            evaluation.metrics["accuracy"],
            data.y[train_rows],
            len(data.class_names or ()),
        )
        if note:
            say("\n" + note)
    return evaluation


def describe_data(model: TabularSettings, data: TableData, n_train: int, n_test: int) -> str:
    described = f"{n_train} train / {n_test} test samples, {len(data.features)} features"
    if data.text:
        described += f": {len(data.numeric)} numeric, {len(data.text)} text"
    missing = data.missing_values()
    if missing:
        described += f"; {missing} missing values " + ("imputed" if model.missing == "impute" else "")
    if data.dropped:
        described += f"; {data.dropped} rows left out (a missing target or value)"
    said = f"tinynet {tn.__version__}: {model.task} on {data.name} ({described})"
    if data.identifiers:
        names = ", ".join(data.identifiers)
        it = "it" if len(data.identifiers) == 1 else "them"
        said += (
            f"\nleft out {names}: different in every row, an identifier rather than a feature "
            f"(name {it} in --features to use {it})"
        )
    return said


def build(model: TabularModel, data: TableData, rows: Array) -> None:
    try:
        model.build(data, rows)
    except SettingError as error:
        raise flag_error(error) from None


def run_train(args: argparse.Namespace, out: Any) -> int:
    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=out)

    checkpoint = checkpoint_callback(args)  # a wrong --resume is said before any work
    settings = run_settings(args)
    classification = settings.model.classification
    paths = output_paths(args, classification)
    data = select(settings)
    wanted = wanted_columns(args, data)
    train_rows, test_rows = split_rows(data, settings.test_size, settings.model.seed, classification)
    model = TabularModel(settings.model)
    build(model, data, train_rows)
    say(describe_data(settings.model, data, len(train_rows), len(test_rows)))
    say(model.describe())
    # --show_loss prints a plain line per epoch; otherwise one live line, on a terminal only
    progress = tn.Progress(settings.model.epochs, out, live=not args.show_loss, announce_end=False)
    show_progress = not args.quiet and (args.show_loss or progress.live)
    callbacks: list[tn.Callback] = [progress] if show_progress else []
    callbacks += log_callbacks(args.log_dir, say) if args.log_dir else []
    if checkpoint is not None:
        callbacks.append(checkpoint)
    try:
        train(model, data, train_rows, callbacks)
    except KeyboardInterrupt as error:
        raise interrupted_training(args, settings.model.epochs, error, checkpoint) from None
    except tn.CheckpointMismatchError as error:
        raise CLIError(
            f"--resume: {error.path} was written by a run with other settings: "
            + "; ".join(error.differences)
            + ". Run the same command as before, or give another --checkpoint_dir"
        ) from None
    assert model.history is not None
    said = ending(model.history, settings.model.epochs)
    if checkpoint is not None and checkpoint.resumed_from:
        done = checkpoint.resumed_epoch
        say(f"resumed from {checkpoint.resumed_from} (epoch {done} of {settings.model.epochs})")
        ran = model.history.epochs - done
        say(f"trained {ran} more epochs in {model.seconds:.2f}s, {model.history.epochs} in all: {said}")
    else:
        say(f"trained {model.history.epochs} epochs in {model.seconds:.2f}s: {said}")

    for path in paths.values():
        prepare_folder(path, "--save" if path == args.save else "--output_dir")
    evaluation = test_report(model, data, train_rows, test_rows, say)
    written: list[str] = []  # each file is written whole or not at all
    history = model.history
    try:
        write_json(paths["metrics"], evaluation.metrics)
        written.append(paths["metrics"])
        write_json(paths["history"], history.to_dict())
        written.append(paths["history"])
        write_config(paths["config"], settings)
        written.append(paths["config"])
        model.save(paths["model"])
        written.append(paths["model"])
        write_plots(
            settings,
            data,
            history,
            evaluation.metrics,
            test_rows,
            wanted,
            evaluation.predicted,
            paths,
            say,
            written,
        )
    except KeyboardInterrupt:
        raise Interrupted(
            "while writing the results: "
            + (f"wrote {', '.join(written)}; " if written else "")
            + "every other output is missing or from an earlier run; run the command again"
        ) from None
    say("\nwrote " + ", ".join(written))
    return 0


def split_rows(data: TableData, test_size: float, seed: int, classification: bool) -> tuple[Array, Array]:
    """The training and test rows, a classification's split stratified; a split that cannot keep
    every class on both sides is worded as the --test_size that would."""
    n = len(data)
    try:
        return split_indices(n, data.y, test_size, rng=seed, stratify=classification)
    except StratifyError as error:
        k = error.classes
        said = (
            f"--test_size {test_size} puts {error.n_test} of the {n} rows in the test split and "
            f"{error.n_train} in training, but keeping each of the {k} classes on both sides needs at "
            f"least {k} rows on each side"
        )
        if 2 * k > n:
            raise CLIError(f"{said}; {n} rows are too few for {k} classes") from None
        low, high = math.ceil(100 * k / n) / 100, math.floor(100 * (n - k) / n) / 100
        fix = f"--test_size {low}" if low >= high else f"a --test_size from {low} to {high}"
        raise CLIError(f"{said}: use {fix}") from None


def interrupted_training(
    args: argparse.Namespace, epochs: int, error: KeyboardInterrupt, checkpoint: tn.Checkpoint | None
) -> Interrupted:
    """Ctrl-C during training, with what was written: nothing but checkpoints and logs."""
    history = getattr(error, "history", None)
    done = history.epochs if history is not None else 0
    said = f"during training, after {done} of {epochs} epochs: no model, metrics or plots were written"
    if checkpoint is not None and checkpoint.files():
        said += (
            f"; {checkpoint.files()[0]} is the newest checkpoint: "
            "run the same command with --resume to continue from it"
        )
    elif checkpoint is not None:
        said += f"; no checkpoint was written yet to {args.checkpoint_dir}"
    if args.log_dir:
        said += f"; {os.path.join(args.log_dir, 'log.csv')} logs the finished epochs"
    return Interrupted(said)


def checkpoint_callback(args: argparse.Namespace) -> tn.Checkpoint | None:
    """The run's checkpoints, from --checkpoint_dir, --resume and --keep (None without a folder)."""
    if args.checkpoint_dir is None:
        if args.resume:
            raise CLIError("--resume needs --checkpoint_dir DIR, the folder of the run's checkpoints")
        return None
    checkpoint = tn.Checkpoint(args.checkpoint_dir, keep=args.keep, resume=args.resume)
    found = checkpoint.files()
    if found and not args.resume:
        raise CLIError(
            f"--checkpoint_dir {args.checkpoint_dir} holds checkpoints of an earlier run ({found[0]}): "
            "add --resume to continue that run, or give another folder"
        )
    return checkpoint


def log_callbacks(folder: str, say: Any) -> list[tn.Callback]:
    """A CSV log in ``folder``, and TensorBoard event files when tensorboardX is installed."""
    os.makedirs(folder, exist_ok=True)
    callbacks: list[tn.Callback] = [tn.CSVLogger(os.path.join(folder, "log.csv"))]
    if importlib.util.find_spec("tensorboardX") is None:
        say(f"--log_dir: writing {folder}/log.csv; TensorBoard files need {install_hint('tensorboard')}")
    else:
        callbacks.append(tn.TensorBoard(folder))
    return callbacks


def wanted_columns(args: argparse.Namespace, data: TableData) -> list[str]:
    """``--wanted_features`` as numeric feature column names (given by name or by index)."""
    if not args.wanted_features:
        return []
    features = data.features
    chosen = []
    for item in args.wanted_features:
        if item.lstrip("-").isdigit():
            index = int(item)
            if not 0 <= index < len(features):
                names = ", ".join(f"{i}={n}" for i, n in enumerate(features))
                raise CLIError(
                    f"--wanted_features {item} out of range: valid indices are "
                    f"0..{len(features) - 1} ({names})"
                )
            item = features[index]
        elif item not in features:
            raise CLIError(f"--wanted_features {item}: no such feature column; columns are {features}")
        if item in data.text:
            raise CLIError(f"--wanted_features {item}: a text column; the feature plot takes numeric columns")
        chosen.append(item)
    return chosen


def write_plots(
    settings: RunSettings,
    data: TableData,
    history: tn.History,
    results: dict[str, Any],
    test_rows: Array,
    wanted: list[str],
    predicted: Any,
    paths: dict[str, str],
    say: Callable[..., None],
    written: list[str],
) -> None:
    """Draw the run's plots, adding each file to ``written`` as soon as it is whole."""
    from tinynet.tools import plot

    task = settings.model.task
    classification = settings.model.classification
    target = data.target.name
    y_test = data.y[test_rows]
    split = f"{data.name}, {task}"
    loss_label = "cross-entropy loss" if classification else f"MSE of the standardized {target}"
    try:
        written.append(
            plot.plot_history(history, paths["loss plot"], title=f"{split}: training", loss_label=loss_label)
        )
        if classification and len(results["classes"]) > MAX_SHOWN_CLASSES:
            say(f"confusion matrix plot skipped: {len(results['classes'])} classes cannot be read in one")
        elif classification:
            written.append(
                plot.plot_confusion_matrix(
                    np.array(results["confusion_matrix"]),
                    results["classes"],
                    paths["class plot"],
                    title=f"{split}: test split",
                )
            )
        else:
            written.append(
                plot.plot_predictions(
                    y_test,
                    predicted,
                    paths["prediction plot"],
                    target_name=target,
                    title=f"{split}: test split",
                )
            )
        if wanted:
            rows = data.rows[test_rows]
            x = np.column_stack([data.table.column(name).values[rows] for name in wanted])
            written.append(
                plot.plot_features(
                    x,
                    y_test,
                    predicted,
                    list(range(len(wanted))),
                    wanted,
                    paths["feature plot"],
                    target_name=target,
                    class_names=results["classes"] if classification else None,
                    title=f"{split}: test split",
                )
            )
    except plot.PlotUnavailableError:
        say(f"plots skipped: matplotlib is not installed ({plot.INSTALL_HINT} to enable them)")
