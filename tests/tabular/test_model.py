"""TabularModel: ``tinynet train/predict/evaluate/export`` in Python, with identical numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import ROOT, require, run

import tinynet as tn
from tinynet.data import split_indices
from tinynet.tabular import SettingError, TableData, TabularModel, TabularSettings, load_table
from tinynet.tabular.model import MetadataMismatchError

LEGACY = ROOT / "tests" / "data" / "legacy"


def cli_and_python(
    tmp_path: Path, capsys: Any, command: str, **settings: Any
) -> tuple[Path, TabularModel, Any]:
    """Train with the command line, then the same in Python; the model, its test rows' data."""
    code, _, err = run(f"{command} -q --output_dir {tmp_path}", capsys)
    assert code == 0, err
    model = TabularModel(**settings)
    table, name, target = load_table(settings.pop("dataset", None) or command.split(" -d ")[1].split()[0])
    data = TableData.select(table, model.settings, name, target)
    train, test = split_indices(
        len(data), data.y, 0.2, rng=model.settings.seed, stratify=model.settings.classification
    )
    model.fit(data, train)
    return tmp_path, model, (data, train, test)


@pytest.mark.parametrize(
    ("command", "settings"),
    [
        (
            "train -t classification -d penguins -l 8 -e 15 --dropout 0.1 --optimizer adam",
            {"task": "classification", "layers": (8,), "epochs": 15, "dropout": 0.1, "optimizer": "adam"},
        ),
        (
            "train -t regression -d diabetes -l 16 8 -e 10 --clip 1 --l2 0.001 --dtype float32",
            {
                "task": "regression",
                "layers": (16, 8),
                "epochs": 10,
                "clip": 1.0,
                "l2": 0.001,
                "dtype": "float32",
            },
        ),
        (
            "train -t classification -d penguins -l 8 -e 5 --categorical onehot --missing drop",
            {
                "task": "classification",
                "layers": (8,),
                "epochs": 5,
                "categorical": "onehot",
                "missing": "drop",
            },
        ),
    ],
)
def test_python_gives_the_numbers_of_tinynet_train_bit_for_bit(
    tmp_path: Path, capsys: Any, command: str, settings: dict[str, Any]
) -> None:
    folder, model, (data, _, test) = cli_and_python(tmp_path, capsys, command, **settings)
    evaluation = model.evaluate(data, test)
    assert json.loads((folder / "metrics.json").read_text()) == json.loads(json.dumps(evaluation.metrics))
    assert json.loads((folder / "history.json").read_text()) == json.loads(
        json.dumps(model.history.to_dict())
    )
    saved = tn.load(folder / "model.npz").state_dict()
    mine = model.file_network().state_dict()
    assert saved.keys() == mine.keys() and all(np.array_equal(saved[k], mine[k]) for k in saved)
    config = json.loads((folder / "config.json").read_text())["settings"]
    assert TabularSettings.from_dict({k: config[k] for k in TabularSettings.field_names()}) == model.settings


def test_a_few_lines_do_what_train_predict_evaluate_and_export_do(tmp_path: Path, capsys: Any) -> None:
    model = TabularModel(task="classification", layers=(8,), epochs=20, seed=3).fit("penguins")
    rows = tmp_path / "rows.csv"
    rows.write_text((ROOT / "tests/data/legacy/penguins_rows.csv").read_text())
    labels = model.predict(rows)
    assert labels.shape == (11,) and set(labels) <= {"Adelie", "Chinstrap", "Gentoo"}
    probabilities = model.predict_proba(rows)
    assert np.allclose(probabilities.sum(axis=1), 1.0) and probabilities.shape == (11, 3)
    model.save(tmp_path / "m.npz")
    code, out, err = run(f"predict --model {tmp_path / 'm.npz'} --data {rows}", capsys)
    assert code == 0, err
    printed = list(csv.DictReader(out.splitlines()))
    assert [r["prediction"] for r in printed] == labels.tolist()
    assert np.allclose(
        [[float(r[f"p_{c}"]) for c in model.class_names or ()] for r in printed], probabilities, atol=5e-7
    )
    loaded = TabularModel.load(tmp_path / "m.npz")
    assert loaded.settings == model.settings and loaded.class_names == model.class_names
    assert np.array_equal(loaded.predict_proba(rows), probabilities)
    evaluation = loaded.evaluate(rows)
    code, out, err = run(f"evaluate {tmp_path / 'm.npz'} --data {rows}", capsys)
    assert code == 0 and evaluation.text in out, err
    assert evaluation.metrics["accuracy"] == np.mean(
        labels == [r["species"] for r in csv.DictReader(rows.read_text().splitlines())]
    )


