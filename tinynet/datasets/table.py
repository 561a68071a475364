"""A streaming CSV reader: typed columns (numbers or text), missing values, line numbers.

``read_table`` reads a file row by row, never holding its text: each chunk of rows is checked for
its shape and converted column by column into one typed array per column (float64 for numbers,
NaN for a missing value; int64 category codes for text, -1 for a missing value). A column that
turns to text after many numbers is read once more, alone. Memory: 8 bytes per cell and per row,
about 150 bytes per distinct text and 500 per column, plus at most ``CHUNK_CELLS`` cells of text
at a time (a few MiB), whatever the file's length or shape: 1 to 4 times the file for typical
tables, at worst about 10 times for one-character numbers, 25 for short texts that are all
different and 60 for tens of thousands of columns. Only regular files are read (a FIFO or a
device is refused at once), and every problem is a ``ValueError`` naming the file and, where it
applies, the 1-based line.

Missing values are written as an empty cell, ``NA``, ``NaN``, ``null``, ``None`` or ``?`` (any case).
"""

from __future__ import annotations

import array
import csv
import gzip
import io
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from tinynet.core.checks import Array
from tinynet.core.files import open_regular

MISSING = frozenset({"", "na", "nan", "null", "none", "?"})
MAX_FIELD = 2**20  # a cell longer than 1 MiB is refused rather than parsed (csv's own limit is 128 KiB)

Source = Callable[[], Any]  # opens a fresh text stream over the same data on every call


def _parse_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``values`` float64 (NaN missing) for numbers, int64 codes (-1 missing) for text.

    ``first_missing`` and ``first_text`` are ``(line, cell)`` of the first missing value and the
    first cell that is not a number (None when there is none), for messages; ``first_infinite``
    likewise for a number that is not finite (``inf``).
    """

    name: str
    values: Array
    categories: tuple[str, ...] | None
    first_missing: int | None
    first_text: tuple[int, str] | None
    first_infinite: tuple[int, str] | None

    @property
    def is_text(self) -> bool:
        return self.categories is not None

    @property
    def missing(self) -> Array:
        """A boolean mask of the missing cells."""
        result: Array = self.values < 0 if self.is_text else np.isnan(self.values)
        return result

    def labels(self) -> list[str | None]:
        """The text of each cell (None where missing), for a text column."""
        if self.categories is None:
            raise ValueError(f"column {self.name!r} holds numbers, not text")
        names = self.categories
        return [names[code] if code >= 0 else None for code in self.values.tolist()]


@dataclass(frozen=True)
class Table:
    """The columns of a CSV file in header order, and the file line of each data row."""

    path: str
    columns: tuple[Column, ...]
    lines: Array

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise ValueError(f"{self.path}: no column {name!r}; columns are {self.names}")

    def resolve(self, key: int | str, what: str = "column") -> int:
        """The position of column ``key`` (a name, or an index that may be negative)."""
        if isinstance(key, str):
            if key not in self.names:
                raise ValueError(f"{self.path}: unknown {what} {key!r}; columns are {self.names}")
            return self.names.index(key)
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"{what} must be a column name or index, got {type(key).__name__}")
        if not -len(self.columns) <= key < len(self.columns):
            count = len(self.columns)
            raise ValueError(
                f"{self.path}: {what} index {key} is out of range for {count} columns {self.names}"
            )
        return int(key) % len(self.columns)


GZIP_RATIO = 100  # a .gz may hold up to this many times its size of text (CSV gives 3 to 10)


class _Bounded(io.RawIOBase):
    """A decompressing stream that stops with a ``ValueError`` past ``limit`` bytes (a gzip bomb)."""

    def __init__(self, inner: gzip.GzipFile, limit: int, path: str) -> None:
        self.inner, self.limit, self.path, self.count = inner, limit, path, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.inner.readinto(buffer)
        self.count += count
        if self.count > self.limit:
            raise ValueError(
                f"{self.path}: decompresses to more than {self.limit:,} bytes, {GZIP_RATIO} times the "
                "file; refused (decompress it yourself if it is a real table)"
            )
        return int(count)


def file_source(path: str) -> Source:
    """A source over a regular file (gzip-compressed when the name ends in ``.gz``: its text may be
    at most ``GZIP_RATIO`` times the file, plus 1 MiB)."""

    @contextmanager
    def opened() -> Iterator[IO[str]]:
        handle = open_regular(path)
        try:
            if path.endswith(".gz"):
                limit = GZIP_RATIO * os.fstat(handle.fileno()).st_size + 2**20
                with gzip.GzipFile(fileobj=handle, mode="rb") as probe:  # a bomb is refused unparsed
                    counter = _Bounded(probe, limit, path)
                    chunk = bytearray(2**20)
                    while counter.readinto(chunk):
                        pass
                handle.seek(0)
                raw = _Bounded(gzip.GzipFile(fileobj=handle, mode="rb"), limit, path)
                with io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8-sig", newline="") as text:
                    yield text  # a byte-order mark is dropped as for a .csv
            else:
                with io.TextIOWrapper(handle, encoding="utf-8-sig", newline="") as text:
                    yield text
        finally:
            handle.close()

    return opened


def text_source(text: str) -> Source:
    """A source over text already in memory."""

    @contextmanager
    def opened() -> Iterator[IO[str]]:
        yield io.StringIO(text)

    return opened


def _blank(row: list[str]) -> bool:
    return not row or not (row[0].strip() or any(cell.strip() for cell in row))


def _header(reader: Any, path: str) -> tuple[int, list[str]] | None:
    """The first row that is not blank, with its line."""
    with _reading(reader, path):
        for row in reader:
            if not _blank(row):
                return reader.line_num, row
    return None


@contextmanager
def _reading(reader: Any, path: str) -> Iterator[None]:
    """Turn the csv module's and the decoder's errors into ValueErrors naming the line."""
    try:
        yield
    except csv.Error as error:
        raise ValueError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: cannot be read as UTF-8 CSV text ({error})") from None


CHUNK_ROWS = 4096  # rows converted together: NumPy parses a whole column of a chunk at once
CHUNK_CELLS = 2**16  # ... and at most this many cells (a chunk of a wide table holds fewer rows)


def _chunks(reader: Any, width: int, path: str) -> Iterator[tuple[list[int], list[tuple[str, ...]]]]:
    """``(lines, columns)`` of up to ``CHUNK_ROWS`` rows and about ``CHUNK_CELLS`` cells, transposed,
    after checking each row's length: the text held at once is bounded whatever the table's shape."""
    rows = max(1, min(CHUNK_ROWS, CHUNK_CELLS // width))
    lines: list[int] = []
    block: list[list[str]] = []
    with _reading(reader, path):
        for row in reader:
            if len(row) != width:
                if _blank(row):
                    continue
                raise ValueError(
                    f"{path}: line {reader.line_num}: expected {width} fields like the header, got {len(row)}"
                )
            if not row[0] and _blank(row):
                continue
            lines.append(reader.line_num)
            block.append(row)
            if len(block) == rows:
                yield lines, list(zip(*block, strict=True))
                lines, block = [], []
    if block:
        yield lines, list(zip(*block, strict=True))


def _as_numbers(cells: tuple[str, ...]) -> Array | None:
    """The cells as float64 (NaN for 'nan'), or None when one of them is not a number."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return None


