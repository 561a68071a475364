"""The argument parser of the ``tinynet`` command: the flags, their checks, and help.

Every ``--long_name`` also answers to ``--long-name``. A misspelled flag is an error that names the
closest flag of the subcommand and its ``--help``. ``tinynet train --config FILE`` takes the run's
settings from a ``config.json`` that an earlier run wrote; flags given as well take precedence.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from tinynet._version import __version__
from tinynet.core.checks import check_float, check_int
from tinynet.core.files import open_regular
from tinynet.core.init import INITIALIZERS
from tinynet.datasets import TABLES
from tinynet.models.mlp import ACTIVATIONS, NORMS
from tinynet.tabular.settings import OUTPUTS, TabularSettings
from tinynet.training.metrics import METRICS
from tinynet.training.optim import OPTIMIZERS

REQUIRED_FOR_TRAIN = (("task", "--task/-t"), ("dataset", "--dataset/-d"), ("layers", "--layers/-l"))


class CLIError(Exception):
    """A user mistake: printed as one line, exit code 2."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the command had and had not written when it came (exit code 130)."""


OPTIMIZER_HELP = {"momentum": "momentum (SGD with momentum 0.9)"}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage dumps; it remembers its flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.flag_names: list[str] = []
        self.dests: set[str] = set()
        self.actions: dict[str, argparse.Action] = {}  # by every spelling of its flags
        self.commands: dict[str, Parser] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.flag_names += action.option_strings
        self.actions.update(dict.fromkeys(action.option_strings, action))
        self.dests.add(action.dest)
        return action

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{self.prog} --help')")


# -- flag parsing helpers: the package's own checks (tinynet.core.checks), worded for a flag ----------
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


def at_least_two(text: str) -> int:
    return int(_checked(lambda: check_int(_number(text, int), "value", minimum=2)))


def dropout_rate(text: str) -> float:
    value = _number(text, float)
    return float(_checked(lambda: check_float(value, "value", low=0.0, high=1.0, high_inclusive=False)))


def delimiter(text: str) -> str:
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected a single character (or 'tab'), got {text!r}")
    return value


def flag(*names: str) -> list[str]:
    """Each ``--long_name`` also answers to ``--long-name``."""
    spelled = list(names)
    for name in names:
        if name.startswith("--") and "_" in name:
            spelled.append(name.replace("_", "-"))
    return spelled


# -- flag groups shared by subcommands ---------------------------------------------------------------
def add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        *flag("--layers", "-l"),
        type=positive_int,
        nargs="+",
        metavar="N",
        help="hidden layer sizes, e.g. -l 16 8",
    )
    parser.add_argument(
        *flag("--activation", "-a"),
        choices=ACTIVATIONS.names,
        default="relu",
        help="hidden activation (default: relu)",
    )
    parser.add_argument(
        *flag("--output", "-o"),
        choices=OUTPUTS.names,
        default=None,
        help="output layer: softmax for classification, linear for regression (default: auto)",
    )
    parser.add_argument(
        *flag("--weight_init", "-wi"),
        choices=list(INITIALIZERS),
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
        choices=NORMS.names,
        default="none",
        help="normalization between each hidden Dense and its activation (default: none)",
    )
    parser.add_argument(
        *flag("--categorical"),
        choices=["embedding", "onehot"],
        default="embedding",
        help="how text columns enter the network: an Embedding each, or one-hot columns (default: embedding)",
    )
    parser.add_argument(
        *flag("--embedding_dim"),
        type=positive_int,
        default=None,
        help="width of every embedding (default: by rule)",
    )


MODEL_COMMANDS = ("summary", "predict", "evaluate", "gradcheck", "bench", "export")


def add_model_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """The model file, as the first positional argument or as ``--model`` (both spellings, every
    command that reads one); ``parse`` puts it in ``args.model``."""
    parser.add_argument("model", nargs="?", help=f"{help} (or --model FILE)")
    parser.add_argument("--model", dest="model_flag", metavar="FILE", help="the same, as a flag")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="a Python module (by name, found in the current folder too, or a .py file) to import "
        "first: it registers the custom layers the model file needs; repeat for more",
    )