def test_the_onnx_export_computes_what_the_model_predicts(tmp_path: Path) -> None:
    require("onnx")
    ort = require("onnxruntime")
    model = TabularModel(task="regression", layers=(8,), epochs=5).fit("diabetes")
    proto = model.to_onnx(tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").exists() and proto.graph.output[0].name == "prediction"
    table, _, _ = load_table("diabetes")
    features = np.column_stack([table.column(n).values for n in model.encoder.numeric]).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (prediction,) = session.run(None, {"features": features})
    assert np.allclose(prediction[:, 0], model.predict(table), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("name", "rows", "version"),
    [
        ("iris", "iris_rows", "0.1"),
        ("diabetes", "diabetes_rows", "0.1"),
        ("iris", "iris_rows", "0.2"),
        ("diabetes", "diabetes_rows", "0.2"),
        ("penguins", "penguins_rows", "0.2"),
    ],
)
def test_model_files_of_tinynet_0_1_and_0_2_load_and_predict_exactly_as_before(
    tmp_path: Path, capsys: Any, name: str, rows: str, version: str
) -> None:
    """Each file was written by that release's ``tinynet train``; its ``predict`` output is kept beside it."""
    model_path, data = LEGACY / f"{name}_{version}.npz", LEGACY / f"{rows}.csv"
    expected = (LEGACY / f"{name}_{version}_predictions.csv").read_text()
    code, out, err = run(f"predict --model {model_path} --data {data}", capsys)
    assert code == 0, err
    assert out == expected
    model = TabularModel.load(model_path)
    assert model.settings.task == ("regression" if name == "diabetes" else "classification")
    predicted = model.predict(data)
    column = [row["prediction"] for row in csv.DictReader(expected.splitlines())]
    if name == "diabetes":
        assert [f"{v:.6g}" for v in predicted] == column
    else:
        assert predicted.tolist() == column


def test_settings_are_checked_and_a_setting_that_does_not_fit_the_table_names_itself() -> None:
    with pytest.raises(ValueError, match=r"optimizer must be one of .*got 'adma'"):
        TabularSettings(task="classification", optimizer="adma")
    with pytest.raises(ValueError, match=r"layers\[1\] must be >= 1, got 0"):
        TabularSettings(task="classification", layers=(4, 0))
    with pytest.raises(ValueError, match="task must be one of"):
        TabularSettings(task="clustering")
    with pytest.raises(SettingError) as caught:
        TabularModel(task="regression").fit("iris")
    assert caught.value.setting == "task" and caught.value.fix == "classification"
    assert "does not fit data set 'iris'" in str(caught.value)
    with pytest.raises(SettingError) as caught:
        TabularModel(task="classification", target="nope").fit("iris")
    assert caught.value.setting == "target" and "no such column" in caught.value.problem
    settings = TabularSettings(task="classification", layers=[4, 2], features=["a"])
    assert settings.layers == (4, 2) and settings.features == ("a",)
    assert TabularSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ValueError, match=r"unknown settings \['lr'\]"):
        TabularSettings.from_dict({"task": "regression", "lr": 0.1})


def test_an_unfitted_model_says_so() -> None:
    with pytest.raises(ValueError, match="not fitted yet"):
        TabularModel(task="regression").predict("diabetes")
    with pytest.raises(ValueError, match="predict_proba needs a classification model"):
        TabularModel(task="regression").predict_proba("diabetes")


