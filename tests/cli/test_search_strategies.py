"""``tinynet search --strategy random|optuna``: spaces with ranges, sampling, pruning, studies."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require, run

from tinynet.cli import build_parser
from tinynet.cli.parser import CLIError
from tinynet.cli.runners import Pruning, Task, score_fold
from tinynet.cli.space import parse_space
from tinynet.data import fold_indices
from tinynet.tabular import TableData, TabularModel, TabularSettings


def table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def without_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "mean_fit_seconds"} for row in rows]


def space_of(*items: str, ranges: bool = True) -> Any:
    return parse_space(build_parser().commands["search"], [("--space", item) for item in items], ranges)


# -- the space ----------------------------------------------------------------------------------------
def test_ranges_and_lists_are_parsed_and_checked_like_their_flags() -> None:
    space = space_of(
        "lr=log:1e-4:1e-1", "dropout=uniform:0:0.5", "epochs=int:5:20", "batch_size=logint:8:256"
    )
    assert [(d.name, d.kind, d.low, d.high) for d in space.dimensions] == [
        ("learning_rate", "log", 1e-4, 1e-1),
        ("dropout", "uniform", 0.0, 0.5),
        ("epochs", "int", 5, 20),
        ("batch_size", "logint", 8, 256),
    ]
    assert not space.is_grid and len(space) == 0
    assert space.describe().startswith("learning_rate log-uniform in [0.0001, 0.1] x dropout uniform in [0")
    listed = space_of("layers=choice:16 8;32", "activation=relu,tanh")
    assert listed.is_grid and len(listed) == 4 and listed.values == [[[16, 8], [32]], ["relu", "tanh"]]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "lr=int:1:3",
            "--space lr=int:1:3: learning_rate takes any number; use uniform:LOW:HIGH or log:LOW:HIGH",
        ),
        ("epochs=log:1:10", "epochs takes whole numbers; use int:LOW:HIGH or logint:LOW:HIGH"),
        ("layers=int:1:9", "layers is not one number; list its values: layers=A,B"),
        ("activation=uniform:0:1", "activation is not one number"),
        ("lr=log:1e-3", "expected log:LOW:HIGH such as learning_rate=log:1:100"),
        ("lr=log:0.1:0.01", "LOW must be below HIGH, got 0.1 and 0.01"),
        ("lr=log:0:0.1", "'0': must be > 0"),
        ("dropout=uniform:0.2:1", "'1': must be < 1"),
        ("dropout=log:0:0.5", "a log range needs LOW > 0, got 0.0"),
        ("seed=int:1:5", "'seed' is not a setting a search can vary"),
    ],
)
def test_a_bad_range_names_the_item_and_what_was_expected(item: str, message: str) -> None:
    with pytest.raises(CLIError) as caught:
        space_of(item)
    assert message in str(caught.value)


def test_a_grid_takes_lists_only() -> None:
    with pytest.raises(CLIError, match="a grid tries listed values only; for a range use --strategy random"):
        space_of("lr=log:1e-4:1e-1", ranges=False)


def test_random_draws_are_reproducible_inside_their_ranges_and_log_uniform() -> None:
    space = space_of(
        "lr=log:1e-4:1e-1", "dropout=uniform:0.1:0.3", "epochs=int:5:7", "batch_size=logint:1:1000"
    )
    first = space.sample(4000, np.random.default_rng(7))
    again = space.sample(4000, np.random.default_rng(7))
    assert [c.changes for c in first] == [c.changes for c in again]
    assert [c.changes for c in first] != [c.changes for c in space.sample(4000, np.random.default_rng(8))]
    lr = np.array([c.changes["learning_rate"] for c in first])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    # log-uniform: each decade gets a third of the draws (uniform would put 90% in the last one)
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / len(lr)
    assert np.all(np.abs(decades - 1 / 3) < 0.04), decades
    dropout = np.array([c.changes["dropout"] for c in first])
    assert dropout.min() >= 0.1 and dropout.max() <= 0.3 and abs(dropout.mean() - 0.2) < 0.01
    assert {c.changes["epochs"] for c in first} == {5, 6, 7}, "both ends of an int range are drawn"
    batch = np.array([c.changes["batch_size"] for c in first])
    assert batch.min() >= 1 and batch.max() <= 1000 and np.median(batch) < 100, "log-uniform whole numbers"
    assert all(isinstance(c.changes["epochs"], int) for c in first)
    assert first[0].labels["learning_rate"] == repr(first[0].changes["learning_rate"]), "labels are exact"


def test_random_draws_from_lists_alone_never_repeat_and_stop_at_the_grid() -> None:
    space = space_of("lr=0.01,0.1,0.3", "layers=8;16;32;64")
    drawn = space.sample(8, np.random.default_rng(0))
    keys = [(c.labels["learning_rate"], c.labels["layers"]) for c in drawn]
    assert len(set(keys)) == 8, "without repetition, as scikit-learn's ParameterSampler"
    every = space.sample(50, np.random.default_rng(0))
    assert [c.changes for c in every] == space.candidates()


# -- random search ------------------------------------------------------------------------------------
def random_argv(folder: Path, *extra: str) -> list[str]:
    return [
        "search", "-t", "classification", "-d", "iris", "-e", "12", "--cv", "3", "--strategy", "random",
        "--trials", "6", "--space", "lr=log:1e-3:0.5", "--space", "layers=8;16 4",
        "--space", "epochs=int:4:12", "--output_dir", str(folder), *extra,
    ]  # fmt: skip


def test_a_random_search_is_the_same_serially_and_in_processes_and_follows_the_seed(
    tmp_path: Path, capsys: Any
) -> None:
    code, out, err = run(random_argv(tmp_path / "serial"), capsys)
    assert code == 0, err
    assert (
        "random search: 6 candidates from learning_rate log-uniform in [0.001, 0.5] x layers 8, 16 4" in out
    )
    assert "search [####################] 6/6 candidates" in out and "epochs run" in out
    serial = table(tmp_path / "serial" / "search.csv")
    assert [r["state"] for r in serial] == ["complete"] * 6
    for row in serial:
        assert 0.001 <= float(row["learning_rate"]) <= 0.5 and 4 <= int(row["epochs"]) <= 12
        assert int(row["epochs_run"]) <= 3 * int(row["epochs"]), "three folds, at most their epochs each"
    code, _, err = run(random_argv(tmp_path / "jobs", "-q", "--jobs", "2"), capsys)
    assert code == 0, err
    assert without_times(table(tmp_path / "jobs" / "search.csv")) == without_times(serial)
    code, _, err = run(random_argv(tmp_path / "seed", "-q", "--seed", "3"), capsys)
    assert code == 0, err
    other = table(tmp_path / "seed" / "search.csv")
    assert [r["learning_rate"] for r in other] != [r["learning_rate"] for r in serial]
    record = json.loads((tmp_path / "serial" / "search.json").read_text())
    assert record["strategy"] == "random" and record["trials"] == 6
    assert record["epochs"] == sum(int(r["epochs_run"]) for r in serial)


def test_a_random_search_resumes_from_its_record(tmp_path: Path, capsys: Any) -> None:
    folder = str(tmp_path / "ck")
    assert run(random_argv(tmp_path / "a", "-q", "--checkpoint_dir", folder), capsys)[0] == 0
    record = tmp_path / "ck" / "search.jsonl"
    lines = record.read_text().splitlines()
    record.write_text("\n".join(lines[:10]) + "\n")
    code, out, err = run(random_argv(tmp_path / "b", "--checkpoint_dir", folder, "--resume"), capsys)
    assert code == 0, err and "resumed: 9 of 18 folds were already trained" in out
    assert without_times(table(tmp_path / "a" / "search.csv")) == without_times(
        table(tmp_path / "b" / "search.csv")
    )


def test_a_timeout_starts_no_new_candidate_but_finishes_the_first(tmp_path: Path, capsys: Any) -> None:
    argv = random_argv(tmp_path, "-q", "--timeout", "1e-9")
    argv[argv.index("--trials") + 1] = "40"
    code, _, err = run(argv, capsys)
    assert code == 0, err
    rows = table(tmp_path / "search.csv")
    assert 1 <= len(rows) < 40 and all(r["state"] == "complete" for r in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "lr=0.1", "-l", "8", "--trials", "5"], "--trials needs --strategy random"),
        (["--grid", "lr=0.1", "-l", "8", "--timeout", "5"], "--timeout needs --strategy"),
        (["--strategy", "random", "--pruner", "median", "--space", "lr=0.1"], "--pruner needs --strategy"),
        (["--strategy", "random", "--storage", "sqlite:///x.db", "--space", "lr=0.1"], "--storage needs"),
        (["--strategy", "random", "-l", "8"], "--strategy random needs --space NAME=VALUES"),
        (["--strategy", "random", "--space", "lr=0.1,0.2"], "search needs --layers/-l or --space layers="),
        (["--strategy", "random", "--trials", "20000", "--space", "lr=0.1"], "--trials 20000: at most"),
        (
            ["--strategy", "optuna", "-l", "8", "--space", "lr=0.1,0.2", "--checkpoint_dir", "ck"],
            "an Optuna search keeps its trials in --storage",
        ),
    ],
)  # fmt: skip
def test_strategy_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, capsys: Any, extra: list[str], message: str
) -> None:
    argv = ["search", "-t", "classification", "-d", "iris", "--output_dir", str(tmp_path), *extra]
    code, _, err = run(argv, capsys)
    assert code == 2 and err.startswith("tinynet: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "search.csv").exists()


# -- pruning ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris_fold() -> tuple[TableData, TabularSettings, Any, Any]:
    settings = TabularSettings(task="classification", layers=(8,), epochs=30, patience=0, learning_rate=0.005)
    data = TabularModel(settings).select("iris")
    fit_rows, held = fold_indices(len(data), 3, data.y, rng=0, stratify=True)[0]
    return data, settings, fit_rows, held


def finished_trial(optuna: Any, curve: list[float]) -> Any:
    return optuna.trial.create_trial(value=curve[-1], intermediate_values=dict(enumerate(curve)))


def test_a_fold_stops_at_the_first_epoch_the_median_rule_allows_and_never_earlier(
    iris_fold: Any,
) -> None:
    optuna = require("optuna")
    data, settings, fit_rows, held = iris_fold
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3)

    def fold(trials: list[Any] | None, direction: str = "maximize") -> Any:
        pruning = None if trials is None else Pruning(pruner, direction, tuple(trials), end_step=30)
        return score_fold(data, Task(0, 0, settings, fit_rows, held, pruning=pruning), "accuracy")

    plain = fold(None)
    assert not plain.pruned and plain.epochs == 30 and plain.reports == ()
    perfect = [finished_trial(optuna, [1.0] * 30) for _ in range(5)]
    pruned = fold(perfect)
    assert pruned.pruned and math.isnan(pruned.score)
    assert pruned.epochs == 4 and [step for step, _ in pruned.reports] == [0, 1, 2, 3], "3 warm-up epochs"
    kept = fold(perfect[:4])  # fewer finished trials than n_startup_trials: never pruned
    assert not kept.pruned and kept.epochs == 30 and [step for step, _ in kept.reports] == list(range(31))
    assert kept.score == plain.score, "reporting does not change training"
    assert kept.reports[-2:] == ((29, plain.score), (30, plain.score)), "the last epoch, then the fold's end"
    worst = [finished_trial(optuna, [0.0] * 30) for _ in range(5)]
    beaten = fold(worst)
    assert not beaten.pruned and beaten.score == plain.score
    minimize = fold(worst, "minimize")
    assert minimize.pruned, "for an error (lower is better) the same curves are the better ones"
    # behind at no epoch, but behind at the fold's end (where all trials meet): pruned after the fold
    # (the median rule compares the trial's best score so far with the others' at the step)
    assert max(score for _, score in kept.reports) < 1.0
    late = [finished_trial(optuna, [0.0] * 30 + [1.0]) for _ in range(5)]
    after = fold(late)
    assert after.pruned and after.epochs == 30 and after.score == plain.score


# -- optuna search ------------------------------------------------------------------------------------
def optuna_argv(folder: Path, *extra: str) -> list[str]:
    return [
        "search", "-t", "classification", "-d", "iris", "-e", "30", "--patience", "0", "--cv", "3",
        "--strategy", "optuna", "--trials", "14", "--space", "lr=log:1e-4:0.3", "--space", "layers=8;16 4",
        "--output_dir", str(folder), *extra,
    ]  # fmt: skip


def test_an_optuna_search_prunes_bad_trials_records_them_and_is_reproducible(
    tmp_path: Path, capsys: Any
) -> None:
    require("optuna")
    code, out, err = run(optuna_argv(tmp_path / "a"), capsys)
    assert code == 0, err
    assert "optuna search (TPE, median pruner on each trial's first fold): 14 trials over" in out
    rows = table(tmp_path / "a" / "search.csv")
    assert len(rows) == 14
    pruned = [r for r in rows if r["state"] == "pruned"]
    complete = [r for r in rows if r["state"] == "complete"]
    assert pruned and complete, [r["state"] for r in rows]
    for row in pruned:
        assert 3 < int(row["epochs_run"]) <= 30, "stopped in or after the first fold, after the warm-up"
        assert row["mean_accuracy"] == "nan" and row["fold2_accuracy"] == "nan"
        assert (row["fold1_accuracy"] == "nan") == (int(row["epochs_run"]) < 30)
        assert int(row["rank"]) > len(complete)
    for row in complete:
        assert int(row["epochs_run"]) == 90 and row["fold3_accuracy"] != "nan"
    repeats = [r for r in rows if r["state"].startswith("repeat of ")]
    for row in repeats:  # settings asked for again: told the first trial's result, not trained
        first = rows[int(row["state"].removeprefix("repeat of ")) - 1]
        assert row["epochs_run"] == "0" and row["mean_accuracy"] == first["mean_accuracy"]
        assert (row["learning_rate"], row["layers"]) == (first["learning_rate"], first["layers"])
    assert len(pruned) + len(complete) + len(repeats) == 14
    epochs = sum(int(r["epochs_run"]) for r in rows)
    assert f"14 candidates, {epochs:,} epochs trained ({len(pruned)} pruned" in out
    best = json.loads((tmp_path / "a" / "search.json").read_text())["best"]
    assert float(rows[best["candidate"] - 1]["mean_accuracy"]) == max(
        float(r["mean_accuracy"]) for r in complete
    )
    code, _, err = run(optuna_argv(tmp_path / "b", "-q"), capsys)
    assert code == 0, err
    assert without_times(table(tmp_path / "b" / "search.csv")) == without_times(rows), "the same --seed"
    code, _, err = run(optuna_argv(tmp_path / "none", "-q", "--pruner", "none"), capsys)
    assert code == 0, err
    assert {r["state"] for r in table(tmp_path / "none" / "search.csv")} == {"complete"}


def test_an_optuna_search_in_processes_records_its_pruned_trials(tmp_path: Path, capsys: Any) -> None:
    require("optuna")
    code, out, err = run(optuna_argv(tmp_path, "--jobs", "2"), capsys)
    assert code == 0, err and "in 2 processes" in out
    rows = table(tmp_path / "search.csv")
    assert len(rows) == 14 and {r["state"] for r in rows} == {"pruned", "complete"}


def test_a_study_in_storage_is_shared_by_later_runs_and_kept_to_its_settings(
    tmp_path: Path, capsys: Any
) -> None:
    require("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = [*optuna_argv(tmp_path / "a", "-q", "--storage", storage)]
    argv[argv.index("--trials") + 1] = "6"
    assert run(argv, capsys)[0] == 0
    first = table(tmp_path / "a" / "search.csv")
    argv[argv.index(str(tmp_path / "a"))] = str(tmp_path / "b")
    code, out, err = run([a for a in argv if a != "-q"], capsys)
    assert code == 0, err
    assert "study tinynet-search: 6 trials from earlier runs" in out
    second = table(tmp_path / "b" / "search.csv")
    assert len(second) == 12
    assert [(r["learning_rate"], r["state"], r["mean_accuracy"]) for r in second[:6]] == [
        (r["learning_rate"], r["state"], r["mean_accuracy"]) for r in first
    ]
    optuna = require("optuna")
    study = optuna.load_study(study_name="tinynet-search", storage=storage)
    assert len(study.trials) == 12 and study.best_value == max(
        float(r["mean_accuracy"]) for r in second if r["state"] == "complete"
    )
    code, _, err = run([*argv, "--cv", "4"], capsys)
    assert code == 2 and "holds a search with other settings: cv: 3" in err


def test_settings_asked_for_again_are_told_the_first_result_without_training(
    tmp_path: Path, capsys: Any
) -> None:
    optuna = require("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = optuna_argv(tmp_path, "--storage", storage)
    argv[argv.index("lr=log:1e-4:0.3")] = "lr=0.01,0.1"  # two settings only
    code, out, err = run(argv, capsys)
    assert code == 0, err
    rows = table(tmp_path / "search.csv")
    trained = [r for r in rows if not r["state"].startswith("repeat of")]
    assert len(rows) == 14 and 1 <= len(trained) <= 4, "at most the four settings are trained"
    assert len({(r["learning_rate"], r["layers"]) for r in trained}) == len(trained)
    assert f"{len(rows) - len(trained)} repeated earlier settings, not trained again)" in out
    study = optuna.load_study(study_name="tinynet-search", storage=storage)
    for trial, row in zip(study.trials, rows, strict=True):
        if row["state"] != "pruned" and not math.isnan(float(row["mean_accuracy"])):
            assert trial.value == float(row["mean_accuracy"]), "the study is told the same value"


def test_without_optuna_the_search_says_what_to_install(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    code, _, err = run(optuna_argv(tmp_path), capsys)
    assert code == 2 and "--strategy optuna needs Optuna: pip install 'tinynet-nn[optuna]'" in err
    assert not (tmp_path / "search.csv").exists()


def test_a_damaged_trial_record_in_storage_is_one_line(tmp_path: Path, capsys: Any) -> None:
    require("optuna")
    database = tmp_path / "study.db"
    argv = optuna_argv(tmp_path / "a", "-q", "--storage", f"sqlite:///{database}")
    argv[argv.index("--trials") + 1] = "2"
    assert run(argv, capsys)[0] == 0
    with sqlite3.connect(database) as connection:  # a hand edit of the study's database
        connection.execute("UPDATE trial_user_attributes SET value_json = '\"x\"' WHERE key = 'fold_scores'")
    code, _, err = run(argv, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--storage: trial 0 of the study holds a damaged record" in err
