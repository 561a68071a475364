"""TableEncoder: what ``tinynet train`` does to a table, from the training rows only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
    assert encoded.inputs() is encoded.numbers and encoded.numbers.shape == (5, encoder.width)
    assert (encoded.numbers[:, 1:].sum(axis=1) == 1).all()
    assert encoded.numbers[3, 1 + MISSING_CODE] == 1.0


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
