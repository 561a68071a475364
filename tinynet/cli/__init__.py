"""The ``tinynet`` command: ``train``, ``search``, ``summary``, ``predict``, ``evaluate``, ``gradcheck``,
``bench`` and ``export``.

tinynet grew from a small NumPy MLP project that trained iris and diabetes from the console;
``tinynet train`` keeps every flag of that project (same long and short spellings, types,
choices and defaults); dash spellings such as ``--learning-rate`` are aliases. Bad input ends with
one line on stderr and exit code 2, a failed training or check with exit code 1, and never a
traceback: an unexpected internal error prints one line (exit code 3) saying that ``--traceback``
shows it. Output to a closed pipe (``tinynet train ... | head -1``) never stops a run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import tinynet as tn
from tinynet._version import BLAS_THREADS_SOURCE
from tinynet.cli.parser import CLIError, Interrupted, build_parser, parse
from tinynet.cli.search import run_search
from tinynet.cli.tools import (
    import_modules,
    run_bench,
    run_evaluate,
    run_export,
    run_gradcheck,
    run_predict,
    run_summary,
)
from tinynet.cli.train import flag_error, run_train
from tinynet.io.model_file import ModelFileError
from tinynet.tabular.settings import SettingError

COMMANDS = {
    "train": run_train,
    "search": run_search,
    "summary": run_summary,
    "predict": run_predict,
    "evaluate": run_evaluate,
    "gradcheck": run_gradcheck,
    "bench": run_bench,
    "export": run_export,
}


class SafeStream:
    """A text stream that survives its reader going away: after a broken pipe, output is dropped."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._silence()

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def _silence(self) -> None:
        self.broken = True
        if self.stream is sys.stdout:  # Python's own flush at exit would fail again: point it at nothing
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass


MAX_MESSAGE = 2000  # characters of an error line: a crafted file cannot print megabytes


def _error(text: str) -> None:
    if len(text) > MAX_MESSAGE:
        text = f"{text[: MAX_MESSAGE - 60]}... ({len(text):,} characters in all)"
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(text, file=sys.stderr)


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """``--threads N`` for this command, also when ``main`` runs inside a Python process whose NumPy
    is loaded already (the ``tinynet`` command sets it before NumPy loads): with threadpoolctl,
    which scikit-learn installs; without it, only the command's own start-up can set it."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    before = os.environ.get(BLAS_THREADS_SOURCE)
    os.environ[BLAS_THREADS_SOURCE] = "set by --threads"  # what tinynet bench reports
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        if before is None:
            os.environ.pop(BLAS_THREADS_SOURCE, None)
        else:
            os.environ[BLAS_THREADS_SOURCE] = before


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed training or check, 2 bad input,
    3 an internal error, 130 interrupted)."""
    words = list(sys.argv[1:] if argv is None else argv)
    stream = SafeStream(out if out is not None else sys.stdout)
    try:
        args = parse(words)
        import_modules(getattr(args, "imports", []))  # custom layers a model file names
        with (
            blas_threads(args.threads),
            warnings.catch_warnings(),
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            # NumPy's warnings about overflow are noise here: divergence is reported as an error
            warnings.simplefilter("ignore", RuntimeWarning)
            return int(COMMANDS[args.command](args, stream))
    except CLIError as error:
        _error(f"tinynet: error: {_one_line(error)}")
        return 2
    except SettingError as error:  # a setting that does not fit the data, worded as its flag
        _error(f"tinynet: error: {flag_error(error)}")
        return 2
    except tn.TrainingDivergedError as error:
        _error(f"tinynet: training failed: {_one_line(error)}")
        return 1
    except Interrupted as interrupted:
        _error(f"tinynet: interrupted {interrupted}")
        return 130
    except KeyboardInterrupt:
        _error("tinynet: interrupted")
        return 130
    except (ModelFileError, ValueError, TypeError, OSError, MemoryError) as error:
        if isinstance(error, MemoryError):
            _error("tinynet: error: not enough memory for this run; try a smaller model or data set")
        else:
            _error(f"tinynet: error: {_one_line(error)}")
        return 2
    except Exception as error:
        if "--traceback" in words:
            raise
        _error(
            f"tinynet: internal error: {type(error).__name__}: {_one_line(error)} "
            "(run again with --traceback to see where; please report it)"
        )
        return 3


__all__ = ["CLIError", "build_parser", "main"]
