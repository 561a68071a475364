"""``tinynet search``: a cross-validated grid search over ``train`` settings.

The run splits off the test rows exactly as ``tinynet train`` does (same ``--seed`` and
``--test_size``), scores every candidate of the grid by K-fold cross-validation on the training
rows, retrains the best candidate on all training rows and reports its test metrics. Each fold is
one task, ``train_rows`` of ``tinynet train`` on a single BLAS thread, so a task computes the same
numbers wherever it runs: serially, in ``--jobs`` local processes, or on a ``--dask`` cluster.

Files written (with ``--extension_name`` before the extension): ``search.csv`` (a row per
candidate), ``search.json`` (the same and the run's settings), ``search.png``, the best model and
``best_config.json``, which ``tinynet train --config`` turns back into that very model.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import importlib.util
import io
import itertools
import json
import math
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tinynet as tn
from tinynet.cli.parser import CLIError, Parser, build_parser
from tinynet.cli.train import (
    RunSettings,
    describe_data,
    flag_error,
    named_outputs,
    prepare_folder,
    run_settings,
    select,
    test_report,
    write_config,
    write_json,
)
from tinynet.cli.train import (
    train as train_model,
)
from tinynet.core.checks import Array
from tinynet.core.files import atomic_write_bytes
from tinynet.data import fold_indices, split_indices
from tinynet.io.checkpoint import differences
from tinynet.tabular import TableData, TableEncoder, TabularModel, TabularSettings
from tinynet.tabular.settings import SettingError
from tinynet.training.metrics import METRICS

MAX_CANDIDATES = 10_000
# settings a grid may vary: what the network is and how it trains, not which rows it sees
NOT_IN_GRID = {"task", "dataset", "target", "delimiter", "features", "drop", "missing", "test_size", "seed"}
SHOWN = 10  # rows of the printed table
DASK_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?([\w.-]+|\[[0-9a-fA-F:.]+\]):\d{1,5}")


# -- the grid ---------------------------------------------------------------------------------------
@dataclass
class Grid:
    """The settings varied (argparse destinations), each with its values as typed and as parsed."""

    names: list[str] = field(default_factory=list)
    texts: list[list[str]] = field(default_factory=list)
    values: list[list[Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.values)

    def candidates(self) -> list[dict[str, Any]]:
        """Every combination, the last setting varying fastest (as ``itertools.product``)."""
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*self.values)]

    def labels(self) -> list[dict[str, str]]:
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*self.texts)]


def _convert(action: argparse.Action, token: str, item: str) -> Any:
    try:
        value = action.type(token) if callable(action.type) else token
    except argparse.ArgumentTypeError as error:
        raise CLIError(f"--grid {item}: {token!r}: {error}") from None
    if action.choices is not None and value not in action.choices:
        raise CLIError(f"--grid {item}: {token!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def parse_grid(parser: Parser, items: list[str]) -> Grid:
    """``NAME=V1,V2,...`` items as a Grid; each value is checked like the flag it stands for.

    NAME is a flag without its dashes (``learning_rate``, ``learning-rate`` and ``lr`` are one). For a
    flag taking several numbers (``layers``) candidates are separated by ``;`` and numbers by spaces
    (``layers=16 8;32``); without a ``;`` a comma separates candidates (``layers=16,32``).
    """
    spellings = {name.lstrip("-").replace("-", "_"): action for name, action in parser.actions.items()}
    grid = Grid()
    for item in items:
        name, equals, listed = item.partition("=")
        key = name.strip().lstrip("-").replace("-", "_")
        action = spellings.get(key)
        if not equals or not listed.strip():
            raise CLIError(f"--grid {item!r}: expected NAME=V1,V2,... such as learning_rate=0.01,0.1")
        if action is None or not _griddable(action) or action.dest in NOT_IN_GRID:
            allowed = sorted({a.dest for a in spellings.values() if _griddable(a)} - NOT_IN_GRID)
            raise CLIError(
                f"--grid {item}: {name!r} is not a setting a search can vary; choose from {allowed}"
            )
        if action.dest in grid.names:
            raise CLIError(f"--grid {item}: {action.dest} is already in the grid; list all its values once")
        several = action.nargs in ("+", "*")
        texts = [t.strip() for t in listed.split(";" if several and ";" in listed else ",")]
        if any(not t for t in texts):
            raise CLIError(f"--grid {item}: an empty value; separate values with ','")
        values = []
        for text in texts:
            tokens = text.replace(",", " ").split() if several else [text]
            converted = [_convert(action, token, item) for token in tokens]
            values.append(converted if several else converted[0])
        if len(set(map(repr, values))) != len(values):
            raise CLIError(f"--grid {item}: a value is listed twice")
        grid.names.append(action.dest)
        grid.texts.append([" ".join(t.replace(",", " ").split()) for t in texts])
        grid.values.append(values)
    if len(grid) > MAX_CANDIDATES:
        raise CLIError(f"--grid: {len(grid):,} candidates; at most {MAX_CANDIDATES:,}, use fewer values")
    return grid


def _griddable(action: argparse.Action) -> bool:
    """A flag that sets a model setting (``TabularSettings``), not where or how a run writes."""
    return bool(action.option_strings) and action.nargs != 0 and action.dest in TabularSettings.field_names()


# -- one task: train on some folds, score the held-out one -------------------------------------------
@dataclass(frozen=True)
class Task:
    candidate: int
    fold: int
    settings: TabularSettings
    train: Array  # indices into the problem's rows
    held_out: Array
    log_dir: str | None = None  # per-epoch logs, written by whichever process trains the task


@dataclass(frozen=True)
class Outcome:
    score: float  # NaN when training diverged
    seconds: float


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread (threadpoolctl, installed with scikit-learn) so that a task's
    sums run in one order wherever it runs; without threadpoolctl, BLAS keeps its threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1)
    return limits


def score_fold(data: TableData, task: Task, scoring: str) -> Outcome:
    """Train ``task.settings``'s model on ``task.train`` and score it on ``task.held_out``."""
    start = time.perf_counter()
    callbacks: list[tn.Callback] = []
    if task.log_dir is not None:  # the loggers are made here, in the worker: never pickled across
        folder = os.path.join(task.log_dir, f"candidate-{task.candidate:03d}-fold-{task.fold}")
        os.makedirs(folder, exist_ok=True)
        callbacks.append(tn.CSVLogger(os.path.join(folder, "log.csv")))
        if importlib.util.find_spec("tensorboardX") is not None:
            callbacks.append(tn.TensorBoard(folder))
    with one_blas_thread():
        try:
            model = TabularModel(task.settings).fit(data, task.train, callbacks=callbacks)
        except tn.TrainingDivergedError:
            return Outcome(math.nan, time.perf_counter() - start)
        predicted = model.predict_indices(data, task.held_out)
    score = METRICS[scoring](data.y[task.held_out], predicted)
    return Outcome(float(score), time.perf_counter() - start)


