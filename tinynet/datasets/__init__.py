"""Bundled data sets and a CSV loader for the user's own tables.

The bundled files ship inside the package (``tinynet/datasets/data``, provenance in its README), so
an installed tinynet needs no network: ``load_iris()`` (150 x 4, 3 classes), ``load_diabetes()``
(442 x 10, regression, raw unscaled features), ``load_digits()`` (1797 x 64, 10 classes) and
``load_penguins()`` (344 rows, 3 classes, text columns and missing values: a ``Table``).

``load_csv`` gives a ``Dataset`` of numbers (every feature numeric, nothing missing);
``read_table`` reads any table, text columns and missing values included (see ``table.py``).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

from tinynet.core.checks import Array
from tinynet.datasets.table import MISSING, Column, Table, read_table, text_source

TASKS = ("classification", "regression")
MAX_CLASSES_INFERRED = 20  # integer targets with at most this many distinct values are classes


@dataclass(frozen=True)
class Dataset:
    """A table of features ``x`` (n, d) float64 and targets ``y``.

    ``y`` holds int class indices (n,) for classification, with the class names in
    ``target_names``, or float targets (n,) for regression (``target_names`` is None).
    """

    x: Array
    y: Array
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...] | None
    task: str
    name: str = ""
    target_name: str = "target"

    @property
    def n_classes(self) -> int:
        return len(self.target_names) if self.target_names is not None else 0

    def __repr__(self) -> str:
        classes = f", classes={list(self.target_names)}" if self.target_names is not None else ""
        return f"Dataset({self.name!r}, x={self.x.shape}, task={self.task!r}{classes})"


def encode_target(column: Column, task: str | None, path: str) -> tuple[Array, tuple[str, ...] | None, str]:
    """Class indices and names, or float values, for a target column; the task is inferred if None.

    Text labels become class indices in sorted order; an integer target with at most 20 distinct
    values is a classification target unless ``task="regression"``. Missing or infinite targets
    raise ``ValueError`` naming the line.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)} or None, got {task!r}")
    if column.first_missing is not None:
        raise ValueError(f"{path}: line {column.first_missing}: missing value in column {column.name!r}")
    if column.categories is not None:
        if task == "regression":
            assert column.first_text is not None
            raise ValueError(
                f"{path}: task 'regression' needs a numeric target, but column {column.name!r} holds text "
                f"such as {column.first_text[1]!r} (line {column.first_text[0]}); use task='classification'"
            )
        names = sorted(column.categories)
        position = {name: i for i, name in enumerate(names)}  # linear: k labels, not k * k
        lookup = np.array([position[c] for c in column.categories], dtype=np.int64)
        return lookup[column.values], tuple(names), "classification"
    if column.first_infinite is not None:
        line, cell = column.first_infinite
        raise ValueError(f"{path}: line {line}: non-finite target value {cell!r} in column {column.name!r}")
    values = column.values
    integral = bool(np.all(values == np.round(values)))
    distinct = np.unique(values)
    if task is None:
        task = "classification" if integral and len(distinct) <= MAX_CLASSES_INFERRED else "regression"
    if task == "regression":
        return values.copy(), None, "regression"
    if not integral:
        raise ValueError(
            f"{path}: task 'classification' needs class labels, but target column {column.name!r} is "
            f"continuous (e.g. {values[values != np.round(values)][0]}); use task='regression'"
        )
    indices = np.searchsorted(distinct, values).astype(np.int64)
    return indices, tuple(str(int(v)) for v in distinct), "classification"


def numeric_problem(table: Table, column: Column) -> tuple[int, str] | None:
    """The first reason (line, message) why ``column`` is not a clean numeric feature, or None."""
    found = []
    if column.first_text is not None:
        line, cell = column.first_text
        found.append((line, f"non-numeric value {cell!r} in feature column {column.name!r}"))
    if column.first_missing is not None:
        found.append((column.first_missing, f"missing value in column {column.name!r}"))
    if column.first_infinite is not None:
        line, cell = column.first_infinite
        found.append((line, f"non-finite value {cell!r} in feature column {column.name!r}"))
    return min(found) if found else None


