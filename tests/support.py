"""Helpers shared by the tests: optional libraries that skip locally and fail in CI."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(name: str) -> ModuleType:
    """Import an optional library: skip the test without it locally, fail it under ``CI=true``."""
    if IN_CI:
        return importlib.import_module(name)
    return pytest.importorskip(name)
