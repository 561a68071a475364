"""``tinynet search``: a cross-validated search over ``train`` settings: grid, random or Optuna.

The run splits off the test rows exactly as ``tinynet train`` does (same ``--seed`` and
``--test_size``), scores candidates by K-fold cross-validation on the training rows, retrains the
best on all training rows and reports its test metrics. Candidates come from ``--strategy``:

- ``grid`` (default): every combination of the listed values (``--grid NAME=V1,V2``);
- ``random``: ``--trials`` candidates drawn from ``--space`` (lists and ranges) with ``--seed``;
- ``optuna``: ``--trials`` trials asked of an Optuna study (TPE sampler seeded by ``--seed``); a
  trial's first fold reports its held-out score after every epoch and the median pruner stops
  it at once when it falls behind the finished trials at the same epoch. The study lives in
  this process (ask and tell), or in ``--storage URL`` to share it between runs.

Each fold is one task (``tinynet.cli.runners``) computing the same numbers serially, in ``--jobs``
local processes or on a ``--dask`` cluster, so grid and random searches give the same table
everywhere for a fixed ``--seed``. What is varied: ``tinynet.cli.space``; the results and the
progress line: ``tinynet.cli.results``; the Optuna strategy: ``tinynet.cli.optuna_search``.

Files written (with ``--extension_name`` before the extension): ``search.csv`` (a row per
candidate), ``search.json`` (the same and the run's settings), ``search.png``, the best model and
``best_config.json``, which ``tinynet train --config`` turns back into that very model.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import tinynet as tn
from tinynet.cli.optuna_search import import_optuna, open_study, optuna_search
from tinynet.cli.parser import CLIError, Parser, build_parser
from tinynet.cli.results import Results, SearchProgress
from tinynet.cli.runners import Done, Outcome, Runner, Task, make_runner, one_blas_thread
from tinynet.cli.space import MAX_CANDIDATES, Space, candidate_settings, parse_space
from tinynet.cli.train import (
    RunSettings,
    describe_data,
    flag_error,
    named_outputs,
    prepare_folder,
    run_settings,
    select,
    split_rows,
    test_report,
    write_config,
    write_json,
)
from tinynet.cli.train import (
    train as train_model,
)
from tinynet.core.checks import Array
from tinynet.core.files import atomic_write_bytes
from tinynet.data import fold_indices
from tinynet.io.checkpoint import differences
from tinynet.tabular import TableData, TableEncoder, TabularModel, TabularSettings
from tinynet.tabular.settings import SettingError
from tinynet.training.metrics import METRICS

SHOWN = 10  # rows of the printed table

__all__ = ["MAX_CANDIDATES", "Results", "parse_grid", "run_search"]


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return max(1, len(affinity(0)) if affinity is not None else (os.cpu_count() or 1))


def parse_grid(parser: Parser, items: list[str]) -> Space:
    """``--grid NAME=V1,V2,...`` items as a Space of lists (see ``tinynet.cli.space``)."""
    space = parse_space(parser, [("--grid", item) for item in items], ranges=False)
    if len(space) > MAX_CANDIDATES:
        raise CLIError(f"--grid: {len(space):,} candidates; at most {MAX_CANDIDATES:,}, use fewer values")
    return space


def parse_search(parser: Parser, args: argparse.Namespace) -> Space:
    """The space of ``--grid`` and ``--space`` items, checked against ``--strategy``."""
    grid = args.strategy == "grid"
    for flag, given in [
        ("--trials", args.trials is not None),
        ("--timeout", args.timeout is not None),
    ]:
        if grid and given:
            raise CLIError(f"{flag} needs --strategy random or optuna: a grid search tries every candidate")
    for flag, given in [
        ("--pruner", args.pruner is not None),
        ("--storage", args.storage is not None),
        ("--study", args.study is not None),
    ]:
        if args.strategy != "optuna" and given:
            raise CLIError(f"{flag} needs --strategy optuna")
    items = [("--grid", item) for item in args.grid] + [("--space", item) for item in args.space]
    space = parse_space(parser, items, ranges=not grid)
    if grid and len(space) > MAX_CANDIDATES:
        raise CLIError(f"--grid: {len(space):,} candidates; at most {MAX_CANDIDATES:,}, use fewer values")
    if args.trials is not None and args.trials > MAX_CANDIDATES:
        raise CLIError(f"--trials {args.trials}: at most {MAX_CANDIDATES:,}")
    return space


# -- the record of a grid or random search --------------------------------------------------------
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
                self.finished[key] = Outcome(
                    float(line["score"]), float(line["seconds"]), int(line.get("epochs", 0))
                )
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
            "epochs": outcome.epochs,
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


# -- strategies -------------------------------------------------------------------------------------
def run_tasks(runner: Runner, groups: Iterable[list[Task]], done: Done, deadline: float | None) -> None:
    """A grid or random search: each candidate's folds, a few candidates ahead of the workers;
    after ``deadline`` no new candidate starts (those started finish; the first always starts)."""
    queue, started = deque(groups), 0
    while queue or len(runner):
        while queue and len(runner) < 2 * runner.slots:
            if started and deadline is not None and time.perf_counter() > deadline:
                queue.clear()
                break
            for task in queue.popleft():
                runner.submit(task)
            started += 1
        if len(runner):
            done(*runner.next())


# -- the command ------------------------------------------------------------------------------------
def output_paths(args: argparse.Namespace) -> dict[str, str]:
    names = {
        "table": "search.csv",
        "results": "search.json",
        "plot": "search.png",
        "config": "best_config.json",
    }
    return named_outputs(args.output_dir, args.extension_name, args.save, names, "best_model")


def check_candidates(
    args: argparse.Namespace, candidates: list[TabularSettings], data: TableData, n_train: int, train: Array
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


def describe_search(space: Space, args: argparse.Namespace, where: str) -> str:
    kind = "stratified " if args.task == "classification" else ""
    folds = f"{args.cv}-fold {kind}cross-validation"
    if args.strategy == "grid":
        tasks = len(space) * args.cv
        return f"grid: {space.describe()} = {len(space)} candidates; {folds} = {tasks} trainings, {where}"
    if args.strategy == "random":
        return f"random search: {args.trials} candidates from {space.describe()}; {folds}, {where}"
    pruner = "no pruning" if args.pruner == "none" else "median pruner on each trial's first fold"
    return f"optuna search (TPE, {pruner}): {args.trials} trials over {space.describe()}; {folds}, {where}"


def table_rows(
    names: list[str], labels: list[dict[str, str]], results: Results
) -> tuple[list[str], list[list[str]]]:
    """search.csv: a row per candidate in the order tried; full-precision scores, fit time last."""
    name = results.scoring
    header = ["candidate", "rank", "state", "epochs_run", *names, f"mean_{name}", f"std_{name}"]
    header += [f"fold{f + 1}_{name}" for f in range(results.folds)] + ["mean_fit_seconds"]
    rows = []
    for c, (label, rank, state, mean, std) in enumerate(
        zip(labels, results.ranks(), results.states(), results.means(), results.stds(), strict=True)
    ):
        row = [str(c + 1), str(rank), state, str(int(results.epochs[c].sum())), *label.values()]
        row += [repr(float(mean)), repr(float(std))]
        row += [repr(float(s)) for s in results.scores[c]] + [f"{_fit_seconds(results, c):.4f}"]
        rows.append(row)
    return header, rows


def _fit_seconds(results: Results, c: int) -> float:
    """Mean seconds of the folds trained (a pruned candidate trained one)."""
    trained = results.seconds[c][results.recorded[c]]
    return float(trained.mean()) if trained.size else 0.0


def _shown(value: str) -> str:
    """A value for the printed table: long numbers drawn from ranges to 4 significant digits."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if len(value) <= 8 else f"{number:.4g}"