class _Builder:
    """One column, filled chunk by chunk: numbers until a cell is text, then category codes.

    A column that turns to text after whole chunks of numbers were stored keeps no values
    (``restart``): its text is gathered by a second read of the file, for that column only.
    """

    __slots__ = ("categories", "codes", "first_infinite", "first_missing", "first_text", "numbers", "restart")

    def __init__(self) -> None:
        self.numbers: array.array[float] | None = array.array("d")
        self.codes: array.array[int] | None = None
        self.categories: dict[str, int] = {}
        self.restart = False
        self.first_missing: int | None = None
        self.first_text: tuple[int, str] | None = None
        self.first_infinite: tuple[int, str] | None = None

    def add(self, lines: list[int], cells: tuple[str, ...]) -> None:
        if self.numbers is not None:
            values = _as_numbers(cells)
            if values is not None:  # the common case: all numbers ('nan' counts as missing)
                self._note_special(lines, cells, values)
                self.numbers.frombytes(values.tobytes())
                return
            values = self._parse(lines, cells)
            if values is not None:
                self._note_special(lines, cells, values)
                self.numbers.frombytes(values.tobytes())
                return
            if len(self.numbers):  # numbers stored before: read again later, as text
                self.numbers, self.restart = None, True
                return
            self.numbers, self.codes = None, array.array("q")
        if self.codes is not None:
            self.encode(lines, cells)
        elif self.first_missing is None:  # restarting: only the first missing value is still of interest
            for line, cell in zip(lines, cells, strict=True):
                if cell.strip().lower() in MISSING:
                    self.first_missing = line
                    break

    def _note_special(self, lines: list[int], cells: tuple[str, ...], values: Array) -> None:
        if self.first_missing is None and np.isnan(values).any():
            self.first_missing = lines[int(np.argmax(np.isnan(values)))]
        if self.first_infinite is None and np.isinf(values).any():
            at = int(np.argmax(np.isinf(values)))
            self.first_infinite = (lines[at], cells[at].strip())

    def _parse(self, lines: list[int], cells: tuple[str, ...]) -> Array | None:
        """Cells with missing tokens as NaN; None at the first cell that is text (noted)."""
        values = np.empty(len(cells))
        for i, (line, cell) in enumerate(zip(lines, cells, strict=True)):
            text = cell.strip()
            if text.lower() in MISSING:
                values[i] = math.nan
                continue
            value = _parse_float(text)
            if value is None:
                self.first_text = (line, text)
                return None
            values[i] = value
        return values

    def encode(self, lines: list[int], cells: tuple[str, ...]) -> None:
        assert self.codes is not None
        table = self.categories
        for line, cell in zip(lines, cells, strict=True):
            text = cell.strip()
            if text.lower() in MISSING:
                self.codes.append(-1)
                if self.first_missing is None:
                    self.first_missing = line
            else:
                self.codes.append(table.setdefault(text, len(table)))
                if self.first_text is None and _parse_float(text) is None:
                    self.first_text = (line, text)

    def column(self, name: str) -> Column:
        """The finished column; the builder lets go of its values."""
        if self.numbers is not None:
            values, self.numbers = _owned(self.numbers, np.float64), None
            return Column(name, values, None, self.first_missing, None, self.first_infinite)
        assert self.codes is not None
        codes, self.codes = _owned(self.codes, np.int64), None
        return Column(name, codes, tuple(self.categories), self.first_missing, self.first_text, None)


