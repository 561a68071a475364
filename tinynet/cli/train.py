"""``tinynet train``: load, split, encode, build, train, evaluate, and write metrics, model and plots."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinynet as tn
from tinynet._checks import Array
from tinynet._io import atomic_write_bytes, check_fits_in_memory
from tinynet.callbacks import ending
from tinynet.cli import report
from tinynet.cli.data import Problem, problem
from tinynet.cli.parser import CLIError, run_settings
from tinynet.data import StandardScaler, split_indices
from tinynet.mlp import MLP, with_output
from tinynet.tabular import Encoded, TableEncoder

SEPARATORS = ("_", "-", ".")


def make_optimizer(name: str, params: list[tn.Parameter], lr: float) -> tn.Optimizer:
    if name == "sgd":
        return tn.SGD(params, lr=lr)
    if name == "momentum":
        return tn.SGD(params, lr=lr, momentum=0.9)
    return tn.optim.OPTIMIZERS[name](params, lr=lr)


def builder(args: argparse.Namespace, categories: list[int]) -> MLP:
    dims = [args.embedding_dim] * len(categories) if args.embedding_dim else None
    return MLP(args.layers, args.activation, args.dropout, args.norm, args.weight_init, args.dtype, dims)


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


def output_paths(args: argparse.Namespace, classification: bool) -> dict[str, str]:
    """Every file a run writes, by role; no two may be the same file."""
    names = {
        "metrics": "metrics.json",
        "history": "history.json",
        "config": "config.json",
        "loss plot": "loss.png",
    }
    names["class plot" if classification else "prediction plot"] = (
        "confusion_matrix.png" if classification else "predictions.png"
    )
    if args.wanted_features:
        names["feature plot"] = "features.png"
    return named_outputs(args, names, "model")


def named_outputs(args: argparse.Namespace, names: dict[str, str], model: str) -> dict[str, str]:
    """``names`` by role as paths in ``--output_dir`` with the suffix, and ``--save`` (default: the
    folder's ``model<ext>.npz``) as ``"model"``; no two may be the same file."""
    ext = suffix(args.extension_name)
    paths = {}
    for role, name in names.items():
        stem, dot, extension = name.rpartition(".")
        paths[role] = os.path.join(args.output_dir, f"{stem}{ext}{dot}{extension}")
    paths["model"] = args.save or os.path.join(args.output_dir, f"{model}{ext}.npz")
    seen: dict[str, str] = {}
    for role, path in paths.items():
        key = os.path.realpath(path)
        if key in seen:
            raise CLIError(
                f"the {role} file and the {seen[key]} file would both be {path}; choose another --save"
            )
        seen[key] = role
    return paths


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


def write_config(path: str, args: argparse.Namespace) -> None:
    """config.json: the run's settings and versions; ``tinynet train --config`` repeats the run."""
    write_json(
        path,
        {
            "tinynet": tn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "command": "tinynet train --config " + path,
            "settings": run_settings(args),
        },
    )


# -- the run ----------------------------------------------------------------------------------------
def describe_model(
    args: argparse.Namespace, data: Problem, encoder: TableEncoder, n_out: int, params: int
) -> str:
    """The model line: architecture, and every setting that differs from the plain model."""
    output = args.output or ("softmax" if args.task == "classification" else "linear")
    inputs = str(len(encoder.numeric))
    if encoder.text:
        kind = "one-hot" if args.categorical == "onehot" else "embedded"
        inputs += f" numbers + {len(encoder.text)} text ({kind})"
    parts = [" -> ".join([inputs, *map(str, args.layers), str(n_out)]), args.activation, f"{output} output"]
    parts += [f"{args.weight_init} init", f"{args.optimizer} lr={args.learning_rate} decay={args.decay_rate}"]
    extras = [
        (args.l1, f"l1={args.l1}"),
        (args.l2, f"l2={args.l2}"),
        (args.dropout, f"dropout={args.dropout}"),
        (args.norm != "none", f"{args.norm} norm"),
        (args.clip, f"clip={args.clip}"),
        (args.batch_size != 32, f"batch={args.batch_size}"),
        (args.dtype != "float64", args.dtype),
        (args.patience != 10, f"patience={args.patience}" if args.patience else "no early stopping"),
        (args.validation_split != 0.2 and args.patience, f"validation={args.validation_split}"),
        (args.missing != "impute", "rows with missing values dropped"),
    ]
    parts += [text for on, text in extras if on]
    return f"model: {', '.join(parts)}, {params} parameters"


def check_size(args: argparse.Namespace, build: MLP, n_in: int, n_out: int, categories: list[int]) -> None:
    count = build.num_parameters(n_in, n_out, categories)
    itemsize = np.dtype(args.dtype).itemsize
    try:  # weights, gradients and up to two optimizer buffers
        check_fits_in_memory(
            4 * count * itemsize, f"--layers {' '.join(map(str, args.layers))} ({count:,} parameters)"
        )
    except ValueError as error:
        raise CLIError(f"{error}; choose smaller --layers") from None


@dataclass
class Trained:
    """A network trained on some rows of a problem, with what it takes to use it on others."""

    body: tn.Module  # logits or values
    encoder: TableEncoder
    y_scaler: StandardScaler | None
    history: tn.History
    seconds: float

    def outputs(self, data: Problem, rows: Array, dtype: Any) -> Array:
        """Class indices (classification) or values in original units for ``rows`` of the table."""
        raw: Array = tn.predict(self.body, _typed(self.encoder.encode(data.table, data.rows[rows]), dtype))
        if self.y_scaler is None:
            labels: Array = raw.argmax(axis=1)
            return labels
        values: Array = self.y_scaler.inverse_transform(raw[:, 0])
        return values


def train_rows(
    args: argparse.Namespace, data: Problem, rows: Array, callbacks: list[tn.Callback] | None = None
) -> Trained:
    """Train ``args``'s network on ``rows`` of ``data`` (statistics from these rows only)."""
    classification = args.task == "classification"
    encoder = TableEncoder(data.numeric, data.text, args.categorical).fit(data.table, data.rows[rows])
    encoded = encoder.encode(data.table, data.rows[rows])
    n_out = len(data.target_names or ()) if classification else 1
    categories = [] if args.categorical == "onehot" else encoder.cardinalities()
    build = builder(args, categories)
    check_size(args, build, encoder.width, n_out, categories)
    dtype = np.dtype(args.dtype)
    y = data.y[rows]
    y_scaler = None
    if classification:
        targets: Any = y
        loss: tn.Loss = tn.CrossEntropyLoss()
    else:
        y_scaler = StandardScaler().fit(y)
        targets = y_scaler.transform(y).astype(dtype)
        loss = tn.MSELoss()
    rng = np.random.default_rng(args.seed)
    body = build(encoder.width, n_out, rng, categories)
    optimizer = make_optimizer(args.optimizer, body.parameters(), args.learning_rate)
    start = time.perf_counter()
    try:
        history = tn.fit(
            body,
            _typed(encoded, dtype),
            targets,
            loss=loss,
            optimizer=optimizer,
            epochs=args.epochs,
            batch_size=args.batch_size,
            rng=rng,
            schedule=tn.InverseTimeDecay(args.learning_rate, args.decay_rate),
            clipper=tn.ClipGlobalNorm(args.clip) if args.clip else None,
            regularizer=tn.L1L2(args.l1, args.l2) if args.l1 or args.l2 else None,
            validation_split=args.validation_split if args.patience else 0.0,
            early_stopping=tn.EarlyStopping(patience=args.patience) if args.patience else None,
            callbacks=callbacks or [],
            verbose=0,
        )
    except tn.TrainingDivergedError as error:
        raise tn.TrainingDivergedError(
            f"{str(error).split('; the model holds')[0]}. Nothing was written. Lower --learning_rate "
            f"(now {args.learning_rate})" + ("" if args.clip else " or add --clip 1.0"),
            epoch=error.epoch,
            step=error.step,
            history=error.history,
        ) from None
    return Trained(body, encoder, y_scaler, history, time.perf_counter() - start)


def model_file(args: argparse.Namespace, data: Problem, trained: Trained) -> tuple[tn.Module, dict[str, Any]]:
    """The model to save (Softmax appended when asked for) and the metadata predict and export read."""
    classification = args.task == "classification"
    output = args.output or ("softmax" if classification else "linear")
    model = with_output(trained.body, tn.Softmax()) if output == "softmax" else trained.body
    metadata = {
        "task": args.task,
        "dataset": data.name,
        "target_name": data.target.name,
        "target_names": list(data.target_names) if data.target_names is not None else None,
        "features": trained.encoder.state(),
        "outputs": "probabilities" if output == "softmax" else ("logits" if classification else "values"),
        "y_scaler": trained.y_scaler.get_state() if trained.y_scaler is not None else None,
    }
    return model, metadata


def test_report(
    args: argparse.Namespace, data: Problem, trained: Trained, train: Array, test: Array, say: Any
) -> tuple[dict[str, Any], Array]:
    """Print and return the test metrics; also the predictions (class indices or original units)."""
    predicted = trained.outputs(data, test, np.dtype(args.dtype))
    y_test = data.y[test]
    if args.task == "classification":
        results = report.classification(y_test, predicted, list(data.target_names or []), say)
        note = report.chance_note(
            trained.history.loss[-1], results["accuracy"], data.y[train], len(data.target_names or ())
        )
        if note:
            say("\n" + note)
    else:
        results = report.regression(y_test, predicted, say)
    return results, predicted


def describe_data(
    args: argparse.Namespace, data: Problem, encoder: TableEncoder, n_train: int, n_test: int
) -> str:
    described = f"{n_train} train / {n_test} test samples, {len(encoder.features)} features"
    if encoder.text:
        described += f": {len(encoder.numeric)} numeric, {len(encoder.text)} text"
    missing = sum(int(data.table.column(f).missing[data.rows].sum()) for f in encoder.features)
    if missing:
        described += f"; {missing} missing values " + ("imputed" if args.missing == "impute" else "")
    if data.dropped:
        described += f"; {data.dropped} rows left out (a missing target or value)"
    return f"tinynet {tn.__version__}: {args.task} on {data.name} ({described})"


def check_output(args: argparse.Namespace) -> None:
    if (args.output or "softmax") == "softmax" and args.output and args.task != "classification":
        raise CLIError("--output softmax needs --task classification; regression uses --output linear")


def run_train(args: argparse.Namespace, out: Any) -> int:
    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=out)

    check_output(args)
    classification = args.task == "classification"
    paths = output_paths(args, classification)
    data = problem(args)
    wanted = wanted_columns(args, data)
    train, test = split_indices(
        len(data.rows), data.y, args.test_size, rng=args.seed, stratify=classification
    )
    preview = TableEncoder(data.numeric, data.text, args.categorical).fit(data.table, data.rows[train])
    n_out = len(data.target_names or ()) if classification else 1
    categories = [] if args.categorical == "onehot" else preview.cardinalities()
    build = builder(args, categories)
    check_size(args, build, preview.width, n_out, categories)
    say(describe_data(args, data, preview, len(train), len(test)))
    say(describe_model(args, data, preview, n_out, build.num_parameters(preview.width, n_out, categories)))
    # --show_loss prints a plain line per epoch; otherwise one live line, on a terminal only
    progress = tn.Progress(args.epochs, out, live=not args.show_loss, announce_end=False)
    show_progress = not args.quiet and (args.show_loss or progress.live)
    trained = train_rows(args, data, train, [progress] if show_progress else [])
    say(
        f"trained {trained.history.epochs} epochs in {trained.seconds:.2f}s: "
        f"{ending(trained.history, args.epochs)}"
    )

    for path in paths.values():
        prepare_folder(path, "--save" if path == args.save else "--output_dir")
    results, predicted = test_report(args, data, trained, train, test, say)
    model, metadata = model_file(args, data, trained)
    tn.save(model, paths["model"], metadata=metadata)
    write_json(paths["metrics"], results)
    write_json(paths["history"], trained.history.to_dict())
    write_config(paths["config"], args)
    written = [paths["metrics"], paths["history"], paths["config"], paths["model"]]
    raw_test = data.table, data.rows[test]
    written += write_plots(
        args, data, trained.history, results, raw_test, wanted, data.y[test], predicted, paths, say
    )
    say("\nwrote " + ", ".join(written))
    return 0


