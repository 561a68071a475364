"""Every public entry point against bad input: the right exception type, and a message that names
the offending argument and the value that came in. One table per entry point."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet import data, metrics
from tinynet.cli import main
from tinynet.datasets import load, load_csv

Case = tuple[str, Callable[[], object], type[BaseException], str]

X = np.random.default_rng(0).standard_normal((6, 4))
Y = np.array([0, 1, 2, 0, 1, 2])


def net() -> tn.Sequential:
    return tn.Sequential(tn.Dense(4, 5, rng=0), tn.ReLU(), tn.Dense(5, 3, rng=1))


def train(x: Any = X, y: Any = Y, **kwargs: Any) -> tn.History:
    model = net()
    options: dict[str, Any] = {
        "loss": tn.CrossEntropyLoss(),
        "optimizer": tn.SGD(model.parameters()),
        "verbose": 0,
    }
    options.update(kwargs)
    return tn.fit(model, x, y, **options)


def nan_at(array: Any, index: tuple[int, ...]) -> Any:
    out = np.array(array, dtype=float)
    out[index] = np.nan
    return out


MODULES: list[Case] = [
    (
        "1-D x",
        lambda: net()(np.ones(4)),
        ValueError,
        r"x must be 2-D .* got 1-D shape \(4,\); use x\.reshape",
    ),
    (
        "3-D x, a flattened width",
        lambda: net()(np.ones((2, 2, 2))),
        ValueError,
        r"4 features on its last axis, got shape \(2, 2, 2\); .* put Flatten\(\) before it",
    ),
    (
        "wrong features",
        lambda: net()(np.ones((3, 7))),
        ValueError,
        r"Dense\(4 -> 5\) expected input with 4 features, got shape \(3, 7\)",
    ),
    ("zero features", lambda: tn.Dense(0, 3), ValueError, "in_features must be >= 1, got 0"),
    (
        "zero features in x",
        lambda: tn.Dense(3, 2)(np.ones((2, 0))),
        ValueError,
        r"expected input with 3 features, got shape \(2, 0\)",
    ),
    (
        "string array",
        lambda: net()(np.array([["a"] * 4])),
        TypeError,
        "x must be a real numeric array, got dtype <U1",
    ),
    ("object array", lambda: net()(np.array([[None] * 4])), TypeError, "got dtype object"),
    ("complex array", lambda: net()(np.ones((1, 4), dtype=complex)), TypeError, "got dtype complex128"),
    ("width <= 0", lambda: tn.Dense(3, -2), ValueError, "out_features must be >= 1, got -2"),
    ("width float", lambda: tn.Dense(3, 2.5), TypeError, r"out_features must be an int, got 2\.5"),
    (
        "unknown init",
        lambda: tn.Dense(3, 2, init="glorot"),
        ValueError,
        r"init must be one of \[.*'he'.*'xavier'.*\] or a callable, got 'glorot'",
    ),
    (
        "bad dtype",
        lambda: tn.Dense(3, 2, dtype="int8"),
        TypeError,
        "dtype must be float32 or float64, got int8",
    ),
    ("negative slope", lambda: tn.LeakyReLU(-1), ValueError, r"negative_slope must be >= 0\.0, got -1\.0"),
    ("dropout p", lambda: tn.Dropout(1.5), ValueError, r"p must be < 1\.0, got 1\.5"),
    (
        "gelu approximate",
        lambda: tn.GELU("fast"),
        ValueError,
        r"approximate must be one of \['none', 'tanh'\], got 'fast'",
    ),
    ("elu alpha", lambda: tn.ELU(0), ValueError, r"alpha must be > 0\.0, got 0\.0"),
    (
        "batchnorm momentum",
        lambda: tn.BatchNorm1d(3, momentum=2),
        ValueError,
        r"momentum must be <= 1\.0, got 2\.0",
    ),
    (
        "layernorm features",
        lambda: tn.LayerNorm(4)(np.ones((2, 3))),
        ValueError,
        r"LayerNorm.* expected input \(batch, ..., 4\), got shape \(2, 3\)",
    ),
    (
        "backward first",
        lambda: tn.Dense(2, 2).backward(np.ones((1, 2))),
        RuntimeError,
        r"Dense\(2 -> 2\): backward\(\) called before forward\(\)",
    ),
    (
        "load_state_dict",
        lambda: net().load_state_dict({"0.weight": np.ones((4, 6))}),
        ValueError,
        r"missing keys .*0\.bias.*0\.weight: expected \(4, 5\), got \(4, 6\)",
    ),
    (
        "container child",
        lambda: tn.Sequential(tn.Dense(2, 2), "relu"),
        TypeError,
        "child 1 must be a Module, got str",
    ),  # type: ignore[arg-type]
    (
        "same object twice",
        lambda: tn.Sequential(*(2 * [tn.ReLU()])),
        ValueError,
        r"appears more than once.*clone",
    ),
]

LOSSES: list[Case] = [
    (
        "labels negative",
        lambda: tn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, -1])),
        ValueError,
        r"CrossEntropyLoss: target holds class labels outside \[0, 3\) for 3 outputs: \[-1\]",
    ),
    (
        "labels too large",
        lambda: tn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([3, 7])),
        ValueError,
        r"outside \[0, 3\) for 3 outputs: \[3, 7\]",
    ),
    (
        "labels float",
        lambda: tn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0])),
        TypeError,
        "integer class indices, got dtype float64",
    ),
    (
        "labels NaN",
        lambda: tn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, np.nan])),
        TypeError,
        "got dtype float64",
    ),
    (
        "label count",
        lambda: tn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 1, 2])),
        ValueError,
        "target has 3 labels for a batch of 2",
    ),
    (
        "1-D logits",
        lambda: tn.CrossEntropyLoss()(np.zeros(3), np.array([0])),
        ValueError,
        r"pred must be logits \(batch, classes\) .* got shape \(3,\)",
    ),
    (
        "shape mismatch",
        lambda: tn.MSELoss()(np.zeros((3, 1)), np.zeros(4)),
        ValueError,
        r"target shape \(4,\) does not match pred shape \(3, 1\)",
    ),
    (
        "zero rows",
        lambda: tn.MSELoss()(np.zeros((0, 1)), np.zeros(0)),
        ValueError,
        r"pred must hold at least one sample, got shape \(0, 1\)",
    ),
    (
        "string pred",
        lambda: tn.MSELoss()(np.array(["a"]), np.zeros(1)),
        TypeError,
        "pred must be a real numeric array",
    ),
    ("huber delta", lambda: tn.HuberLoss(-1), ValueError, r"delta must be > 0\.0, got -1\.0"),
]

OPTIMIZERS: list[Case] = [
    ("lr 0", lambda: tn.SGD(net().parameters(), lr=0), ValueError, r"lr must be > 0\.0, got 0\.0"),
    (
        "lr negative",
        lambda: tn.Adam(net().parameters(), lr=-1e-3),
        ValueError,
        r"lr must be > 0\.0, got -0\.001",
    ),
    ("lr NaN", lambda: tn.RMSprop(net().parameters(), lr=math.nan), ValueError, "lr must be finite, got nan"),
    ("lr inf", lambda: tn.Adagrad(net().parameters(), lr=math.inf), ValueError, "lr must be finite, got inf"),
    (
        "lr string",
        lambda: tn.SGD(net().parameters(), lr="0.1"),
        TypeError,
        r"lr must be a real number, got '0\.1'",
    ),  # type: ignore[arg-type]
    (
        "momentum",
        lambda: tn.SGD(net().parameters(), momentum=-0.5),
        ValueError,
        r"momentum must be >= 0\.0, got -0\.5",
    ),
    (
        "beta1",
        lambda: tn.Adam(net().parameters(), betas=(1.0, 0.9)),
        ValueError,
        r"betas\[0\] must be < 1\.0, got 1\.0",
    ),
    (
        "beta2",
        lambda: tn.AdamW(net().parameters(), betas=(0.9, -0.1)),
        ValueError,
        r"betas\[1\] must be >= 0\.0, got -0\.1",
    ),
    (
        "betas shape",
        lambda: tn.Adam(net().parameters(), betas=(0.9,)),
        ValueError,
        r"betas must be a pair .* got \(0\.9,\)",
    ),  # type: ignore[arg-type]
    ("eps", lambda: tn.Adam(net().parameters(), eps=0), ValueError, r"eps must be > 0\.0, got 0\.0"),
    (
        "nesterov",
        lambda: tn.SGD(net().parameters(), nesterov=True),
        ValueError,
        "nesterov=True needs momentum > 0",
    ),
    ("no params", lambda: tn.SGD([]), ValueError, "params must hold at least one Parameter, got none"),
    ("module not params", lambda: tn.SGD(net()), TypeError, r"params\[0\] must be a Parameter, got Dense"),  # type: ignore[arg-type]
]

SCHEDULES_AND_CLIPPERS: list[Case] = [
    ("negative t", lambda: tn.Constant(0.1)(-1), ValueError, "t must be >= 0, got -1"),
    ("float t", lambda: tn.Constant(0.1)(1.5), TypeError, r"t must be an int, got 1\.5"),  # type: ignore[arg-type]
    ("warmup negative", lambda: tn.Warmup(-2, tn.Constant(0.1)), ValueError, "warmup must be >= 0, got -2"),
    ("cosine total", lambda: tn.CosineDecay(0.1, 0), ValueError, "total must be >= 1, got 0"),
    ("gamma", lambda: tn.ExponentialDecay(0.1, 0), ValueError, r"gamma must be > 0\.0, got 0\.0"),
    ("clip max_norm 0", lambda: tn.ClipGlobalNorm(0), ValueError, r"max_norm must be > 0\.0, got 0\.0"),
    ("clip max_norm -1", lambda: tn.ClipNorm(-1), ValueError, r"max_norm must be > 0\.0, got -1\.0"),
    ("clip max_value nan", lambda: tn.ClipValue(math.nan), ValueError, "max_value must be finite, got nan"),
    ("regularizer", lambda: tn.L1L2(l1=-0.1), ValueError, r"l1 must be >= 0\.0, got -0\.1"),
]

FIT: list[Case] = [
    (
        "NaN in x",
        lambda: train(x=nan_at(X, (2, 1))),
        ValueError,
        r"x must be finite, found nan at index \(2, 1\)",
    ),
    ("inf in x", lambda: train(x=X * np.inf), ValueError, "x must be finite, found inf"),
    (
        "NaN in y",
        lambda: train(y=nan_at(Y, (3,))),
        ValueError,
        r"y must be finite, found nan at index \(3,\)",
    ),
    (
        "1-D x",
        lambda: train(x=np.ones(6)),
        ValueError,
        r"x must be \(batch, features\) .* got 1-D shape \(6,\)",
    ),
    (
        "3-D x for a (batch, 4) model",
        lambda: train(x=np.ones((6, 2, 2))),
        ValueError,
        r"x of shape \(6, 2, 2\) does not fit the model: .* put Flatten\(\) before it",
    ),
    (
        "wrong features",
        lambda: train(x=np.ones((6, 3))),
        ValueError,
        r"x of shape \(6, 3\) does not fit the model: Dense\(4 -> 5\) expected input with 4 features",
    ),
    (
        "zero rows",
        lambda: train(x=np.ones((0, 4)), y=np.zeros(0, dtype=int)),
        ValueError,
        r"x must hold at least one sample, got shape \(0, 4\)",
    ),
    (
        "zero features",
        lambda: train(x=np.ones((6, 0))),
        ValueError,
        r"x must have at least one feature, got shape \(6, 0\)",
    ),
    (
        "string x",
        lambda: train(x=np.full((6, 4), "a")),
        TypeError,
        "x must be a real numeric array, got dtype <U1",
    ),
    ("complex y", lambda: train(y=Y + 0j), TypeError, "y must be a real numeric array, got dtype complex128"),
    (
        "object y",
        lambda: train(y=np.array([0, 1, None, 0, 1, 2])),
        TypeError,
        "y must be a real numeric array, got dtype object",
    ),
    ("len mismatch", lambda: train(y=Y[:5]), ValueError, r"len\(x\)=6 and len\(y\)=5"),
    (
        "labels negative",
        lambda: train(y=np.array([0, 1, -2, 0, 1, 2])),
        ValueError,
        r"outside \[0, 3\) .*: \[-2\]",
    ),
    (
        "labels too large",
        lambda: train(y=np.array([0, 1, 5, 0, 1, 9])),
        ValueError,
        r"outside \[0, 3\) .*: \[5, 9\]",
    ),
    (
        "labels float",
        lambda: train(y=Y.astype(float)),
        TypeError,
        r"y \(for a model with 3 outputs\) must hold integer class indices, got dtype float64",
    ),
    (
        "single class",
        lambda: train(y=np.zeros(6, dtype=int)),
        ValueError,
        r"y holds a single class \(\[0\]\)",
    ),
    ("batch_size 0", lambda: train(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    ("epochs -1", lambda: train(epochs=-1), ValueError, "epochs must be >= 0, got -1"),
    (
        "validation_split 1",
        lambda: train(validation_split=1.0),
        ValueError,
        r"validation_split must be < 1\.0, got 1\.0",
    ),
    (
        "unknown metric",
        lambda: train(metrics=["acc"]),
        ValueError,
        r"metric must be one of \['accuracy', .*got 'acc'",
    ),
    ("loss string", lambda: train(loss="mse"), TypeError, "loss must be a tinynet Loss .* got str"),
    (
        "early stopping without data",
        lambda: train(early_stopping=tn.EarlyStopping()),
        ValueError,
        "monitors 'val_loss' but there is no validation data",
    ),
    (
        "early stopping mode",
        lambda: tn.EarlyStopping(mode="up"),
        ValueError,
        r"mode must be one of \['auto', 'min', 'max'\], got 'up'",
    ),
    (
        "predict 1-D",
        lambda: tn.predict(net(), np.ones(4)),
        ValueError,
        r"x must be \(batch, features\) or \(batch, ...\), got 1-D shape \(4,\)",
    ),
    (
        "predict batch_size",
        lambda: tn.predict(net(), X, batch_size=0),
        ValueError,
        "batch_size must be >= 1, got 0",
    ),
    (
        "evaluate mismatch",
        lambda: tn.evaluate(net(), X, Y[:2], tn.CrossEntropyLoss()),
        ValueError,
        r"len\(x\)=6 and len\(y\)=2",
    ),
]

DATA_AND_METRICS: list[Case] = [
    ("split len", lambda: data.train_test_split(X, Y[:4]), ValueError, r"len\(x\)=6 and len\(y\)=4"),
    (
        "split size",
        lambda: data.train_test_split(X, Y, 1.5),
        ValueError,
        r"test_size as a fraction must be in \(0, 1\), got 1\.5",
    ),
    (
        "split count",
        lambda: data.train_test_split(X, Y, 6),
        ValueError,
        "test_size=6 gives 6 test and 0 training samples",
    ),
    (
        "split lonely class",
        lambda: data.train_test_split(X, np.array([0, 0, 0, 1, 1, 2]), 3, stratify=True),
        ValueError,
        r"classes \[2\] have 1",
    ),
    ("scaler not fitted", lambda: data.StandardScaler().transform(X), data.NotFittedError, "not fitted yet"),
    (
        "scaler 3-D",
        lambda: data.StandardScaler().fit(np.ones((2, 2, 2))),
        ValueError,
        r"x must be 1-D or 2-D, got shape \(2, 2, 2\)",
    ),
    (
        "scaler strings",
        lambda: data.StandardScaler().fit(np.array([["a"]])),
        TypeError,
        "x must be a real numeric array",
    ),
    (
        "one_hot float",
        lambda: data.one_hot(np.array([0.5])),
        TypeError,
        "labels must be integer class indices, got dtype float64",
    ),
    (
        "one_hot range",
        lambda: data.one_hot(np.array([0, 4]), n_classes=3),
        ValueError,
        r"labels must be in \[0, 3\), got \[4\]",
    ),
    (
        "minibatch size",
        lambda: list(data.minibatches(X, Y, -1)),
        ValueError,
        "batch_size must be >= 1, got -1",
    ),
    ("accuracy len", lambda: metrics.accuracy([0, 1, 1], [0, 1]), ValueError, "same length, got 3 and 2"),
    (
        "accuracy NaN",
        lambda: metrics.accuracy([0.0, np.nan], [0, 1]),
        ValueError,
        "y_true must be finite, found nan",
    ),
    (
        "accuracy float labels",
        lambda: metrics.accuracy([0.5, 1.0], [0, 1]),
        ValueError,
        r"y_true must hold integer class labels, got non-integer values such as 0\.5",
    ),
    (
        "accuracy strings",
        lambda: metrics.accuracy(np.array(["a"]), np.array(["a"])),
        TypeError,
        "y_true must be a real numeric array",
    ),
    (
        "f1 average",
        lambda: metrics.f1([0, 1], [0, 1], average="samples"),
        ValueError,
        r"average must be one of \['macro', 'micro', 'weighted'\], got 'samples'",
    ),
    (
        "r2 shape",
        lambda: metrics.r2(np.ones((3, 2)), np.ones((3, 1))),
        ValueError,
        r"same shape, got \(3, 2\) and \(3, 1\)",
    ),
    ("mse inf", lambda: metrics.mse([1.0], [np.inf]), ValueError, "y_pred must be finite, found inf"),
    (
        "confusion negative",
        lambda: metrics.confusion_matrix([-1, 0], [0, 0]),
        ValueError,
        "non-negative class indices",
    ),
    (
        "unknown dataset",
        lambda: load("mnist"),
        ValueError,
        r"unknown dataset 'mnist'; bundled data sets are \['diabetes', 'digits', 'iris'\]",
    ),
]


TABLES = {
    "modules": MODULES,
    "losses": LOSSES,
    "optimizers": OPTIMIZERS,
    "schedules-clippers": SCHEDULES_AND_CLIPPERS,
    "fit-predict-evaluate": FIT,
    "data-metrics": DATA_AND_METRICS,
}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(call, error, match, id=f"{table}: {name}")
        for table, cases in TABLES.items()
        for name, call, error, match in cases
    ],
)
def test_bad_input(call: Callable[[], object], error: type[BaseException], match: str) -> None:
    """One row of a table: the exact exception type, and a message naming argument and value."""
    with pytest.raises(error, match=match) as info:
        call()
    assert type(info.value) is error, f"expected exactly {error.__name__}, got {type(info.value).__name__}"


def test_schedules_past_their_end_and_warmup_zero_give_correct_values() -> None:
    assert tn.CosineDecay(0.1, 10, min_lr=0.01)(10**6) == 0.01
    assert tn.StepDecay(0.1, 5, 0.5)(10**6) == 0.0  # 0.5 ** 200000 underflows to exactly 0, never NaN
    assert tn.Warmup(0, tn.Constant(0.2))(0) == 0.2
    assert tn.Warmup(3, tn.CosineDecay(0.1, 5))(10**6) == 0.0
    assert math.isfinite(tn.ExponentialDecay(0.1, 0.5)(10**6))


CSV_CASES = [
    ("missing", None, "no such file"),
    ("empty", "", "the file is empty"),
    ("header only", "a,b,y\n", "header row but no data rows"),
    ("ragged", "a,b,y\n1,2,0\n3,4\n", "line 3: expected 3 fields"),
    ("non-numeric", "a,b,y\n1,x,0\n", "line 2: non-numeric value 'x' in feature column 'b'"),
    ("missing value", "a,b,y\n1,,0\n", "line 2: missing value in column 'b'"),
]


@pytest.mark.parametrize(("text", "match"), [pytest.param(t, m, id=n) for n, t, m in CSV_CASES])
def test_load_csv(tmp_path: Path, text: str | None, match: str) -> None:
    path = tmp_path / "t.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_csv(path)
    assert "t.csv" in str(info.value)


MODEL_FILE_CASES = [
    ("missing", None, "no such model file"),
    ("empty", b"", "the file is empty"),
    ("truncated", "half", "damaged or not a tinynet model file"),
    ("bit-flipped", "flip", "damaged"),
    ("text", b"not a model", r"not a tinynet model file \(not an \.npz archive\)"),
    ("pickle", b"\x80\x04\x95 pickled", "refused, the file is a pickle; nothing in it was run"),
]


@pytest.mark.parametrize(("content", "match"), [pytest.param(c, m, id=n) for n, c, m in MODEL_FILE_CASES])
def test_model_files(tmp_path: Path, content: Any, match: str) -> None:
    good = tmp_path / "good.npz"
    tn.save(net(), good)
    raw = good.read_bytes()
    path = tmp_path / "bad.npz"
    if content == "half":
        path.write_bytes(raw[: len(raw) // 2])
    elif content == "flip":
        flipped = bytearray(raw)
        start = raw.index(b"state/0.weight") + 200  # inside that array's compressed-or-raw bytes
        flipped[start : start + 8] = bytes(b ^ 0xFF for b in flipped[start : start + 8])
        path.write_bytes(bytes(flipped))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(tn.ModelFileError, match=match) as info:
        tn.load(path)
    assert "bad.npz" in str(info.value)


CLI_CASES = [
    (["train", "-t", "classification", "-d", "iris", "-l"], "expected at least one argument"),
    (["train", "-t", "classification", "-d", "iris", "-l", "0"], "argument --layers/-l: must be >= 1, got 0"),
    (
        ["train", "-t", "classification", "-d", "iris", "-l", "4", "--optimizer", "lbfgs"],
        r"invalid choice: 'lbfgs' \(choose from '?sgd'?, '?momentum",
    ),
    (["train", "-t", "classification", "-d", "iris", "-l", "4", "-a", "swish"], "invalid choice: 'swish'"),
    (
        ["train", "-t", "classification", "-d", "iris", "-l", "4", "-e", "-3"],
        "argument --epochs/-e: must be >= 1, got -3",
    ),
    (
        ["train", "-t", "classification", "-d", "iris", "-l", "4", "--clip", "0"],
        r"argument --clip: must be > 0\.0, got 0\.0",
    ),
    (
        ["train", "-t", "classification", "-d", "iris", "-l", "4", "--batch_size", "0"],
        "argument --batch_size/--batch-size: must be >= 1, got 0",
    ),
]


@pytest.mark.parametrize(("argv", "match"), CLI_CASES)
def test_cli(argv: list[str], match: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([*argv, "--output_dir", str(tmp_path)] if argv[-1] != "-l" else argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert __import__("re").search(match, err), err


def test_cli_single_class_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.csv"
    path.write_text("a,y\n" + "".join(f"{i},cat\n" for i in range(10)))
    assert (
        main(["train", "-t", "classification", "-d", str(path), "-l", "3", "--output_dir", str(tmp_path)])
        == 2
    )
    assert "single class" in capsys.readouterr().err
