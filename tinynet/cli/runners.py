"""Where ``tinynet search`` trains: one fold is one task, run serially, in processes or on Dask.

Each task trains ``train_rows`` of ``tinynet train`` on a single BLAS thread, so it computes the
same numbers wherever it runs. A runner takes tasks (``submit``) and hands back finished ones
(``next``) in the order they finish; the search decides what to submit next, which lets Optuna
ask for a new trial as soon as a worker is free.

A task may carry a ``Pruning``: the fold then scores its held-out rows after every epoch, reports
the score to a copy of the Optuna study made in the worker (the trials finished when the task was
sent, so a worker needs no connection to the study) and stops at once when the pruner says so.
When the fold ends it reports its final score once more, at ``end_step`` (past every epoch), where
every trial's first fold is compared on equal terms, however early its own early stopping ended it:
a trial behind there too is pruned before its other folds.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import multiprocessing
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import tinynet as tn
from tinynet._version import DISTRIBUTION, install_hint
from tinynet.cli.parser import CLIError
from tinynet.core.checks import Array
from tinynet.tabular import TableData, TabularModel, TabularSettings
from tinynet.training.callbacks import Callback
from tinynet.training.metrics import METRICS

DASK_ANSWER_SECONDS = 10.0  # how long a scheduler may take to say its first word
DASK_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?([\w.-]+|\[[0-9a-fA-F:.]+\]):\d{1,5}")


@dataclass(frozen=True)
class Pruning:
    """What a worker needs to decide alone whether to stop a trial early: the pruner, the study's
    direction, the finished trials (Optuna ``FrozenTrial``) the pruner compares with, and the step
    at which the fold's final score is reported (the most epochs any trial may run)."""

    pruner: Any
    direction: str
    trials: tuple[Any, ...]
    end_step: int


@dataclass(frozen=True)
class Task:
    candidate: int
    fold: int
    settings: TabularSettings
    train: Array  # indices into the problem's rows
    held_out: Array
    log_dir: str | None = None  # per-epoch logs, written by whichever process trains the task
    pruning: Pruning | None = None


@dataclass(frozen=True)
class Outcome:
    score: float  # NaN when training diverged or the trial was pruned
    seconds: float
    epochs: int = 0  # epochs trained
    pruned: bool = False
    reports: tuple[tuple[int, float], ...] = ()  # (step, held-out score) told to the pruner


Done = Callable[[Task, Outcome], None]  # what a search does with each finished fold


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread (threadpoolctl, installed with scikit-learn) so that a task's
    sums run in one order wherever it runs; without threadpoolctl, BLAS keeps its threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1)
    return limits


class _Report(Callback):
    """Scores the held-out rows after each epoch, reports to a local copy of the study and stops
    training when its pruner says so."""

    def __init__(self, model: TabularModel, data: TableData, task: Task, scoring: str) -> None:
        assert task.pruning is not None
        optuna = importlib.import_module("optuna")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction=task.pruning.direction, pruner=task.pruning.pruner)
        study.add_trials(list(task.pruning.trials))
        self.trial = study.ask()
        self.model, self.data, self.task, self.scoring = model, data, task, scoring
        self.reports: list[tuple[int, float]] = []
        self.pruned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        predicted = self.model.predict_indices(self.data, self.task.held_out)
        score = float(METRICS[self.scoring](self.data.y[self.task.held_out], predicted))
        self.pruned = self.report(score, epoch - 1)  # steps from 0, as Optuna's own callbacks count
        return self.pruned

    def report(self, score: float, step: int) -> bool:
        """Tell the pruner; True: prune."""
        self.reports.append((step, score))
        self.trial.report(score, step)
        return bool(self.trial.should_prune())

    def stop_reason(self) -> str:
        return f"pruned after epoch {len(self.reports)}: held-out {self.scoring} {self.reports[-1][1]:.4f}"


def score_fold(data: TableData, task: Task, scoring: str) -> Outcome:
    """Train ``task.settings``'s model on ``task.train`` and score it on ``task.held_out``."""
    start = time.perf_counter()
    model = TabularModel(task.settings)
    callbacks: list[tn.Callback] = []
    if task.log_dir is not None:  # the loggers are made here, in the worker: never pickled across
        folder = os.path.join(task.log_dir, f"candidate-{task.candidate:03d}-fold-{task.fold}")
        os.makedirs(folder, exist_ok=True)
        callbacks.append(tn.CSVLogger(os.path.join(folder, "log.csv")))
        if importlib.util.find_spec("tensorboardX") is not None:
            callbacks.append(tn.TensorBoard(folder))
    report = _Report(model, data, task, scoring) if task.pruning is not None else None
    if report is not None:
        callbacks.append(report)
    with one_blas_thread():
        try:
            model.fit(data, task.train, callbacks=callbacks)
        except tn.TrainingDivergedError as error:
            return Outcome(math.nan, time.perf_counter() - start, error.epoch)
        assert model.history is not None
        epochs = model.history.epochs
        if report is not None and report.pruned:
            return Outcome(math.nan, time.perf_counter() - start, epochs, True, tuple(report.reports))
        predicted = model.predict_indices(data, task.held_out)
    score = float(METRICS[scoring](data.y[task.held_out], predicted))
    if report is None:
        return Outcome(score, time.perf_counter() - start, epochs)
    assert task.pruning is not None
    pruned = report.report(score, task.pruning.end_step)  # the fold's end: all trials alike
    return Outcome(score, time.perf_counter() - start, epochs, pruned, tuple(report.reports))