_WORKER_DATA: list[TableData] = []  # the problem a --jobs worker process received once, at start


def _start_worker(data: TableData) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER_DATA[:] = [data]


def _worker_task(task: Task, scoring: str) -> Outcome:
    return score_fold(_WORKER_DATA[0], task, scoring)


Done = Callable[[Task, Outcome], None]


def run_serially(data: TableData, tasks: list[Task], scoring: str, done: Done) -> None:
    for task in tasks:
        done(task, score_fold(data, task, scoring))


def run_in_processes(data: TableData, tasks: list[Task], scoring: str, done: Done, jobs: int) -> None:
    """``jobs`` fresh (spawned) processes; each receives the table once, then one task at a time."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(jobs, len(tasks)), context, initializer=_start_worker, initargs=(data,))
    try:
        pending = {pool.submit(_worker_task, task, scoring): task for task in tasks}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done(pending.pop(future), future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_on_dask(data: TableData, tasks: list[Task], scoring: str, done: Done, address: str) -> None:
    """Tasks on the Dask cluster at ``address``: the table is sent to every worker once."""
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise CLIError("--dask needs Dask: pip install 'tinynet[dask]'") from None
    if not DASK_ADDRESS.fullmatch(address):
        raise CLIError(
            f"--dask {address!r}: expected a scheduler address such as tcp://10.0.0.5:8786 or 10.0.0.5:8786"
        )
    try:
        client = distributed.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise CLIError(f"--dask {address}: no Dask scheduler answered ({error})") from None
    try:
        shared = client.scatter(data, broadcast=True)
        futures = {client.submit(score_fold, shared, task, scoring, pure=False): task for task in tasks}
        for future in distributed.as_completed(futures, loop=client.loop):
            try:
                outcome = future.result()
            except ModuleNotFoundError as error:
                raise CLIError(
                    f"--dask {address}: a worker cannot import {error.name!r}; "
                    "install tinynet on every worker"
                ) from None
            done(futures[future], outcome)
    finally:
        client.close()


class Journal:
    """The finished folds of a search, a JSON line each in ``DIR/search.jsonl`` (after a first line
    describing the search), flushed as they arrive, so that ``--resume`` trains only the others.
    A line cut short by a kill is ignored (its fold runs again)."""

    def __init__(self, folder: str, search: dict[str, Any], resume: bool) -> None:
        self.path = os.path.join(folder, "search.jsonl")
        self.search = json.loads(json.dumps(search))
        self.finished: dict[tuple[int, int], Outcome] = {}
        lines = self._read()
        if lines and not resume:
            raise CLIError(
                f"--checkpoint_dir {folder} holds an earlier search ({self.path}): add --resume to continue "
                "it, or give another folder"
            )
        if lines:
            changed = differences(lines[0].get("search"), self.search)
            if changed:
                raise CLIError(
                    f"--resume: {self.path} records a search with other settings: {'; '.join(changed)}. "
                    "Run the same command as before, or give another --checkpoint_dir"
                )
            for line in lines[1:]:
                key = (int(line["candidate"]), int(line["fold"]))
                self.finished[key] = Outcome(float(line["score"]), float(line["seconds"]))
        else:
            os.makedirs(folder, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"search": self.search}) + "\n")

    def _read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return []
        lines = []
        for raw in text.splitlines():
            try:
                line = json.loads(raw, parse_constant=lambda name: math.nan)  # NaN: a diverged fold
            except json.JSONDecodeError:
                break  # the last line, cut short by a kill
            if not isinstance(line, dict):
                break
            lines.append(line)
        return lines

    def record(self, task: Task, outcome: Outcome) -> None:
        entry = {
            "candidate": task.candidate,
            "fold": task.fold,
            "score": outcome.score,
            "seconds": outcome.seconds,
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


# -- results ----------------------------------------------------------------------------------------
@dataclass
class Results:
    """Fold scores and fit times per candidate, filled in as tasks finish (in any order)."""

    scoring: str
    folds: int
    scores: Array  # (candidates, folds)
    seconds: Array

    @classmethod
    def empty(cls, candidates: int, folds: int, scoring: str) -> Results:
        return cls(scoring, folds, np.full((candidates, folds), np.nan), np.zeros((candidates, folds)))

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.scoring].higher_is_better

    def means(self) -> Array:
        """Mean score per candidate; NaN if a fold diverged."""
        means: Array = self.scores.mean(axis=1)
        return means

    def stds(self) -> Array:
        stds: Array = self.scores.std(axis=1)
        return stds

    def ranks(self) -> Array:
        """1 for the best mean; means equal to 10 decimals share the smaller rank (the same fold
        scores summed in another order differ in the last bit); diverged candidates come last."""
        means = np.round(self.means(), 10)
        key = means if self.higher_is_better else -means
        key = np.where(np.isnan(key), -np.inf, key)
        return np.array([1 + int(np.sum(key > k)) for k in key], dtype=np.int64)

    def best(self) -> int | None:
        """The best candidate (the first of equals, as scikit-learn), None if every one diverged."""
        means = self.means()
        if np.all(np.isnan(means)):
            return None
        return int(np.flatnonzero(self.ranks() == 1)[0])


class SearchProgress:
    """Candidates done / total, elapsed time and the best mean score so far, on one line.

    On a terminal the line is redrawn as candidates finish; otherwise it is printed at every tenth
    of the search, so logs stay short.
    """

    def __init__(self, results: Results, stream: Any, enabled: bool) -> None:
        self.results = results
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and bool(getattr(stream, "isatty", lambda: False)())
        self.total = len(results.scores)
        self.folds_done = np.zeros(self.total, dtype=np.int64)
        self.start = time.perf_counter()
        self.step = max(1, self.total // 10)

    def __call__(self, task: Task, outcome: Outcome) -> None:
        self.results.scores[task.candidate, task.fold] = outcome.score
        self.results.seconds[task.candidate, task.fold] = outcome.seconds
        self.folds_done[task.candidate] += 1
        if not self.enabled or self.folds_done[task.candidate] < self.results.folds:
            return
        done = int(np.sum(self.folds_done == self.results.folds))
        if self.live or done % self.step == 0 or done == self.total:
            self.stream.write(
                ("\r" if self.live else "") + self.line(done) + ("\x1b[K" if self.live else "\n")
            )
            self.stream.flush()

    def line(self, done: int) -> str:
        width = 20
        filled = width * done // self.total
        bar = "#" * filled + "." * (width - filled)
        complete = self.folds_done == self.results.folds
        means = np.where(complete, self.results.means(), np.nan)
        finite = means[~np.isnan(means)]
        if finite.size:
            best = finite.max() if self.results.higher_is_better else finite.min()
            best_text = f"best {self.results.scoring} {best:.4f}"
        else:
            best_text = "no candidate finished training" if done else ""
        elapsed = time.perf_counter() - self.start
        return f"search [{bar}] {done}/{self.total} candidates  {elapsed:.1f}s  {best_text}".rstrip()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")


# -- the command ------------------------------------------------------------------------------------
def output_paths(args: argparse.Namespace) -> dict[str, str]:
    names = {
        "table": "search.csv",
        "results": "search.json",
        "plot": "search.png",
        "config": "best_config.json",
    }
    return named_outputs(args.output_dir, args.extension_name, args.save, names, "best_model")


def candidate_settings(base: dict[str, Any], changes: dict[str, Any]) -> TabularSettings:
    try:
        return TabularSettings(**{**base, **changes})
    except SettingError as error:
        raise flag_error(error) from None


def check_candidates(
    args: argparse.Namespace,
    grid: Grid,
    candidates: list[TabularSettings],
    data: TableData,
    n_train: int,
    train: Array,
) -> None:
    """Refuse the whole search before any training if one candidate cannot be built."""
    if args.jobs > 1 and args.dask:
        raise CLIError("--jobs and --dask exclude each other: --dask runs on the cluster's workers")
    scored = METRICS[args.scoring].task
    if scored != args.task:
        fitting = ", ".join(name for name in METRICS.names if METRICS[name].task == args.task)
        kind = "classifiers" if scored == "classification" else "regressors"
        raise CLIError(f"--scoring {args.scoring} scores {kind}; for --task {args.task} use {fitting}")
    if args.cv > n_train:
        raise CLIError(f"--cv {args.cv}: more folds than the {n_train} training rows")
    n_out = len(data.class_names or ()) if args.task == "classification" else 1
    encoders: dict[str, TableEncoder] = {}  # the columns' widths, by how text columns enter
    for chosen in candidates:
        if chosen.categorical not in encoders:
            encoder = TableEncoder(data.numeric, data.text, chosen.categorical)
            encoders[chosen.categorical] = encoder.fit(data.table, data.rows[train])
        try:
            chosen.check_size(encoders[chosen.categorical], n_out)
        except SettingError as error:
            raise flag_error(error) from None


def describe_grid(grid: Grid, args: argparse.Namespace, tasks: int) -> str:
    if grid.names:
        varied = " x ".join(
            f"{name} {', '.join(texts)}" for name, texts in zip(grid.names, grid.texts, strict=True)
        )
    else:
        varied = "the given settings only"
    kind = "stratified " if args.task == "classification" else ""
    where = f"on {args.dask}" if args.dask else (f"in {args.jobs} processes" if args.jobs > 1 else "serially")
    folds = f"{args.cv}-fold {kind}cross-validation"
    return f"grid: {varied} = {len(grid)} candidates; {folds} = {tasks} trainings, {where}"


def table_rows(grid: Grid, results: Results) -> tuple[list[str], list[list[str]]]:
    """search.csv: a row per candidate in grid order; full-precision scores, fit time last."""
    name = results.scoring
    header = ["candidate", "rank", *grid.names, f"mean_{name}", f"std_{name}"]
    header += [f"fold{f + 1}_{name}" for f in range(results.folds)] + ["mean_fit_seconds"]
    rows = []
    for c, (labels, rank, mean, std) in enumerate(
        zip(grid.labels(), results.ranks(), results.means(), results.stds(), strict=True)
    ):
        row = [str(c + 1), str(rank), *labels.values(), repr(float(mean)), repr(float(std))]
        row += [repr(float(s)) for s in results.scores[c]] + [f"{results.seconds[c].mean():.4f}"]
        rows.append(row)
    return header, rows


def print_table(grid: Grid, results: Results, say: Callable[..., None]) -> None:
    ranks, means, stds, labels = results.ranks(), results.means(), results.stds(), grid.labels()
    order = np.argsort(ranks, kind="stable")
    head = ["rank", results.scoring, *grid.names, "fit time"]
    lines = []
    for c in order[:SHOWN]:
        score = "diverged" if math.isnan(means[c]) else f"{means[c]:.4f} ± {stds[c]:.4f}"
        lines.append([str(ranks[c]), score, *labels[c].values(), f"{results.seconds[c].mean():.2f}s"])
    widths = [max(len(r[j]) for r in [head, *lines]) for j in range(len(head))]
    say("\n" + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for line in lines:
        say("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    if len(order) > SHOWN:
        say(f"... {len(order) - SHOWN} more in search.csv")


def describe(settings: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in settings.items()) or "the given settings"


def run_search(args: argparse.Namespace, out: Any) -> int:
    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=out)

    parser = build_parser().commands["search"]
    grid = parse_grid(parser, args.grid)
    args.scoring = args.scoring or ("accuracy" if args.task == "classification" else "r2")
    if args.layers is None and "layers" not in grid.names:
        raise CLIError("search needs --layers/-l or --grid layers=... (see 'tinynet search --help')")
    paths = output_paths(args)
    base = {name: getattr(args, name) for name in TabularSettings.field_names() if hasattr(args, name)}
    candidates = [candidate_settings(base, changes) for changes in grid.candidates()]
    run = run_settings(args, candidates[0])
    classification = run.model.classification
    data = select(run)
    train, test = split_indices(len(data), data.y, run.test_size, rng=run.model.seed, stratify=classification)
    check_candidates(args, grid, candidates, data, len(train), train)
    folds = fold_indices(len(train), args.cv, data.y[train], rng=run.model.seed, stratify=classification)
    tasks = [
        Task(c, f, chosen, train[fit_rows], train[held], args.log_dir)
        for c, chosen in enumerate(candidates)
        for f, (fit_rows, held) in enumerate(folds)
    ]
    journal = None
    if args.checkpoint_dir is not None:
        search = {
            "grid": dict(zip(grid.names, grid.texts, strict=True)),
            "settings": run.to_dict(),
            "cv": args.cv,
        }
        journal = Journal(
            args.checkpoint_dir, {**search, "scoring": args.scoring, "rows": len(train)}, args.resume
        )
    elif args.resume:
        raise CLIError("--resume needs --checkpoint_dir DIR, the folder of the search's record")
    say(describe_data(run.model, data, len(train), len(test)))
    say(describe_grid(grid, args, len(tasks)))

    results = Results.empty(len(candidates), args.cv, args.scoring)
    progress = SearchProgress(results, out, enabled=not args.quiet)
    done: Done = progress
    if journal is not None:
        if journal.finished:
            count = len(journal.finished)
            say(f"resumed: {count} of {len(tasks)} folds were already trained ({journal.path})")
        for task in [t for t in tasks if (t.candidate, t.fold) in journal.finished]:
            progress(task, journal.finished[(task.candidate, task.fold)])
        tasks = [t for t in tasks if (t.candidate, t.fold) not in journal.finished]
        recorder = journal

        def done(task: Task, outcome: Outcome) -> None:
            recorder.record(task, outcome)
            progress(task, outcome)

    start = time.perf_counter()
    if not tasks:
        pass  # every fold was recorded: only the table and the retraining are left
    elif args.dask:
        run_on_dask(data, tasks, args.scoring, done, args.dask)
    elif args.jobs > 1:
        run_in_processes(data, tasks, args.scoring, done, args.jobs)
    else:
        run_serially(data, tasks, args.scoring, done)
    progress.finish()
    seconds = time.perf_counter() - start
    print_table(grid, results, say)

    best = results.best()
    for path in paths.values():
        prepare_folder(path, "--save" if path == args.save else "--output_dir")
    header, rows = table_rows(grid, results)
    _write_csv(paths["table"], header, rows)
    record = {
        "tinynet": tn.__version__,
        "scoring": args.scoring,
        "higher_is_better": results.higher_is_better,
        "folds": args.cv,
        "seconds": round(seconds, 3),
        "grid": dict(zip(grid.names, grid.texts, strict=True)),
        "settings": {name: value for name, value in run.to_dict().items() if name not in grid.names},
        "candidates": [dict(zip(header, row, strict=True)) for row in rows],
        "best": None,
    }
    written = [paths["table"], paths["results"]]
    if best is None:
        write_json(paths["results"], record)
        say("\nwrote " + ", ".join(written))
        raise tn.TrainingDivergedError(
            "every candidate diverged in cross-validation; lower --learning_rate or add --clip 1.0"
        )

    chosen = candidates[best]
    label = grid.labels()[best]
    say(
        f"\nbest: {describe(label)} ({args.scoring} {results.means()[best]:.4f} ± {results.stds()[best]:.4f})"
    )
    model = TabularModel(chosen)
    try:
        with one_blas_thread():
            train_model(model, data, train)
    except tn.TrainingDivergedError as error:
        write_json(paths["results"], record)
        raise tn.TrainingDivergedError(
            f"the best candidate ({describe(label)}) diverged when retrained on all training rows: "
            f"{error.what}; wrote {', '.join(written)}",
            epoch=error.epoch,
            step=error.step,
            history=error.history,
            what=error.what,
        ) from None
    assert model.history is not None
    epochs = model.history.epochs
    say(f"retrained on all {len(train)} training rows in {model.seconds:.2f}s ({epochs} epochs)")
    evaluation = test_report(model, data, train, test, say)
    model.save(paths["model"])
    write_config(paths["config"], RunSettings(run.dataset, chosen, run.delimiter, run.test_size))
    record["best"] = {"candidate": best + 1, "settings": label, "test": evaluation.metrics}
    write_json(paths["results"], record)
    written += [paths["model"], paths["config"]]
    written += _plot(grid, results, paths["plot"], f"{data.name}, {args.task}", say)
    say("\nwrote " + ", ".join(written))
    return 0


def _write_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def _plot(grid: Grid, results: Results, path: str, title: str, say: Callable[..., None]) -> list[str]:
    from tinynet.tools import plot

    labels = [describe(label) for label in grid.labels()]
    try:
        return [
            plot.plot_search(
                labels,
                results.scores,
                path,
                metric=results.scoring,
                higher_is_better=results.higher_is_better,
                title=f"{title}: {results.folds}-fold cross-validation",
            )
        ]
    except plot.PlotUnavailableError:
        say(f"plot skipped: matplotlib is not installed ({plot.INSTALL_HINT} to enable it)")
        return []
