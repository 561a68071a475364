"""``TableData``: what a table model learns from, selected from a table as its settings say.

``load_table("iris")`` or ``load_table("my.csv")`` reads a bundled data set or a CSV file;
``TableData.select(table, settings)`` picks the target and feature columns (columns that only
identify rows, ``is_identifier``, are left out unless ``features`` names them), leaves out the rows
without a target (and with ``missing="drop"`` those with any missing value), checks that the task
fits the target, and encodes the target (class indices with their names, or values). Every
mistake is a ``SettingError`` naming the setting to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from tinynet.core.checks import Array
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
from tinynet.tabular.settings import SettingError, TabularSettings


def load_table(dataset: str | os.PathLike[str], delimiter: str = ",") -> tuple[Table, str, str | None]:
    """The table of a bundled data set (by name) or of a CSV file, its name, and its usual target."""
    dataset = os.fspath(dataset)
    if dataset in TABLES:
        return bundled_table(dataset), dataset, TARGETS[dataset]
    if not os.path.exists(dataset):
        known = ", ".join(sorted(TABLES))
        raise SettingError(
            "dataset", dataset, f"unknown data set {dataset!r}: not one of {known} and no such CSV file"
        )
    table = read_csv_table(dataset, delimiter)
    name = os.path.splitext(os.path.basename(dataset.removesuffix(".gz")))[0]
    return table, name, None


SNIFFED = ("\t", ";", "|")  # tried, in this order of preference, when commas give one column


def read_csv_table(path: str, delimiter: str = ",") -> Table:
    """``read_table``, except that a file read with commas as one column whose header holds tabs,
    semicolons or bars is read again with the one its header holds most (as spreadsheets export)."""
    table = read_table(path, delimiter)
    if delimiter != "," or len(table.columns) != 1:
        return table
    header = table.names[0]
    found = [d for d in SNIFFED if d in header]
    if not found:
        return table
    return read_table(path, max(found, key=header.count))


def _column_key(key: str | int) -> int | str:
    if isinstance(key, str) and key.lstrip("-").isdigit():
        return int(key)
    return key


def target_position(table: Table, target: str | int | None, default: str | None) -> int:
    """The index of the target column: ``target`` by name or index, else ``default``, else the last."""
    if target is None:
        return table.resolve(default, "target column") if default is not None else len(table.columns) - 1
    try:
        return table.resolve(_column_key(target), "target column")
    except (ValueError, TypeError):
        raise SettingError(
            "target", target, f"no such column in {table.path}; columns are {table.names}"
        ) from None


def check_task(table: Table, column: Column, task: str, name: str, bundled_target: bool) -> None:
    """The task must fit the target."""
    if bundled_target and BUNDLED_TASKS[name] != task:
        kind = "text class labels" if column.is_text else f"a {BUNDLED_TASKS[name]} target"
        raise SettingError(
            "task", task, f"does not fit data set {name!r}: it has {kind}", BUNDLED_TASKS[name]
        )
    if column.is_text and task == "regression":
        example = column.first_text[1] if column.first_text else "?"
        raise SettingError(
            "task",
            task,
            f"needs a numeric target, but column {column.name!r} holds text such as {example!r}",
            "classification",
        )
    if not column.is_text and task == "classification":
        values = column.values[~np.isnan(column.values)]
        if values.size and not np.all(values == np.round(values)):
            example = values[values != np.round(values)][0]
            raise SettingError(
                "task",
                task,
                f"needs class labels, but column {column.name!r} holds continuous values such as {example}",
                "regression",
            )


MIN_IDENTIFIER_ROWS = 10  # in fewer rows, values that are all different say little


def is_identifier(column: Column) -> bool:
    """Whether ``column`` names rows rather than describing them: text that differs in every row
    (a name, a code), or whole numbers that count the rows (0, 1, 2, ... in any order, as a saved
    DataFrame index). It cannot help a model predict rows it has not seen, and as text it would
    cost an embedding row per training row. Missing values make a column no identifier."""
    values = column.values
    if len(values) < MIN_IDENTIFIER_ROWS or column.missing.any():
        return False
    if column.is_text:
        return len(column.categories or ()) == len(values)
    if not np.all(values == np.round(values)):
        return False
    low, high = values.min(), values.max()
    return bool(high - low == len(values) - 1 and len(np.unique(values)) == len(values))


@dataclass
class TableData:
    """The rows a model learns from: the table, its target, the feature columns and the rows kept.

    ``y`` (n,) holds class indices (names in ``class_names``) or values, for ``rows``, the table's
    rows used; ``dropped`` counts the rows left out. ``identifiers`` are the columns left out as
    row identifiers (``is_identifier``) because ``features`` did not name them.
    """

    table: Table
    name: str
    target: Column
    y: Array
    class_names: tuple[str, ...] | None
    numeric: list[str]
    text: list[str]
    rows: Array
    dropped: int
    identifiers: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return self.numeric + self.text

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def select(
        cls, table: Table, settings: TabularSettings, name: str = "", default_target: str | None = None
    ) -> TableData:
        """Select target, features and rows of ``table`` as ``settings`` say (see the module)."""
        name = name or os.path.splitext(os.path.basename(table.path.removesuffix(".gz")))[0]
        if len(table.columns) < 2:
            raise ValueError(
                f"{table.path}: expected at least 2 columns (features and a target), got {len(table.columns)}"
            )
        position = target_position(table, settings.target, default_target)
        target = table.columns[position]
        bundled = name in TABLES and default_target is not None and target.name == default_target
        check_task(table, target, settings.task, name, bundled)
        features = [c.name for j, c in enumerate(table.columns) if j != position]
        if settings.features:
            unknown = [c for c in settings.features if c not in features]
            if unknown:
                raise SettingError("features", unknown, f"no such feature columns; columns are {features}")
            features = list(settings.features)
        if settings.drop:
            unknown = [c for c in settings.drop if c not in table.names]
            if unknown:
                raise SettingError("drop", unknown, f"no such columns; columns are {table.names}")
            features = [c for c in features if c not in settings.drop]
        identifiers: list[str] = []
        if not settings.features:  # columns named in features are kept whatever they hold
            identifiers = [f for f in features if is_identifier(table.column(f))]
            if len(identifiers) == len(features):  # nothing else to learn from: keep them
                identifiers = []
            features = [f for f in features if f not in identifiers]
        if not features:
            raise SettingError("features", features, "no feature columns are left (check features and drop)")
        keep = ~target.missing
        if settings.missing == "drop":
            for feature in features:
                keep &= ~table.column(feature).missing
        rows = np.flatnonzero(keep)
        if len(rows) < 2:
            raise ValueError(
                f"{table.path}: only {len(rows)} rows have a target and every feature; nothing to learn from"
            )
        for feature in features:
            column = table.column(feature)
            if column.first_infinite is not None:
                line, cell = column.first_infinite
                raise ValueError(
                    f"{table.path}: line {line}: non-finite value {cell!r} in column {feature!r}"
                )
        labels = Column(
            target.name,
            target.values[rows],
            target.categories,
            None,
            target.first_text,
            target.first_infinite,
        )
        y, class_names, _ = encode_target(labels, settings.task, table.path)
        if settings.classification:
            lonely = [str((class_names or ())[k]) for k in np.flatnonzero(np.bincount(y) < 2)]
            if lonely:
                raise SettingError(
                    "task",
                    settings.task,
                    f"classes {lonely[:5]} of column {target.name!r} have a single sample, too few to split "
                    "into training and test rows; is the target continuous?",
                    "regression",
                )
        numeric = [f for f in features if not table.column(f).is_text]
        text = [f for f in features if table.column(f).is_text]
        dropped = len(table) - len(rows)
        return cls(table, name, target, y, class_names, numeric, text, rows, dropped, identifiers)

    def missing_values(self) -> int:
        """How many feature cells of the rows used are missing (imputed when training)."""
        return sum(int(self.table.column(f).missing[self.rows].sum()) for f in self.features)
