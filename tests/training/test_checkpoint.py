"""Training survives a kill: checkpoints resume bit for bit; CSV and TensorBoard logs read back."""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

SCRIPT = Path(__file__).with_name("checkpointed_run.py")


def run_script(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate()
    return process.returncode, out


def result(out: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    return tn.load(out).state_dict(), json.loads(Path(str(out) + ".json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_a_run_killed_again_and_again_resumes_to_the_uninterrupted_result(
    tmp_path: Path, optimizer: str
) -> None:
    """SIGKILL at an epoch's end, in the middle of a checkpoint write, and at random moments; each
    time the same command is run again. Dropout, a warm-up schedule, clipping and early stopping are
    on. The final weights and history equal an uninterrupted run's, bit for bit."""
    reference = tmp_path / "reference.npz"
    assert finish(run_script("-", str(reference), optimizer))[0] == 0
    directory, out = tmp_path / "checkpoints", tmp_path / "resumed.npz"
    killed = []
    for kill_at in ("epoch:3", "write:checkpoint-000006.npz", "epoch:7"):  # before and during a write
        killed.append(finish(run_script(str(directory), str(out), optimizer, kill_at))[0])
    assert killed == [-signal.SIGKILL] * 3, "each planned kill happened"
    rng = random.Random(optimizer)
    for _ in range(20):  # then SIGKILL at random moments until a run completes
        process = run_script(str(directory), str(out), optimizer)
        try:
            printed, _ = process.communicate(timeout=rng.uniform(0.3, 0.8))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            continue
        assert process.returncode == 0 and "resumed from checkpoint-" in printed, "the last run resumed"
        break
    else:
        code, printed = finish(run_script(str(directory), str(out), optimizer))
        assert code == 0 and "resumed from checkpoint-" in printed
    (expected, expected_history), (got, got_history) = result(reference), result(out)
    assert expected.keys() == got.keys()
    assert all(np.array_equal(expected[k], got[k]) for k in expected), "bit-identical weights"
    assert got_history == expected_history
    assert [p.name for p in directory.iterdir() if p.name.startswith("checkpoint-")] == [
        f"checkpoint-{expected_history['epochs']:06d}.npz"
    ], "keep=1: only the newest stays (and no temporary file)"


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_checkpoints_every_few_steps_resume_inside_an_epoch(tmp_path: Path, optimizer: str) -> None:
    """Every 7 steps (an epoch is 50): killed mid-epoch, during a mid-epoch write, and after a
    step; the epoch resumes on the same order with its sums and predictions so far."""
    reference = tmp_path / "reference.npz"
    assert finish(run_script("-", str(reference), optimizer))[0] == 0
    directory, out = tmp_path / "checkpoints", tmp_path / "resumed.npz"
    plan = ["step:60", "write:checkpoint-000001-000020.npz", "step:143", "-"]
    runs = [finish(run_script(str(directory), str(out), optimizer, kill_at, "7")) for kill_at in plan]
    assert [code for code, _ in runs] == [-signal.SIGKILL] * 3 + [0]
    assert runs[-1][1].strip() == "resumed from checkpoint-000002-000040.npz", "step 140 = epoch 3, step 40"
    (expected, expected_history), (got, got_history) = result(reference), result(out)
    assert all(np.array_equal(expected[k], got[k]) for k in expected), "bit-identical weights"
    assert got_history == expected_history


def small_run(directory: Path, **changes: Any) -> tuple[tn.Module, tn.History]:
    rng = np.random.default_rng(0)
    model = tn.Sequential(
        tn.Dense(3, 8, rng=rng), tn.ReLU(), tn.Dropout(0.2, rng=rng), tn.Dense(8, 2, rng=rng)
    )
    x = np.random.default_rng(1).standard_normal((64, 3))
    y = (x[:, 0] > 0).astype(int)
    settings: dict[str, Any] = {
        "loss": tn.CrossEntropyLoss(),
        "optimizer": tn.Adam(model.parameters(), lr=0.01),
        "epochs": 6,
        "batch_size": 16,
        "rng": 3,
        "verbose": 0,
        "validation_split": 0.25,
        "callbacks": [tn.Checkpoint(directory, keep=2, save_best="val_loss")],
    }
    settings.update(changes)
    history = tn.fit(model, x, y, **settings)
    return model, history


class StopAt(tn.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resuming_with_other_settings_is_refused_naming_what_differs(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        small_run(tmp_path, callbacks=[StopAt(3), tn.Checkpoint(tmp_path)])
    with pytest.raises(tn.CheckpointMismatchError, match=r"batch_size: 16 in the checkpoint, 8 now") as info:
        small_run(tmp_path, batch_size=8, callbacks=[tn.Checkpoint(tmp_path)])
    assert str(tmp_path / "checkpoint-000002.npz") in str(info.value)
    with pytest.raises(tn.CheckpointMismatchError, match=r"optimizer.lr: 0.01 in the checkpoint, 0.02 now"):
        rng = np.random.default_rng(0)
        model = tn.Sequential(
            tn.Dense(3, 8, rng=rng), tn.ReLU(), tn.Dropout(0.2, rng=rng), tn.Dense(8, 2, rng=rng)
        )
        small_run(
            tmp_path, optimizer=tn.Adam(model.parameters(), lr=0.02), callbacks=[tn.Checkpoint(tmp_path)]
        )
    model, _ = small_run(
        tmp_path, callbacks=[tn.Checkpoint(tmp_path, resume=False)]
    )  # a fresh start is asked
    assert model is not None


def test_an_interrupted_run_resumes_exactly_in_process_and_keeps_the_last_k(tmp_path: Path) -> None:
    expected, expected_history = small_run(tmp_path / "plain", callbacks=[])
    with pytest.raises(KeyboardInterrupt):
        small_run(tmp_path / "run", callbacks=[StopAt(4), tn.Checkpoint(tmp_path / "run", keep=2)])
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["checkpoint-000002.npz", "checkpoint-000003.npz"], "the newest 2 of epochs 1-3"
    checkpoint = tn.Checkpoint(tmp_path / "run", keep=2)
    model, history = small_run(tmp_path / "run", callbacks=[checkpoint])
    assert checkpoint.resumed_from == str(tmp_path / "run" / "checkpoint-000003.npz")
    assert history.to_dict() == expected_history.to_dict()
    for a, b in zip(expected.state_dict().values(), model.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path: Path) -> None:
    expected, expected_history = small_run(tmp_path / "plain", callbacks=[])
    with pytest.raises(KeyboardInterrupt):
        small_run(tmp_path, callbacks=[StopAt(5), tn.Checkpoint(tmp_path, keep=2)])
    newest = tmp_path / "checkpoint-000004.npz"
    newest.write_bytes(newest.read_bytes()[:300])  # a torn file (a disk that lied, a copy cut short)
    checkpoint = tn.Checkpoint(tmp_path, keep=2)
    with pytest.warns(RuntimeWarning, match="skipping checkpoint .*checkpoint-000004.npz"):
        model, history = small_run(tmp_path, callbacks=[checkpoint])
    assert checkpoint.resumed_from == str(tmp_path / "checkpoint-000003.npz")
    assert history.to_dict() == expected_history.to_dict()
    for a, b in zip(expected.state_dict().values(), model.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_best_keeps_the_best_epoch_as_a_plain_model_file(tmp_path: Path) -> None:
    _, history = small_run(tmp_path)
    best = int(np.argmin(history.val_loss)) + 1
    meta = tn.load_metadata(tmp_path / "best.npz")
    assert meta["epoch"] == best and meta["val_loss"] == min(history.val_loss)
    assert isinstance(tn.load(tmp_path / "best.npz"), tn.Sequential)


def test_a_checkpoint_declaring_huge_callback_arrays_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        small_run(
            tmp_path,
            early_stopping=tn.EarlyStopping(patience=9, monitor="loss"),
            callbacks=[StopAt(2), tn.Checkpoint(tmp_path)],
        )
    path = tmp_path / "checkpoint-000001.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(np.load(path)["__tinynet__"].tobytes())
    meta["metadata"]["callbacks"][0]["arrays"]["best_state/0.weight"] = [10**6, 10**6]
    encoded = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, encoded)
    members["__tinynet__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.warns(RuntimeWarning, match="the callbacks' arrays exceed what this model could need"):
        small_run(
            tmp_path,
            early_stopping=tn.EarlyStopping(patience=9, monitor="loss"),
            callbacks=[tn.Checkpoint(tmp_path)],
        )


def test_csv_logger_writes_a_row_per_epoch_and_a_resumed_run_appends(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    _, expected = small_run(tmp_path / "plain", callbacks=[tn.CSVLogger(tmp_path / "plain.csv")])
    with pytest.raises(KeyboardInterrupt):  # epoch 4 is logged, then the run dies before its checkpoint
        small_run(tmp_path / "run", callbacks=[tn.CSVLogger(log), StopAt(4), tn.Checkpoint(tmp_path / "run")])
    assert len(log.read_text().splitlines()) == 1 + 4
    small_run(tmp_path / "run", callbacks=[tn.CSVLogger(log), tn.Checkpoint(tmp_path / "run")])
    with log.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6], "epoch 4 once: the resumed run's"
    assert [float(r["val_loss"]) for r in rows] == expected.val_loss
    assert [float(r["loss"]) for r in rows] == expected.loss
    assert log.read_text() == (tmp_path / "plain.csv").read_text()


def test_tensorboard_event_files_read_back_with_the_right_values(tmp_path: Path) -> None:
    require("tensorboardX")
    accumulator = require("tensorboard.backend.event_processing.event_accumulator")
    logs = tmp_path / "logs"
    with pytest.raises(KeyboardInterrupt):
        small_run(
            tmp_path / "run",
            metrics=["accuracy"],
            callbacks=[tn.TensorBoard(logs, histograms=True), StopAt(4), tn.Checkpoint(tmp_path / "run")],
        )
    _, history = small_run(
        tmp_path / "run",
        metrics=["accuracy"],
        callbacks=[tn.TensorBoard(logs, histograms=True), tn.Checkpoint(tmp_path / "run")],
    )
    reader = accumulator.EventAccumulator(str(logs), size_guidance={"scalars": 0, "histograms": 0})
    reader.Reload()
    tags = reader.Tags()
    assert {"loss", "val_loss", "lr", "accuracy", "val_accuracy"} <= set(tags["scalars"])
    for tag, values in [
        ("loss", history.loss),
        ("val_loss", history.val_loss),
        ("accuracy", history["accuracy"]),
    ]:
        events = reader.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3, 4, 5, 6], "the killed run's epoch 4 purged"
        np.testing.assert_allclose([e.value for e in events], values, rtol=1e-6)  # stored as float32
    assert "0.weight" in tags["histograms"]


def test_a_tensorboard_callback_pickles_without_its_writer(tmp_path: Path) -> None:
    import pickle

    require("tensorboardX")
    callback = tn.TensorBoard(tmp_path)
    callback._open()
    copy = pickle.loads(pickle.dumps(callback))
    assert copy._writer is None and copy.log_dir == str(tmp_path)
    callback.on_train_end(tn.Dense(1, 1), tn.History())