def add_data_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        *flag("--dataset", "-d", "--data"),
        required=False,
        help=f"{', '.join(sorted(TABLES))}, or a path to a CSV file with a header row"
        + (" (required)" if required else ""),
    )
    parser.add_argument(
        *flag("--target"),
        default=None,
        help="target column, by name or index (default: the data set's own, or the last)",
    )
    parser.add_argument(
        *flag("--delimiter"),
        type=delimiter,
        default=",",
        help="CSV field separator, e.g. ';' or tab (default: ,)",
    )
    parser.add_argument(
        *flag("--features"), nargs="+", metavar="COL", default=None, help="use only these feature columns"
    )
    parser.add_argument(
        *flag("--drop"), nargs="+", metavar="COL", default=None, help="leave these columns out"
    )
    parser.add_argument(
        *flag("--missing"),
        choices=["impute", "drop"],
        default="impute",
        help="missing values: impute (numbers: the training mean; text: a category of its own) "
        "or drop the rows (default: impute)",
    )


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        *flag("--decay_rate", "-decay"),
        type=non_negative_float,
        default=0.01,
        help="inverse-time decay per epoch: lr / (1 + decay_rate * epoch) (default: 0.01)",
    )
    parser.add_argument(
        *flag("--learning_rate", "-lr", "--lr"), type=positive_float, default=0.01, help="(default: 0.01)"
    )
    parser.add_argument(
        "--l1", type=non_negative_float, default=0.0, help="L1 penalty on weights (default: 0)"
    )
    parser.add_argument(
        "--l2", type=non_negative_float, default=0.0, help="L2 penalty on weights (default: 0)"
    )
    parser.add_argument(*flag("--epochs", "-e"), type=positive_int, default=100, help="(default: 100)")
    parser.add_argument(
        *flag("--test_size", "-ts"), type=fraction, default=0.2, help="test fraction (default: 0.2)"
    )
    parser.add_argument(*flag("--seed", "-s"), type=non_negative_int, default=42, help="(default: 42)")
    parser.add_argument(*flag("--batch_size"), type=positive_int, default=32, help="(default: 32)")
    parser.add_argument(
        *flag("--optimizer"),
        choices=list(OPTIMIZERS),
        default="momentum",
        help=", ".join(OPTIMIZER_HELP.get(name, name) for name in OPTIMIZERS) + " (default: momentum)",
    )
    parser.add_argument(
        *flag("--clip"), type=positive_float, default=None, help="clip the global gradient norm"
    )
    parser.add_argument(
        *flag("--patience"),
        type=non_negative_int,
        default=10,
        help="early stopping: epochs without validation improvement before stopping; "
        "the best weights are kept (default: 10; 0 turns it off)",
    )
    parser.add_argument(
        *flag("--validation_split"),
        type=fraction,
        default=0.2,
        help="fraction of the training split held out for early stopping (default: 0.2)",
    )


def add_output_flags(parser: argparse.ArgumentParser, save_help: str) -> None:
    parser.add_argument(*flag("--extension_name", "-en"), default="", help="suffix of the output file names")
    parser.add_argument(*flag("--output_dir"), default="runs", help="where output files go (default: runs/)")
    parser.add_argument(*flag("--save"), default=None, help=save_help)
    parser.add_argument(*flag("--quiet", "-q"), action="store_true", help="print only errors")


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--traceback", action="store_true", help="show the Python traceback of an internal error"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="BLAS threads (default: 1 for train, search, predict and evaluate, whose networks are "
        "small; the BLAS library's own choice for the other commands)",
    )