def _typed(encoded: Encoded, dtype: np.dtype[Any]) -> Any:
    inputs = encoded.inputs()
    if isinstance(inputs, list):
        return [part.astype(dtype) if part.dtype.kind == "f" else part for part in inputs]
    return inputs.astype(dtype)


def wanted_columns(args: argparse.Namespace, data: Problem) -> list[str]:
    """``--wanted_features`` as numeric feature column names (given by name or by index)."""
    if not args.wanted_features:
        return []
    features = data.numeric + data.text
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
    args: argparse.Namespace,
    data: Problem,
    history: tn.History,
    results: dict[str, Any],
    raw_test: tuple[Any, Any],
    wanted: list[str],
    y_test: Any,
    predicted: Any,
    paths: dict[str, str],
    say: Callable[..., None],
) -> list[str]:
    from tinynet import plot

    classification = args.task == "classification"
    target = data.target.name
    split = f"{data.name}, {args.task}"
    loss_label = "cross-entropy loss" if classification else f"MSE of the standardized {target}"
    try:
        written = [
            plot.plot_history(history, paths["loss plot"], title=f"{split}: training", loss_label=loss_label)
        ]
        if classification:
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
            table, rows = raw_test
            x = np.column_stack([table.column(name).values[rows] for name in wanted])
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
        return []
    return written
