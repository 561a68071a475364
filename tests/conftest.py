"""Every test runs with NumPy floating-point errors raised (pytest also turns warnings into errors).

Overflow, invalid operations (NaN) and division by zero anywhere in tinynet's computations fail the
test that caused them, unless the code handles them on purpose. Underflow stays ignored here, as in
NumPy's defaults: a product of two values near 1e-200 rounding to 0 is the correct answer, and
property tests feed such values on purpose. The training paths themselves run under the strict
``np.errstate(all="raise")`` in ``test_properties.py::test_training_paths_under_all_raise``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _numpy_errors_raise() -> Iterator[None]:
    with np.errstate(all="raise", under="ignore"):
        yield
