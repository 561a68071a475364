"""The tinynet command as a first-day user and as an attacker meet it: output, files, and every error."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import ROOT, require, run

import tinynet as tn
from tinynet.cli import main


def iris(tmp_path: Path, extra: str = "", epochs: int = 5) -> str:
    return f"train -t classification -d iris -l 8 -e {epochs} --output_dir {tmp_path} {extra}"


def cli(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tinynet = Path(sys.executable).parent / "tinynet"
    return subprocess.run(
        ["bash", "-c", command.replace("tinynet ", f"{tinynet} ", 1)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- pipes, output files ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_closed_pipe_does_not_stop_a_run(tmp_path: Path) -> None:
    result = cli(
        f"set -o pipefail; tinynet train -t classification -d iris -l 16 8 --output_dir {tmp_path} | head -1",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tinynet ") and result.stdout.count("\n") == 1
    assert result.stderr == ""
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "model.npz").exists()
    result = cli("set -o pipefail; tinynet summary -l 16 8 -d iris | head -2", tmp_path)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize(
    ("extension", "name"),
    [("run1", "metrics_run1.json"), ("_x", "metrics_x.json"), (".v2", "metrics.v2.json")],
)
def test_extension_names_join_with_an_underscore(
    tmp_path: Path, capsys: Any, extension: str, name: str
) -> None:
    code, _out, err = run(iris(tmp_path, f"-en {extension} -q", 2), capsys)
    assert code == 0, err
    assert (tmp_path / name).exists()


@pytest.mark.parametrize("extension", ["/../../x", "../x", "a/b", "..", "x\\y"])
def test_an_extension_name_can_never_name_another_folder(tmp_path: Path, capsys: Any, extension: str) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run(["train", *iris(out_dir, "-q", 1).split()[1:], "-en", extension], capsys)
    assert code == 2 and "--extension_name" in err and "must be a plain suffix" in err
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "nothing was written anywhere"


def test_two_outputs_of_a_run_never_collide(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(iris(tmp_path, f"--save {tmp_path / 'metrics.json'}"), capsys)
    assert code == 2 and "the model file and the metrics file would both be" in err


def test_an_output_folder_that_is_a_file_is_named_in_flag_terms(tmp_path: Path, capsys: Any) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    code, _, err = run(iris(blocker), capsys)
    assert code == 2 and "--output_dir" in err and "exists and is not a folder" in err and "Errno" not in err


# -- what a run prints ------------------------------------------------------------------------------
def test_the_model_line_names_every_setting_that_differs(tmp_path: Path, capsys: Any) -> None:
    extra = "--l2 0.001 --dropout 0.1 --norm layer --clip 2 --batch_size 16 --dtype float32 --optimizer adam"
    code, out, err = run(iris(tmp_path, extra, 2), capsys)
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("model:"))
    for text in ("l2=0.001", "dropout=0.1", "layer norm", "clip=2.0", "batch=16", "float32", "adam lr=0.01"):
        assert text in line, (text, line)


def test_config_json_records_the_run_and_reproduces_it(tmp_path: Path, capsys: Any) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    code, _, err = run(iris(first, "-q --l2 0.01 -s 7 --validation_split 0.25", 20), capsys)
    assert code == 0, err
    config = json.loads((first / "config.json").read_text())
    assert config["tinynet"] == tn.__version__ and config["numpy"] == np.__version__ and config["python"]
    assert (
        config["settings"]["l2"] == 0.01
        and config["settings"]["seed"] == 7
        and "output_dir" not in config["settings"]
    )
    code, _, err = run(f"train --config {first / 'config.json'} --output_dir {second} -q", capsys)
    assert code == 0, err
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
    assert (first / "history.json").read_text() == (second / "history.json").read_text()
    code, _, err = run(f"train --config {first / 'config.json'} --output_dir {second} -q -e 3", capsys)
    assert code == 0 and len(json.loads((second / "history.json").read_text())["loss"]) <= 3, (
        "a flag overrides it"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"save": "ELSEWHERE"}, "save say where or how a run writes, which a config does not choose"),
        ({"output_dir": "ELSEWHERE"}, "output_dir say where or how a run writes"),
        ({"checkpoint_dir": "ELSEWHERE", "log_dir": "x"}, "checkpoint_dir, log_dir say where or how"),
        ({"colour": "red"}, "unknown settings ['colour']"),
        ({"learning_rate": "fast"}, "learning_rate 'fast': expected a number, got 'fast'"),
        ({"learning_rate": -1}, "learning_rate '-1': must be > 0"),
        ({"epochs": 2.5}, "epochs '2.5': expected an integer, got '2.5'"),
        ({"activation": "swish"}, "activation 'swish' is not one of"),
        ({"layers": 16}, "layers 16: expected a list of values, as --layers takes"),
        ({"layers": [16, "x"]}, "layers 'x': expected an integer, got 'x'"),
        ({"task": True}, "task true: expected one value, as --task takes"),
        ({"dropout": {"p": 0.5}}, 'dropout {"p": 0.5}: expected one value'),
    ],
)
def test_a_config_file_goes_through_the_flags_checks_and_cannot_redirect_writes(
    tmp_path: Path, capsys: Any, change: dict[str, Any], message: str
) -> None:
    first = tmp_path / "a"
    code, _, err = run(iris(first, "-q", 3), capsys)
    assert code == 0, err
    config = json.loads((first / "config.json").read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "model.npz"
    target.write_bytes(b"precious")
    changed = {key: str(target) if value == "ELSEWHERE" else value for key, value in change.items()}
    config["settings"].update(changed)
    (tmp_path / "hostile.json").write_text(json.dumps(config))
    code, _, err = run(f"train --config {tmp_path / 'hostile.json'} --output_dir {tmp_path / 'b'} -q", capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert message in err
    assert target.read_bytes() == b"precious" and not (tmp_path / "b").exists()


def test_epochs_are_counted_from_one_and_the_end_is_said_plainly(tmp_path: Path, capsys: Any) -> None:
    _, out, _ = run(iris(tmp_path, "-lr 0.5 --patience 3", 200), capsys)
    history = json.loads((tmp_path / "history.json").read_text())
    line = next(line for line in out.splitlines() if line.startswith("trained"))
    assert f"stopped early after epoch {history['stopped_epoch']} of 200" in line
    assert f"restored the weights of epoch {history['best_epoch']}, the best" in line
    assert history["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    _, out, _ = run(iris(tmp_path, "", 5), capsys)
    assert "ran all 5 epochs (no early stop)" in out


def test_chance_level_is_pointed_out_with_what_to_change(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = run(iris(tmp_path, "-wi random", 100), capsys)
    assert code == 0
    assert "note: the model is at chance level" in out and "--weight_init he or xavier" in out
    code, out, _ = run(iris(tmp_path, "", 100), capsys)
    assert "chance level" not in out


def test_the_confusion_matrix_aligns_short_class_names(tmp_path: Path, capsys: Any) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2))
    y = (x[:, 0] > 0).astype(int)
    path = tmp_path / "binary.csv"
    path.write_text("a,b,y\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(x, y, strict=True)))
    code, out, err = run(f"train -t classification -d {path} -l 4 -e 5 --output_dir {tmp_path}", capsys)
    assert code == 0, err
    lines = out.split("confusion matrix (rows: true, columns: predicted)\n")[1].split("\n\n")[0].splitlines()
    assert len({len(line) for line in lines}) == 1, lines
    assert all(re.fullmatch(r" *\d+ +\d+ +\d+", line) for line in lines[1:]), lines


def test_a_diverging_run_says_what_was_not_written_and_prints_no_warning(tmp_path: Path) -> None:
    result = cli(
        f"tinynet train -t regression -d diabetes -l 64 64 -lr 1e3 --patience 0 --output_dir {tmp_path}",
        tmp_path,
    )
    assert result.returncode == 1
    assert (
        result.stderr.count("\n") == 1
        and "Warning" not in result.stderr
        and "site-packages" not in result.stderr
    )
    assert "training failed: training diverged" in result.stderr and "Nothing was written" in result.stderr
    assert "--learning_rate" in result.stderr and not (tmp_path / "metrics.json").exists()


def _four_classes(tmp_path: Path) -> Path:
    path = tmp_path / "four.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i * 3 % 7},c{i % 4}\n" for i in range(1, 41)))
    return path


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            "train --test_size 0.95",
            "--test_size 0.95 puts 38 of the 40 rows in the test split and 2 in training, but keeping "
            "each of the 4 classes on both sides needs at least 4 rows on each side: "
            "use a --test_size from 0.1 to 0.9",
        ),
        ("search --grid lr=0.1,0.01 --test_size 0.95", "use a --test_size from 0.1 to 0.9"),
        (
            "train --validation_split 0.999",
            "--validation_split 0.999: holds out 32 of the 32 training rows for early stopping, leaving 0 to "
            "train on; both parts need a row; use --validation_split 0.2",
        ),
        ("train --validation_split 0.01", "holds out 0 of the 32 training rows"),
    ],
)
def test_split_errors_are_worded_in_flags_not_in_python_arguments(
    tmp_path: Path, capsys: Any, flags: str, said: str
) -> None:
    """These said 'stratify=True with 4 classes needs ...' and 'validation_split=0.999 leaves ...'."""
    command, *rest = flags.split()
    line = f"{command} -t classification -d {_four_classes(tmp_path)} -l 4 -e 2 {' '.join(rest)}"
    code, _, err = run(f"{line} --output_dir {tmp_path / 'out'}", capsys)
    assert code == 2 and said in err and err.count("\n") == 1, err
    assert not re.search(r"\b(stratify|validation_split|test_size)=", err)


# -- Ctrl-C -------------------------------------------------------------------------------------------
def test_the_entry_point_loads_nothing_before_it_can_handle_ctrl_c() -> None:
    """The console script imports tinynet.console first: if that loaded NumPy (as the package root
    did), a Ctrl-C during those 0.2 s escaped every handler as a traceback."""
    code = (
        "import sys, tinynet.console; print(sorted(m for m in sys.modules if m.startswith(('num', 'tiny'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['tinynet', 'tinynet._version', 'tinynet.console']"


def test_ctrl_c_while_the_command_line_loads_is_one_line() -> None:
    """The interrupt is raised exactly while NumPy is being imported by the command line."""
    code = (
        "import os, signal, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from tinynet.console import run\n"
        "sys.exit(run())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 130
    assert result.stderr == "tinynet: interrupted while starting; nothing was written\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        "train -t classification -d iris -l 8 -e 300",
        "search -t classification -d iris -l 8 -e 40 --grid lr=0.01,0.1 --cv 2 --jobs 2",
    ],
)
def test_ctrl_c_at_any_moment_never_prints_a_traceback(tmp_path: Path, command: str) -> None:
    """Ctrl-C as a terminal sends it (to the whole process group, --jobs workers included), from
    interpreter start-up to the end of the run: the answer is one line (or, before Python has
    set up its handler, the default death by SIGINT), never a traceback."""
    tinynet = Path(sys.executable).parent / "tinynet"
    for delay in (0.05, 0.3, 0.8, 2.0):
        folder = tmp_path / f"after_{delay}"
        process = subprocess.Popen(
            [str(tinynet), *command.split(), "--output_dir", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # already finished
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, f"after {delay} s:\n{err}"
        assert process.returncode in (0, 130, -signal.SIGINT), f"after {delay} s: {process.returncode}"
        assert err.count("\n") <= 1 or process.returncode == 0, f"after {delay} s:\n{err}"


class _InterruptAt(tn.Callback):
    """Ctrl-C as the user presses it, in the middle of epoch ``epoch``'s end."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_during_training_says_what_was_and_was_not_written(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tinynet.cli.train as command

    real = command.train
    monkeypatch.setattr(command, "train", lambda m, d, r, c: real(m, d, r, [*c, _InterruptAt(3)]))
    flags = f"--checkpoint_dir {tmp_path / 'ckpt'} --log_dir {tmp_path / 'logs'} --quiet"
    code, _, err = run(iris(tmp_path / "out", flags, epochs=50), capsys)
    assert code == 130
    newest = sorted((tmp_path / "ckpt").iterdir())[-1]
    assert err == (
        "tinynet: interrupted during training, after 3 of 50 epochs: "
        "no model, metrics or plots were written; "
        f"{newest} is the newest checkpoint: run the same command with --resume to continue from it; "
        f"{tmp_path / 'logs' / 'log.csv'} logs the finished epochs\n"
    )
    assert not (tmp_path / "out" / "model.npz").exists() and not (tmp_path / "out" / "metrics.json").exists()
    code, _, err = run(iris(tmp_path / "out", flags + " --resume", epochs=50), capsys)
    assert code == 0 and err == ""


