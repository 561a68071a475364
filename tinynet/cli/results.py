"""The results of a search as they come in: fold scores, fit times and epochs per candidate, their
ranks, and the progress line ``tinynet search`` prints."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet.cli.runners import Outcome, Task
from tinynet.core.checks import Array
from tinynet.training.metrics import METRICS


@dataclass
class Results:
    """Fold scores, fit times and epochs per candidate, filled in as tasks finish (in any order).

    A candidate is finished when all its folds are in, or when its first fold was pruned or (in an
    Optuna search, which then trains no more folds) diverged (``stopped``).
    """

    scoring: str
    folds: int
    scores: Array  # (candidates, folds), NaN until known, and for diverged or pruned folds
    seconds: Array
    epochs: Array = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    pruned: Array = field(default_factory=lambda: np.zeros(0, dtype=bool))
    stopped: Array = field(default_factory=lambda: np.zeros(0, dtype=bool))
    recorded: Array = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    repeat_of: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # -1: trained
    done: int = field(default=0, init=False)  # finished candidates

    def __post_init__(self) -> None:
        shape = self.scores.shape
        if self.epochs.shape != shape:
            self.epochs = np.zeros(shape, dtype=np.int64)
        if self.recorded.shape != shape:
            self.recorded = ~np.isnan(self.scores)
        for name in ("pruned", "stopped"):
            if getattr(self, name).shape != shape[:1]:
                setattr(self, name, np.zeros(shape[0], dtype=bool))
        if self.repeat_of.shape != shape[:1]:
            self.repeat_of = np.full(shape[0], -1, dtype=np.int64)
        self.done = int(np.sum(self.finished()))

    @classmethod
    def empty(cls, candidates: int, folds: int, scoring: str) -> Results:
        return cls(scoring, folds, np.full((candidates, folds), np.nan), np.zeros((candidates, folds)))

    def record(self, task: Task, outcome: Outcome) -> None:
        c, f = task.candidate, task.fold
        was = self._finished(c)
        self.scores[c, f], self.seconds[c, f], self.epochs[c, f] = (
            outcome.score,
            outcome.seconds,
            outcome.epochs,
        )
        self.recorded[c, f] = True
        self.pruned[c] |= outcome.pruned
        self.done += not was and self._finished(c)  # counted as they come: no pass over all per fold

    def stop(self, c: int) -> None:
        """Candidate ``c`` trains no more folds (pruned or diverged in an Optuna search, or a repeat)."""
        was = self._finished(c)
        self.stopped[c] = True
        self.done += not was

    def _finished(self, c: int) -> bool:
        return bool(self.recorded[c].all() or self.pruned[c] or self.stopped[c])

    def finished(self) -> Array:
        done: Array = self.recorded.all(axis=1) | self.pruned | self.stopped
        return done

    def take(self, rows: Array) -> Results:
        return Results(
            self.scoring,
            self.folds,
            self.scores[rows],
            self.seconds[rows],
            self.epochs[rows],
            self.pruned[rows],
            self.stopped[rows],
            self.recorded[rows],
            np.array(
                [np.searchsorted(rows, r) if r >= 0 else -1 for r in self.repeat_of[rows]], dtype=np.int64
            ),
        )

    def states(self) -> list[str]:
        """Each candidate's "complete", "pruned", "diverged" or "repeat of N" (candidate N's settings
        asked for again, not trained again)."""
        states = []
        for pruned, mean, repeat in zip(self.pruned, self.means(), self.repeat_of, strict=True):
            if repeat >= 0:
                states.append(f"repeat of {repeat + 1}")
            else:
                states.append("pruned" if pruned else "diverged" if math.isnan(mean) else "complete")
        return states

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.scoring].higher_is_better

    def means(self) -> Array:
        """Mean score per candidate; NaN if a fold diverged or the candidate was pruned."""
        means: Array = self.scores.mean(axis=1)
        return means

    def stds(self) -> Array:
        stds: Array = self.scores.std(axis=1)
        return stds

    def ranks(self) -> Array:
        """1 for the best mean; means equal to 10 decimals share the smaller rank (the same fold
        scores summed in another order differ in the last bit); diverged and pruned come last."""
        means = np.round(self.means(), 10)
        key = means if self.higher_is_better else -means
        key = np.where(np.isnan(key), -np.inf, key)
        return np.array([1 + int(np.sum(key > k)) for k in key], dtype=np.int64)

    def best(self) -> int | None:
        """The best candidate (the first of equals, as scikit-learn), None if none completed."""
        means = self.means()
        if np.all(np.isnan(means)):
            return None
        return int(np.flatnonzero(self.ranks() == 1)[0])


class SearchProgress:
    """Candidates done / total, elapsed time and the best mean score so far, on one line.

    On a terminal the line is redrawn as candidates finish; otherwise it is printed at every tenth
    of the search, so logs stay short.
    """

    def __init__(self, results: Results, stream: Any, enabled: bool, total: int) -> None:
        self.results = results
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and bool(getattr(stream, "isatty", lambda: False)())
        self.total = total
        self.start = time.perf_counter()
        self.step = max(1, total // 10)
        self.shown = 0

    def __call__(self, task: Task, outcome: Outcome) -> None:
        self.results.record(task, outcome)
        self.show()

    def show(self) -> None:
        done = self.results.done
        if not self.enabled or done == self.shown:
            return
        self.shown = done
        if self.live or done % self.step == 0 or done == self.total:
            self.stream.write(
                ("\r" if self.live else "") + self.line(done) + ("\x1b[K" if self.live else "\n")
            )
            self.stream.flush()

    def line(self, done: int) -> str:
        width = 20
        filled = width * done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        means = np.where(self.results.finished(), self.results.means(), np.nan)
        finite = means[~np.isnan(means)]
        if finite.size:
            best = finite.max() if self.results.higher_is_better else finite.min()
            best_text = f"best {self.results.scoring} {best:.4f}"
        else:
            best_text = "no candidate finished training" if done else ""
        elapsed = time.perf_counter() - self.start
        pruned = int(np.sum(self.results.pruned & (self.results.repeat_of < 0)))
        pruned_text = f"  {pruned} pruned" if pruned else ""
        line = f"search [{bar}] {done}/{self.total} candidates  {elapsed:.1f}s{pruned_text}  {best_text}"
        return line.rstrip()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
