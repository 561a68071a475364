"""Bundled datasets, the CSV loader and its errors, splits, scaling, one-hot and minibatches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import NotFittedError, StandardScaler, minibatches, one_hot, train_test_split
from tinynet.datasets import load_csv, load_diabetes, load_digits, load_iris


def test_bundled_datasets() -> None:
    iris, diabetes, digits = load_iris(), load_diabetes(), load_digits()
    assert iris.x.shape == (150, 4) and iris.x.dtype == np.float64
    assert iris.target_names == ("setosa", "versicolor", "virginica")
    assert np.bincount(iris.y).tolist() == [50, 50, 50] and iris.task == "classification"
    assert iris.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert diabetes.x.shape == (442, 10) and diabetes.task == "regression" and diabetes.target_names is None
    assert diabetes.y.dtype == np.float64 and diabetes.y.min() == 25 and diabetes.y.max() == 346
    assert digits.x.shape == (1797, 64) and digits.n_classes == 10 and digits.x.max() == 16
    with pytest.raises(AttributeError):
        iris.task = "regression"  # type: ignore[misc]


def write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_csv_string_labels_and_target_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a,label,b\n1,dog,2\n3,cat,4\n5,dog,6\n")
    ds = load_csv(path, target="label")
    assert ds.feature_names == ("a", "b") and ds.target_names == ("cat", "dog")
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    assert ds.task == "classification"


def test_load_csv_infers_the_task(tmp_path: Path) -> None:
    small_ints = write(tmp_path, "a,y\n1,0\n2,1\n3,2\n", "c.csv")
    assert load_csv(small_ints).task == "classification"
    floats = write(tmp_path, "a,y\n1,0.5\n2,1.5\n3,2.25\n", "r.csv")
    assert load_csv(floats).task == "regression"
    many = write(tmp_path, "a,y\n" + "".join(f"{i},{i * 7}\n" for i in range(40)), "m.csv")
    assert load_csv(many).task == "regression"
    assert load_csv(small_ints, task="regression").y.dtype == np.float64
    labels = load_csv(write(tmp_path, "a,y\n1,3\n2,5\n3,3\n", "l.csv"), task="classification")
    assert labels.target_names == ("3", "5") and labels.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("", {}, "empty"),
        ("\n\n", {}, "empty"),
        ("a,b,y\n", {}, "header row but no data rows"),
        ("a,b,y\n1,2,0\n1,2\n", {}, "line 3: expected 3 fields"),
        ("a,b,y\n1,2,0\n1,x,1\n", {}, "line 3: non-numeric value 'x' in feature column 'b'"),
        ("a,b,y\n1,,0\n", {}, "line 2: missing value in column 'b'"),
        ("a,b,y\n1,NA,0\n", {}, "line 2: missing value"),
        ("a,b,y\n1,2,\n", {}, "line 2: missing value in column 'y'"),
        ("a,b,y\n1,2,0\n", {"target": "z"}, "unknown target column 'z'"),
        ("a,b,y\n1,2,0\n", {"target": 5}, "out of range"),
        ("a,b,y\n1,2,0.5\n3,4,1.5\n", {"task": "classification"}, "continuous"),
        ("a,b,y\n1,2,cat\n", {"task": "regression"}, "numeric target"),
        ("y\n1\n", {}, "at least 2 columns"),
    ],
)
def test_load_csv_errors_name_file_and_line(
    tmp_path: Path, text: str, kwargs: dict[str, Any], match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as info:
        load_csv(path, **kwargs)
    assert str(path) in str(info.value)


def test_load_csv_bad_task_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"task must be one of \['classification', 'regression'\]"):
        load_csv(write(tmp_path, "a,y\n1,0\n"), task="clustering")


def test_load_csv_missing_file_and_binary(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_csv(tmp_path / "nope.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"bin\.csv"):
        load_csv(binary)


def test_load_csv_other_delimiter(tmp_path: Path) -> None:
    ds = load_csv(write(tmp_path, "a;b;y\n1;2;x\n3;4;y\n"), delimiter=";")
    assert ds.x.shape == (2, 2) and ds.target_names == ("x", "y")


def test_stratified_split_keeps_proportions() -> None:
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    x = np.arange(100.0).reshape(-1, 1)
    x_train, x_test, y_train, y_test = train_test_split(x, y, 0.2, rng=0, stratify=True)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    assert np.bincount(y_train).tolist() == [48, 24, 8]
    assert sorted(np.concatenate([x_train, x_test])[:, 0].tolist()) == list(range(100))
    # rows stay paired with their labels
    np.testing.assert_array_equal(y[x_test[:, 0].astype(int)], y_test)


def test_split_sizes_and_reproducibility() -> None:
    x, y = np.arange(10.0).reshape(-1, 1), np.arange(10)
    a = train_test_split(x, y, 0.25, rng=3)
    b = train_test_split(x, y, 0.25, rng=3)
    assert len(a[1]) == 3 and len(a[0]) == 7  # the test side is rounded up, as scikit-learn
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    assert len(train_test_split(x, y, 4)[1]) == 4


@pytest.mark.parametrize(
    ("test_size", "error", "match"),
    [
        (0.0, ValueError, r"\(0, 1\)"),
        (1.0, ValueError, r"\(0, 1\)"),
        (10, ValueError, "both sides"),
        (0, ValueError, "both sides"),
        ("a", TypeError, "test_size"),
    ],
)
def test_split_errors(test_size: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        train_test_split(np.zeros((10, 1)), np.zeros(10), test_size)


def test_split_errors_on_mismatch_and_lonely_class() -> None:
    with pytest.raises(ValueError, match=r"len\(x\)=3 and len\(y\)=2"):
        train_test_split(np.zeros((3, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"classes \[2\] have 1"):
        train_test_split(np.zeros((5, 1)), np.array([0, 0, 1, 1, 2]), 2, stratify=True)


def test_standard_scaler() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaler = StandardScaler()
    with pytest.raises(NotFittedError, match="fit"):
        scaler.transform(x)
    z = scaler.fit_transform(x)
    np.testing.assert_allclose(z[:, 0], [-1.224744871391589, 0.0, 1.224744871391589])
    np.testing.assert_array_equal(z[:, 1], 0.0)  # constant column: no division by zero
    np.testing.assert_allclose(scaler.inverse_transform(z), x)
    with pytest.raises(ValueError, match="2-column"):
        scaler.transform(np.zeros((2, 3)))
    y = np.array([10.0, 20.0, 30.0])
    target = StandardScaler().fit(y)
    np.testing.assert_allclose(target.inverse_transform(target.transform(y)), y)
    assert target.transform(y).shape == (3,)


def test_one_hot() -> None:
    np.testing.assert_array_equal(one_hot(np.array([0, 2, 1])), np.eye(3)[[0, 2, 1]])
    assert one_hot(np.array([0, 1]), n_classes=4).shape == (2, 4)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        one_hot(np.array([0, 3]), n_classes=2)
    with pytest.raises(TypeError, match="integer"):
        one_hot(np.array([0.5]))


def test_minibatches_cover_the_data_once() -> None:
    x, y = np.arange(10.0).reshape(-1, 1), np.arange(10)
    batches = list(minibatches(x, y, 4, rng=0))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(10))
    ordered = list(minibatches(x, y, 4))
    np.testing.assert_array_equal(ordered[0][1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="batch_size"):
        list(minibatches(x, y, 0))


def test_top_level_exports() -> None:
    assert tn.load_csv is load_csv
    assert tn.datasets.load_iris().x.shape == (150, 4)