# -- runners ----------------------------------------------------------------------------------------
class SerialRunner:
    """Tasks one after the other in this process, in the order submitted."""

    slots = 1
    where = "serially"

    def __init__(self, data: TableData, scoring: str) -> None:
        self.data, self.scoring = data, scoring
        self.queue: deque[Task] = deque()

    def __len__(self) -> int:
        return len(self.queue)

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def next(self) -> tuple[Task, Outcome]:
        task = self.queue.popleft()
        return task, score_fold(self.data, task, self.scoring)

    def close(self) -> None:
        self.queue.clear()


_WORKER_DATA: list[TableData] = []  # the problem a --jobs worker process received once, at start


def _start_worker(data: TableData) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER_DATA[:] = [data]


def _worker_task(task: Task, scoring: str) -> Outcome:
    return score_fold(_WORKER_DATA[0], task, scoring)


@contextlib.contextmanager
def _workers_ignore_interrupts() -> Iterator[None]:
    """Ignore SIGINT while processes start: they inherit that across ``exec``, so Python in them
    never turns a Ctrl-C into a KeyboardInterrupt (and a traceback) while they import tinynet.
    A Ctrl-C in these few milliseconds is lost; the parent handles every later one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProcessRunner:
    """``jobs`` fresh (spawned) processes; each receives the table once, then one task at a time."""

    def __init__(self, data: TableData, scoring: str, jobs: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(jobs, context, initializer=_start_worker, initargs=(data,))
        self.scoring, self.slots = scoring, jobs
        self.where = f"in {jobs} processes"
        self.pending: dict[Future[Outcome], Task] = {}

    def __len__(self) -> int:
        return len(self.pending)

    def submit(self, task: Task) -> None:
        with _workers_ignore_interrupts():  # the pool starts its processes while submitting
            self.pending[self.pool.submit(_worker_task, task, self.scoring)] = task

    def next(self) -> tuple[Task, Outcome]:
        finished, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        future = min(finished, key=list(self.pending).index)  # the first submitted of those finished
        return self.pending.pop(future), future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """Tasks on the Dask cluster at ``address``: the table is sent to every worker once."""

    def __init__(self, data: TableData, scoring: str, address: str) -> None:
        try:
            self.distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise CLIError(f"--dask needs Dask: {install_hint('dask')}") from None
        if not DASK_ADDRESS.fullmatch(address):
            raise CLIError(
                f"--dask {address!r}: expected a scheduler address such as tcp://10.0.0.5:8786 or "
                "10.0.0.5:8786"
            )
        _answers(address, DASK_ANSWER_SECONDS)
        try:
            self.client = self.distributed.Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise CLIError(f"--dask {address}: no Dask scheduler answered ({error})") from None
        self.address, self.scoring = address, scoring
        self.where = f"on {address}"
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.shared = self.client.scatter(data, broadcast=True)
        self.pending: dict[Any, Task] = {}
        self.completed = self.distributed.as_completed(loop=self.client.loop)

    def __len__(self) -> int:
        return len(self.pending)

    def submit(self, task: Task) -> None:
        future = self.client.submit(score_fold, self.shared, task, self.scoring, pure=False)
        self.pending[future] = task
        self.completed.add(future)

    def next(self) -> tuple[Task, Outcome]:
        future = next(self.completed)
        task = self.pending.pop(future)
        try:
            outcome: Outcome = future.result()
        except ModuleNotFoundError as error:
            raise CLIError(
                f"--dask {self.address}: a worker cannot import {error.name!r}; "
                f"install {DISTRIBUTION} (the same wheel as here) on every worker"
            ) from None
        return task, outcome

    def close(self) -> None:
        self.client.close()


def _answers(address: str, seconds: float) -> None:
    """Refuse a TCP peer that is not a Dask scheduler before Dask's client waits on it: a scheduler
    speaks first (its handshake) as soon as it accepts; a peer that accepts and stays silent would
    leave the client waiting forever. Other transports (tls, ws, ucx) are left to Dask."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as peer:
            peer.settimeout(seconds)
            if peer.recv(1):
                return
            problem = "closed the connection"
    except TimeoutError:
        problem = f"accepted the connection but said nothing in {seconds:g} s"
    except OSError as error:
        problem = f"cannot be reached ({error.strerror or error})"
    raise CLIError(f"--dask {address}: no Dask scheduler answered: the peer {problem}")


Runner = SerialRunner | ProcessRunner | DaskRunner


def make_runner(data: TableData, scoring: str, jobs: int, dask: str | None) -> Runner:
    if dask:
        return DaskRunner(data, scoring, dask)
    if jobs > 1:
        return ProcessRunner(data, scoring, jobs)
    return SerialRunner(data, scoring)
