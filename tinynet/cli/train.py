"""``tinynet train``: load, split, scale, build, train, evaluate, and write metrics, model and plots."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import tinynet as tn
from tinynet import metrics
from tinynet._io import atomic_write_bytes
from tinynet.callbacks import ending
from tinynet.cli.parser import ACTIVATIONS, CLIError
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import DATASETS, Dataset, load_csv


def load_dataset(name: str, task: str, target: str | None) -> Dataset:
    """A bundled data set by name or a CSV path; the task must fit the data."""
    if name in DATASETS:
        dataset = DATASETS[name]()
        if dataset.task != task:
            kind = "text class labels" if name == "iris" else f"a {dataset.task} target"
            raise CLIError(
                f"--task {task} does not fit data set {name!r}: it has {kind}; use --task {dataset.task}"
            )
        return dataset
    if not os.path.exists(name):
        raise CLIError(f"unknown data set {name!r}: not one of {sorted(DATASETS)} and no such CSV file")
    column: int | str = -1
    if target is not None:
        column = int(target) if target.lstrip("-").isdigit() else target
    return load_csv(name, target=column, task=task)


def build_model(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    args: argparse.Namespace,
    rng: np.random.Generator,
    output: str,
) -> tn.Sequential:
    """Dense [-> norm] -> activation [-> dropout] per hidden size, a Dense output, Softmax if asked."""
    activation = ACTIVATIONS[args.activation]
    norms: dict[str, type[tn.Module]] = {"batch": tn.BatchNorm1d, "layer": tn.LayerNorm}
    model = tn.Sequential()
    width = n_in
    for size in hidden:
        model.append(tn.Dense(width, size, init=args.weight_init, dtype=args.dtype, rng=rng))
        if args.norm != "none":
            model.append(norms[args.norm](size, dtype=args.dtype))  # type: ignore[call-arg]
        model.append(activation())
        if args.dropout > 0:
            model.append(tn.Dropout(args.dropout, rng=rng))
        width = size
    model.append(tn.Dense(width, n_out, init=args.weight_init, dtype=args.dtype, rng=rng))
    if output == "softmax":
        model.append(tn.Softmax())
    return model


def make_optimizer(name: str, params: list[tn.Parameter], lr: float) -> tn.Optimizer:
    if name == "sgd":
        return tn.SGD(params, lr=lr)
    if name == "momentum":
        return tn.SGD(params, lr=lr, momentum=0.9)
    return tn.optim.OPTIMIZERS[name](params, lr=lr)


def output_path(folder: str, stem: str, extension: str, suffix: str) -> str:
    return os.path.join(folder, f"{stem}{extension}{suffix}")


def write_json(path: str, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def run_train(args: argparse.Namespace, out: Any) -> int:

    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=out)

    dataset = load_dataset(args.dataset, args.task, args.target)
    classification = args.task == "classification"
    output = args.output or ("softmax" if classification else "linear")
    if output == "softmax" and not classification:
        raise CLIError("--output softmax needs --task classification; regression uses --output linear")
    n_features = dataset.x.shape[1]
    if args.wanted_features is not None:
        bad = [i for i in args.wanted_features if not 0 <= i < n_features]
        if bad:
            names = ", ".join(f"{i}={n}" for i, n in enumerate(dataset.feature_names))
            raise CLIError(
                f"--wanted_features {bad} out of range: valid indices are 0..{n_features - 1} ({names})"
            )

    x_train, x_test, y_train, y_test = train_test_split(
        dataset.x, dataset.y, args.test_size, rng=args.seed, stratify=classification
    )
    x_scaler = StandardScaler().fit(x_train)
    dtype = np.dtype(args.dtype)
    xs_train, xs_test = x_scaler.transform(x_train).astype(dtype), x_scaler.transform(x_test).astype(dtype)
    y_scaler = None
    if classification:
        targets: Any = y_train
        n_out = dataset.n_classes
        loss: tn.Loss = tn.CrossEntropyLoss()
    else:
        y_scaler = StandardScaler().fit(y_train)
        targets = y_scaler.transform(y_train).astype(dtype)
        n_out = 1
        loss = tn.MSELoss()

    rng = np.random.default_rng(args.seed)
    body = build_model(n_features, args.layers, n_out, args, rng, output="linear")
    optimizer = make_optimizer(args.optimizer, body.parameters(), args.learning_rate)
    regularizer = tn.L1L2(args.l1, args.l2) if args.l1 or args.l2 else None
    say(
        f"tinynet {tn.__version__}: {args.task} on {dataset.name} "
        f"({len(x_train)} train / {len(x_test)} test samples, {n_features} features)"
    )
    say(
        f"model: {' -> '.join([str(n_features), *map(str, args.layers), str(n_out)])}, {args.activation}, "
        f"{output} output, {args.weight_init} init, {args.optimizer} lr={args.learning_rate} "
        f"decay={args.decay_rate}, {body.num_parameters()} parameters"
    )
    # --show_loss prints a plain line per epoch; otherwise one live line, on a terminal only
    progress = tn.Progress(args.epochs, out, live=not args.show_loss)
    show_progress = not args.quiet and (args.show_loss or progress.live)
    start = time.perf_counter()
    history = tn.fit(
        body,
        xs_train,
        targets,
        loss=loss,
        optimizer=optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        rng=rng,
        schedule=tn.InverseTimeDecay(args.learning_rate, args.decay_rate),
        clipper=tn.ClipGlobalNorm(args.clip) if args.clip else None,
        regularizer=regularizer,
        validation_split=args.validation_split if args.patience else 0.0,
        early_stopping=tn.EarlyStopping(patience=args.patience) if args.patience else None,
        callbacks=[progress] if show_progress else [],
        verbose=0,
    )
    elapsed = time.perf_counter() - start
    say(f"trained {history.epochs} epochs in {elapsed:.2f}s: {ending(history, args.epochs)}")
    model = tn.Sequential(*body, tn.Softmax()) if output == "softmax" else body
    raw = tn.predict(body, xs_test)

    os.makedirs(args.output_dir, exist_ok=True)
    ext = args.extension_name
    if classification:
        predicted = raw.argmax(axis=1)
        classes = list(dataset.target_names or [])
        report = metrics.classification_report(y_test, predicted, target_names=classes)
        matrix = metrics.confusion_matrix(y_test, predicted, n_classes=n_out)
        results: dict[str, Any] = {
            "accuracy": metrics.accuracy(y_test, predicted),
            "precision": metrics.precision(y_test, predicted),
            "recall": metrics.recall(y_test, predicted),
            "f1": metrics.f1(y_test, predicted),
            "confusion_matrix": matrix.tolist(),
        }
        say(f"\ntest metrics ({len(y_test)} samples)")
        say(report)
        say("\nconfusion matrix (rows: true, columns: predicted)")
        width = max(len(n) for n in classes)
        say(" " * (width + 1) + " ".join(f"{n[:width]:>{width}}" for n in classes))
        for name, row in zip(classes, matrix, strict=True):
            say(f"{name:>{width}} " + " ".join(f"{c:>{width}d}" for c in row))
        y_plot, p_plot = y_test, predicted
    else:
        assert y_scaler is not None
        predicted = y_scaler.inverse_transform(raw[:, 0])
        results = {name: metrics.METRICS[name](y_test, predicted) for name in ("mse", "mae", "rmse", "r2")}
        say(f"\ntest metrics ({len(y_test)} samples, original units)")
        say(metrics.regression_report(y_test, predicted))
        y_plot, p_plot = y_test, predicted

    metadata = {
        "task": args.task,
        "dataset": dataset.name,
        "feature_names": list(dataset.feature_names),
        "target_names": list(dataset.target_names) if dataset.target_names is not None else None,
        "x_scaler": x_scaler.get_state(),
        "y_scaler": y_scaler.get_state() if y_scaler is not None else None,
    }
    model_path = args.save or output_path(args.output_dir, "model", ext, ".npz")
    folder = os.path.dirname(os.path.abspath(model_path))
    os.makedirs(folder, exist_ok=True)
    tn.save(model, model_path, metadata=metadata)
    written = [
        output_path(args.output_dir, "metrics", ext, ".json"),
        output_path(args.output_dir, "history", ext, ".json"),
    ]
    write_json(written[0], results)
    write_json(written[1], history.to_dict())
    written.append(model_path)
    written += write_plots(args, dataset, history, results, x_test, y_plot, p_plot, say)
    say("\nwrote " + ", ".join(written))
    return 0


def write_plots(
    args: argparse.Namespace,
    dataset: Dataset,
    history: tn.History,
    results: dict[str, Any],
    x_test: Any,
    y_test: Any,
    predicted: Any,
    say: Callable[..., None],
) -> list[str]:
    try:
        from tinynet import plot
    except ImportError:  # pragma: no cover - plot itself imports matplotlib lazily
        return []
    ext, folder = args.extension_name, args.output_dir
    try:
        paths = [
            plot.plot_history(
                history, output_path(folder, "loss", ext, ".png"), title=f"{dataset.name}: {args.task}"
            )
        ]
        if args.task == "classification":
            paths.append(
                plot.plot_confusion_matrix(
                    np.array(results["confusion_matrix"]),
                    list(dataset.target_names or []),
                    output_path(folder, "confusion_matrix", ext, ".png"),
                )
            )
        else:
            paths.append(
                plot.plot_predictions(
                    y_test,
                    predicted,
                    output_path(folder, "predictions", ext, ".png"),
                    target_name=dataset.target_name,
                )
            )
        if args.wanted_features:
            paths.append(
                plot.plot_features(
                    x_test,
                    y_test,
                    predicted,
                    args.wanted_features,
                    dataset.feature_names,
                    output_path(folder, "features", ext, ".png"),
                    target_name=dataset.target_name,
                    class_names=dataset.target_names,
                )
            )
    except plot.PlotUnavailableError:
        say(f"plots skipped: matplotlib is not installed ({plot.INSTALL_HINT} to enable them)")
        return []
    return paths
