"""The ``tinynet`` command: ``train``, ``summary``, ``predict`` and ``gradcheck``.

``tinynet train`` keeps every flag of the seed project (same long and short spellings, types,
choices and defaults); dash spellings such as ``--learning-rate`` are aliases. Bad input ends with
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

import tinynet as tn
from tinynet import metrics
from tinynet.cases import LOSS_CASES, MODULE_CASES, away_from_kink
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import DATASETS, Dataset, load_csv
from tinynet.serialization import ModelFileError, atomic_write_bytes, load_metadata

ACTIVATIONS: dict[str, type[tn.Module]] = {
    "relu": tn.ReLU,
    "sigmoid": tn.Sigmoid,
    "tanh": tn.Tanh,
    "leaky_relu": tn.LeakyReLU,
}
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")


class CLIError(Exception):
    """A user mistake: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage dumps."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{self.prog} --help')")


# -- flag parsing helpers -------------------------------------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def finite_float(
    text: str, *, low: float = -math.inf, high: float = math.inf, open_low: bool = False
) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < low or value > high or (open_low and value == low):
        bound = f"in ({low}, {high})" if math.isfinite(high) else (f"> {low}" if open_low else f">= {low}")
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text}")
    return value


def positive_float(text: str) -> float:
    return finite_float(text, low=0.0, open_low=True)


def non_negative_float(text: str) -> float:
    return finite_float(text, low=0.0)


def fraction(text: str) -> float:
    value = finite_float(text, low=0.0, high=1.0, open_low=True)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a finite number in (0, 1), got {text}")
    return value


def dropout_rate(text: str) -> float:
    value = finite_float(text, low=0.0)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a dropout probability in [0, 1), got {text}")
    return value


def flag(*names: str) -> list[str]:
    """Each ``--long_name`` also answers to ``--long-name``."""
    spelled = list(names)
    for name in names:
        if name.startswith("--") and "_" in name:
            spelled.append(name.replace("_", "-"))
    return spelled


def add_model_flags(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        *flag("--layers", "-l"),
        type=positive_int,
        nargs="+",
        required=required,
        metavar="N",
        help="hidden layer sizes, e.g. -l 16 8",
    )
    parser.add_argument(
        *flag("--activation", "-a"),
        choices=sorted(ACTIVATIONS),
        default="relu",
        help="hidden activation (default: relu)",
    )
    parser.add_argument(
        *flag("--output", "-o"),
        choices=["softmax", "linear"],
        default=None,
        help="output layer: softmax for classification, linear for regression (default: auto)",
    )
    parser.add_argument(
        *flag("--weight_init", "-wi"),
        choices=["he", "xavier", "random"],
        default="he",
        help="weight initialization (default: he)",
    )
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default="float64", help="(default: float64)"
    )
    parser.add_argument(
        "--dropout", type=dropout_rate, default=0.0, help="dropout after each hidden activation (default: 0)"
    )
    parser.add_argument(
        "--norm",
        choices=["none", "batch", "layer"],
        default="none",
        help="normalization between each hidden Dense and its activation (default: none)",
    )


