"""The fit loop: accuracy on iris, reproducibility, early stopping, divergence, input validation."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import load_iris


def iris_split() -> tuple[Any, Any, Any, Any]:
    ds = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(ds.x, ds.y, 0.2, rng=42, stratify=True)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def iris_model(seed: int = 0) -> tn.Sequential:
    return tn.Sequential(tn.Dense(4, 16, rng=seed), tn.ReLU(), tn.Dense(16, 3, rng=seed + 1))


def train_iris(seed: int = 42, **kwargs: Any) -> tuple[tn.Sequential, tn.History]:
    x_train, _, y_train, _ = iris_split()
    model = iris_model()
    options: dict[str, Any] = {"epochs": 60, "batch_size": 16, "rng": seed, "verbose": 0}
    options.update(kwargs)
    history = tn.fit(
        model,
        x_train,
        y_train,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=0.05, momentum=0.9),
        **options,
    )
    return model, history


def test_iris_reaches_095_test_accuracy() -> None:
    model, history = train_iris(epochs=100, metrics=["accuracy"])
    _, x_test, _, y_test = iris_split()
    assert tn.metrics.accuracy(y_test, tn.predict(model, x_test)) >= 0.95
    assert history.loss[-1] < history.loss[0]
    assert len(history.metrics["accuracy"]) == 100


def test_same_seed_is_bit_identical() -> None:
    model_a, history_a = train_iris(seed=7, validation_split=0.2, metrics=["accuracy"])
    model_b, history_b = train_iris(seed=7, validation_split=0.2, metrics=["accuracy"])
    assert history_a.to_dict() == history_b.to_dict()
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    _, history_c = train_iris(seed=8)
    assert history_c.loss != history_a.loss


def test_history_is_json_able_and_complete() -> None:
    import json

    _, history = train_iris(
        epochs=5, validation_split=0.25, metrics=["accuracy"], schedule=tn.InverseTimeDecay(0.05, 0.5)
    )
    data = json.loads(json.dumps(history.to_dict()))
    assert len(data["loss"]) == len(data["val_loss"]) == len(data["lr"]) == len(data["grad_norm"]) == 5
    assert set(data["metrics"]) == {"accuracy", "val_accuracy"}
    assert data["lr"] == pytest.approx([0.05 / (1 + 0.5 * t) for t in range(5)])


def test_early_stopping_restores_the_best_weights_exactly() -> None:
    x_train, x_test, y_train, y_test = iris_split()
    snapshots: list[dict[str, Any]] = []

    class Record(tn.Callback):
        def on_train_begin(self, model: tn.Module) -> None:
            self.model = model

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            snapshots.append(self.model.state_dict())

    model = iris_model()
    stopper = tn.EarlyStopping(patience=3, monitor="val_loss")
    history = tn.fit(
        model,
        x_train,
        y_train,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=0.5, momentum=0.9),
        epochs=200,
        batch_size=8,
        rng=0,
        validation_data=(x_test, y_test),
        early_stopping=stopper,
        callbacks=[Record()],
        verbose=0,
    )
    best = int(np.argmin(history.val_loss)) + 1  # epochs are numbered from 1
    assert history.best_epoch == history.restored_epoch == best
    assert history.stopped_epoch is not None and history.stopped_epoch < 200
    assert history.stopped_epoch == best + 3 == history.epochs
    assert history.stop_reason == "val_loss was not lower than its best for 3 epochs"
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[best - 1][name])


def test_early_stopping_restores_best_when_epochs_run_out() -> None:
    x_train, _, y_train, _ = iris_split()
    model = iris_model()
    history = tn.fit(
        model,
        x_train,
        y_train,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=2.0),
        epochs=15,
        rng=0,
        validation_split=0.2,
        early_stopping=tn.EarlyStopping(patience=100),
        verbose=0,
    )
    assert history.stopped_epoch is None and history.stop_reason is None
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1


def test_divergence_raises_and_leaves_finite_weights() -> None:
    x_train, _, y_train, _ = iris_split()
    model = iris_model()
    with pytest.raises(tn.TrainingDivergedError, match="epoch") as info:
        tn.fit(
            model,
            x_train,
            tn.data.one_hot(y_train),
            loss=tn.MSELoss(),
            optimizer=tn.SGD(model.parameters(), lr=1e6),
            epochs=50,
            rng=0,
            verbose=0,
        )
    assert isinstance(info.value, FloatingPointError)
    assert info.value.epoch >= 0 and info.value.step >= 0
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_divergence_with_cross_entropy() -> None:
    x_train, _, y_train, _ = iris_split()
    model = iris_model()
    with pytest.raises(tn.TrainingDivergedError):
        tn.fit(
            model,
            x_train * 1e3,
            y_train,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.SGD(model.parameters(), lr=1e6),
            epochs=200,
            rng=0,
            verbose=0,
        )
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_callback_can_stop_training() -> None:
    class StopAtTwo(tn.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
            return epoch == 2

    _, history = train_iris(callbacks=[StopAtTwo()])
    assert history.epochs == 2 and history.stopped_epoch == 2
    assert history.stop_reason == "StopAtTwo stopped training"


def test_clipper_and_regularizer_enter_the_loop() -> None:
    _, plain = train_iris(epochs=3)
    _, regularized = train_iris(epochs=3, regularizer=tn.L2(0.1))
    assert regularized.loss[0] > plain.loss[0]  # the penalty is part of the reported loss
    _, clipped = train_iris(epochs=3, clipper=tn.ClipGlobalNorm(1e-3))
    assert clipped.grad_norm[0] > 1e-3  # grad_norm is measured before clipping


def test_progress_output_is_plain_lines_when_not_a_tty() -> None:
    stream = io.StringIO()
    progress = tn.Progress(3, stream)
    progress.on_train_begin(iris_model())
    for epoch in range(1, 4):
        progress.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 2.0, "val_accuracy": 0.5, "lr": 0.1})
    progress.on_train_end(iris_model(), tn.History(loss=[1.0] * 3))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("epoch 1/3") and lines[2].startswith("epoch 3/3")
    assert "val_loss 2.0000" in lines[0] and "val_accuracy 0.5000" in lines[0] and "ETA" in lines[0]
    assert lines[3] == "ran all 3 epochs (no early stop)"


def test_verbose_zero_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    train_iris(epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    train_iris(epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert [line[:9] for line in lines] == ["epoch 1/2", "epoch 2/2", "ran all 2"]


def test_predict_and_evaluate_restore_mode() -> None:
    model, _ = train_iris(epochs=2)
    x_train, _, y_train, _ = iris_split()
    model.train()
    out = tn.predict(model, x_train, batch_size=7)
    np.testing.assert_allclose(out, model(x_train), rtol=1e-12)
    assert model.training
    result = tn.evaluate(model, x_train, y_train, tn.CrossEntropyLoss(), metrics=["accuracy"])
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == tn.metrics.accuracy(y_train, tn.predict(model, x_train))
    assert result["loss"] == pytest.approx(tn.CrossEntropyLoss()(tn.predict(model, x_train), y_train))


def test_last_partial_batch_is_kept() -> None:
    seen: list[int] = []

    class Count(tn.Loss):
        def forward(self, pred: Any, target: Any) -> float:
            seen.append(len(pred))
            self._grad = np.zeros_like(pred)
            return 0.0

    model = iris_model()
    tn.fit(
        model,
        np.ones((10, 4)),
        np.zeros((10, 3)),
        loss=Count(),
        optimizer=tn.SGD(model.parameters()),
        epochs=1,
        batch_size=4,
        verbose=0,
    )
    assert seen == [1, 4, 4, 2]  # a one-sample probe checks model and loss before training


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.ones((5, 4)), "y": np.zeros(4, dtype=int)}, r"len\(x\)=5 and len\(y\)=4"),
        ({"x": np.full((4, 4), np.nan)}, "x must be finite"),
        ({"y": np.array([0, 1, np.inf, 0])}, "y must be finite"),
        ({"x": np.ones((0, 4)), "y": np.zeros(0, dtype=int)}, "at least one sample"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": -1}, "epochs"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"y": np.array([0, 1, 5, -1])}, r"outside \[0, 3\).*\[-1, 5\]"),
        ({"x": np.ones(4)}, r"\(batch, features\)"),
        ({"x": np.ones((4, 5))}, r"x of shape \(4, 5\) does not fit the model: Dense\(4 -> 16\)"),
        ({"y": np.ones((4, 2))}, r"y of shape \(4, 2\) does not fit the model's output of shape \(4, 3\)"),
        ({"metrics": ["acuracy"]}, "metric must be one of"),
        ({"early_stopping": tn.EarlyStopping()}, "no validation data"),
    ],
)
def test_fit_validates_inputs_before_any_work(kwargs: dict[str, Any], match: str) -> None:
    model = iris_model()
    before = model.state_dict()
    args: dict[str, Any] = {"x": np.ones((4, 4)), "y": np.array([0, 1, 2, 0])}
    args.update(kwargs)
    x, y = args.pop("x"), args.pop("y")
    with pytest.raises(ValueError, match=match):  # every row here is a wrong value
        tn.fit(
            model, x, y, loss=tn.CrossEntropyLoss(), optimizer=tn.SGD(model.parameters()), verbose=0, **args
        )
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_float32_training_stays_float32() -> None:
    x_train, _, y_train, _ = iris_split()
    model = tn.Sequential(
        tn.Dense(4, 8, dtype=np.float32, rng=0), tn.Tanh(), tn.Dense(8, 3, dtype=np.float32, rng=1)
    )
    tn.fit(
        model,
        x_train.astype(np.float32),
        y_train,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.Adam(model.parameters(), lr=0.01),
        epochs=3,
        rng=0,
        verbose=0,
    )
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    assert tn.predict(model, x_train.astype(np.float32)).dtype == np.float32