def test_a_network_that_does_not_fit_its_metadata_is_the_files_fault(tmp_path: Path, capsys: Any) -> None:
    model = TabularModel(task="classification", layers=(4,), epochs=1).fit("iris")
    model.save(tmp_path / "m.npz")
    meta = tn.load_metadata(tmp_path / "m.npz")
    meta["target_names"] = ["a", "b"]  # the network has 3 outputs
    tn.save(tn.load(tmp_path / "m.npz"), tmp_path / "names.npz", metadata=meta)
    meta = tn.load_metadata(tmp_path / "m.npz")
    meta["features"]["numeric"] = meta["features"]["numeric"][:3]  # the network takes 4 numbers
    tn.save(tn.load(tmp_path / "m.npz"), tmp_path / "columns.npz", metadata=meta)
    rows = ROOT / "tests/data/legacy/iris_rows.csv"
    with pytest.raises(MetadataMismatchError, match="class names do not fit the model's 3 outputs"):
        TabularModel.load(tmp_path / "names.npz").predict(rows)
    with pytest.raises(MetadataMismatchError, match="does not fit its own feature description"):
        TabularModel.load(tmp_path / "columns.npz").predict(rows)
    code, _, err = run(f"predict --model {tmp_path / 'columns.npz'} --data {rows}", capsys)
    assert code == 2 and f"{tmp_path / 'columns.npz'}: the model does not fit its own feature" in err


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
    """Every place in a JSON value (the first item standing for a list's items)."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list) and value:
        yield from _paths(value[0], (*prefix, 0))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    place = copy
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = new
    return copy


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_damaged_table_metadata_is_one_line_and_exit_2_for_every_command(
    tmp_path: Path, capsys: Any, task: str
) -> None:
    """Every field of a table model's metadata replaced by values of the wrong kind or size (seen:
    class names [] and no numeric columns were internal errors in export)."""
    data = "iris" if task == "classification" else "diabetes"
    TabularModel(task=task, layers=(4,), epochs=1).fit(data).save(tmp_path / "m.npz")
    network, meta = tn.load(tmp_path / "m.npz"), tn.load_metadata(tmp_path / "m.npz")
    damaged = tmp_path / "damaged.npz"
    codes = set()
    for path in [p for p in _paths(meta) if p]:
        for new in (None, [], "x", -1, ["a", "b"], {"a": 1}):
            tn.save(network, damaged, metadata=_replaced(meta, path, new))
            for command in (
                f"predict --model {damaged} --data {data}",
                f"evaluate {damaged} --data {data}",
                f"export {damaged} {tmp_path / 'm.onnx'}",
                f"summary --model {damaged}",
            ):
                code, _, err = run(command, capsys)
                assert code in (0, 2), (path, new, command, err)
                assert code == 0 or err.count("\n") == 1, (path, new, command, err)
                codes.add(code)
    assert codes == {0, 2}


@pytest.mark.parametrize("name", ["iris_0.1", "diabetes_0.1", "iris_0.2", "diabetes_0.2"])
def test_old_model_files_export_to_onnx_with_the_probabilities_they_predict(name: str) -> None:
    """A tinynet 0.1 classifier ends in Softmax without saying so: its export must not add another."""
    require("onnx")
    ort = require("onnxruntime")
    model = TabularModel.load(LEGACY / f"{name}.npz")
    rows = LEGACY / f"{name.split('_')[0]}_rows.csv"
    table = tn.datasets.read_table(str(rows))
    features = np.column_stack([table.column(n).values for n in model.encoder.numeric]).astype(np.float32)
    session = ort.InferenceSession(model.to_onnx().SerializeToString())
    outputs = session.run(None, {"features": features})
    if model.settings.classification:
        np.testing.assert_allclose(outputs[0], model.predict_proba(rows), atol=1e-5)
    else:
        np.testing.assert_allclose(outputs[0][:, 0], model.predict(rows), rtol=1e-5)


@pytest.mark.parametrize(
    ("cells", "identifier"),
    [
        ([f"P{i}" for i in range(12)], True),  # text, different in every row
        ([str(i) for i in np.random.default_rng(0).permutation(12)], True),  # a saved index, shuffled
        ([str(i + 1000) for i in range(12)], True),  # row numbers from any start
        ([f"P{i}" for i in range(11)] + ["P0"], False),  # one value twice
        ([str(2 * i) for i in range(12)], False),  # distinct whole numbers that do not count rows
        ([f"{0.1 * i:.1f}" for i in range(12)], False),  # distinct measurements
        ([f"P{i}" for i in range(11)] + [""], False),  # a missing value
        ([f"P{i}" for i in range(9)], False),  # too few rows to tell
    ],
)
def test_a_column_is_an_identifier_only_when_it_names_every_row(cells: list[str], identifier: bool) -> None:
    from tinynet.datasets.table import read_table, text_source
    from tinynet.tabular.data import is_identifier

    text = "c,y\n" + "".join(f"{cell},{i % 2}\n" for i, cell in enumerate(cells))
    column = read_table(text_source(text), path="ids.csv").column("c")
    assert is_identifier(column) is identifier


def test_fitting_every_row_of_a_table_sorted_by_its_target_validates_on_every_class() -> None:
    """penguins.csv is sorted by species: early stopping validated on the last 20% (Chinstrap only,
    never trained on) and stopped at epoch 11 with the table's own rows 69% right."""
    model = tn.TabularModel(task="classification", layers=(16,)).fit("penguins")
    assert model.history is not None and model.history.epochs > 50
    assert model.evaluate(tn.datasets.load_penguins()).metrics["accuracy"] > 0.95
