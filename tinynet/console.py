"""The ``tinynet`` command's entry point.

It imports nothing but the standard library's ``os`` and ``sys`` and the package root (which
loads nothing until used), so that Ctrl-C while NumPy and the command line load ends in the same
one-line message as Ctrl-C later, not in a traceback, and so that the BLAS thread count can be
chosen before NumPy starts its BLAS (which reads it once, at load).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from tinynet._version import BLAS_THREADS_SOURCE, BLAS_VARIABLES

# table networks are small: a second BLAS thread measured no faster for them on an idle 2-core
# machine and 4 times slower on a busy one (digits, 128-64 layers: 0.36 s vs 1.37 s)
ONE_THREAD_COMMANDS = frozenset({"train", "search", "predict", "evaluate"})


def choose_blas_threads(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """The BLAS thread count to set before NumPy loads, or None to leave the library's choice.

    ``--threads N`` wins; otherwise a BLAS variable the user set is respected; otherwise the
    commands that train or run table networks (``ONE_THREAD_COMMANDS``) use one thread.
    """
    variables = os.environ if environ is None else environ
    value = _threads_flag(argv)
    if value is not None:
        return value if value.isdigit() and int(value) > 0 else None  # the parser says what is wrong
    if any(name in variables for name in BLAS_VARIABLES):
        return None
    command = next((w for w in argv if not w.startswith("-")), None)
    return "1" if command in ONE_THREAD_COMMANDS else None


def _threads_flag(argv: Sequence[str]) -> str | None:
    """The text given to ``--threads`` (``--threads N`` or ``--threads=N``), or None."""
    for i, word in enumerate(argv):
        if word.startswith("--threads="):
            return word.split("=", 1)[1]
        if word == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def set_blas_threads(argv: Sequence[str]) -> None:
    """Set the BLAS thread variables as ``choose_blas_threads`` says (before NumPy is imported)."""
    threads = choose_blas_threads(argv)
    if threads is None:
        return
    for name in BLAS_VARIABLES:
        os.environ[name] = threads
    explicit = _threads_flag(argv) is not None
    os.environ[BLAS_THREADS_SOURCE] = (
        "set by --threads" if explicit else "tinynet's choice for table networks"
    )


def run() -> int:
    """Load the command line and run it on ``sys.argv``; returns the exit code (130: interrupted)."""
    try:
        set_blas_threads(sys.argv[1:])
        from tinynet.cli import main
    except KeyboardInterrupt:
        print("tinynet: interrupted while starting; nothing was written", file=sys.stderr)
        return 130
    return main()
