"""Shared test settings.

Every test runs with NumPy floating-point errors raised (pytest also turns warnings into errors).
Overflow, invalid operations (NaN) and division by zero anywhere in tinynet's computations fail the
test that caused them, unless the code handles them on purpose. Underflow stays ignored here, as in
NumPy's defaults: a product of two values near 1e-200 rounding to 0 is the correct answer, and
property tests feed such values on purpose. The training paths themselves run under the strict
``np.errstate(all="raise")`` in ``test_properties.py::test_training_paths_under_all_raise``.

Optional libraries (PyTorch, scikit-learn, matplotlib, onnx, onnxruntime, dask) are asked for with
``support.require(name)``: a developer without one sees the test skipped, but under ``CI=true`` every skip
is a failure, because CI installs every extra and a silently skipped reference test proves nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

# scikit-learn's estimator checks include one that runs with array API dispatch on NumPy inputs; it
# needs this before SciPy is imported, or it is skipped (and CI allows no skip)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from support import IN_CI


@pytest.fixture(autouse=True)
def _numpy_errors_raise() -> Iterator[None]:
    with np.errstate(all="raise", under="ignore"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be skipped: {report.longrepr}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the long example runs now if a collected test needs them: in a full run they train on
    one core in the background while the other tests run on the other."""
    needing = [item for item in session.items if "long_runs" in getattr(item, "fixturenames", ())]
    if needing:
        from test_examples import start_long_runs

        start_long_runs(1 if len(session.items) > 2 * len(needing) + 50 else 2)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "test_examples" in sys.modules:
        sys.modules["test_examples"].stop_long_runs()
