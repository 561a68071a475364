"""Searches on a real Dask cluster (separate worker processes on 127.0.0.1) match serial runs exactly."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

require("distributed")
require("sklearn")
joblib = require("joblib")
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tinynet.cli import main  # noqa: E402
from tinynet.sklearn import TinyNetClassifier  # noqa: E402

pytestmark = [
    pytest.mark.slow,  # starts a local cluster
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),  # fixed-epoch fits
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes of one thread each, as on two small machines; no dashboard."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


def test_a_grid_search_on_the_cluster_gives_exactly_the_serial_scores(cluster: Any) -> None:
    x, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0)
    grid = {"module__hidden": [(8,), (16,)], "learning_rate": [0.01, 0.05]}

    def search() -> GridSearchCV:
        return GridSearchCV(TinyNetClassifier(epochs=10, random_state=0), grid, cv=3)

    with threadpool_limits(1):  # the workers run BLAS on one thread too (Dask sets that up)
        serial = search().fit(x, y)
    with Client(cluster) as client, joblib.parallel_config(backend="dask"):
        workers = client.run(lambda: __import__("os").getpid())
        remote = search().fit(x, y)
    assert len(set(workers.values())) == 2, "two separate worker processes did the work"
    scores = [f"split{k}_test_score" for k in range(3)] + ["mean_test_score", "rank_test_score"]
    for key in scores:
        np.testing.assert_array_equal(remote.cv_results_[key], serial.cv_results_[key], err_msg=key)
    assert len(set(serial.cv_results_["mean_test_score"])) > 1, "the candidates really differ"
    assert remote.best_params_ == serial.best_params_
    np.testing.assert_array_equal(remote.predict_proba(x), serial.predict_proba(x))


def test_tinynet_search_on_the_cluster_writes_the_serial_table(cluster: Any, tmp_path: Path) -> None:
    argv = ["search", "-t", "classification", "-d", "penguins", "-l", "8", "-e", "10", "--cv", "3"]
    argv += ["--grid", "lr=0.01,0.1", "--grid", "categorical=embedding,onehot", "-q"]
    tables = []
    for where in ([], ["--dask", cluster.scheduler_address]):
        folder = tmp_path / ("dask" if where else "serial")
        assert main([*argv, *where, "--output_dir", str(folder)], out=io.StringIO()) == 0
        with open(folder / "search.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        tables.append([{k: v for k, v in row.items() if k != "mean_fit_seconds"} for row in rows])
    assert tables[0] == tables[1]
    assert len(tables[0]) == 4 and len({r["mean_accuracy"] for r in tables[0]}) > 1


def test_a_search_on_the_cluster_logs_in_its_workers_and_resumes(cluster: Any, tmp_path: Path) -> None:
    argv = ["search", "-t", "classification", "-d", "iris", "-l", "8", "-e", "8", "--cv", "3"]
    argv += ["--grid", "lr=0.01,0.1", "-q", "--dask", cluster.scheduler_address]
    record = tmp_path / "ck" / "search.jsonl"
    checkpoint = ["--checkpoint_dir", str(tmp_path / "ck"), "--log_dir", str(tmp_path / "logs")]
    assert main([*argv, *checkpoint, "--output_dir", str(tmp_path / "first")], out=io.StringIO()) == 0
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        f"candidate-{c:03d}-fold-{f}" for c in range(2) for f in range(3)
    ], "every fold's log, written by the worker that trained it"
    lines = record.read_text().splitlines()
    record.write_text("\n".join(lines[:3]) + "\n")  # as if killed after two folds
    resumed = [*argv, *checkpoint, "--resume", "--output_dir", str(tmp_path / "resumed")]
    assert main(resumed, out=io.StringIO()) == 0
    with (
        open(tmp_path / "first" / "search.csv", newline="") as a,
        open(tmp_path / "resumed" / "search.csv", newline="") as b,
    ):
        first, again = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["mean_accuracy"] for r in first] == [r["mean_accuracy"] for r in again]
    assert len(record.read_text().splitlines()) == 1 + 6


def test_a_random_search_on_the_cluster_writes_the_serial_and_processes_table(
    cluster: Any, tmp_path: Path
) -> None:
    argv = ["search", "-t", "classification", "-d", "iris", "-e", "10", "--cv", "3", "-q"]
    argv += [
        "--strategy",
        "random",
        "--trials",
        "5",
        "--space",
        "lr=log:1e-3:0.3",
        "--space",
        "layers=8;16 4",
    ]
    tables = []
    for name, where in [
        ("serial", []),
        ("jobs", ["--jobs", "2"]),
        ("dask", ["--dask", cluster.scheduler_address]),
    ]:
        folder = tmp_path / name
        assert main([*argv, *where, "--output_dir", str(folder)], out=io.StringIO()) == 0
        with open(folder / "search.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        tables.append([{k: v for k, v in row.items() if k != "mean_fit_seconds"} for row in rows])
    assert tables[0] == tables[1] == tables[2]
    assert len(tables[0]) == 5 and len({r["learning_rate"] for r in tables[0]}) == 5


def test_an_optuna_search_on_the_cluster_asks_as_workers_free_up_and_records_pruned_trials(
    cluster: Any, tmp_path: Path
) -> None:
    require("optuna")
    argv = ["search", "-t", "classification", "-d", "iris", "-e", "30", "--patience", "0", "--cv", "3"]
    argv += [
        "--strategy",
        "optuna",
        "--trials",
        "14",
        "--space",
        "lr=log:1e-4:0.3",
        "--space",
        "layers=8;16 4",
    ]
    out = io.StringIO()
    code = main([*argv, "--dask", cluster.scheduler_address, "--output_dir", str(tmp_path)], out=out)
    assert code == 0
    assert f"on {cluster.scheduler_address}" in out.getvalue()
    with open(tmp_path / "search.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14 and {r["state"] for r in rows} == {"pruned", "complete"}
    for row in rows:
        full = row["state"] == "complete"
        assert (int(row["epochs_run"]) == 90) == full, row


def test_a_peer_that_accepts_but_never_answers_is_refused_in_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import tinynet.cli.runners as runners

    monkeypatch.setattr(runners, "DASK_ANSWER_SECONDS", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts connections; nothing ever answers
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        argv = ["search", "-t", "classification", "-d", "iris", "-l", "8", "--grid", "lr=0.01"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([*argv, "--dask", address, "--output_dir", str(tmp_path)], out=io.StringIO())
    assert code == 2
    assert err.getvalue() == (
        f"tinynet: error: --dask {address}: no Dask scheduler answered: the peer accepted the connection "
        "but said nothing in 0.5 s\n"
    )
    assert not (tmp_path / "search.csv").exists()