def test_ctrl_c_while_writing_names_the_files_that_are_whole(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tinynet.cli.train as command

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "write_config", interrupt)
    code, _, err = run(iris(tmp_path, "--quiet"), capsys)
    assert code == 130
    assert err == (
        f"tinynet: interrupted while writing the results: wrote {tmp_path / 'metrics.json'}, "
        f"{tmp_path / 'history.json'}; every other output is missing or from an earlier run; "
        "run the command again\n"
    )
    assert not (tmp_path / "model.npz").exists() and not (tmp_path / "config.json").exists()


# -- flags --------------------------------------------------------------------------------------------
def test_a_misspelled_flag_gets_the_closest_flag_and_the_subcommand_help(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(iris(tmp_path, "--learnig_rate 0.1"), capsys)
    assert code == 2
    assert "did you mean --learning_rate?" in err and "(see 'tinynet train --help')" in err


def test_lr_is_a_spelling_of_the_learning_rate(tmp_path: Path, capsys: Any) -> None:
    code, out, err = run(iris(tmp_path, "--lr 0.05", 1), capsys)
    assert code == 0 and "lr=0.05" in out, err


def test_target_is_honored_for_bundled_data_and_summary_takes_csv_paths(tmp_path: Path, capsys: Any) -> None:
    code, out, err = run(
        f"train -t regression -d iris --target petal_width -l 8 -e 3 --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    assert "regression on iris" in out and "(120 train / 30 test samples, 4 features" in out
    assert json.loads((tmp_path / "config.json").read_text())["settings"]["target"] == "petal_width"
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("a;b;label\n" + "".join(f"{i};{i % 3};{'xy'[i % 2]}\n" for i in range(30)))
    code, out, err = run(f"summary -l 4 -d {csv_path} --delimiter ;", capsys)
    assert code == 0 and "Dense(2 -> 4)" in out and "(-1, 2)" in out, err


def test_semicolon_tables_and_wanted_features_by_name(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "semi.csv"
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 3))
    path.write_text("p;q;r;cls\n" + "".join(f"{a};{b};{c};{'uv'[int(a > 0)]}\n" for a, b, c in x))
    code, out, err = run(
        f"train -t classification -d {path} --delimiter ; -l 4 -e 20 -wf p r --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    assert (tmp_path / "features.png").exists() or "plots skipped" in out
    code, _, err = run(
        f"train -t classification -d {path} --delimiter ; -l 4 -wf nope --output_dir {tmp_path}", capsys
    )
    assert code == 2 and "--wanted_features nope: no such feature column" in err


# -- penguins: text columns and missing values ---------------------------------------------------------
def test_penguins_trains_out_of_the_box(tmp_path: Path, capsys: Any) -> None:
    code, out, err = run(f"train -t classification -d penguins -l 16 --output_dir {tmp_path}", capsys)
    assert code == 0, err
    assert "7 features: 5 numeric, 2 text" in out and "missing values imputed" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] > 0.9
    model = tn.load(tmp_path / "model.npz")
    assert isinstance(model, tn.Graph) and any(isinstance(m, tn.Embedding) for m in model.modules())
    meta = tn.load_metadata(tmp_path / "model.npz")
    assert [c["name"] for c in meta["features"]["text"]] == ["island", "sex"]


def _penguins_with_identifiers(tmp_path: Path) -> Path:
    """Penguins with a text id (P0000, P0001, ...) and a saved DataFrame index (shuffled 0..n-1)."""
    table = tn.datasets.load_penguins()
    order = np.random.default_rng(0).permutation(len(table))
    lines = (ROOT / "tinynet/datasets/data/penguins.csv").read_text().splitlines()
    path = tmp_path / "penguins_ids.csv"
    rows = [f"P{i:04d},{order[i]},{line}" for i, line in enumerate(lines[1:])]
    path.write_text("\n".join(["id,index," + lines[0], *rows]) + "\n")
    return path


def test_columns_that_identify_rows_are_left_out_with_a_notice(tmp_path: Path, capsys: Any) -> None:
    """An id column embedded as text took 275 -> 2,835 parameters and can never help predict a new row."""
    path = _penguins_with_identifiers(tmp_path)
    plain = f"train -t classification -d penguins -l 8 -e 3 --output_dir {tmp_path / 'plain'}"
    code, reference, _ = run(plain, capsys)
    code, out, err = run(
        f"train -t classification -d {path} --target species -l 8 -e 3 --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    assert out.splitlines()[1] == (
        "left out id, index: different in every row, an identifier rather than a feature "
        "(name them in --features to use them)"
    )
    parameters = re.search(r"(\d+) parameters", out)
    assert parameters is not None and parameters.group(0) in reference, "the same model as plain penguins"
    described = tn.load_metadata(tmp_path / "model.npz")["features"]
    assert [f["name"] for f in described["text"]] == ["island", "sex"]
    features = "id island bill_length_mm bill_depth_mm flipper_length_mm body_mass_g sex year"
    code, out, err = run(
        f"train -t classification -d {path} --target species --features {features} -l 8 -e 3 "
        f"--output_dir {tmp_path / 'kept'}",
        capsys,
    )
    assert code == 0 and "left out" not in out and "6 numeric, 2 text" not in out
    assert "5 numeric, 3 text" in out, "named in --features, the id is kept"


@pytest.mark.parametrize(
    "extra", ["--categorical onehot", "--missing drop", "--features island bill_length_mm"]
)
def test_penguins_with_other_choices(tmp_path: Path, capsys: Any, extra: str) -> None:
    code, out, err = run(
        f"train -t classification -d penguins -l 8 -e 30 --output_dir {tmp_path} {extra}", capsys
    )
    assert code == 0, err
    model = tn.load(tmp_path / "model.npz")
    if "onehot" in extra:
        assert isinstance(model, tn.Sequential) and "one-hot" in out
    if "drop" in extra:
        assert "rows left out" in out and "333 rows" not in out


def test_predict_and_evaluate_on_a_real_table(tmp_path: Path, capsys: Any) -> None:
    run(f"train -t classification -d penguins -l 16 -q --output_dir {tmp_path}", capsys)
    table = tmp_path / "new.csv"
    table.write_text(
        "id,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,species\n"
        "a,Torgersen,39.1,18.7,181,3750,male,2007,Adelie\n"
        "b,Atlantis,46.5,17.9,192,3500,NA,2008,Chinstrap\n"  # an island never seen, a missing sex
        "c,Biscoe,NA,NA,NA,NA,?,2009,Gentoo\n"  # almost nothing known
    )
    code, out, err = run(f"predict --model {tmp_path / 'model.npz'} --data {table} --keep id", capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "id,prediction,p_Adelie,p_Chinstrap,p_Gentoo" and [line[0] for line in lines[1:]] == [
        "a",
        "b",
        "c",
    ]
    assert lines[1].split(",")[1] == "Adelie"
    code, out, err = run(f"evaluate {tmp_path / 'model.npz'} --data {table}", capsys)
    assert code == 0, err
    assert "test metrics (3 samples)" in out and "confusion matrix" in out


# -- hostile input ----------------------------------------------------------------------------------
def test_a_model_too_large_is_refused_in_one_line_before_any_allocation(tmp_path: Path) -> None:
    start = time.perf_counter()
    result = cli(
        f"tinynet train -t classification -d iris -l 100000 100000 --output_dir {tmp_path}", tmp_path
    )
    assert time.perf_counter() - start < 20
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "the network (10,000,900,003 parameters)" in result.stderr and "GiB" in result.stderr
    assert "choose smaller --layers" in result.stderr


def test_a_fifo_as_data_set_is_refused_without_hanging(tmp_path: Path, capsys: Any) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    code, _, err = run(f"train -t classification -d {fifo} -l 4 --output_dir {tmp_path}", capsys)
    assert code == 2 and "is a FIFO (named pipe), expected a regular file" in err


def trained(tmp_path: Path, capsys: Any) -> Path:
    run(f"train -t classification -d iris -l 4 -e 2 -q --output_dir {tmp_path}", capsys)
    return tmp_path / "model.npz"


def resave(model_path: Path, metadata: dict[str, Any]) -> None:
    tn.save(tn.load(model_path), model_path, metadata=metadata)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (
            lambda p, d: d.write_text("sepal_length,sepal_length,petal_length,petal_width\n1,2,3,4\n"),
            "columns 1 and 2 are both named",
        ),
        (lambda p, d: d.write_text("a,b\n" + "1" * (2**20 + 5) + ",2\n"), "field larger than field limit"),
        (
            lambda p, d: d.write_text("sepal_length,petal_length\n1,2\n"),
            r"missing feature columns \['sepal_width', 'petal_width'\]",
        ),
        (
            lambda p, d: resave(p, {"task": "classification", "features": {"numeric": "x"}}),
            "the feature description is damaged",
        ),
        (
            lambda p, d: resave(
                p,
                {
                    "task": "classification",
                    "feature_names": ["a"],
                    "x_scaler": {"mean": [0.0], "scale": [0.0]},
                },
            ),
            "scales finite and > 0",
        ),
        (lambda p, d: resave(p, {"task": "classification"}), "this model file has no feature description"),
        (lambda p, d: p.write_bytes(b"PK\x03\x04 damaged"), "damaged or not a tinynet model file"),
    ],
)
def test_every_predict_failure_is_one_line_and_exit_2(
    tmp_path: Path, capsys: Any, setup: Any, match: str
) -> None:
    model = trained(tmp_path, capsys)
    data = tmp_path / "rows.csv"
    data.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    setup(model, data)
    code, _, err = run(f"predict --model {model} --data {data}", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(match, err), err


def test_an_internal_error_is_one_line_unless_the_traceback_is_asked_for(
    capsys: Any, monkeypatch: Any
) -> None:
    def broken(args: Any, out: Any) -> int:
        return int(1 / math.floor(0.5))

    monkeypatch.setitem(tn.cli.COMMANDS, "gradcheck", broken)
    code, _, err = run("gradcheck", capsys)
    assert code == 3 and err.count("\n") == 1
    assert "internal error: ZeroDivisionError" in err and "--traceback" in err
    with pytest.raises(ZeroDivisionError):
        main(["gradcheck", "--traceback"], out=io.StringIO())


def test_gradcheck_checks_a_saved_model_with_its_custom_layers(tmp_path: Path, capsys: Any) -> None:
    package = tmp_path / "mylayers.py"
    package.write_text(
        "import numpy as np\nimport tinynet as tn\n\n"
        "@tn.register_module(name='mylayers.Cube')\n"
        "class Cube(tn.Module):\n"
        "    def forward(self, x):\n        self.x = np.asarray(x)\n        return self.x ** 3\n"
        "    def backward(self, g):\n        return 3 * g * self.x ** 2\n"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import mylayers, tinynet as tn;"
        f"tn.save(tn.Sequential(tn.Dense(3, 2, rng=0), mylayers.Cube()), {str(tmp_path / 'cube.npz')!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    sys.path.insert(0, str(tmp_path))
    try:
        code_, out, err = run(f"gradcheck --model {tmp_path / 'cube.npz'}", capsys)
        assert code_ == 2 and "'mylayers.Cube', which is not registered" in err
        code_, out, err = run(f"gradcheck --model {tmp_path / 'cube.npz'} --import mylayers", capsys)
        assert code_ == 0, err
        assert "gradcheck Sequential: passed" in out and "0.weight" in out
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mylayers", None)


def test_one_spelling_everywhere_for_the_table_and_the_model_file(tmp_path: Path, capsys: Any) -> None:
    """--dataset/--data/-d in every command; the model file first or as --model in every command."""
    code, _, err = run(
        f"train -t classification --data iris -l 4 -e 2 --quiet --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    model, rows = tmp_path / "model.npz", ROOT / "tinynet/datasets/data/iris.csv"
    outputs = set()
    for spelling in (f"{model} --data", f"--model {model} --dataset", f"{model} -d", f"--model {model} -d"):
        for command in ("predict", "evaluate"):
            code, out, err = run(f"{command} {spelling} {rows}", capsys)
            assert code == 0, (spelling, err)
            outputs.add((command, out.replace(str(model), "M")))
    assert len(outputs) == 2, "every spelling gives the same output"
    code, _, err = run(f"predict {model} --model other.npz -d {rows}", capsys)
    assert code == 2 and f"--model other.npz and the model {model} given before it differ" in err
    code, _, err = run(f"predict -d {rows}", capsys)
    assert code == 2 and "predict needs the model file, as the first argument or --model FILE" in err
    require("onnx")
    for export in (f"export {model} {tmp_path}/a.onnx", f"export --model {model} {tmp_path}/b.onnx"):
        code, _, err = run(export, capsys)
        assert code == 0, err
    code, _, err = run(f"export {model}", capsys)
    assert code == 2 and "export needs the output file, as the argument after the model or --output" in err


@pytest.mark.slow
def test_every_model_command_imports_custom_layers_from_the_current_folder(tmp_path: Path) -> None:
    """--import on summary, bench, gradcheck, export, predict and evaluate, by module name from the
    folder the command runs in (no PYTHONPATH: a console script does not look there), or by file."""
    (tmp_path / "mylayers.py").write_text(
        "import numpy as np\nimport tinynet as tn\n\n"
        "@tn.register_module(name='mylayers.Cube')\n"
        "class Cube(tn.Module):\n"
        "    def forward(self, x):\n        self.x = np.asarray(x)\n        return self.x ** 3\n"
        "    def backward(self, g):\n        return 3 * g * self.x ** 2\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    save = (
        "import mylayers, tinynet as tn; "
        "tn.save(tn.Sequential(tn.Dense(3, 2, rng=0), mylayers.Cube()), 'cube.npz')"
    )
    subprocess.run([sys.executable, "-c", save], check=True, cwd=tmp_path, env=env)
    (tmp_path / "rows.csv").write_text("a,b,c,y\n1,2,3,0\n4,5,6,1\n")
    tinynet = str(Path(sys.executable).parent / "tinynet")
    commands = {
        "summary cube.npz": "Cube",
        "bench cube.npz --shape 3 --budget 0.02": "train step",
        "gradcheck cube.npz": "gradcheck Sequential: passed",
        "export cube.npz cube.onnx": None,  # no ONNX for a custom layer: one line, not 'not registered'
        "predict cube.npz -d rows.csv": None,  # not a table model: one line, not 'not registered'
        "evaluate cube.npz -d rows.csv": None,
    }
    for command, expected in commands.items():
        plain = subprocess.run(
            [tinynet, *command.split()], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert plain.returncode == 2 and "'mylayers.Cube', which is not registered" in plain.stderr, command
        for module in ("mylayers", "mylayers.py") if command.startswith("summary") else ("mylayers",):
            result = subprocess.run(
                [tinynet, *command.split(), "--import", module],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
            )
            assert "not registered" not in result.stderr and "Traceback" not in result.stderr, (
                command,
                result,
            )
            if expected is None:
                assert result.returncode == 2 and result.stderr.count("\n") == 1, (command, result.stderr)
            else:
                assert result.returncode == 0 and expected in result.stdout, (command, result.stderr)
    missing = subprocess.run(
        [tinynet, "summary", "cube.npz", "--import", "nolayers"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.startswith(
        "tinynet: error: --import nolayers: No module"
    )


@pytest.mark.parametrize(
    "command",
    ["predict --model {model} --data {rows} -o {out}/p.csv", "export {model} {out}/m.onnx"],
)
def test_writing_into_a_missing_folder_names_the_folder_typed(
    tmp_path: Path, capsys: Any, command: str
) -> None:
    model = trained(tmp_path, capsys)
    rows = ROOT / "tests" / "data" / "legacy" / "iris_rows.csv"
    out = tmp_path / "nowhere"
    code, _, err = run(command.format(model=model, rows=rows, out=out), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "no such folder to write" in err and str(out) in err and ".tmp" not in err and ".tn-" not in err


def test_hundreds_of_classes_train_quickly_without_an_unreadable_matrix_or_plot(
    tmp_path: Path, capsys: Any
) -> None:
    rng = np.random.default_rng(0)
    labels = [f"class {i:03d}" for i in range(200)]
    lines = ["x1,x2,label"] + [
        f"{rng.normal():.3f},{rng.normal():.3f},{labels[i % 200]}" for i in range(1000)
    ]
    (tmp_path / "many.csv").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    code, out, err = run(
        f"train -t classification -d {tmp_path / 'many.csv'} -l 8 -e 2 --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    assert time.perf_counter() - start < 60, "a hang guard only: this takes a few seconds"
    assert "confusion matrix: 200 classes, too many to print; it is in metrics.json" in out
    assert "confusion matrix plot skipped: 200 classes cannot be read in one" in out
    assert not (tmp_path / "confusion_matrix.png").exists()
    matrix = json.loads((tmp_path / "metrics.json").read_text())["confusion_matrix"]
    assert len(matrix) == 200 and all(len(row) == 200 for row in matrix)


def test_text_class_labels_are_encoded_in_linear_time() -> None:
    from tinynet.datasets import encode_target, read_table
    from tinynet.datasets.table import text_source

    labels = [f"label {i}" for i in range(60_000)]
    text = "x,y\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    table = read_table(text_source(text), path="memory")
    start = time.perf_counter()
    indices, names, task = encode_target(table.columns[1], None, "memory")
    assert time.perf_counter() - start < 10, "a hang guard only: quadratic took minutes"
    assert task == "classification" and len(names) == 60_000
    assert [names[i] for i in indices[:3]] == labels[:3]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_semicolon_or_tab_separated_file_is_read_without_being_told(
    tmp_path: Path, capsys: Any, separator: str
) -> None:
    """Spreadsheets in many locales export ';' and tabs: read with commas they are one column."""
    rng = np.random.default_rng(0)
    rows = [separator.join(["size", "weight", "kind"])]
    rows += [separator.join([f"{rng.normal():.3f}", f"{rng.normal():.3f}", "ab"[i % 2]]) for i in range(60)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    code, out, err = run(
        f"train -t classification -d {tmp_path / 'table.csv'} -l 4 -e 3 --output_dir {tmp_path}", capsys
    )
    assert code == 0, err
    assert "2 features" in out
    code, out, err = run(f"predict --model {tmp_path / 'model.npz'} --data {tmp_path / 'table.csv'}", capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 61
    (tmp_path / "one.csv").write_text("size\n" + "".join(f"{i}\n" for i in range(20)))
    code, _, err = run(
        f"train -t classification -d {tmp_path / 'one.csv'} -l 4 --output_dir {tmp_path}", capsys
    )
    assert code == 2 and "expected at least 2 columns" in err