def build_parser() -> Parser:
    parser = Parser(prog="tinynet", description="Train, inspect and check small NumPy neural networks.")
    parser.add_argument("--version", action="version", version=f"tinynet {__version__}")
    add_common_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    train = commands.add_parser("train", help="train a network on a bundled data set or a CSV file")
    parser.commands["train"] = train
    train.add_argument(*flag("--task", "-t"), choices=["classification", "regression"], help="(required)")
    add_data_flags(train, required=True)
    add_model_flags(train)
    add_training_flags(train)
    add_output_flags(train, "model file (default: OUTPUT_DIR/model<ext>.npz)")
    train.add_argument(
        *flag("--wanted_features", "-wf"),
        nargs="+",
        default=None,
        metavar="COL",
        help="feature columns (names or indices) to plot against the target",
    )
    train.add_argument(*flag("--show_loss"), action="store_true", help="print the loss every epoch")
    train.add_argument(
        *flag("--checkpoint_dir"),
        default=None,
        metavar="DIR",
        help="write a checkpoint of the run every epoch to DIR (a killed run continues with --resume)",
    )
    train.add_argument(
        *flag("--resume"),
        action="store_true",
        help="continue the run whose checkpoints are in --checkpoint_dir, exactly where it stopped",
    )
    train.add_argument(
        *flag("--keep"), type=positive_int, default=1, help="checkpoints to keep, the newest (default: 1)"
    )
    train.add_argument(
        *flag("--log_dir"),
        default=None,
        metavar="DIR",
        help="write DIR/log.csv (a row per epoch) and TensorBoard event files (with tensorboardX)",
    )
    train.add_argument(
        *flag("--config"), default=None, help="take the settings of a run from its config.json"
    )
    add_common_flags(train)

    search = commands.add_parser(
        "search",
        help="cross-validated grid, random or Optuna search over train settings, here or on Dask",
    )
    parser.commands["search"] = search
    search.add_argument(*flag("--task", "-t"), choices=["classification", "regression"], help="(required)")
    add_data_flags(search, required=True)
    add_model_flags(search)
    add_training_flags(search)
    search.add_argument(
        *flag("--checkpoint_dir"),
        default=None,
        metavar="DIR",
        help="record each finished fold in DIR, so that a killed search continues with --resume",
    )
    search.add_argument(
        *flag("--resume"),
        action="store_true",
        help="continue the search recorded in --checkpoint_dir: finished folds are not trained again",
    )
    search.add_argument(
        *flag("--log_dir"),
        default=None,
        metavar="DIR",
        help="per-epoch logs of every fold (DIR/candidate-C-fold-F/log.csv and TensorBoard files)",
    )
    search.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a train setting and the values to try, e.g. --grid learning_rate=0.01,0.1; for --layers "
        "separate candidates with ';': --grid layers='16 8;32'. Repeat for more settings",
    )
    search.add_argument(
        "--strategy",
        choices=["grid", "random", "optuna"],
        default="grid",
        help="grid: every combination of --grid values (default); random: --trials candidates drawn from "
        "--space; optuna: --trials trials of Optuna's TPE sampler, bad ones pruned after any epoch "
        "(pip install 'tinynet-nn[optuna]')",
    )
    search.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="a setting to vary and its values: a list as for --grid, or a range: uniform:LOW:HIGH, "
        "log:LOW:HIGH (log-uniform), int:LOW:HIGH, logint:LOW:HIGH, e.g. --space learning_rate=log:1e-4:1e-1 "
        "(random and optuna). Repeat for more settings",
    )
    search.add_argument(
        "--trials", type=positive_int, default=None, help="candidates to try (random, optuna; default: 20)"
    )
    search.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="start no new candidate after SECONDS (random, optuna); those started finish",
    )
    search.add_argument(
        "--pruner",
        choices=["median", "none"],
        default=None,
        help="optuna: stop a trial whose held-out score after an epoch is below the median of the "
        "finished trials' (default: median)",
    )
    search.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="optuna: keep the study in this database (e.g. sqlite:///search.db); a later run with the "
        "same URL and settings adds its trials to the study",
    )
    search.add_argument("--study", default=None, metavar="NAME", help="optuna: the study's name in --storage")
    search.add_argument(
        "--cv", type=at_least_two, default=5, help="cross-validation folds (stratified for classification)"
    )
    search.add_argument(
        "--scoring",
        choices=METRICS.names,
        default=None,
        help="what ranks the candidates (default: accuracy, or r2 for regression)",
    )
    search.add_argument(
        *flag("--jobs", "-j"), type=positive_int, default=1, help="local worker processes (default: 1)"
    )
    search.add_argument(
        "--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://10.0.0.5:8786"
    )
    add_output_flags(search, "best model file (default: OUTPUT_DIR/best_model<ext>.npz)")
    add_common_flags(search)

    summary = commands.add_parser("summary", help="layers, output shapes and parameter counts")
    parser.commands["summary"] = summary
    add_model_flags(summary)
    add_data_flags(summary, required=False)
    add_model_argument(summary, "a saved model file instead of --layers")
    summary.add_argument("--inputs", type=positive_int, help="input features (instead of --dataset)")
    summary.add_argument("--outputs", type=positive_int, default=1, help="outputs (instead of --dataset)")
    summary.add_argument("--dot", help="also write the model as Graphviz DOT text to this file")
    add_common_flags(summary)

    predict = commands.add_parser("predict", help="predict with a saved model, writing CSV")
    parser.commands["predict"] = predict
    add_model_argument(predict, "a model file written by 'tinynet train'")
    predict.add_argument(
        "--data", "--dataset", "-d", required=True, help="CSV with a header row holding the feature columns"
    )
    predict.add_argument(*flag("--output", "-o"), default=None, help="output CSV (default: standard output)")
    predict.add_argument(
        *flag("--keep"), nargs="+", metavar="COL", default=[], help="columns to copy to the output (an id)"
    )
    predict.add_argument(
        *flag("--delimiter"), type=delimiter, default=",", help="CSV field separator (default: ,)"
    )
    add_common_flags(predict)

    evaluate = commands.add_parser(
        "evaluate", help="the test metrics of a saved model on a new labelled table"
    )
    parser.commands["evaluate"] = evaluate
    add_model_argument(evaluate, "a model file written by 'tinynet train'")
    evaluate.add_argument(
        "--data", "--dataset", "-d", required=True, help="CSV with the feature columns and the target column"
    )
    evaluate.add_argument(*flag("--target"), default=None, help="target column (default: the one trained on)")
    evaluate.add_argument(
        *flag("--delimiter"), type=delimiter, default=",", help="CSV field separator (default: ,)"
    )
    add_common_flags(evaluate)

    gradcheck = commands.add_parser(
        "gradcheck", help="check gradients: every built-in module, or a saved model"
    )
    parser.commands["gradcheck"] = gradcheck
    add_model_argument(gradcheck, "check this saved model instead of the built-in case list")
    gradcheck.add_argument("--samples", type=positive_int, default=None, help="elements checked per tensor")
    add_common_flags(gradcheck)

    bench = commands.add_parser("bench", help="time forward, backward and a train step, and each layer")
    parser.commands["bench"] = bench
    bench.add_argument(
        *flag("--layers", "-l"),
        type=positive_int,
        nargs="+",
        metavar="N",
        help="widths: input, hidden..., output",
    )
    bench.add_argument(
        *flag("--activation", "-a"), choices=ACTIVATIONS.names, default="relu", help="(default: relu)"
    )
    bench.add_argument("--norm", choices=NORMS.names, default="none", help="(default: none)")
    bench.add_argument(
        "--dtype", choices=["float32", "float64"], default="float64", help="(default: float64)"
    )
    bench.add_argument("--batch", type=positive_int, default=64, help="rows per batch (default: 64)")
    add_model_argument(bench, "time a saved model instead of --layers")
    bench.add_argument(
        "--shape",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="one sample's shape, for a --model that does not declare it (e.g. --shape 1 28 28)",
    )
    bench.add_argument(
        "--budget", type=positive_float, default=0.5, help="seconds of timing per number (default: 0.5)"
    )
    add_common_flags(bench)

    export = commands.add_parser("export", help="write a saved model as ONNX, its preprocessing inside")
    parser.commands["export"] = export
    add_model_argument(export, "a model file (written by 'tinynet train', or by tinynet.save)")
    export.add_argument("output", nargs="?", help="the ONNX file to write (or --output FILE)")
    export.add_argument("--output", "-o", dest="output_flag", metavar="FILE", help="the same, as a flag")
    export.add_argument(
        "--opset", type=positive_int, default=17, help="ONNX operator set, 13 to 21 (default: 17)"
    )
    add_common_flags(export)
    return parser


