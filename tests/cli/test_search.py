"""``tinynet search`` and the folds it is built on: grids, ranking, files, parallel runs, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import run

import tinynet as tn
import tinynet.cli.runners as runners_module
from tinynet.cli import build_parser
from tinynet.cli.parser import CLIError
from tinynet.cli.search import MAX_CANDIDATES, Results, parse_grid
from tinynet.data import fold_indices


def table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def without_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "mean_fit_seconds"} for row in rows]


# -- folds --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stratify", [False, True])
def test_every_row_is_held_out_exactly_once_in_near_equal_folds(stratify: bool) -> None:
    y = np.repeat([0, 1, 2], [50, 30, 21])
    folds = fold_indices(len(y), 4, y, rng=3, stratify=stratify)
    held = np.concatenate([h for _, h in folds])
    assert np.array_equal(np.sort(held), np.arange(len(y)))
    sizes = [len(h) for _, h in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, held_out in folds:
        assert not set(train) & set(held_out) and len(train) + len(held_out) == len(y)
    if stratify:  # each fold keeps each class's share to within one row
        for _, held_out in folds:
            counts = np.bincount(y[held_out], minlength=3)
            assert np.all(np.abs(counts - np.array([50, 30, 21]) / 4) <= 1)
    again = fold_indices(len(y), 4, y, rng=3, stratify=stratify)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = fold_indices(len(y), 4, y, rng=4, stratify=stratify)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_fold_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="k=5 folds need at least 5 rows, got n=4"):
        fold_indices(4, 5)
    with pytest.raises(ValueError, match="k must be >= 2"):
        fold_indices(10, 1)
    with pytest.raises(ValueError, match=r"needs y of shape \(10,\)"):
        fold_indices(10, 2, np.zeros((10, 2)), stratify=True)


# -- the grid -----------------------------------------------------------------------------------------
def grid_of(*items: str) -> Any:
    return parse_grid(build_parser().commands["search"], list(items))


def test_grid_names_are_flags_in_any_spelling_and_values_are_parsed_like_flags() -> None:
    grid = grid_of("lr=0.01,0.1", "layers=16 8;32", "--weight-init=he,xavier", "epochs=5")
    assert grid.names == ["learning_rate", "layers", "weight_init", "epochs"]
    assert grid.values == [[0.01, 0.1], [[16, 8], [32]], ["he", "xavier"], [5]]
    assert len(grid) == 8 and len(grid.candidates()) == 8
    assert grid.candidates()[1] == {
        "learning_rate": 0.01,
        "layers": [16, 8],
        "weight_init": "xavier",
        "epochs": 5,
    }
    assert grid_of("layers=16,32").values == [[[16], [32]]], "without ';' a comma separates candidates"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("lr", "expected NAME=V1,V2,... such as learning_rate=0.01,0.1"),
        ("lr=", "expected NAME=V1,V2"),
        ("lr=0.1,,0.2", "an empty value"),
        ("lr=0.1,abc", "--grid lr=0.1,abc: 'abc': expected a number, got 'abc'"),
        ("lr=0.1,-1", "'-1': must be > 0"),
        ("activation=relu,swish", "'swish' is not one of"),
        ("seed=1,2", "'seed' is not a setting a search can vary; choose from"),
        ("output_dir=a,b", "'output_dir' is not a setting"),
        ("colour=red", "'colour' is not a setting"),
        ("layers=16;0", "'0': must be >= 1"),
        ("lr=0.1,0.1", "a value is listed twice"),
    ],
)
def test_a_bad_grid_names_the_item_and_what_was_expected(item: str, message: str) -> None:
    with pytest.raises(CLIError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        grid_of(item)


def test_a_grid_setting_twice_or_a_grid_too_large_is_refused_before_any_work() -> None:
    with pytest.raises(CLIError, match="learning_rate is already in the search"):
        grid_of("lr=0.1", "learning_rate=0.2")
    values = ",".join(str(i) for i in range(1, 11))
    items = [f"{name}={values}" for name in ("epochs", "batch_size", "patience", "embedding_dim", "layers")]
    with pytest.raises(CLIError, match=f"100,000 candidates; at most {MAX_CANDIDATES:,}"):
        grid_of(*items)


def test_ranks_share_ties_put_diverged_last_and_follow_the_direction_of_the_metric() -> None:
    scores = np.array([[0.5, 0.7], [0.9, 0.9], [np.nan, 0.1], [0.6, 0.6]])
    results = Results("accuracy", 2, scores, np.zeros_like(scores))
    assert results.ranks().tolist() == [2, 1, 4, 2] and results.best() == 1
    errors = Results("mse", 2, scores, np.zeros_like(scores))
    assert errors.ranks().tolist() == [1, 3, 4, 1] and errors.best() == 0, "the first of equals wins"
    assert Results("r2", 2, np.full((2, 2), np.nan), np.zeros((2, 2))).best() is None
    folds = np.array([[1.0, 1.0, 1.0, 0.9818181818181818, 1.0]])  # seen in a penguins search
    shuffled = Results("accuracy", 5, np.vstack([folds, np.roll(folds, 1)]), np.zeros((2, 5)))
    assert shuffled.means()[0] != shuffled.means()[1], "the same scores summed in another order"
    assert shuffled.ranks().tolist() == [1, 1], "still share the first rank"


# -- the command --------------------------------------------------------------------------------------
def search_argv(
    folder: Path, *extra: str, grid: tuple[str, ...] = ("lr=0.01,0.1", "layers=8;16 4")
) -> list[str]:
    argv = ["search", "-t", "classification", "-d", "iris", "-l", "8", "-e", "15", "--cv", "3"]
    for item in grid:
        argv += ["--grid", item]
    return [*argv, "--output_dir", str(folder), *extra]


def test_a_search_prints_progress_ranks_retrains_the_best_and_writes_its_files(
    tmp_path: Path, capsys: Any
) -> None:
    code, out, err = run(search_argv(tmp_path), capsys)
    assert code == 0 and err == ""
    assert "grid: learning_rate 0.01, 0.1 x layers 8, 16 4 = 4 candidates; 3-fold stratified" in out
    assert "search [####################] 4/4 candidates" in out and "best accuracy" in out
    assert "rank  accuracy" in out and "test metrics (30 samples)" in out
    rows = table(tmp_path / "search.csv")
    assert [r["candidate"] for r in rows] == ["1", "2", "3", "4"]
    assert [(r["learning_rate"], r["layers"]) for r in rows] == [
        ("0.01", "8"),
        ("0.01", "16 4"),
        ("0.1", "8"),
        ("0.1", "16 4"),
    ]
    for row in rows:
        folds = [float(row[f"fold{f}_accuracy"]) for f in (1, 2, 3)]
        assert float(row["mean_accuracy"]) == pytest.approx(np.mean(folds))
        assert float(row["std_accuracy"]) == pytest.approx(np.std(folds))
        assert float(row["mean_fit_seconds"]) > 0
    best = min(rows, key=lambda r: (int(r["rank"]), int(r["candidate"])))
    record = json.loads((tmp_path / "search.json").read_text())
    assert record["best"]["candidate"] == int(best["candidate"]) and record["scoring"] == "accuracy"
    assert f"best: learning_rate={best['learning_rate']} layers={best['layers']}" in out
    assert record["best"]["test"]["accuracy"] > 0.5
    assert (tmp_path / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # best_config.json is a train config: it trains that very model again, bit for bit
    model = tn.load(tmp_path / "best_model.npz")
    code, _, err = run(
        [
            "train",
            "--config",
            str(tmp_path / "best_config.json"),
            "--output_dir",
            str(tmp_path / "again"),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    again = tn.load(tmp_path / "again" / "model.npz")
    assert all(
        np.array_equal(a.data, b.data) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )


def test_local_processes_give_the_serial_table(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(search_argv(tmp_path / "serial", "-q"), capsys)
    assert code == 0, err
    code, out, err = run(search_argv(tmp_path / "jobs", "--jobs", "2"), capsys)
    assert code == 0, err
    assert "12 trainings, in 2 processes" in out
    serial, jobs = table(tmp_path / "serial" / "search.csv"), table(tmp_path / "jobs" / "search.csv")
    assert without_times(serial) == without_times(jobs)
    assert len({r["mean_accuracy"] for r in serial}) > 1, "the candidates really differ"


def test_a_regression_search_ranks_errors_lowest_first(tmp_path: Path, capsys: Any) -> None:
    argv = [
        "search",
        "-t",
        "regression",
        "-d",
        "diabetes",
        "-l",
        "8",
        "-e",
        "10",
        "--cv",
        "2",
        "--scoring",
        "mae",
        "--grid",
        "lr=0.001,0.05",
    ]
    code, out, err = run([*argv, "--output_dir", str(tmp_path)], capsys)
    assert code == 0, err
    rows = table(tmp_path / "search.csv")
    maes = [float(r["mean_mae"]) for r in rows]
    assert [int(r["rank"]) for r in rows] == [1 + int(m > min(maes)) for m in maes]
    assert "test metrics (89 samples, original units)" in out


def test_a_diverging_candidate_is_ranked_last_and_the_search_goes_on(tmp_path: Path, capsys: Any) -> None:
    argv = search_argv(tmp_path, "--optimizer", "sgd", "--patience", "0", grid=("lr=0.05,1e12",))
    code, out, err = run(argv, capsys)
    assert code == 0, err
    rows = table(tmp_path / "search.csv")
    assert rows[1]["mean_accuracy"] == "nan" and rows[1]["rank"] == "2"
    assert "diverged" in out and "best: learning_rate=0.05" in out


def test_when_every_candidate_diverges_the_table_is_kept_and_the_exit_code_is_1(
    tmp_path: Path, capsys: Any
) -> None:
    argv = search_argv(tmp_path, "--optimizer", "sgd", "--patience", "0", grid=("lr=1e12,1e13",))
    code, _, err = run(argv, capsys)
    assert code == 1
    assert "every candidate diverged in cross-validation" in err
    assert len(table(tmp_path / "search.csv")) == 2 and not (tmp_path / "best_model.npz").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "seed=1,2"], "'seed' is not a setting a search can vary"),
        (["--jobs", "2", "--dask", "tcp://127.0.0.1:8786"], "--jobs and --dask exclude each other"),
        (["--scoring", "r2"], "--scoring r2 scores regressors"),
        (["--cv", "1"], "argument --cv: must be >= 2, got 1"),
        (["--cv", "500"], "--cv 500: more folds than the 120 training rows"),
        (["--dask", "scheduler"], "--dask 'scheduler': expected a scheduler address such as tcp://"),
    ],
)
def test_search_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, capsys: Any, extra: list[str], message: str
) -> None:
    code, _out, err = run(search_argv(tmp_path, *extra), capsys)
    assert code == 2 and err.startswith("tinynet: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "search.csv").exists()


def test_search_needs_layers_somewhere(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(
        ["search", "-t", "classification", "-d", "iris", "--output_dir", str(tmp_path)], capsys
    )
    assert code == 2 and "search needs --layers/-l or --grid layers=..." in err
    code, _, err = run(["search", "-d", "iris", "-l", "8"], capsys)
    assert code == 2 and "search needs --task/-t" in err


# -- resuming and logs ---------------------------------------------------------------------------------
def test_a_resumed_search_trains_only_the_unfinished_folds_and_gives_the_same_table(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(search_argv(tmp_path / "plain", "-q"), capsys)
    assert code == 0, err
    record = tmp_path / "ck" / "search.jsonl"
    code, _, err = run(
        search_argv(tmp_path / "first", "-q", "--checkpoint_dir", str(tmp_path / "ck")), capsys
    )
    assert code == 0, err
    lines = record.read_text().splitlines()
    assert len(lines) == 1 + 12, "a line describing the search, then one per finished fold"
    record.write_text("\n".join(lines[:6]) + "\n" + lines[6][:15])  # killed while writing the 6th fold
    trained: list[tuple[int, int]] = []
    real = runners_module.score_fold

    def counted(data: Any, task: Any, scoring: str) -> Any:
        trained.append((task.candidate, task.fold))
        return real(data, task, scoring)

    monkeypatch.setattr(runners_module, "score_fold", counted)
    argv = search_argv(tmp_path / "resumed", "--checkpoint_dir", str(tmp_path / "ck"), "--resume")
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "resumed: 5 of 12 folds were already trained" in out
    assert len(trained) == 7 and set(trained).isdisjoint(
        (json.loads(line)["candidate"], json.loads(line)["fold"]) for line in lines[1:6]
    )
    plain, resumed = table(tmp_path / "plain" / "search.csv"), table(tmp_path / "resumed" / "search.csv")
    assert [r["mean_accuracy"] for r in plain] == [r["mean_accuracy"] for r in resumed]
    assert len(record.read_text().splitlines()) == 1 + 12


def test_a_search_record_is_never_mixed_with_another_search(tmp_path: Path, capsys: Any) -> None:
    folder = str(tmp_path / "ck")
    assert run(search_argv(tmp_path, "-q", "--checkpoint_dir", folder), capsys)[0] == 0
    code, _, err = run(search_argv(tmp_path, "-q", "--checkpoint_dir", folder), capsys)
    assert code == 2 and "holds an earlier search" in err and "add --resume" in err
    code, _, err = run(
        [*search_argv(tmp_path, "-q", "--checkpoint_dir", folder, "--resume"), "--cv", "4"], capsys
    )
    assert code == 2 and "cv: 3 in the checkpoint, 4 now" in err
    code, _, err = run(search_argv(tmp_path, "-q", "--resume"), capsys)
    assert code == 2 and "--resume needs --checkpoint_dir" in err


def test_each_worker_process_writes_the_logs_of_its_folds(tmp_path: Path, capsys: Any) -> None:
    logs = tmp_path / "logs"
    code, _, err = run(search_argv(tmp_path / "out", "-q", "--jobs", "2", "--log_dir", str(logs)), capsys)
    assert code == 0, err
    folders = sorted(p.name for p in logs.iterdir())
    assert folders == [f"candidate-{c:03d}-fold-{f}" for c in range(4) for f in range(3)]
    for folder in folders:
        rows = table(logs / folder / "log.csv")
        assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1)) and rows
        assert list((logs / folder).glob("events.out.tfevents.*")), "TensorBoard files, written in the worker"


def test_more_jobs_than_cores_are_capped_and_said(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tinynet.cli.search as search_module

    monkeypatch.setattr(search_module, "machine_cores", lambda: 2)
    code, out, err = run(search_argv(tmp_path, "--jobs", "64"), capsys)
    assert code == 0, err
    assert "--jobs 64: this machine has 2 cores; using 2 processes" in out and "in 2 processes" in out


def test_finished_candidates_are_counted_as_they_come() -> None:
    from tinynet.cli.runners import Outcome, Task

    results = Results.empty(6, 3, "accuracy")
    rng = np.random.default_rng(0)
    events = [("fold", c, f) for c in range(6) for f in range(3)] + [("stop", 4, 0), ("stop", 5, 0)]
    for i in rng.permutation(len(events)):
        kind, c, f = events[i]
        if kind == "stop":
            results.stop(c)
        else:
            task = Task(c, f, None, np.arange(2), np.arange(2))  # type: ignore[arg-type]
            results.record(task, Outcome(0.5, 0.1, 3, pruned=(c == 3 and f == 0)))
        assert results.done == int(results.finished().sum())
    assert results.done == 6