def dataset_from_table(table: Table, target: int | str = -1, task: str | None = None) -> Dataset:
    """A numeric ``Dataset`` from a table: every feature a number, nothing missing (else ``ValueError``)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)} or None, got {task!r}")
    if len(table.columns) < 2:
        raise ValueError(
            f"{table.path}: expected at least 2 columns (features and a target), got {len(table.columns)}"
        )
    position = table.resolve(target, "target column")
    features = [c for j, c in enumerate(table.columns) if j != position]
    problems = [p for p in (numeric_problem(table, c) for c in features) if p is not None]
    if problems:
        line, message = min(problems)
        raise ValueError(f"{table.path}: line {line}: {message}")
    target_column = table.columns[position]
    y, target_names, resolved_task = encode_target(target_column, task, table.path)
    x = np.empty((len(table), len(features)), dtype=np.float64)
    for j, column in enumerate(features):
        x[:, j] = column.values
    name = os.path.splitext(os.path.basename(table.path.removesuffix(".gz")))[0]
    names = tuple(c.name for c in features)
    return Dataset(x, y, names, target_names, resolved_task, name, target_column.name)


def parse_csv(
    text: str, path: str, target: int | str = -1, task: str | None = None, delimiter: str = ","
) -> Dataset:
    """Parse CSV ``text`` (``path`` names it in errors); see ``load_csv``."""
    return dataset_from_table(read_table(text_source(text), delimiter, path), target, task)


def load_csv(
    path: str | os.PathLike[str], target: int | str = -1, task: str | None = None, delimiter: str = ","
) -> Dataset:
    """Load a table of numbers with a header row; the target column is given by name or index.

    String labels become class indices in sorted order (names kept in ``target_names``).
    ``task=None`` infers classification for text or small-integer targets (at most 20 distinct
    integers) and regression otherwise. Every problem (missing, empty or special file, header only,
    a column name twice, ragged row, non-numeric feature, missing or infinite value, unknown target)
    raises ``ValueError`` naming the file and, where it applies, the 1-based line. Tables with text
    features or missing values are read by ``read_table``.
    """
    name = os.fspath(path)
    return dataset_from_table(read_table(name, delimiter), target, task)


def _bundled_text(filename: str) -> str:
    raw = resources.files(__name__).joinpath("data").joinpath(filename).read_bytes()
    return gzip.decompress(raw).decode("utf-8") if filename.endswith(".gz") else raw.decode("utf-8")


def _bundled(filename: str, task: str) -> Dataset:
    dataset = parse_csv(_bundled_text(filename), filename, task=task)
    return dataclasses.replace(dataset, task=task, name=filename.split(".")[0])


def load_iris() -> Dataset:
    """Fisher's iris: 150 x 4 measurements in cm, 3 classes (setosa, versicolor, virginica)."""
    return _bundled("iris.csv", "classification")


def load_diabetes() -> Dataset:
    """Efron et al.'s diabetes: 442 x 10 raw features, target = disease progression (25 to 346)."""
    return _bundled("diabetes.csv", "regression")


def load_digits() -> Dataset:
    """UCI handwritten digits: 1797 x 64 pixel counts (0 to 16) of 8 x 8 images, 10 classes."""
    return _bundled("digits.csv.gz", "classification")


def load_penguins() -> Table:
    """Palmer penguins: 344 rows, target ``species`` (first column, 3 classes), text columns ``island``
    and ``sex``, 11 rows with missing values (``NA``). A ``Table``, since it is not all numbers."""
    return read_table(text_source(_bundled_text("penguins.csv")), ",", "penguins.csv")


DATASETS = {"iris": load_iris, "diabetes": load_diabetes, "digits": load_digits}
TABLES = {
    "iris": "iris.csv",
    "diabetes": "diabetes.csv",
    "digits": "digits.csv.gz",
    "penguins": "penguins.csv",
}
TARGETS = {"iris": "species", "diabetes": "target", "digits": "digit", "penguins": "species"}
BUNDLED_TASKS = {
    "iris": "classification",
    "diabetes": "regression",
    "digits": "classification",
    "penguins": "classification",
}


def bundled_table(name: str) -> Table:
    """A bundled data set by name as a ``Table`` (text columns and missing values kept)."""
    if name not in TABLES:
        raise ValueError(f"unknown dataset {name!r}; bundled data sets are {sorted(TABLES)}")
    return read_table(text_source(_bundled_text(TABLES[name])), ",", TABLES[name])


def load(name: str) -> Dataset:
    """A bundled numeric data set by name (see ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled data sets are {sorted(DATASETS)}")
    return DATASETS[name]()


__all__ = [
    "BUNDLED_TASKS",
    "DATASETS",
    "MISSING",
    "TABLES",
    "TARGETS",
    "Column",
    "Dataset",
    "Table",
    "bundled_table",
    "dataset_from_table",
    "encode_target",
    "load",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_penguins",
    "parse_csv",
    "read_table",
]