def build_parser() -> Parser:
    parser = Parser(prog="tinynet", description="Train, inspect and check small NumPy neural networks.")
    parser.add_argument("--version", action="version", version=f"tinynet {tn.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    train = commands.add_parser("train", help="train a network on a bundled data set or a CSV file")
    train.add_argument(*flag("--task", "-t"), choices=["classification", "regression"], required=True)
    train.add_argument(
        *flag("--dataset", "-d"),
        required=True,
        help=f"{', '.join(sorted(DATASETS))}, or a path to a CSV file with a header row",
    )
    add_model_flags(train)
    train.add_argument(
        *flag("--decay_rate", "-decay"),
        type=non_negative_float,
        default=0.01,
        help="inverse-time decay per epoch: lr / (1 + decay_rate * epoch) (default: 0.01)",
    )
    train.add_argument(
        *flag("--learning_rate", "-lr"), type=positive_float, default=0.01, help="(default: 0.01)"
    )
    train.add_argument(
        "--l1", type=non_negative_float, default=0.0, help="L1 penalty on weights (default: 0)"
    )
    train.add_argument(
        "--l2", type=non_negative_float, default=0.0, help="L2 penalty on weights (default: 0)"
    )
    train.add_argument(*flag("--epochs", "-e"), type=positive_int, default=100, help="(default: 100)")
    train.add_argument(
        *flag("--test_size", "-ts"), type=fraction, default=0.2, help="test fraction (default: 0.2)"
    )
    train.add_argument(*flag("--seed", "-s"), type=non_negative_int, default=42, help="(default: 42)")
    train.add_argument(*flag("--extension_name", "-en"), default="", help="suffix of the output file names")
    train.add_argument(
        *flag("--wanted_features", "-wf"),
        type=int,
        nargs="+",
        default=None,
        metavar="I",
        help="feature indices to plot against the target",
    )
    train.add_argument(*flag("--show_loss"), action="store_true", help="print the loss every epoch")
    train.add_argument(*flag("--batch_size"), type=positive_int, default=32, help="(default: 32)")
    train.add_argument(
        *flag("--optimizer"),
        choices=OPTIMIZERS,
        default="momentum",
        help="sgd, momentum (SGD with momentum 0.9), adam, adamw, rmsprop (default: momentum)",
    )
    train.add_argument(
        *flag("--clip"), type=positive_float, default=None, help="clip the global gradient norm"
    )
    train.add_argument(
        *flag("--patience"),
        type=non_negative_int,
        default=10,
        help="early stopping: epochs without validation improvement before stopping; "
        "the best weights are kept (default: 10; 0 turns it off)",
    )
    train.add_argument(
        *flag("--validation_split"),
        type=fraction,
        default=0.2,
        help="fraction of the training split held out for early stopping (default: 0.2)",
    )
    train.add_argument(
        *flag("--target"), default=None, help="CSV target column (name or index; default: last)"
    )
    train.add_argument(*flag("--output_dir"), default="runs", help="where output files go (default: runs/)")
    train.add_argument(*flag("--save"), default=None, help="model file (default: OUTPUT_DIR/model<ext>.npz)")
    train.add_argument(*flag("--quiet", "-q"), action="store_true", help="print only errors")

    summary = commands.add_parser("summary", help="layers, output shapes and parameter counts")
    add_model_flags(summary, required=False)
    summary.add_argument("--model", help="a saved model file instead of --layers")
    summary.add_argument(*flag("--dataset", "-d"), help="take input and output sizes from a data set")
    summary.add_argument("--inputs", type=positive_int, help="input features (instead of --dataset)")
    summary.add_argument("--outputs", type=positive_int, default=1, help="outputs (instead of --dataset)")

    predict = commands.add_parser("predict", help="predict with a saved model, writing CSV")
    predict.add_argument("--model", required=True, help="a model file written by 'tinynet train'")
    predict.add_argument("--data", required=True, help="CSV with a header row holding the feature columns")
    predict.add_argument(*flag("--output", "-o"), default=None, help="output CSV (default: standard output)")

    commands.add_parser("gradcheck", help="check the gradients of every built-in module and loss")
    return parser


# -- train ----------------------------------------------------------------------------------------
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
    progress = (
        None
        if args.quiet
        else tn.train.Progress(args.epochs, out, live=None if not args.show_loss else False)
    )
    if progress is not None and not (progress.live or args.show_loss):
        progress = None  # plain per-epoch lines only with --show_loss
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
        callbacks=[progress] if progress is not None else [],
        verbose=0,
    )
    stopped = (
        f", early stopping restored epoch {history.best_epoch + 1}" if history.best_epoch is not None else ""
    )
    say(f"trained {history.epochs} epochs in {time.perf_counter() - start:.2f}s{stopped}")
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


# -- summary, predict, gradcheck -------------------------------------------------------------------
def run_summary(args: argparse.Namespace, out: Any) -> int:
    if args.model:
        model = tn.load(args.model)
        print(model.summary(), file=out)
        return 0
    if not args.layers:
        raise CLIError("summary needs --layers N [N ...] or --model FILE")
    if args.dataset:
        if args.dataset not in DATASETS:
            raise CLIError(f"unknown data set {args.dataset!r}; bundled data sets are {sorted(DATASETS)}")
        dataset = DATASETS[args.dataset]()
        n_in, n_out = dataset.x.shape[1], max(dataset.n_classes, 1)
        output = args.output or ("softmax" if dataset.task == "classification" else "linear")
    elif args.inputs:
        n_in, n_out, output = args.inputs, args.outputs, args.output or "linear"
    else:
        raise CLIError("summary needs --dataset NAME or --inputs N to know the input width")
    model = build_model(n_in, args.layers, n_out, args, np.random.default_rng(0), output)
    print(model.summary(), file=out)
    return 0


