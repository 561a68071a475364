"""Tables for the command line: bundled or CSV, target and feature columns, missing values, encoding.

Every mistake is a ``CLIError`` worded in terms of the flags the user typed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet._checks import Array
from tinynet.cli.parser import CLIError
from tinynet.data import StandardScaler
from tinynet.datasets import (
    BUNDLED_TASKS,
    TABLES,
    TARGETS,
    Column,
    Table,
    bundled_table,
    encode_target,
    read_table,
)
from tinynet.tabular import TableEncoder


@dataclass
class Problem:
    """What a run learns from: the table, its target, the feature columns and the rows kept."""

    table: Table
    name: str
    target: Column
    y: Array
    target_names: tuple[str, ...] | None
    numeric: list[str]
    text: list[str]
    rows: Array  # the rows used (missing targets, or with --missing drop any missing value, left out)
    dropped: int


def load_table(dataset: str, delimiter: str) -> tuple[Table, str, str | None]:
    """The table of a bundled data set or a CSV path, its name, and its usual target column."""
    if dataset in TABLES:
        return bundled_table(dataset), dataset, TARGETS[dataset]
    if not os.path.exists(dataset):
        raise CLIError(f"unknown data set {dataset!r}: not one of {sorted(TABLES)} and no such CSV file")
    table = read_table(dataset, delimiter)
    name = os.path.splitext(os.path.basename(dataset.removesuffix(".gz")))[0]
    return table, name, None


def _column_key(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def target_column(table: Table, flag: str | None, default: str | None) -> int:
    if flag is None:
        return table.resolve(default, "target column") if default is not None else len(table.columns) - 1
    try:
        return table.resolve(_column_key(flag), "target column")
    except (ValueError, TypeError):
        raise CLIError(
            f"--target {flag}: no such column in {table.path}; columns are {table.names}"
        ) from None


def check_task(table: Table, column: Column, task: str, name: str, bundled_target: bool) -> None:
    """The task must fit the target: say which flag to change, in the user's terms."""
    if bundled_target and BUNDLED_TASKS[name] != task:
        kind = "text class labels" if column.is_text else f"a {BUNDLED_TASKS[name]} target"
        raise CLIError(
            f"--task {task} does not fit data set {name!r}: it has {kind}; use --task {BUNDLED_TASKS[name]}"
        )
    if column.is_text and task == "regression":
        example = column.first_text[1] if column.first_text else "?"
        raise CLIError(
            f"--task regression needs a numeric target, but column {column.name!r} holds text such as "
            f"{example!r}; use --task classification"
        )
    if not column.is_text and task == "classification":
        values = column.values[~np.isnan(column.values)]
        if values.size and not np.all(values == np.round(values)):
            example = values[values != np.round(values)][0]
            raise CLIError(
                f"--task classification needs class labels, but column {column.name!r} holds continuous "
                f"values such as {example}; use --task regression"
            )


def problem(args: argparse.Namespace) -> Problem:
    """Load and select what ``train`` (and ``search``) learn from, as the flags say."""
    table, name, default_target = load_table(args.dataset, args.delimiter)
    if len(table.columns) < 2:
        raise CLIError(
            f"{table.path}: expected at least 2 columns (features and a target), got {len(table.columns)}"
        )
    position = target_column(table, args.target, default_target)
    target = table.columns[position]
    check_task(table, target, args.task, name, name in TABLES and target.name == default_target)
    features = [c.name for j, c in enumerate(table.columns) if j != position]
    if args.features:
        unknown = [c for c in args.features if c not in features]
        if unknown:
            raise CLIError(f"--features {' '.join(unknown)}: no such feature columns; columns are {features}")
        features = list(args.features)
    if args.drop:
        unknown = [c for c in args.drop if c not in table.names]
        if unknown:
            raise CLIError(f"--drop {' '.join(unknown)}: no such columns; columns are {table.names}")
        features = [c for c in features if c not in args.drop]
    if not features:
        raise CLIError("no feature columns are left (check --features and --drop)")
    keep = ~target.missing
    if args.missing == "drop":
        for feature in features:
            keep &= ~table.column(feature).missing
    rows = np.flatnonzero(keep)
    if len(rows) < 2:
        raise CLIError(
            f"{table.path}: only {len(rows)} rows have a target and every feature; nothing to learn from"
        )
    for feature in features:
        column = table.column(feature)
        if column.first_infinite is not None:
            line, cell = column.first_infinite
            raise CLIError(f"{table.path}: line {line}: non-finite value {cell!r} in column {feature!r}")
    labels = _subset(target, rows)
    y, target_names, _ = encode_target(labels, args.task, table.path)
    if args.task == "classification":
        counts = np.bincount(y)
        lonely = [str((target_names or ())[k]) for k in np.flatnonzero(counts < 2)]
        if lonely:
            raise CLIError(
                f"--task classification: classes {lonely[:5]} of column {target.name!r} have a single "
                "sample, too few to split into training and test rows; is the target continuous? "
                "Then use --task regression"
            )
    numeric = [f for f in features if not table.column(f).is_text]
    text = [f for f in features if table.column(f).is_text]
    return Problem(table, name, target, y, target_names, numeric, text, rows, len(table) - len(rows))


def _subset(column: Column, rows: Array) -> Column:
    """The column restricted to ``rows`` (a target: rows with a missing target are never kept)."""
    return Column(
        column.name, column.values[rows], column.categories, None, column.first_text, column.first_infinite
    )


def encoder_from_metadata(meta: dict[str, Any], path: str) -> TableEncoder:
    """The feature encoder a model file records (also the plain scaler of tinynet 0.1 files)."""
    try:
        if "features" in meta:
            return TableEncoder.from_state(meta["features"])
        if isinstance(meta.get("feature_names"), list) and "x_scaler" in meta:
            names = [str(n) for n in meta["feature_names"]]
            scaler = StandardScaler.from_state(meta["x_scaler"], columns=len(names))
            encoder = TableEncoder(names, [])
            assert scaler.mean_ is not None and scaler.scale_ is not None
            encoder.mean, encoder.scale = np.asarray(scaler.mean_), np.asarray(scaler.scale_)
            return encoder
    except ValueError as error:
        raise CLIError(f"{path}: {error}") from None
    raise CLIError(f"{path}: this model file has no feature description; save it with 'tinynet train'")


def target_scaler(meta: dict[str, Any], path: str) -> StandardScaler | None:
    state = meta.get("y_scaler")
    if state is None:
        return None
    try:
        return StandardScaler.from_state(state, columns=1)
    except ValueError as error:
        raise CLIError(f"{path}: the target scaling is damaged ({error})") from None


def class_names(meta: dict[str, Any], n_outputs: int, path: str) -> list[str]:
    names = meta.get("target_names")
    if names is None:
        return [str(i) for i in range(n_outputs)]
    if not isinstance(names, list) or len(names) != n_outputs or not all(isinstance(n, str) for n in names):
        raise CLIError(f"{path}: the class names do not fit the model's {n_outputs} outputs")
    return names


def check_feature_columns(table: Table, encoder: TableEncoder, path: str) -> None:
    missing = [n for n in encoder.features if n not in table.names]
    if missing:
        raise CLIError(f"{path}: missing feature columns {missing}; the model needs {encoder.features}")
