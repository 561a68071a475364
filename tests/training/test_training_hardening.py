"""fit under hostile conditions, layer boundaries that check what comes in, and copies that stay small."""

from __future__ import annotations

import copy
import math
import pickle
import signal
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.tools.cases import MODULE_CASES, sample

rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4))
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


def net() -> tn.Sequential:
    return tn.Sequential(tn.Dense(4, 8, rng=0), tn.ReLU(), tn.Dense(8, 3, rng=1))


def finite(model: tn.Module) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


@pytest.mark.parametrize("epochs", [1, 2])
def test_divergence_in_the_last_step_of_an_epoch_leaves_finite_weights(epochs: int) -> None:
    model = tn.Sequential(tn.Dense(4, 1, rng=0))
    y = rng.standard_normal(64) * 1e150
    with pytest.raises(tn.TrainingDivergedError) as info:
        tn.fit(
            model,
            X,
            y,
            loss=tn.MSELoss(),
            optimizer=tn.SGD(model.parameters(), lr=1e200),
            epochs=epochs,
            batch_size=64,  # one full batch: the only step is the last step of the epoch
            verbose=0,
        )
    assert finite(model), "the weights are the last finite ones"
    assert info.value.epoch == 1 and info.value.history is not None


@pytest.mark.parametrize("flat", [True, False])
def test_a_running_variance_that_overflows_is_divergence_and_the_epoch_start_is_restored(flat: bool) -> None:
    """Inputs near 1e160: a batch's variance overflows to inf while BatchNorm's output (and so the
    loss) stays finite; the running variance would then be saved as inf."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)) * 1e160, rng.integers(0, 2, 64)
    model = tn.Sequential(tn.Dense(4, 8, rng=rng), tn.BatchNorm1d(8), tn.Dense(8, 2, rng=rng))
    params = model.parameters()
    optimizer = tn.Adam(params, lr=0.01) if flat else tn.SGD(params, lr=0.01)
    with pytest.raises(tn.TrainingDivergedError, match="a weight or running statistic") as caught:
        tn.fit(
            model,
            x,
            y,
            loss=tn.CrossEntropyLoss(),
            optimizer=optimizer,
            epochs=3,
            batch_size=16,
            rng=rng,
            verbose=0,
        )
    assert caught.value.epoch == 1
    buffers = dict(model.named_buffers())
    assert np.array_equal(buffers["1.running_var"], np.ones(8)), "the epoch's start, not inf"
    assert np.array_equal(buffers["1.running_mean"], np.zeros(8))
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_a_schedule_that_turns_non_finite_stops_at_its_epoch_with_history() -> None:
    model = net()
    with pytest.raises(
        tn.TrainingDivergedError, match="the schedule gave the learning rate nan for epoch 3"
    ) as info:
        tn.fit(
            model,
            X,
            Y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.SGD(model.parameters()),
            schedule=lambda t: 0.01 if t < 2 else math.nan,
            epochs=5,
            verbose=0,
        )
    assert info.value.epoch == 3 and info.value.history is not None and info.value.history.epochs == 2
    assert finite(model)


def test_a_metric_that_turns_non_finite_stops_at_its_epoch_with_history() -> None:
    calls = []

    def odd(y_true: Any, y_pred: Any) -> float:
        calls.append(1)
        return math.inf if len(calls) == 2 else 0.5

    model = net()
    with pytest.raises(tn.TrainingDivergedError, match=r"epoch 2: odd = inf") as info:
        tn.fit(
            model,
            X,
            Y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.SGD(model.parameters()),
            metrics=[odd],
            epochs=5,
            verbose=0,
        )
    assert info.value.history is not None and info.value.history.epochs == 2


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_fit_leaves_the_model_in_the_mode_it_found(mode: str) -> None:
    model = getattr(
        tn.Sequential(tn.Dense(4, 8, rng=0), tn.Dropout(0.5, rng=0), tn.Dense(8, 3, rng=1)), mode
    )()
    tn.fit(model, X, Y, loss=tn.CrossEntropyLoss(), optimizer=tn.SGD(model.parameters()), epochs=1, verbose=0)
    assert all(m.training == (mode == "train") for m in model.modules())


def test_ctrl_c_during_the_last_validation_is_honored() -> None:
    class Interrupting(tn.CrossEntropyLoss):
        def forward(self, pred: Any, target: Any, weights: Any = None) -> float:
            if len(pred) == 16:  # the validation pass (training batches have 8 rows)
                signal.raise_signal(signal.SIGINT)
            return super().forward(pred, target, weights)

    model = net()
    with pytest.raises(KeyboardInterrupt, match="after epoch 1;") as info:
        tn.fit(
            model,
            X[:48],
            Y[:48],
            loss=Interrupting(),
            optimizer=tn.SGD(model.parameters()),
            validation_data=(X[48:], Y[48:]),
            epochs=1,
            batch_size=8,
            verbose=0,
        )
    assert info.value.history.epochs == 0  # type: ignore[attr-defined]


def test_a_final_batch_of_one_row_joins_the_batch_before() -> None:
    model = tn.Sequential(tn.Dense(4, 6, rng=0), tn.BatchNorm1d(6), tn.ReLU(), tn.Dense(6, 3, rng=1))
    sizes = []

    class Record(tn.CrossEntropyLoss):
        def forward(self, pred: Any, target: Any, weights: Any = None) -> float:
            sizes.append(len(pred))
            return super().forward(pred, target, weights)

    tn.fit(
        model,
        X[:33],
        Y[:33],
        loss=Record(),
        optimizer=tn.SGD(model.parameters()),
        epochs=1,
        batch_size=8,
        verbose=0,
    )
    assert sizes[1:] == [8, 8, 8, 9], "33 rows: the last single row joins the fourth batch"


def test_fit_reads_a_memory_map_batch_by_batch(tmp_path: Any) -> None:
    path = tmp_path / "x.npy"
    np.save(path, X.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    model = tn.Sequential(
        tn.Dense(4, 8, dtype=np.float32, rng=0), tn.ReLU(), tn.Dense(8, 3, dtype=np.float32, rng=1)
    )
    twin = model.clone()
    for target, data in ((model, mapped), (twin, np.asarray(mapped).copy())):
        tn.fit(
            target,
            data,
            Y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.SGD(target.parameters()),
            rng=0,
            epochs=2,
            verbose=0,
        )
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


# -- every backward checks what comes in ------------------------------------------------------------
def _cases() -> list[Any]:
    return [pytest.param(factory, specs[0], id=name) for name, factory, specs in MODULE_CASES]


@pytest.mark.parametrize(("factory", "spec"), _cases())
def test_a_wrongly_shaped_grad_out_is_an_error_naming_the_layer(factory: Any, spec: Any) -> None:
    module = factory()
    y = module(sample(spec, np.random.default_rng(0)))
    first = y[0] if isinstance(y, list) else y
    wrong = np.ones((first.shape[0], first.shape[1] + 1))
    with pytest.raises(ValueError, match=r"grad_out .*must have the shape of the forward output") as info:
        module.backward([wrong, *(np.ones_like(v) for v in y[1:])] if isinstance(y, list) else wrong)
    assert f"got ({first.shape[0]}, {first.shape[1] + 1})" in str(info.value)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix is discouraged: the point
@pytest.mark.parametrize("layer", [tn.ReLU, tn.Sigmoid, tn.Tanh, tn.Softmax, tn.LeakyReLU])
def test_np_matrix_gradients_are_plain_arrays(layer: Any) -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    matrix = np.asmatrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
    plain, other = layer(), layer()
    plain(x)
    other(np.asmatrix(x))
    expected = plain.backward(np.asarray(matrix))
    got = other.backward(matrix)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, expected)


# -- copies and pickles carry no forward caches ------------------------------------------------------
def test_a_pickled_trained_model_carries_no_batch() -> None:
    model = tn.Sequential(tn.Dense(10, 64, rng=0), tn.ReLU(), tn.Dropout(0.2, rng=1), tn.Dense(64, 2, rng=2))
    x = np.random.default_rng(1).standard_normal((5000, 10))
    y = (x[:, 0] > 0).astype(np.int64)
    tn.fit(
        model, x, y, loss=tn.CrossEntropyLoss(), optimizer=tn.Adam(model.parameters()), epochs=1, verbose=0
    )
    model(x)  # a forward pass on all 5000 rows fills every cache
    weight_bytes = sum(p.data.nbytes for p in model.parameters())
    blob = pickle.dumps(model)
    assert len(blob) <= weight_bytes + 64 * 1024, f"{len(blob)} bytes for {weight_bytes} of parameters"
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.eval()(x[:3]), model.eval()(x[:3]))
    clone = copy.deepcopy(model)
    assert all(getattr(m, name, None) is None for m in clone.modules() for name in type(m).caches)
