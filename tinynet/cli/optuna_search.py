"""``tinynet search --strategy optuna``: trials asked of an Optuna study as workers free up.

The study lives in the search process (ask and tell) or in ``--storage``; each trial's first fold
prunes itself in the worker against a copy of the finished trials (``tinynet.cli.runners``).
Optuna is an optional extra (``tinynet-nn[optuna]``), imported only here and only when used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet._version import install_hint
from tinynet.cli.parser import CLIError
from tinynet.cli.results import Results, SearchProgress
from tinynet.cli.runners import Done, Outcome, Pruning, Runner, Task
from tinynet.cli.space import Candidate, Space, candidate_settings
from tinynet.cli.train import RunSettings
from tinynet.core.checks import Array
from tinynet.io.checkpoint import differences
from tinynet.tabular import TabularSettings

OPTUNA_HINT = install_hint("optuna")
STUDY_NAME = "tinynet-search"


def import_optuna() -> Any:
    try:
        optuna = importlib.import_module("optuna")
    except ImportError:
        raise CLIError(f"--strategy optuna needs Optuna: {OPTUNA_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class OptunaSearch:
    """Trials asked of an Optuna study as workers free up, told back as their folds finish.

    A trial first trains its first fold, reporting the held-out score after every epoch to the
    pruner; unless pruned (or diverged) its other folds follow, and the study is told their mean.
    A trial asking for settings a finished trial had is not trained again (the same seed and folds
    give the same numbers): it is told that trial's result, at no cost (TPE asks for the same list
    values again and again). Trials finished in earlier runs of a ``--storage`` study come first.
    """

    optuna: Any
    study: Any
    space: Space
    base: dict[str, Any]
    folds: list[tuple[Array, Array]]
    train: Array
    log_dir: str | None
    pruner: Any
    end_step: int  # where a first fold's final score is reported: past any trial's last epoch
    candidates: list[Candidate] = field(default_factory=list)
    settings: list[TabularSettings] = field(default_factory=list)
    trials: dict[int, Any] = field(default_factory=dict)
    reports: dict[int, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    known: dict[tuple[str, ...], tuple[int, Any, float | None]] = field(default_factory=dict)

    def earlier(self, results: Results) -> None:
        """Load the finished trials of earlier runs of this study into ``results``."""
        states = self.optuna.trial.TrialState
        for trial in self.study.get_trials(
            deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.FAIL)
        ):
            attrs = trial.user_attrs
            if "fold_scores" not in attrs:
                continue  # a trial this program did not finish (a killed run's)
            c = len(self.candidates)
            self.candidates.append(self.space.from_stored(trial.params))
            self.settings.append(candidate_settings(self.base, self.candidates[c].changes))
            try:
                folds = list(
                    zip(attrs["fold_scores"], attrs["fold_seconds"], attrs["fold_epochs"], strict=True)
                )
                if len(folds) != len(self.folds):
                    raise ValueError(f"{len(folds)} folds")
                for f, (score, seconds, epochs) in enumerate(folds):
                    if score is not None or trial.state == states.PRUNED or epochs:
                        score = math.nan if score is None else float(score)
                        pruned = trial.state == states.PRUNED and f == 0
                        results.record(self._task(c, f), Outcome(score, float(seconds), int(epochs), pruned))
            except (TypeError, ValueError) as error:
                raise CLIError(
                    f"--storage: trial {trial.number} of the study holds a damaged record ({error})"
                ) from None
            results.stop(c)
            self.reports[c] = tuple(sorted(trial.intermediate_values.items()))
            key = tuple(self.candidates[c].labels.values())
            if key in self.known:
                results.repeat_of[c] = self.known[key][0]
            self.known.setdefault(key, (c, trial.state, trial.value))

    def _task(self, c: int, f: int, pruning: Pruning | None = None) -> Task:
        fit_rows, held = self.folds[f]
        return Task(c, f, self.settings[c], self.train[fit_rows], self.train[held], self.log_dir, pruning)

    def ask(self, results: Results, done: Done) -> Task | None:
        """The next trial's first fold, or None for a repeat (recorded at once)."""
        trial = self.study.ask()
        candidate = self.space.suggest(trial)
        c = len(self.candidates)
        self.candidates.append(candidate)
        self.settings.append(candidate_settings(self.base, candidate.changes))
        self.trials[c] = trial
        earlier = self.known.get(tuple(candidate.labels.values()))
        if earlier is not None:
            self._repeat(c, earlier, results, done)
            return None
        pruning = None
        if self.pruner is not None:
            states = self.optuna.trial.TrialState
            finished = self.study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED))
            direction = self.study.direction.name.lower()
            pruning = Pruning(self.pruner, direction, tuple(finished), self.end_step)
        return self._task(c, 0, pruning)

    def _repeat(self, c: int, earlier: tuple[int, Any, float | None], results: Results, done: Done) -> None:
        first, state, value = earlier
        results.repeat_of[c] = first
        for f in np.flatnonzero(results.recorded[first]):
            pruned = bool(results.pruned[first]) and f == 0
            done(self._task(c, int(f)), Outcome(float(results.scores[first, f]), 0.0, 0, pruned))
        results.stop(c)
        self.reports[c] = self.reports[first]
        for step, reported in self.reports[c]:
            self.trials[c].report(reported, step)
        self._finish(self.trials[c], c, results, state, value)

    def tell(self, task: Task, outcome: Outcome, results: Results, runner: Runner) -> None:
        c = task.candidate
        trial = self.trials[c]
        states = self.optuna.trial.TrialState
        if task.fold == 0:
            self.reports[c] = outcome.reports
            for step, value in outcome.reports:
                trial.report(value, step)
            if outcome.pruned or math.isnan(outcome.score):
                results.stop(c)
                self._finish(trial, c, results, states.PRUNED if outcome.pruned else states.FAIL)
                return
            for f in range(1, len(self.folds)):
                runner.submit(self._task(c, f))
        if results.recorded[c].all():
            mean = float(results.means()[c])
            if math.isnan(mean):
                self._finish(trial, c, results, states.FAIL)
            else:
                self._finish(trial, c, results, states.COMPLETE, mean)

    def _finish(self, trial: Any, c: int, results: Results, state: Any, value: float | None = None) -> None:
        recorded = results.recorded[c]
        scores = [
            float(s) if r and not math.isnan(s) else None
            for s, r in zip(results.scores[c], recorded, strict=True)
        ]
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("fold_seconds", [float(s) for s in results.seconds[c]])
        trial.set_user_attr("fold_epochs", [int(e) for e in results.epochs[c]])
        self.study.tell(trial, value, state=state)
        self.known.setdefault(tuple(self.candidates[c].labels.values()), (c, state, value))

    def run(self, runner: Runner, trials: int, done: Done, results: Results, deadline: float | None) -> None:
        asked = 0
        while True:
            while asked < trials and len(runner) < runner.slots:
                if asked and deadline is not None and time.perf_counter() > deadline:
                    trials = asked
                    break
                task = self.ask(results, done)
                if task is not None:
                    runner.submit(task)
                asked += 1
            if not len(runner):
                return
            task, outcome = runner.next()
            done(task, outcome)
            self.tell(task, outcome, results, runner)