def _owned(values: array.array[Any], dtype: type[np.generic]) -> Array:
    """The values as an array: a view of a long column, a copy of a short one (a view costs
    the buffer object and the view as well, about 300 bytes, which a wide table pays per column)."""
    view = np.frombuffer(values, dtype)
    return view.copy() if len(values) < 4096 else view


def read_table(source: Source | str, delimiter: str = ",", path: str | None = None) -> Table:
    """Read a CSV table with a header row into typed columns (see the module docstring).

    ``source`` is a file path or a ``Source``; ``path`` names it in messages (default: the path).
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
    if isinstance(source, str):
        path = path or source
        source = file_source(source)
    name = path or "<text>"
    old_limit = csv.field_size_limit(MAX_FIELD)
    try:
        header, builders, lines = _read(source, delimiter, name, None)
        again = [j for j, b in enumerate(builders) if b.restart]
        if again:  # columns that turned to text after many numbers: read those once more, as text
            _, rebuilt, _ = _read(source, delimiter, name, again)
            for j in again:
                rebuilt[j].first_text = builders[j].first_text
                builders[j] = rebuilt[j]
        columns = tuple(builders[j].column(n) for j, n in enumerate(header))
        return Table(name, columns, np.frombuffer(lines, np.int64))
    finally:
        csv.field_size_limit(old_limit)


def _read(
    source: Source, delimiter: str, path: str, text_only: list[int] | None
) -> tuple[list[str], list[_Builder], array.array[int]]:
    """One pass over the file; with ``text_only`` it encodes just those columns, as text."""
    with source() as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        first = _header(reader, path)
        if first is None:
            raise ValueError(f"{path}: the file is empty, expected a header row and data rows")
        line, cells = first
        header = [cell.strip() for cell in cells]
        seen: dict[str, int] = {}
        for position, column in enumerate(header, 1):
            if column in seen:
                raise ValueError(
                    f"{path}: line {line}: columns {seen[column]} and {position} are both named {column!r}; "
                    "column names must be unique"
                )
            seen[column] = position
        builders = [_Builder() for _ in header]
        if text_only is not None:
            for j in text_only:
                builders[j].numbers, builders[j].codes = None, array.array("q")
        lines: array.array[int] = array.array("q")
        for chunk_lines, columns in _chunks(reader, len(header), path):
            lines.extend(chunk_lines)
            for j in range(len(header)) if text_only is None else text_only:
                builders[j].add(chunk_lines, columns[j])
    if not lines:
        raise ValueError(f"{path}: has a header row but no data rows")
    return header, builders, lines
