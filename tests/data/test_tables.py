"""The streaming table reader: typed columns, missing values, duplicate names, bounded memory."""

from __future__ import annotations

import gzip
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from tinynet.datasets import load_penguins, read_table


def test_penguins_is_a_table_with_text_and_missing_values() -> None:
    table = load_penguins()
    assert len(table) == 344 and table.names[0] == "species"
    text = {c.name for c in table.columns if c.is_text}
    assert text == {"species", "island", "sex"}
    assert int(table.column("sex").missing.sum()) == 11
    assert int(table.column("bill_length_mm").missing.sum()) == 2
    assert table.column("island").labels()[0] == "Torgersen"
    assert table.lines[0] == 2 and table.lines[-1] == 345


def test_duplicate_column_names_name_both_positions(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"dup\.csv: line 1: columns 1 and 2 are both named 'a'"):
        tn.load_csv(path)


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity"])
def test_a_non_finite_target_names_file_and_line(tmp_path: Path, cell: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"a,y\n1,2.5\n2,{cell}\n3,1.5\n")
    with pytest.raises(ValueError, match=rf"t\.csv: line 3: non-finite target value '{cell}' in column 'y'"):
        tn.load_csv(path, task="regression")


def test_a_non_finite_feature_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0\ninf,1\n")
    with pytest.raises(ValueError, match=r"t\.csv: line 3: non-finite value 'inf' in feature column 'a'"):
        tn.load_csv(path)


def test_a_column_that_turns_to_text_late_is_read_as_text(tmp_path: Path) -> None:
    rows = [f"{i},{i % 2}" for i in range(10000)] + ["ten thousand,1"]
    path = tmp_path / "late.csv"
    path.write_text("code,y\n" + "\n".join(rows) + "\n")
    table = read_table(str(path))
    code = table.column("code")
    assert code.is_text and code.first_text == (10002, "ten thousand")
    assert code.labels()[:3] == ["0", "1", "2"] and code.labels()[-1] == "ten thousand"
    with pytest.raises(
        ValueError, match="line 10002: non-numeric value 'ten thousand' in feature column 'code'"
    ):
        tn.load_csv(path)


def test_missing_tokens_are_missing_in_numbers_and_in_text(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("n,t,y\n1,a,0\n,NA,1\nnan,?,0\nNULL,b,1\n")
    table = read_table(str(path))
    assert np.isnan(table.column("n").values[1:]).tolist() == [True, True, True]
    assert table.column("t").labels() == ["a", None, None, "b"]
    assert table.column("n").first_missing == 3 and table.column("t").first_missing == 3


def test_loading_memory_stays_within_ten_times_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 6))
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("a,b,c,d,e,f,label\n")
        for i, row in enumerate(x):
            handle.write(",".join(f"{v:.6f}" for v in row) + ("," + ("cat" if i % 3 else "dog")) + "\n")
    size = os.path.getsize(path)
    tracemalloc.start()
    dataset = tn.load_csv(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= 10 * size, f"{peak / size:.1f} times the file"
    np.testing.assert_allclose(dataset.x, x, atol=5e-7)
    assert dataset.target_names == ("cat", "dog")


def _write_rows(path: Path, header: list[str], rows: object) -> None:
    with path.open("w") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:  # type: ignore[attr-defined]
            handle.write(row + "\n")


def _hostile_shape(shape: str, path: Path) -> None:
    """Tables whose text is cheap per cell: the shapes that cost a reader the most per byte."""
    if shape == "one-character numbers":
        _write_rows(path, ["a", "b"], (f"{i % 10},{i % 7}" for i in range(150_000)))
    elif shape == "mostly empty cells":
        _write_rows(path, list("abcdefghij"), ("1" + "," * 9 for _ in range(100_000)))
    elif shape == "every text distinct":
        _write_rows(path, ["t", "y"], (f"{i:x},{i % 2}" for i in range(120_000)))
    elif shape == "text after many numbers":
        _write_rows(path, ["t", "y"], [f"{i},1" for i in range(100_000)] + ["x,1"])
    elif shape == "60,000 columns":
        _write_rows(path, [f"{j:x}" for j in range(60_000)], ["1," * 59_999 + "2"] * 2)
    else:  # a wide table of many rows: chunks must hold fewer rows, not 4,096 rows of 2,000 cells
        _write_rows(path, [f"c{j}" for j in range(2_000)], ["1," * 1_999 + "2"] * 600)


@pytest.mark.parametrize(
    "shape",
    [
        "one-character numbers",
        "mostly empty cells",
        "every text distinct",
        "text after many numbers",
        "60,000 columns",
        "2,000 columns of 600 rows",
    ],
)
def test_reading_memory_keeps_the_stated_bound(tmp_path: Path, shape: str) -> None:
    """The README's bound: 8 bytes per cell and per row, ~150 bytes per distinct text, ~500 bytes
    per column, plus a fixed 8 MiB of text read at a time (was 100-120 times the file for wide
    tables and 400 MB for a 2,000-column chunk of 4,096 rows)."""
    path = tmp_path / "table.csv"
    _hostile_shape(shape, path)
    tracemalloc.start()
    try:
        table = read_table(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cells = len(table) * len(table.columns)
    distinct = sum(len(c.categories or ()) for c in table.columns)
    bound = 8.5 * (cells + len(table)) + 150 * distinct + 500 * len(table.columns) + 8 * 2**20
    assert peak <= bound, f"{peak / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB"
    assert peak <= 60 * os.path.getsize(path) + 8 * 2**20  # the README's worst ratio to the file


def test_a_huge_field_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("a,y\n" + "1" * (2**20 + 10) + ",0\n")
    with pytest.raises(
        ValueError, match=r"huge\.csv: line \d: malformed CSV \(field larger than field limit"
    ):
        tn.load_csv(path)


def test_a_byte_order_mark_is_dropped_from_plain_and_gzipped_csv_alike(tmp_path: Path) -> None:
    """Spreadsheets save UTF-8 with a BOM; gzipping that file must not turn it into a column name."""
    text = "\ufeffsize,kind\n1.5,a\n2.5,b\n"
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "packed.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(text)
    plain, packed = read_table(str(tmp_path / "plain.csv")), read_table(str(tmp_path / "packed.csv.gz"))
    assert plain.names == packed.names == ["size", "kind"]


def test_a_gzip_bomb_is_refused_before_parsing_in_bounded_memory(tmp_path: Path) -> None:
    """200 MB of rows in a 200 KB .csv.gz: more than 100 times the file is not a table's text."""
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("a,b\n")
        for _ in range(50):
            handle.write("1,2\n" * 1_000_000)
    assert path.stat().st_size < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(
            ValueError, match=r"bomb\.csv\.gz: decompresses to more than [\d,]+ bytes, 100 times"
        ):
            read_table(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB"
    honest = tmp_path / "honest.csv.gz"
    with gzip.open(honest, "wt") as handle:
        handle.write("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(5000)))
    assert len(read_table(str(honest)).columns[0].values) == 5000
