"""Bundled data sets and a CSV loader for the user's own tables.

The bundled files ship inside the package (``tinynet/datasets/data``, provenance in its README), so
an installed tinynet needs no network: ``load_iris()`` (150 x 4, 3 classes), ``load_diabetes()``
(442 x 10, regression, raw unscaled features), ``load_digits()`` (1797 x 64, 10 classes).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

from tinynet._checks import Array

TASKS = ("classification", "regression")
MISSING = {"", "na", "nan", "null", "none", "?"}
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


def _read_text(path: str) -> str:
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, expected a CSV file")
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
                return handle.read()
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot be read as UTF-8 CSV text ({error})") from None


def _resolve_target(target: int | str, header: list[str], path: str) -> int:
    if isinstance(target, str):
        if target not in header:
            raise ValueError(f"{path}: unknown target column {target!r}; columns are {header}")
        return header.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a column name or index, got {type(target).__name__}")
    if not -len(header) <= target < len(header):
        raise ValueError(
            f"{path}: target column index {target} is out of range for {len(header)} columns {header}"
        )
    return int(target) % len(header)


def _parse_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def parse_csv(
    text: str, path: str, target: int | str = -1, task: str | None = None, delimiter: str = ","
) -> Dataset:
    """Parse CSV ``text`` (``path`` names it in errors); see ``load_csv``."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)} or None, got {task!r}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
    try:
        rows = [
            (number, row) for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
        ]
    except csv.Error as error:
        raise ValueError(f"{path}: malformed CSV ({error})") from None
    rows = [(number, row) for number, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path}: the file is empty, expected a header row and data rows")
    header = [name.strip() for name in rows[0][1]]
    if len(header) < 2:
        raise ValueError(
            f"{path}: line {rows[0][0]}: expected at least 2 columns (features and a target), "
            f"got {len(header)}"
        )
    data = rows[1:]
    if not data:
        raise ValueError(f"{path}: has a header row but no data rows")
    column = _resolve_target(target, header, path)
    features: list[list[float]] = []
    labels: list[str] = []
    for number, row in data:
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {number}: expected {len(header)} fields like the header, got {len(row)}"
            )
        values = []
        for j, cell in enumerate(row):
            text_cell = cell.strip()
            if text_cell.lower() in MISSING:
                raise ValueError(f"{path}: line {number}: missing value in column {header[j]!r}")
            if j == column:
                labels.append(text_cell)
                continue
            value = _parse_float(text_cell)
            if value is None or not math.isfinite(value):
                raise ValueError(
                    f"{path}: line {number}: non-numeric value {text_cell!r} in feature column {header[j]!r}"
                )
            values.append(value)
        features.append(values)
    x = np.array(features, dtype=np.float64).reshape(len(data), len(header) - 1)
    feature_names = tuple(name for j, name in enumerate(header) if j != column)
    y, target_names, resolved_task = _encode_target(labels, task, path, header[column])
    name = os.path.splitext(os.path.basename(path.removesuffix(".gz")))[0]
    return Dataset(x, y, feature_names, target_names, resolved_task, name, header[column])


def _encode_target(
    labels: list[str], task: str | None, path: str, column: str
) -> tuple[Array, tuple[str, ...] | None, str]:
    numbers = [_parse_float(label) for label in labels]
    numeric = all(n is not None and math.isfinite(n) for n in numbers)
    if not numeric:
        if task == "regression":
            bad = next(label for label, n in zip(labels, numbers, strict=True) if n is None)
            raise ValueError(
                f"{path}: task 'regression' needs a numeric target, but column {column!r} holds text such as "
                f"{bad!r}; use task='classification'"
            )
        names = sorted(set(labels))
        lookup = {label: i for i, label in enumerate(names)}
        return np.array([lookup[label] for label in labels], dtype=np.int64), tuple(names), "classification"
    values = np.array(numbers, dtype=np.float64)
    integral = bool(np.all(values == np.round(values)))
    distinct = np.unique(values)
    if task is None:
        task = "classification" if integral and len(distinct) <= MAX_CLASSES_INFERRED else "regression"
    if task == "regression":
        return values, None, "regression"
    if not integral:
        raise ValueError(
            f"{path}: task 'classification' needs class labels, but target column {column!r} is continuous "
            f"(e.g. {values[values != np.round(values)][0]}); use task='regression'"
        )
    indices = np.searchsorted(distinct, values).astype(np.int64)
    return indices, tuple(str(int(v)) for v in distinct), "classification"


def load_csv(
    path: str | os.PathLike[str], target: int | str = -1, task: str | None = None, delimiter: str = ","
) -> Dataset:
    """Load a table with a header row; the target column is given by name or index.

    String labels become class indices in sorted order (names kept in ``target_names``).
    ``task=None`` infers classification for text or small-integer targets (at most 20 distinct
    integers) and regression otherwise. Every problem (missing or empty file, header only, ragged
    row, non-numeric feature, missing value, unknown target) raises ``ValueError`` naming the file
    and, where it applies, the 1-based line.
    """
    name = os.fspath(path)
    return parse_csv(_read_text(name), name, target, task, delimiter)


def _bundled(filename: str, task: str) -> Dataset:
    source = resources.files(__name__).joinpath("data").joinpath(filename)
    raw = source.read_bytes()
    text = gzip.decompress(raw).decode("utf-8") if filename.endswith(".gz") else raw.decode("utf-8")
    dataset = parse_csv(text, filename, task=task)
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


DATASETS = {"iris": load_iris, "diabetes": load_diabetes, "digits": load_digits}


def load(name: str) -> Dataset:
    """A bundled data set by name (see ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; bundled data sets are {sorted(DATASETS)}")
    return DATASETS[name]()


__all__ = [
    "DATASETS",
    "Dataset",
    "load",
    "load_csv",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "parse_csv",
]
