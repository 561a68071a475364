"""From a table with numbers, text and missing values to what a network takes, and back again.

``TableEncoder`` learns, from the training rows only, what each feature column needs:

- a numeric column: its mean and standard deviation; a missing value becomes the mean (0 after
  standardizing), every value becomes (x - mean) / std;
- a text column: its categories, sorted. A category is encoded as an index for an ``Embedding``:
  0 is reserved for a category never seen in training ("unknown"), 1 for a missing value (its own
  category), 2.. for the categories. With ``categorical="onehot"`` the same indices become one-hot
  columns appended to the numbers instead.

``encode(table)`` gives ``numbers`` (n, d) float64 and ``codes`` (n, t) int64 (one column per text
column); ``inputs()`` is what a network built by ``tinynet.MLP`` with these ``cardinalities()``
takes. ``state()`` is JSON for a model file, and ``TableEncoder.from_state`` checks everything on
the way back, since a model file may come from anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet.core.checks import Array
from tinynet.datasets.table import Column, Table

UNKNOWN, MISSING_CODE = 0, 1
FIRST_CATEGORY = 2
CATEGORICAL = ("embedding", "onehot")


class OneHotRows:
    """The numbers (n, d) beside each text column's one-hot codes, as one (n, d + sum(counts)) array
    that is made batch by batch when indexed (``fit`` and ``predict`` index batches): the whole one-hot
    matrix, n x categories, never exists (a million rows of 10,000 categories would be 80 GB)."""

    def __init__(self, numbers: Array, codes: Array, counts: Sequence[int], dtype: Any = np.float64) -> None:
        self.numbers, self.codes, self.counts = numbers, codes, list(counts)
        self.starts = numbers.shape[1] + np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)
        self.dtype = np.dtype(dtype)
        self.shape = (len(numbers), numbers.shape[1] + sum(self.counts))
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> Any:
        """A slice: a view, as NumPy's (nothing made); indices: the batch, made now."""
        if isinstance(rows, slice):
            return OneHotRows(self.numbers[rows], self.codes[rows], self.counts, self.dtype)
        numbers, codes = np.atleast_2d(self.numbers[rows]), np.atleast_2d(self.codes[rows])
        out = np.zeros((len(numbers), self.shape[1]), dtype=self.dtype)
        out[:, : numbers.shape[1]] = numbers
        if self.counts:
            out[np.arange(len(out))[:, None], self.starts + codes] = 1.0
        return out

    def astype(self, dtype: Any) -> OneHotRows:
        return OneHotRows(self.numbers, self.codes, self.counts, dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        whole: Array = self[np.arange(len(self))]
        return whole if dtype is None else whole.astype(dtype)


@dataclass(frozen=True)
class Encoded:
    """Encoded rows: standardized ``numbers`` (n, d) and category indices ``codes`` (n, t); with
    ``onehot``, ``counts`` holds each text column's number of codes."""

    numbers: Array
    codes: Array
    onehot: bool
    counts: tuple[int, ...] = ()

    def inputs(self) -> Any:
        """What the network takes: one array (one-hot: made batch by batch), or [numbers, codes of
        each text column...]."""
        if self.onehot and self.codes.shape[1]:
            return OneHotRows(self.numbers, self.codes, self.counts)
        if self.onehot or self.codes.shape[1] == 0:
            return self.numbers
        parts = [self.numbers] if self.numbers.shape[1] else []
        return parts + [self.codes[:, [j]] for j in range(self.codes.shape[1])]

    def __len__(self) -> int:
        return len(self.numbers)


class TableEncoder:
    """Standardize numeric columns and index text columns, with statistics from training rows."""

    def __init__(self, numeric: Sequence[str], text: Sequence[str], categorical: str = "embedding") -> None:
        if categorical not in CATEGORICAL:
            raise ValueError(f"categorical must be one of {list(CATEGORICAL)}, got {categorical!r}")
        self.numeric, self.text, self.categorical = list(numeric), list(text), categorical
        self.mean = np.zeros(len(self.numeric))
        self.scale = np.ones(len(self.numeric))
        self.categories: list[list[str]] = [[] for _ in self.text]

    @property
    def features(self) -> list[str]:
        return self.numeric + self.text

    def fit(self, table: Table, rows: Array | None = None) -> TableEncoder:
        """Learn means, scales and categories from ``rows`` of ``table`` (all rows when None)."""
        for j, name in enumerate(self.numeric):
            values = _rows(table.column(name), rows)
            present = values[~np.isnan(values)]
            if present.size == 0:
                raise ValueError(f"{table.path}: column {name!r} has no values in the training rows")
            self.mean[j] = float(present.mean())
            std = float(present.std())
            self.scale[j] = std if std > 0 else 1.0
        for j, name in enumerate(self.text):
            column = table.column(name)
            codes = _rows(column, rows)
            seen = np.unique(codes[codes >= 0])
            assert column.categories is not None
            self.categories[j] = sorted(column.categories[c] for c in seen.tolist())
        return self

    def cardinalities(self) -> list[int]:
        """How many indices each text column uses: its categories plus unknown and missing."""
        return [len(c) + FIRST_CATEGORY for c in self.categories]

    @property
    def width(self) -> int:
        """The number of columns of ``numbers`` (one-hot columns included)."""
        return len(self.numeric) + (sum(self.cardinalities()) if self.categorical == "onehot" else 0)

    def encode(self, table: Table, rows: Array | None = None) -> Encoded:
        """The encoded ``rows`` of ``table`` (which must hold every feature column, by name)."""
        n = len(table) if rows is None else len(rows)
        numbers = np.empty((n, len(self.numeric)))
        for j, name in enumerate(self.numeric):
            column = table.column(name)
            if column.is_text:
                line, cell = column.first_text or (0, "?")
                raise ValueError(
                    f"{table.path}: line {line}: non-numeric value {cell!r} in numeric column {name!r}"
                )
            if column.first_infinite is not None:
                line, cell = column.first_infinite
                raise ValueError(f"{table.path}: line {line}: non-finite value {cell!r} in column {name!r}")
            values = _rows(column, rows)
            numbers[:, j] = np.where(np.isnan(values), self.mean[j], values)
        numbers -= self.mean
        numbers /= self.scale
        codes = np.empty((n, len(self.text)), dtype=np.int64)
        for j, name in enumerate(self.text):
            codes[:, j] = self._codes(table.column(name), rows, j)
        if self.categorical == "onehot":
            return Encoded(numbers, codes, onehot=True, counts=tuple(self.cardinalities()))
        return Encoded(numbers, codes, onehot=False)

    def _codes(self, column: Column, rows: Array | None, j: int) -> Array:
        lookup = {name: i + FIRST_CATEGORY for i, name in enumerate(self.categories[j])}
        if column.categories is None:  # a column of numbers where text was expected: compare as text
            values = _rows(column, rows)
            labels = [None if math.isnan(v) else _number_text(v) for v in values.tolist()]
            return np.array(
                [MISSING_CODE if v is None else lookup.get(v, UNKNOWN) for v in labels], dtype=np.int64
            )
        # map the column's categories once, then every row by indexing; a missing cell's code -1
        # picks the MISSING_CODE appended last
        mapped = [lookup.get(name, UNKNOWN) for name in column.categories] + [MISSING_CODE]
        result: Array = np.array(mapped, dtype=np.int64)[_rows(column, rows)]
        return result

    def state(self) -> dict[str, Any]:
        """JSON-able; ``from_state`` is the way back."""
        return {
            "numeric": [
                {"name": n, "mean": float(m), "scale": float(s)}
                for n, m, s in zip(self.numeric, self.mean, self.scale, strict=True)
            ],
            "text": [{"name": n, "categories": c} for n, c in zip(self.text, self.categories, strict=True)],
            "categorical": self.categorical,
        }

    @classmethod
    def from_state(cls, state: Any) -> TableEncoder:
        """An encoder from ``state()``; ``ValueError`` for anything malformed (it comes from a file)."""
        try:
            numeric = state["numeric"]
            text = state["text"]
            categorical = state["categorical"]
            encoder = cls([str(c["name"]) for c in numeric], [str(c["name"]) for c in text], str(categorical))
            encoder.mean = np.array([float(c["mean"]) for c in numeric])
            encoder.scale = np.array([float(c["scale"]) for c in numeric])
            encoder.categories = [[str(name) for name in c["categories"]] for c in text]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"the feature description is damaged ({type(error).__name__}: {error})"
            ) from None
        if not (
            np.isfinite(encoder.mean).all() and np.isfinite(encoder.scale).all() and (encoder.scale > 0).all()
        ):
            raise ValueError(
                "the feature description is damaged: means must be finite and scales finite and > 0"
            )
        names = encoder.features
        if not names:
            raise ValueError("the feature description is damaged: it lists no feature columns")
        if len(set(names)) != len(names):
            raise ValueError("the feature description is damaged: a column is named twice")
        return encoder


def _rows(column: Column, rows: Array | None) -> Array:
    return column.values if rows is None else column.values[rows]


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
