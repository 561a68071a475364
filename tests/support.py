"""Helpers shared by the tests: the repository root, the command line in-process, and optional
libraries that skip locally and fail in CI."""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType

import pytest

from tinynet.cli import main

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent  # the repository


def run(argv: str | list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the tinynet command in this process: exit code, standard output, standard error."""
    out = io.StringIO()
    code = main(argv.split() if isinstance(argv, str) else argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def require(name: str) -> ModuleType:
    """Import an optional library: skip the test without it locally, fail it under ``CI=true``."""
    if IN_CI:
        return importlib.import_module(name)
    return pytest.importorskip(name)