# -- parsing ----------------------------------------------------------------------------------------
def _unrecognized(parser: Parser, command: str, extras: list[str]) -> CLIError:
    known = parser.commands[command].flag_names
    first = next((e for e in extras if e.startswith("-")), extras[0])
    name = first.split("=")[0]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    what = "argument" if name.startswith("-") else "value"
    return CLIError(f"unrecognized {what} {first!r}{hint} (see 'tinynet {command} --help')")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line; for ``train --config FILE`` the file's settings are the defaults."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise _unrecognized(parser, args.command, extras)
    if args.command == "export" and args.model_flag is not None and args.output is None:
        args.model, args.output = None, args.model  # export --model M OUT: the one positional is OUT
    if args.command in MODEL_COMMANDS:
        needed = args.command in ("predict", "evaluate", "export")
        _one_of(args, "model", "model_flag", "--model", "the first argument", needed)
    if args.command == "export":
        _one_of(args, "output", "output_flag", "--output", "the argument after the model", True)
    if args.command == "train":
        if args.config:
            train = parser.commands["train"]
            train.set_defaults(**config_defaults(train, read_config(args.config), args.config))
            args = parser.parse_args(argv)
        missing = [flag_name for dest, flag_name in REQUIRED_FOR_TRAIN if getattr(args, dest) is None]
        if missing:
            raise CLIError(
                f"train needs {', '.join(missing)} (or --config FILE from an earlier run) "
                "(see 'tinynet train --help')"
            )
    if args.command == "search":
        missing = [flag_name for dest, flag_name in REQUIRED_FOR_TRAIN[:2] if getattr(args, dest) is None]
        if missing:
            raise CLIError(f"search needs {', '.join(missing)} (see 'tinynet search --help')")
    return args


