"""TableEncoder: what ``tinynet train`` does to a table, from the training rows only."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from tinynet.datasets import read_table
from tinynet.tabular import TableEncoder
from tinynet.tabular.encoder import FIRST_CATEGORY, MISSING_CODE, UNKNOWN


def table(tmp_path: Path, text: str) -> object:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return read_table(str(path), ",")


CSV = "x,colour,y\n1,red,0\n3,blue,1\nNA,red,0\n5,NA,1\n100,green,0\n"


def test_a_missing_number_is_the_training_mean_and_numbers_are_standardized(tmp_path: Path) -> None:
    t = table(tmp_path, CSV)
    encoder = TableEncoder(["x"], ["colour"]).fit(t, np.array([0, 1, 2, 3]))  # row 4 is held out
    assert encoder.mean[0] == pytest.approx(3.0)  # (1 + 3 + 5) / 3: the missing cell is not a 0
    assert encoder.scale[0] == pytest.approx(np.std([1.0, 3.0, 5.0]))
    numbers = encoder.encode(t).numbers[:, 0]
    assert numbers[2] == 0.0, "a missing number becomes the mean, 0 after standardizing"
    assert numbers[0] == pytest.approx((1 - 3) / np.std([1.0, 3.0, 5.0]))
    assert numbers[4] == pytest.approx((100 - 3) / np.std([1.0, 3.0, 5.0])), "held-out rows are not fitted"


def test_categories_are_sorted_from_the_training_rows_with_unknown_and_missing_codes(tmp_path: Path) -> None:
    t = table(tmp_path, CSV)
    encoder = TableEncoder(["x"], ["colour"]).fit(t, np.array([0, 1, 2, 3]))
    assert encoder.categories == [["blue", "red"]]
    assert encoder.cardinalities() == [2 + FIRST_CATEGORY]
    codes = encoder.encode(t).codes[:, 0].tolist()
    blue, red = FIRST_CATEGORY, FIRST_CATEGORY + 1
    assert codes == [red, blue, red, MISSING_CODE, UNKNOWN], "green was never seen in training"


def test_one_hot_columns_follow_the_numbers(tmp_path: Path) -> None:
    t = table(tmp_path, CSV)
    encoder = TableEncoder(["x"], ["colour"], "onehot").fit(t)
    assert encoder.width == 1 + 3 + FIRST_CATEGORY
    encoded = encoder.encode(t)
    rows = encoded.inputs()
    assert rows.shape == (5, encoder.width) and encoded.numbers.shape == (5, 1), "made batch by batch"
    whole = rows[np.arange(5)]
    assert (whole[:, 1:].sum(axis=1) == 1).all() and np.array_equal(whole[:, 0], encoded.numbers[:, 0])
    assert whole[3, 1 + MISSING_CODE] == 1.0
    assert np.array_equal(rows[[3, 1]], whole[[3, 1]]) and np.array_equal(np.asarray(rows[1:4]), whole[1:4])
    assert rows.astype(np.float32)[[0]].dtype == np.float32


def test_one_hot_training_never_holds_rows_times_categories(tmp_path: Path) -> None:
    """20,000 rows of a text column with 2,000 categories: the one-hot matrix would be 320 MB."""
    rng = np.random.default_rng(0)
    lines = ["x,code,y"] + [f"{rng.normal():.3f},c{i % 2000},{i % 2}" for i in range(20_000)]
    (tmp_path / "codes.csv").write_text("\n".join(lines) + "\n")
    model = tn.TabularModel(
        task="classification", layers=(2,), epochs=1, categorical="onehot", batch_size=256
    )
    tracemalloc.start()
    try:
        model.fit(str(tmp_path / "codes.csv"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    weights = sum(p.data.nbytes for p in model.network.parameters())
    assert peak < 60 * 2**20 + 4 * weights, f"{peak / 2**20:.0f} MiB"


def test_embedding_inputs_are_the_numbers_then_one_index_column_per_text_column(tmp_path: Path) -> None:
    encoded = TableEncoder(["x"], ["colour"]).fit(table(tmp_path, CSV)).encode(table(tmp_path, CSV))
    numbers, codes = encoded.inputs()
    assert numbers.shape == (5, 1) and codes.shape == (5, 1) and codes.dtype == np.int64


def test_the_state_round_trips_and_a_damaged_state_says_so(tmp_path: Path) -> None:
    t = table(tmp_path, CSV)
    encoder = TableEncoder(["x"], ["colour"]).fit(t)
    again = TableEncoder.from_state(encoder.state())
    assert np.array_equal(again.encode(t).numbers, encoder.encode(t).numbers)
    assert np.array_equal(again.encode(t).codes, encoder.encode(t).codes)
    state = encoder.state()
    state["numeric"][0]["scale"] = 0.0
    with pytest.raises(ValueError, match="scales finite and > 0"):
        TableEncoder.from_state(state)
    with pytest.raises(ValueError, match="the feature description is damaged"):
        TableEncoder.from_state({"numeric": "x"})


def test_a_numeric_column_with_no_training_value_is_refused(tmp_path: Path) -> None:
    t = table(tmp_path, "x,y\nNA,1\nNA,0\n3,1\n")
    with pytest.raises(ValueError, match="column 'x' has no values in the training rows"):
        TableEncoder(["x"], []).fit(t, np.array([0, 1]))
    with pytest.raises(ValueError, match="categorical must be one of"):
        TableEncoder(["x"], [], "ordinal")