def print_table(
    names: list[str], labels: list[dict[str, str]], results: Results, say: Callable[..., None]
) -> None:
    ranks, means, stds = results.ranks(), results.means(), results.stds()
    order = [c for c in np.argsort(ranks, kind="stable") if results.repeat_of[c] < 0]  # repeats: in the file
    head = ["rank", results.scoring, *names, "epochs run", "fit time"]
    lines = []
    for c in order[:SHOWN]:
        if not math.isnan(means[c]):
            score = f"{means[c]:.4f} ± {stds[c]:.4f}"
        else:
            score = "pruned" if results.pruned[c] else "diverged"
        epochs = str(int(results.epochs[c].sum()))
        values = [_shown(value) for value in labels[c].values()]
        lines.append([str(ranks[c]), score, *values, epochs, f"{_fit_seconds(results, c):.2f}s"])
    widths = [max(len(r[j]) for r in [head, *lines]) for j in range(len(head))]
    say("\n" + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for line in lines:
        say("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    if len(order) > SHOWN:
        say(f"... {len(order) - SHOWN} more in search.csv")


def describe(settings: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in settings.items()) or "the given settings"


def search_record(args: argparse.Namespace, space: Space, run: RunSettings, rows: int) -> dict[str, Any]:
    """What makes two searches the same search (checked on --resume and on a --storage study)."""
    record: dict[str, Any] = {"strategy": args.strategy}
    if args.strategy == "grid":
        record["grid"] = {d.name: list(d.texts) for d in space.dimensions}
    else:
        record["space"] = {d.name: d.describe() for d in space.dimensions}
    if args.strategy == "random":
        record["trials"] = args.trials
    if args.strategy == "optuna":
        record["pruner"] = args.pruner
    return {**record, "settings": run.to_dict(), "cv": args.cv, "scoring": args.scoring, "rows": rows}


def run_search(args: argparse.Namespace, out: Any) -> int:
    def say(*parts: object) -> None:
        if not args.quiet:
            print(*parts, file=out)

    parser = build_parser().commands["search"]
    space = parse_search(parser, args)
    if args.strategy != "grid":
        args.trials = 20 if args.trials is None else args.trials
        if not space.dimensions:
            raise CLIError(
                f"--strategy {args.strategy} needs --space NAME=VALUES (see 'tinynet search --help')"
            )
    if args.strategy == "optuna":
        args.pruner = args.pruner or "median"
        if args.checkpoint_dir is not None or args.resume:
            raise CLIError(
                "--checkpoint_dir: an Optuna search keeps its trials in --storage, e.g. "
                "--storage sqlite:///search.db; run again with it to add trials to the study"
            )
    args.scoring = args.scoring or ("accuracy" if args.task == "classification" else "r2")
    if args.layers is None and "layers" not in space.names:
        flag = "--grid" if args.strategy == "grid" else "--space"
        raise CLIError(f"search needs --layers/-l or {flag} layers=... (see 'tinynet search --help')")
    paths = output_paths(args)
    base = {name: getattr(args, name) for name in TabularSettings.field_names() if hasattr(args, name)}
    if args.strategy == "grid":
        candidates = space.grid()
    elif args.strategy == "random":
        candidates = space.sample(args.trials, np.random.default_rng([args.seed, 1]))
    else:
        candidates = space.corners()  # checked now; the trials' own come from the study
    settings = [candidate_settings(base, candidate.changes) for candidate in candidates]
    run = run_settings(args, settings[0])
    classification = run.model.classification
    data = select(run)
    train, test = split_rows(data, run.test_size, run.model.seed, classification)
    check_candidates(args, settings, data, len(train), train)
    folds = fold_indices(len(train), args.cv, data.y[train], rng=run.model.seed, stratify=classification)
    record = search_record(args, space, run, len(train))

    journal = None
    if args.checkpoint_dir is not None:
        journal = Journal(args.checkpoint_dir, record, args.resume)
    elif args.resume:
        raise CLIError("--resume needs --checkpoint_dir DIR, the folder of the search's record")
    study: Any = None
    if args.strategy == "optuna":
        direction = "maximize" if METRICS[args.scoring].higher_is_better else "minimize"
        study = open_study(import_optuna(), args, record, direction)

    say(describe_data(run.model, data, len(train), len(test)))
    most = args.trials if args.strategy == "optuna" else len(candidates) * args.cv  # tasks at once
    cores = machine_cores()
    if args.jobs > cores and not args.dask:
        say(f"--jobs {args.jobs}: this machine has {cores} cores; using {cores} processes")
        args.jobs = cores
    runner = make_runner(data, args.scoring, min(args.jobs, most), args.dask)
    try:
        if args.strategy == "random" and len(candidates) < args.trials:
            say(f"the space holds {len(candidates)} combinations only: each is tried once")
        say(describe_search(space, args, runner.where))
        deadline = None if args.timeout is None else time.perf_counter() + args.timeout
        start = time.perf_counter()
        if args.strategy == "optuna":
            results, progress, searcher = optuna_search(args, study, space, base, folds, train, run, out, say)
            searcher.run(runner, args.trials, progress, results, deadline)
            candidates, settings = searcher.candidates, searcher.settings
        else:
            results = Results.empty(len(candidates), args.cv, args.scoring)
            progress = SearchProgress(results, out, not args.quiet, len(candidates))
            groups, done = fold_tasks(args, settings, folds, train, journal, progress, say)
            run_tasks(runner, groups, done, deadline)
    finally:
        runner.close()
    progress.finish()
    seconds = time.perf_counter() - start
    ran = np.flatnonzero(results.finished())
    results = results.take(ran)
    candidates = [candidates[c] for c in ran]
    settings = [settings[c] for c in ran]
    labels = [candidate.labels for candidate in candidates]
    print_table(space.names, labels, results, say)
    epochs = int(results.epochs.sum())
    pruned = int(results.pruned[results.repeat_of < 0].sum())
    repeats = int(np.sum(results.repeat_of >= 0))
    notes = [f"{pruned} pruned"] if args.strategy == "optuna" else []
    notes += [f"{repeats} repeated earlier settings, not trained again"] if repeats else []
    say(
        f"{len(ran)} candidates, {epochs:,} epochs trained"
        + (f" ({'; '.join(notes)})" if notes else "")
        + f" in {seconds:.1f}s"
    )

    best = results.best()
    for path in paths.values():
        prepare_folder(path, "--save" if path == args.save else "--output_dir")
    header, rows = table_rows(space.names, labels, results)
    _write_csv(paths["table"], header, rows)
    summary: dict[str, Any] = {
        "tinynet": tn.__version__,
        "strategy": args.strategy,
        "scoring": args.scoring,
        "higher_is_better": results.higher_is_better,
        "folds": args.cv,
        "seconds": round(seconds, 3),
        "epochs": epochs,
        **{key: record[key] for key in ("grid", "space", "pruner") if key in record},
        **({"trials": args.trials} if args.strategy != "grid" else {}),
        "settings": {name: value for name, value in run.to_dict().items() if name not in space.names},
        "candidates": [dict(zip(header, row, strict=True)) for row in rows],
        "best": None,
    }
    written = [paths["table"], paths["results"]]
    if best is None:
        write_json(paths["results"], summary)
        say("\nwrote " + ", ".join(written))
        raise tn.TrainingDivergedError(
            "every candidate diverged in cross-validation; lower --learning_rate or add --clip 1.0"
        )

    chosen = settings[best]
    label = labels[best]
    say(
        f"\nbest: {describe(label)} ({args.scoring} {results.means()[best]:.4f} ± {results.stds()[best]:.4f})"
    )
    model = TabularModel(chosen)
    try:
        with one_blas_thread():
            train_model(model, data, train)
    except tn.TrainingDivergedError as error:
        write_json(paths["results"], summary)
        raise tn.TrainingDivergedError(
            f"the best candidate ({describe(label)}) diverged when retrained on all training rows: "
            f"{error.what}; wrote {', '.join(written)}",
            epoch=error.epoch,
            step=error.step,
            history=error.history,
            what=error.what,
        ) from None
    assert model.history is not None
    say(
        f"retrained on all {len(train)} training rows in {model.seconds:.2f}s ({model.history.epochs} epochs)"
    )
    evaluation = test_report(model, data, train, test, say)
    model.save(paths["model"])
    write_config(paths["config"], RunSettings(run.dataset, chosen, run.delimiter, run.test_size))
    summary["best"] = {"candidate": best + 1, "settings": label, "test": evaluation.metrics}
    write_json(paths["results"], summary)
    written += [paths["model"], paths["config"]]
    title = f"{data.name}, {args.task}, {args.strategy} search"
    trained = np.flatnonzero(results.repeat_of < 0)  # a repeat would draw its candidate twice
    shown = [describe({name: _shown(value) for name, value in labels[c].items()}) for c in trained]
    written += _plot(shown, results.take(trained), paths["plot"], title, say)
    say("\nwrote " + ", ".join(written))
    return 0


def fold_tasks(
    args: argparse.Namespace,
    settings: list[TabularSettings],
    folds: list[tuple[Array, Array]],
    train: Array,
    journal: Journal | None,
    progress: SearchProgress,
    say: Callable[..., None],
) -> tuple[list[list[Task]], Done]:
    """A grid or random search's tasks, a list of folds per candidate (those a resumed search's
    record holds are recorded at once, not trained), and what records each finished one."""
    groups = [
        [
            Task(c, f, chosen, train[fit_rows], train[held], args.log_dir)
            for f, (fit_rows, held) in enumerate(folds)
        ]
        for c, chosen in enumerate(settings)
    ]
    if journal is None:
        return groups, progress
    done = resumed(journal, groups, progress, say)
    groups = [[t for t in group if (t.candidate, t.fold) not in journal.finished] for group in groups]
    return [group for group in groups if group], done


def resumed(
    journal: Journal, tasks: list[list[Task]], progress: SearchProgress, say: Callable[..., None]
) -> Done:
    """Record the folds the journal already holds; what records each new one in both."""
    count = sum(len(group) for group in tasks)
    if journal.finished:
        say(f"resumed: {len(journal.finished)} of {count} folds were already trained ({journal.path})")
    for task in [t for group in tasks for t in group if (t.candidate, t.fold) in journal.finished]:
        progress(task, journal.finished[(task.candidate, task.fold)])

    def done(task: Task, outcome: Outcome) -> None:
        journal.record(task, outcome)
        progress(task, outcome)

    return done


def _write_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def _plot(labels: list[str], results: Results, path: str, title: str, say: Callable[..., None]) -> list[str]:
    from tinynet.tools import plot

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
