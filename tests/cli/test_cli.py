"""The tinynet command, in-process and as a subprocess: targets, files written, and every bad input."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import require, run

import tinynet as tn


def words(text: str) -> list[str]:
    """Command-line words from one string, so long argument lists stay readable."""
    return text.split()


def assert_png(path: Path) -> None:
    require("matplotlib")  # an optional extra like any other: skipped locally without it, never in CI
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 300 and height >= 300 and len(data) > 10_000, f"{path.name} looks empty"


def test_iris_seed_command_reaches_its_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [*words("train -t classification -d iris -l 16 8 --output_dir"), str(tmp_path), *words("-wf 2 3")],
        capsys,
    )
    assert code == 0, err
    results = json.loads((tmp_path / "metrics.json").read_text())
    assert set(results) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "average",
        "classes",
        "per_class",
        "confusion_matrix",
    }
    assert results["classes"] == ["setosa", "versicolor", "virginica"] and results["average"].startswith(
        "macro"
    )
    assert results["accuracy"] >= 0.95
    assert np.array(results["confusion_matrix"]).sum() == 30
    assert "accuracy" in out and "setosa" in out and "confusion matrix" in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["loss"]) == len(history["lr"]) >= 1
    for name in ("loss.png", "confusion_matrix.png", "features.png"):
        assert_png(tmp_path / name)
    model = tn.load(tmp_path / "model.npz")
    assert isinstance(model[-1], tn.Softmax)
    np.testing.assert_allclose(model(np.zeros((2, 4))).sum(axis=1), 1.0)


def test_diabetes_seed_command_reaches_its_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [
            *words("train -t regression -d diabetes -l 32 16 --output_dir"),
            str(tmp_path),
            *words("-en _run1"),
        ],
        capsys,
    )
    assert code == 0, err
    results = json.loads((tmp_path / "metrics_run1.json").read_text())
    assert set(results) == {"mse", "mae", "rmse", "r2"}
    assert results["r2"] >= 0.45
    assert "R2" in out and "original units" in out
    assert results["rmse"] == pytest.approx(np.sqrt(results["mse"]))
    assert results["mae"] > 10, "metrics are reported in original units (the target spans 25..346)"
    for name in ("loss_run1.png", "predictions_run1.png"):
        assert_png(tmp_path / name)
    assert (tmp_path / "model_run1.npz").exists() and (tmp_path / "history_run1.json").exists()


def test_every_seed_flag_and_alias_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [
            *words(
                "train --task classification --dataset iris --layers 8 --activation tanh -decay 0.1 "
                "-lr 0.05 --l1 0.001 --l2 0.001 -o linear -wi xavier -e 5 -ts 0.3 -s 1 -en x -wf 0 "
                "--show_loss --batch-size 8 --optimizer adam --clip 1.0 --patience 0 --output-dir"
            ),
            str(tmp_path),
            *words("--learning-rate 0.02 --weight-init random --dtype float32"),
        ],
        capsys,
    )
    assert code == 0, err
    assert out.count("epoch ") == 5, "--show_loss prints one line per epoch"
    model = tn.load(tmp_path / "model_x.npz")  # "-en x" is joined with "_"
    assert not isinstance(model[-1], tn.Softmax) and model.dtype == np.float32
    assert json.loads((tmp_path / "metrics_x.json").read_text())["confusion_matrix"]


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_dropout_and_norm_flags(norm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        [
            *words("train -t classification -d iris -l 16 8 --norm"),
            norm,
            *words("--dropout 0.1 --output_dir"),
            str(tmp_path),
            *words("-q"),
        ],
        capsys,
    )
    assert code == 0, err
    model = tn.load(tmp_path / "model.npz")
    kinds = [type(m).__name__ for m in model]  # type: ignore[attr-defined]
    norm_class = {"batch": "BatchNorm1d", "layer": "LayerNorm"}[norm]
    assert kinds[:4] == ["Dense", norm_class, "ReLU", "Dropout"]
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] >= 0.9
    code, _, err = run(["train", *BASE[1:], "--dropout", "1"], capsys)
    assert code == 2 and "argument --dropout: must be < 1.0, got 1.0" in err


def test_csv_dataset_with_target_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 3))
    labels = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    path = tmp_path / "table.csv"
    path.write_text(
        "label,a,b,c\n"
        + "".join(f"{label},{a},{b},{c}\n" for label, (a, b, c) in zip(labels, x, strict=True))
    )
    code, out, err = run(
        [
            *words("train -t classification -d"),
            str(path),
            *words("--target label -l 8 -e 30 --output_dir"),
            str(tmp_path / "out"),
            *words("-q"),
        ],
        capsys,
    )
    assert code == 0, err
    assert out == ""
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["accuracy"] > 0.8

    code, out, err = run(
        ["predict", "--model", str(tmp_path / "out" / "model.npz"), "--data", str(path)], capsys
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "prediction,p_no,p_yes" and len(lines) == 81
    assert {line.split(",")[0] for line in lines[1:]} <= {"yes", "no"}


def test_predict_regression_in_original_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            [*words("train -t regression -d diabetes -l 8 -e 5 --output_dir"), str(tmp_path), *words("-q")],
            capsys,
        )[0]
        == 0
    )
    data = tmp_path / "rows.csv"
    data.write_text("age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n59,2,32.1,101,157,93.2,38,4,4.8598,87\n")
    out_file = tmp_path / "pred.csv"
    code, out, err = run(
        ["predict", "--model", str(tmp_path / "model.npz"), "--data", str(data), "-o", str(out_file)], capsys
    )
    assert code == 0, err
    assert out.startswith("wrote 1 predictions")
    value = float(out_file.read_text().splitlines()[1])
    assert 0 < value < 400


def test_summary_and_gradcheck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["summary", "-l", "16", "8", "-d", "iris"], capsys)
    assert code == 0 and "Dense(4 -> 16)" in out and "total parameters: 243" in out
    code, out, _ = run(["summary", "-l", "5", "--inputs", "3", "--outputs", "2"], capsys)
    assert code == 0 and "(-1, 2)" in out
    run(
        [*words("train -t classification -d iris -l 4 -e 2 --output_dir"), str(tmp_path), *words("-q")],
        capsys,
    )
    code, out, _ = run(["summary", "--model", str(tmp_path / "model.npz")], capsys)
    assert code == 0 and "Softmax" in out
    code, out, _ = run(["gradcheck"], capsys)
    assert code == 0 and "0 failed" in out and "Dense" in out and "CrossEntropyLoss" in out


def test_without_matplotlib_the_run_still_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code, out, err = run(
        ["train", "-t", "classification", "-d", "iris", "-l", "4", "-e", "3", "--output_dir", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    assert "plots skipped" in out and "pip install 'tinynet-nn[plot]'" in out
    assert (tmp_path / "metrics.json").exists() and not list(tmp_path.glob("*.png"))


BASE = ["train", "-t", "classification", "-d", "iris", "-l", "4", "-e", "1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "-t", "classification", "-d", "mnist", "-l", "4"], "unknown data set 'mnist'"),
        (["train", "-t", "classification", "-d", "/no/such/file.csv", "-l", "4"], "no such CSV file"),
        (["train", "-t", "regression", "-d", "iris", "-l", "4"], "does not fit data set 'iris'"),
        (["train", "-t", "classification", "-d", "diabetes", "-l", "4"], "does not fit data set 'diabetes'"),
        (
            ["train", "-t", "regression", "-d", "diabetes", "-l", "4", "-o", "softmax"],
            "--output softmax: needs task classification",
        ),
        ([*BASE[:-2], "0", "-e", "1"], "argument --layers/-l: must be >= 1, got 0"),
        ([*BASE[:-2], "-3"], "argument --layers/-l: must be >= 1, got -3"),
        ([*BASE[:-1], "0"], "must be >= 1, got 0"),
        ([*BASE, "-lr", "0"], r"argument --learning_rate.*: must be > 0\.0, got 0\.0"),
        ([*BASE, "-lr", "nan"], "must be finite, got nan"),
        ([*BASE, "-lr", "abc"], "expected a number, got 'abc'"),
        ([*BASE, "-ts", "1.5"], r"argument --test_size.*: must be < 1\.0, got 1\.5"),
        ([*BASE, "-ts", "0"], r"argument --test_size.*: must be > 0\.0, got 0\.0"),
        ([*BASE, "-wf", "7"], r"valid indices are 0\.\.3 \(0=sepal_length"),
        ([*BASE, "-a", "swish"], "invalid choice"),
        (["train", "-d", "iris", "-l", "4"], r"train needs --task/-t \(or --config FILE"),
        (["fly"], "invalid choice"),
        (["predict", "--model", "/no/model.npz", "--data", "x.csv"], "no such model file"),
        (["summary"], "needs --layers"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([*args, "--output_dir", str(tmp_path)] if args[0] == "train" else args, capsys)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinynet: error:")
    assert re.search(message, lines[0]), lines[0]


def test_bad_csv_task_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0.5\n2,1.7\n3,2.2\n4,0.1\n5,0.3\n")
    code, _, err = run(
        ["train", "-t", "classification", "-d", str(path), "-l", "4", "--output_dir", str(tmp_path)], capsys
    )
    assert code == 2 and "continuous" in err and len(err.strip().splitlines()) == 1
    path.write_text("a,y\n1,cat\n2,dog\n3,cat\n4,dog\n5,cat\n")
    code, _, err = run(
        ["train", "-t", "regression", "-d", str(path), "-l", "4", "--output_dir", str(tmp_path)], capsys
    )
    assert code == 2 and "numeric target" in err


@pytest.mark.slow
def test_subprocess_console_script_and_module(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "tinynet"
    assert script.exists(), "the tinynet console script is installed next to the interpreter"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for command in ([str(script)], [sys.executable, "-m", "tinynet"]):
        result = subprocess.run(
            [
                *command,
                "train",
                "-t",
                "classification",
                "-d",
                "iris",
                "-l",
                "8",
                "-e",
                "3",
                "--output_dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "accuracy" in result.stdout
        bad = subprocess.run(
            [*command, "train", "-t", "classification", "-d", "nope", "-l", "8"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