def run_predict(args: argparse.Namespace, out: Any) -> int:
    model = tn.load(args.model)
    meta = load_metadata(args.model)
    names = meta.get("feature_names")
    if not isinstance(names, list) or "x_scaler" not in meta:
        raise CLIError(
            f"{args.model}: this model file has no feature description; save it with 'tinynet train'"
        )
    table = read_feature_table(args.data, names)
    x = (table - np.array(meta["x_scaler"]["mean"])) / np.array(meta["x_scaler"]["scale"])
    raw = tn.predict(model, x.astype(model.dtype or np.float64))
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    if meta.get("task") == "classification":
        classes = meta.get("target_names") or [str(i) for i in range(raw.shape[1])]
        writer.writerow(["prediction", *(f"p_{c}" for c in classes)])
        has_softmax = isinstance(model, tn.Sequential) and isinstance(model[-1], tn.Softmax)
        probabilities = raw if has_softmax else tn.activations.softmax(raw)
        for row in probabilities:
            writer.writerow([classes[int(row.argmax())], *(f"{p:.6f}" for p in row)])
    else:
        y_scaler = meta.get("y_scaler") or {"mean": [0.0], "scale": [1.0]}
        values = raw[:, 0] * y_scaler["scale"][0] + y_scaler["mean"][0]
        writer.writerow(["prediction"])
        writer.writerows([[f"{v:.6g}"] for v in values])
    if args.output:
        atomic_write_bytes(args.output, lines.getvalue().encode("utf-8"))
        print(f"wrote {len(raw)} predictions to {args.output}", file=out)
    else:
        out.write(lines.getvalue())
    return 0


def read_feature_table(path: str, names: list[str]) -> Any:
    """The model's feature columns from a CSV (found by header name; extra columns are ignored)."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise CLIError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    missing = [n for n in names if n not in header]
    if missing:
        raise CLIError(f"{path}: missing feature columns {missing}; the model needs {names}")
    columns = [header.index(n) for n in names]
    values = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise CLIError(f"{path}: line {number}: expected {len(header)} fields, got {len(row)}")
        try:
            values.append([float(row[j]) for j in columns])
        except ValueError:
            raise CLIError(f"{path}: line {number}: non-numeric feature value") from None
    table = np.array(values)
    if not np.isfinite(table).all():
        raise CLIError(f"{path}: feature values must be finite numbers")
    return table


def run_gradcheck(args: argparse.Namespace, out: Any) -> int:
    rng = np.random.default_rng(0)
    rows = []
    for name, factory, shapes in MODULE_CASES:
        try:
            report = tn.gradcheck(factory(), away_from_kink(shapes[0], rng), rng=0)
            rows.append((name, report.max_rel_error, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    for name, make_loss, make_data in LOSS_CASES:
        try:
            report = tn.gradcheck_loss(make_loss(), *make_data(rng))
            rows.append((name, report.max_rel_error, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'module':<{width}}  max rel error  status", file=out)
    for name, error_value, status in rows:
        print(f"{name:<{width}}  {error_value:>13.2e}  {status}", file=out)
    failed = sum(status != "ok" for _, _, status in rows)
    print(f"{len(rows) - failed} passed, {failed} failed", file=out)
    return 1 if failed else 0


COMMANDS = {"train": run_train, "summary": run_summary, "predict": run_predict, "gradcheck": run_gradcheck}


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed check or training, 2 bad input)."""
    stream = out if out is not None else sys.stdout
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, stream)
    except CLIError as error:
        print(f"tinynet: error: {error}", file=sys.stderr)
        return 2
    except tn.TrainingDivergedError as error:
        print(f"tinynet: training failed: {error}", file=sys.stderr)
        return 1
    except (ModelFileError, ValueError, TypeError, OSError) as error:
        print(f"tinynet: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinynet: interrupted", file=sys.stderr)
        return 130