def open_study(optuna: Any, args: argparse.Namespace, search: dict[str, Any], direction: str) -> Any:
    """A new in-memory study, or the one in ``--storage`` (made there if new) for this search."""
    sampler = optuna.samplers.TPESampler(seed=args.seed)
    if args.storage is None:
        return optuna.create_study(direction=direction, sampler=sampler)
    name = args.study or STUDY_NAME
    try:
        study = optuna.create_study(
            storage=args.storage, study_name=name, direction=direction, sampler=sampler, load_if_exists=True
        )
    except (ValueError, ImportError, RuntimeError) as error:
        raise CLIError(f"--storage {args.storage}: {str(error).splitlines()[0]}") from None
    except Exception as error:  # the storage's own errors (SQLAlchemy's) are not Optuna's to name
        raise CLIError(
            f"--storage {args.storage}: cannot open the study ({type(error).__name__}: {error})"
        ) from None
    recorded = study.user_attrs.get("search")
    if recorded is None:
        if study.get_trials(deepcopy=False):
            raise CLIError(f"--storage {args.storage}: study {name!r} was not made by tinynet search")
        study.set_user_attr("search", search)
    else:
        changed = differences(recorded, json.loads(json.dumps(search)))
        if changed:
            raise CLIError(
                f"--storage {args.storage}: study {name!r} holds a search with other settings: "
                f"{'; '.join(changed)}. Give the same settings, or another --study name"
            )
    return study


def most_epochs(space: Space, epochs: int) -> int:
    """The most epochs a trial may train: ``--epochs``, or the top of an ``epochs`` dimension."""
    for d in space.dimensions:
        if d.name == "epochs":
            return int(max(d.values)) if d.is_choice else int(d.high)
    return epochs


def make_pruner(optuna: Any, name: str, epochs: int) -> Any:
    """The median rule: stop a trial whose held-out score at an epoch is worse than the median of
    the finished trials' scores at that epoch, once 5 trials finished and after a warm-up of a
    tenth of the epochs (at least 1), when learning rates have not yet shown their effect."""
    if name == "none":
        return None
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 10))


def optuna_search(
    args: argparse.Namespace,
    study: Any,
    space: Space,
    base: dict[str, Any],
    folds: list[tuple[Array, Array]],
    train: Array,
    run: RunSettings,
    out: Any,
    say: Callable[..., None],
) -> tuple[Results, SearchProgress, OptunaSearch]:
    """The Optuna search, its results so far (an earlier run's trials in ``--storage``) and progress."""
    optuna = import_optuna()
    longest = most_epochs(space, run.model.epochs)
    pruner = make_pruner(optuna, args.pruner, longest)
    searcher = OptunaSearch(optuna, study, space, base, folds, train, args.log_dir, pruner, longest)
    results = Results.empty(len(study.get_trials(deepcopy=False)) + args.trials, args.cv, args.scoring)
    searcher.earlier(results)
    if searcher.candidates:
        say(f"study {study.study_name}: {len(searcher.candidates)} trials from earlier runs")
    progress = SearchProgress(results, out, not args.quiet, len(searcher.candidates) + args.trials)
    progress.show()
    return results, progress, searcher
