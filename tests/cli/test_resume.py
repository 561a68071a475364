"""tinynet train --checkpoint_dir / --resume / --log_dir: a killed run continues to the same result."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support import run

import tinynet as tn

TRAIN = "train -t classification -d iris -l 16 8 --patience 0 --seed 3 -q"


def tinynet_command(args: str, cwd: Path) -> subprocess.Popen[bytes]:
    tinynet = Path(sys.executable).parent / "tinynet"
    return subprocess.Popen([str(tinynet), *args.split()], cwd=cwd, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_a_killed_train_command_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    epochs = "-e 600"
    reference = tinynet_command(f"{TRAIN} {epochs} --output_dir plain", tmp_path)
    assert reference.wait() == 0
    start = time.perf_counter()
    killed = tinynet_command(f"{TRAIN} {epochs} --output_dir resumed --checkpoint_dir ck", tmp_path)
    while not list((tmp_path / "ck").glob("checkpoint-*.npz")):  # kill it once it has checkpointed
        assert killed.poll() is None and time.perf_counter() - start < 60, "no checkpoint was written"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    newest = sorted((tmp_path / "ck").glob("checkpoint-*.npz"))[-1].name
    assert newest != "checkpoint-000600.npz", "killed before the end"
    resumed = tinynet_command(f"{TRAIN} {epochs} --output_dir resumed --checkpoint_dir ck --resume", tmp_path)
    assert resumed.wait() == 0
    for name in ("metrics.json", "history.json"):
        assert json.loads((tmp_path / "resumed" / name).read_text()) == json.loads(
            (tmp_path / "plain" / name).read_text()
        ), name
    a, b = tn.load(tmp_path / "plain" / "model.npz"), tn.load(tmp_path / "resumed" / "model.npz")
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_checkpoint_flags_refuse_what_would_lose_or_mix_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ck"
    code, _, err = run(f"{TRAIN} -e 3 --output_dir {tmp_path} --checkpoint_dir {folder}", capsys)
    assert code == 0 and [p.name for p in folder.iterdir()] == ["checkpoint-000003.npz"]
    code, _, err = run(f"{TRAIN} -e 3 --output_dir {tmp_path} --checkpoint_dir {folder}", capsys)
    assert code == 2 and "holds checkpoints of an earlier run" in err and "add --resume" in err
    code, _, err = run(
        f"{TRAIN} -e 3 --output_dir {tmp_path} --checkpoint_dir {folder} --resume --batch_size 8", capsys
    )
    assert code == 2 and "batch_size: 32 in the checkpoint, 8 now" in err
    code, _, err = run(f"{TRAIN} -e 3 --output_dir {tmp_path} --resume", capsys)
    assert code == 2 and "--resume needs --checkpoint_dir" in err
    code, out, _ = run(
        f"{TRAIN.replace(' -q', '')} -e 3 --output_dir {tmp_path} --checkpoint_dir {folder} --resume", capsys
    )
    assert code == 0 and f"resumed from {folder / 'checkpoint-000003.npz'} (epoch 3 of 3)" in out
    assert "trained 0 more epochs" in out


def test_log_dir_writes_a_csv_row_per_epoch_and_tensorboard_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(f"{TRAIN} -e 5 --output_dir {tmp_path} --log_dir {tmp_path / 'logs'}", capsys)
    assert code == 0
    with (tmp_path / "logs" / "log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    history = json.loads((tmp_path / "history.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [float(r["loss"]) for r in rows] == history["loss"]
    assert list((tmp_path / "logs").glob("events.out.tfevents.*")), "TensorBoard event files"
