"""Property tests (hypothesis): invariants that must hold for any input, not just chosen examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
from tinynet.datasets import parse_csv

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


def matrices(min_rows: int = 1, max_rows: int = 6, cols: int | None = None, elements: Any = finite) -> Any:
    shape = st.tuples(st.integers(min_rows, max_rows), st.just(cols) if cols else st.integers(1, 6))
    return hnp.arrays(np.float64, shape, elements=elements)


@SETTINGS
@given(matrices(), st.floats(-1e3, 1e3))
def test_softmax_rows_sum_to_one_and_are_shift_invariant(x: Any, shift: float) -> None:
    y = tn.Softmax()(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    assert (y >= 0).all()
    np.testing.assert_allclose(tn.Softmax()(x + shift), y, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(matrices(elements=st.floats(-1e4, 1e4, allow_nan=False)), st.data())
def test_losses_are_finite_for_logits_up_to_1e4(z: Any, data: Any) -> None:
    labels = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z), max_size=len(z))))
    for loss, target in (
        (tn.CrossEntropyLoss(), labels),
        (tn.CrossEntropyLoss(), np.eye(z.shape[1])[labels]),
        (tn.BCEWithLogitsLoss(), (z > 0).astype(float)),
        (tn.MSELoss(), np.zeros_like(z)),
        (tn.HuberLoss(), np.zeros_like(z)),
    ):
        assert np.isfinite(loss(z, target))
        assert np.isfinite(loss.backward()).all()


MODELS = {
    "mlp": lambda: tn.Sequential(tn.Dense(4, 8, rng=0), tn.Tanh(), tn.Dense(8, 3, rng=1), tn.Softmax()),
    "norm": lambda: tn.Sequential(
        tn.Dense(4, 6, rng=2), tn.LayerNorm(6), tn.GELU("tanh"), tn.Dense(6, 2, rng=3)
    ),
    "graph": lambda: tn.Concat(
        tn.Residual(tn.Dense(4, 4, rng=4)), tn.Sequential(tn.Dense(4, 3, rng=5), tn.ELU())
    ),
}


@SETTINGS
@given(matrices(cols=4), st.sampled_from(sorted(MODELS)))
def test_rows_alone_equal_the_batch(x: Any, name: str) -> None:
    model = MODELS[name]().eval()
    batch = model(x)
    rows = np.concatenate([model(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(rows, batch, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(matrices(min_rows=2, cols=4), st.sampled_from(sorted(MODELS)))
def test_layout_and_read_only_inputs_change_nothing(x: Any, name: str) -> None:
    model = MODELS[name]()
    expected = model(np.ascontiguousarray(x))
    fortran = np.asfortranarray(x)
    frozen = x.copy()
    frozen.setflags(write=False)
    strided = np.repeat(x, 2, axis=0)[::2]
    for variant in (fortran, frozen, strided):
        before = variant.copy()
        np.testing.assert_allclose(model(variant), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(variant, before)
    g = np.ones_like(expected)
    g.setflags(write=False)
    model(frozen)
    model.backward(g)  # a read-only gradient is never written to
    assert (g == 1).all()


LAYERS = {
    "dense": lambda w, r: tn.Dense(w, r.integers(1, 5), rng=0),
    "relu": lambda w, r: tn.ReLU(),
    "leaky": lambda w, r: tn.LeakyReLU(float(r.uniform(0, 0.5))),
    "sigmoid": lambda w, r: tn.Sigmoid(),
    "tanh": lambda w, r: tn.Tanh(),
    "softmax": lambda w, r: tn.Softmax(),
    "gelu": lambda w, r: tn.GELU(str(r.choice(["none", "tanh"]))),
    "softplus": lambda w, r: tn.Softplus(),
    "dropout": lambda w, r: tn.Dropout(0.3),
    "batchnorm": lambda w, r: tn.BatchNorm1d(w, momentum=0.3),
    "layernorm": lambda w, r: tn.LayerNorm(w),
    "residual": lambda w, r: tn.Residual(tn.Dense(w, w, rng=1)),
}


@SETTINGS
@given(
    st.lists(st.sampled_from(sorted(LAYERS)), min_size=1, max_size=6), st.integers(0, 2**31), st.booleans()
)
def test_save_load_round_trips_random_models(
    tmp_path: Path, names: list[str], seed: int, single: bool
) -> None:
    rng = np.random.default_rng(seed)
    width, layers = 3, []
    for name in names:
        layer = LAYERS[name](width, rng)
        layers.append(layer)
        width = layer.out_features if isinstance(layer, tn.Dense) else width
    model = tn.Sequential(*layers)
    if single:
        model.to(np.float32)
    model(rng.standard_normal((5, 3)))  # moves BatchNorm running statistics off their defaults
    path = tmp_path / "m.npz"
    tn.save(model, path)
    loaded = tn.load(path)
    x = rng.standard_normal((4, 3)).astype(np.float32 if single else np.float64)
    np.testing.assert_array_equal(loaded.eval()(x), model.eval()(x))


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: Any) -> bytes:
    path = tmp_path_factory.mktemp("model") / "m.npz"
    tn.save(MODELS["norm"](), path)
    return path.read_bytes()


@SETTINGS
@given(st.data())
def test_damaged_model_files_raise_only_model_file_error(
    tmp_path: Path, model_bytes: bytes, data: Any
) -> None:
    damaged = bytearray(model_bytes)
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(0, len(damaged) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(damaged) - 1))
            damaged[position] ^= data.draw(st.integers(1, 255))
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(damaged))
    try:
        loaded = tn.load(path)
    except tn.ModelFileError:
        return
    loaded(np.ones((1, 4)))  # a flip in an unused field may load; then the model must work


@SETTINGS
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 4)), elements=finite),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=8, max_size=8),
    st.sampled_from([",", ";", "\t"]),
)
def test_generated_tables_load_exactly(x: Any, labels: list[str], delimiter: str) -> None:
    """The positive side of the CSV property: any well-formed table loads to exactly its values."""
    header = delimiter.join([*(f"f{j}" for j in range(x.shape[1])), "label"])
    lines = [delimiter.join([*(repr(float(v)) for v in row), labels[i]]) for i, row in enumerate(x)]
    dataset = parse_csv("\n".join([header, *lines]) + "\n", "generated.csv", delimiter=delimiter)
    np.testing.assert_array_equal(dataset.x, x)
    assert dataset.target_names is not None
    assert [dataset.target_names[i] for i in dataset.y] == labels[: len(x)]


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list('ab,;1-.5e\n x"NA')), max_size=120), st.sampled_from([",", ";"]))
def test_random_csv_text_loads_or_raises_value_error(text: str, delimiter: str) -> None:
    """Any text: a table or a ValueError, never another exception (the positive side is tested above)."""
    try:
        dataset = parse_csv(text, "random.csv", delimiter=delimiter)
    except ValueError:
        return
    assert dataset.x.shape[0] == len(dataset.y) >= 1
    assert np.isfinite(dataset.x).all()


def test_keyboard_interrupt_keeps_the_last_finished_step_and_the_history() -> None:
    import signal

    steps_done = 0

    class InterruptAtStep5(tn.MSELoss):
        def forward(self, pred: Any, target: Any) -> float:
            nonlocal steps_done
            steps_done += len(pred) == 4  # fit's one-sample probe before training is not a step
            if steps_done == 5:
                signal.raise_signal(signal.SIGINT)  # Ctrl-C arrives in the middle of step 5
            return super().forward(pred, target)

    x = np.random.default_rng(0).standard_normal((8, 4))
    y = np.random.default_rng(1).standard_normal((8, 1))
    model = tn.Sequential(tn.Dense(4, 1, rng=0))
    twin = model.clone()
    # a known handler, whatever pytest was started with (with SIGINT ignored, fit leaves it alone)
    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt, match="epoch 3, step 1") as info:
            tn.fit(
                model,
                x,
                y,
                loss=InterruptAtStep5(),
                optimizer=tn.SGD(model.parameters(), lr=0.1),
                epochs=10,
                batch_size=4,
                shuffle=False,
                verbose=0,
            )
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is put back"
    finally:
        signal.signal(signal.SIGINT, started_with)
    history = info.value.history  # type: ignore[attr-defined]
    assert history.epochs == 2, "the two finished epochs are recorded"
    # the same 5 steps done by hand: the interrupted step was finished, not half-applied
    loss, optimizer = tn.MSELoss(), tn.SGD(twin.parameters(), lr=0.1)
    for step in range(5):
        batch = slice((step % 2) * 4, (step % 2) * 4 + 4)
        loss(twin(x[batch]), y[batch])
        twin.zero_grad()
        twin.backward(loss.backward())
        optimizer.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_fit_leaves_a_deliberately_ignored_ctrl_c_ignored() -> None:
    import signal

    class Interrupting(tn.MSELoss):
        def forward(self, pred: Any, target: Any) -> float:
            signal.raise_signal(signal.SIGINT)  # ignored: training goes on
            return super().forward(pred, target)

    model = tn.Sequential(tn.Dense(4, 1, rng=0))
    x, y = np.ones((8, 4)), np.ones((8, 1))
    started_with = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        history = tn.fit(
            model, x, y, loss=Interrupting(), optimizer=tn.SGD(model.parameters()), epochs=2, verbose=0
        )
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, "fit installed no handler of its own"
    finally:
        signal.signal(signal.SIGINT, started_with)
    assert history.epochs == 2


def test_keyboard_interrupt_raised_inside_a_step_attaches_history() -> None:
    class Boom(tn.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 2:  # epochs are numbered from 1
                raise KeyboardInterrupt

    model = tn.Sequential(tn.Dense(2, 1, rng=0))
    with pytest.raises(KeyboardInterrupt) as info:
        tn.fit(
            model,
            np.ones((4, 2)),
            np.ones(4),
            loss=tn.MSELoss(),
            optimizer=tn.SGD(model.parameters()),
            epochs=5,
            callbacks=[Boom()],
            verbose=0,
        )
    assert info.value.history.epochs == 2  # type: ignore[attr-defined]
    assert np.isfinite(model.parameters()[0].data).all()


def test_training_paths_under_all_raise() -> None:
    """Realistic training on every layer kind, with even underflow turned into an error."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)) * 30  # wide inputs: saturated sigmoids, confident logits
    y = (x[:, 0] > 0).astype(int)
    model = tn.Sequential(
        tn.Dense(4, 16, rng=0),
        tn.BatchNorm1d(16),
        tn.Sigmoid(),
        tn.Dropout(0.1, rng=0),
        tn.Residual(tn.Sequential(tn.LayerNorm(16), tn.Dense(16, 16, rng=1), tn.GELU())),
        tn.Concat(tn.Dense(16, 4, rng=2), tn.Sequential(tn.Dense(16, 4, rng=3), tn.Softplus())),
        tn.Tanh(),
        tn.Dense(8, 2, rng=4),
    )
    with np.errstate(all="raise"):
        history = tn.fit(
            model,
            x,
            y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.AdamW(model.parameters(), lr=0.01),
            epochs=15,
            batch_size=16,
            validation_split=0.25,
            metrics=["accuracy"],
            verbose=0,
            rng=0,
            clipper=tn.ClipGlobalNorm(5.0),
            regularizer=tn.L2(1e-4),
        )
        huge = np.array([[1e4, -1e4, 0.0]] * 4)
        for loss, target in (
            (tn.CrossEntropyLoss(), np.array([0, 1, 2, 0])),
            (tn.BCEWithLogitsLoss(), np.ones((4, 3))),
        ):
            assert np.isfinite(loss(huge, target)) and np.isfinite(loss.backward()).all()
        assert np.isfinite(tn.Softmax()(huge.astype(np.float32))).all()
    assert history.metrics["val_accuracy"][-1] > 0.8
