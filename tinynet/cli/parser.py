"""The argument parser of the ``tinynet`` command: the seed project's flags and their checks."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

import tinynet as tn
from tinynet._checks import check_float, check_int
from tinynet.datasets import DATASETS

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


# -- flag parsing helpers: the package's own checks (tinynet._checks), worded for a flag ----------
def _checked(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("value ")) from None


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    return int(_checked(lambda: check_int(_number(text, int), "value", minimum=1)))


def non_negative_int(text: str) -> int:
    return int(_checked(lambda: check_int(_number(text, int), "value", minimum=0)))


def positive_float(text: str) -> float:
    return float(_checked(lambda: check_float(_number(text, float), "value", low=0.0, low_inclusive=False)))


def non_negative_float(text: str) -> float:
    return float(_checked(lambda: check_float(_number(text, float), "value", low=0.0)))


def fraction(text: str) -> float:
    value = _number(text, float)
    return float(
        _checked(
            lambda: check_float(value, "value", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        )
    )


def dropout_rate(text: str) -> float:
    value = _number(text, float)
    return float(_checked(lambda: check_float(value, "value", low=0.0, high=1.0, high_inclusive=False)))


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