def _one_of(
    args: argparse.Namespace, dest: str, flag_dest: str, flag_name: str, where: str, required: bool
) -> None:
    """A value given as a positional argument or as its flag, in ``args.<dest>``; both is a mistake."""
    positional, flagged = getattr(args, dest), getattr(args, flag_dest)
    if positional is not None and flagged is not None and positional != flagged:
        raise CLIError(
            f"{flag_name} {flagged} and the {dest} {positional} given before it differ: give the {dest} once "
            f"(see 'tinynet {args.command} --help')"
        )
    setattr(args, dest, positional if positional is not None else flagged)
    delattr(args, flag_dest)
    if required and getattr(args, dest) is None:
        raise CLIError(
            f"{args.command} needs the {dest} file, as {where} or {flag_name} FILE "
            f"(see 'tinynet {args.command} --help')"
        )


# what a config.json holds: where the table comes from, the test split and the model's settings; never
# where or how a run writes (--output_dir, --save, --checkpoint_dir, ...): those come from the command line
CONFIG_KEYS = frozenset(
    {"dataset", "delimiter", "test_size", "wanted_features", *TabularSettings.field_names()}
)


def config_defaults(parser: Parser, settings: dict[str, Any], path: str) -> dict[str, Any]:
    """The settings of a config.json as the flags' defaults, each value checked as its flag checks it
    (type and choices; the settings' own checks follow when the run builds them)."""
    unknown = sorted(set(settings) - CONFIG_KEYS)
    if unknown:
        outputs = [key for key in unknown if key in parser.dests]
        if outputs:
            raise CLIError(
                f"--config {path}: {', '.join(outputs)} say where or how a run writes, which a config "
                "does not choose; give them on the command line"
            )
        raise CLIError(f"--config {path}: unknown settings {unknown}")
    actions = {action.dest: action for action in parser.actions.values()}
    defaults: dict[str, Any] = {}
    for key, value in settings.items():
        action = actions[key]
        several = action.nargs in ("+", "*")
        items = value if several and isinstance(value, list) else [value]
        plain = all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items)
        if value is None:
            defaults[key] = None
        elif (several and not isinstance(value, list)) or not plain or not items:
            shown = json.dumps(value)
            expected = "a list of values" if several else "one value"
            raise CLIError(f"--config {path}: {key} {shown[:60]}: expected {expected}, as --{key} takes")
        else:
            converted = [_config_value(action, str(v), key, path) for v in items]
            defaults[key] = converted if several else converted[0]
    return defaults


def _config_value(action: argparse.Action, text: str, key: str, path: str) -> Any:
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as error:
        raise CLIError(f"--config {path}: {key} {text!r}: {error}") from None
    if action.choices is not None and value not in action.choices:
        raise CLIError(f"--config {path}: {key} {text!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def read_config(path: str) -> dict[str, Any]:
    """The ``settings`` of a config.json written by ``tinynet train``."""
    try:
        with open_regular(path) as handle:
            data = json.loads(handle.read(2**20).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CLIError(f"--config {path}: not a config.json written by 'tinynet train' ({error})") from None
    settings = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise CLIError(f"--config {path}: not a config.json written by 'tinynet train' (no settings inside)")
    return settings
