"""The case list in tinynet.tools.cases drives the gradient check of every exported Module and Loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinynet as tn
from tinynet.tools.cases import LOSS_CASES, MODULE_CASES, sample

Array = np.ndarray[Any, Any]


def _module_params() -> list[Any]:
    return [
        pytest.param(factory, spec, id=f"{name}-{i}")
        for name, factory, specs in MODULE_CASES
        for i, spec in enumerate(specs)
    ]


@pytest.mark.parametrize(("factory", "spec"), _module_params())
def test_module_gradients(factory: Callable[[], tn.Module], spec: Any) -> None:
    x = sample(spec, np.random.default_rng(0))
    report = tn.gradcheck(factory(), x, rng=1)  # raises GradcheckError on failure
    assert report.max_ratio < 0.05, "a correct gradient sits far inside the tolerance"
    module = factory()
    floats = [a for a in (x if isinstance(x, list) else [x]) if np.asarray(a).dtype.kind == "f"]
    inputs = (
        ["input"]
        if len(floats) == 1 and not isinstance(x, list)
        else [f"input[{i}]" for i, a in enumerate(x) if np.asarray(a).dtype.kind == "f"]
        if isinstance(x, list)
        else []
    )
    assert [c.name for c in report.checks] == [*inputs, *(n for n, _ in module.named_parameters())]


@pytest.mark.parametrize(("factory", "make"), [pytest.param(f, m, id=n) for n, f, m in LOSS_CASES])
def test_loss_gradients(factory: Callable[[], tn.Loss], make: Callable[[np.random.Generator], Any]) -> None:
    pred, target = make(np.random.default_rng(0))
    report = tn.gradcheck_loss(factory(), pred, target)  # raises GradcheckError on failure
    assert report.max_ratio < 0.05


def _exported(base: type) -> set[type]:
    return {
        obj
        for name in tn.__all__
        if isinstance(obj := getattr(tn, name), type)
        and issubclass(obj, base)
        and obj is not base
        and obj.forward is not base.forward  # an abstract base such as Container computes nothing
    }


def test_every_exported_module_has_a_case() -> None:
    covered = {type(factory()) for _, factory, _ in MODULE_CASES}
    missing = {cls.__name__ for cls in _exported(tn.Module) - covered}
    assert not missing, f"exported modules without a gradient-check case: {sorted(missing)}"


def test_every_exported_loss_has_a_case() -> None:
    covered = {type(factory()) for _, factory, _ in LOSS_CASES}
    missing = {cls.__name__ for cls in _exported(tn.Loss) - covered}
    assert not missing, f"exported losses without a gradient-check case: {sorted(missing)}"


class WrongGradient(tn.Module):
    """y = x^2 with a deliberately wrong backward, to prove the checker catches it."""

    def forward(self, x: Array) -> Array:
        self._x = np.asarray(x)
        return self._x**2

    def backward(self, grad_out: Array) -> Array:
        return grad_out * self._x  # the truth is 2 * x


def test_gradcheck_catches_a_wrong_gradient() -> None:
    with pytest.raises(tn.GradcheckError, match=r"input.*index"):
        tn.gradcheck(WrongGradient(), np.ones((2, 3)))


def test_gradcheck_leaves_the_callers_module_untouched() -> None:
    layer = tn.Dense(3, 2, dtype=np.float32, rng=0)
    before = layer.weight.data.copy()
    tn.gradcheck(layer, np.ones((2, 3)), rng=0)
    assert layer.weight.data.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, before)
    assert not layer.weight.grad.any()


def test_gradcheck_catches_a_wrong_parameter_gradient() -> None:
    class BadDense(tn.Dense):
        def backward(self, grad_out: Array) -> Array:
            out = super().backward(grad_out)
            self.weight.grad *= 1.01
            return out

    with pytest.raises(tn.GradcheckError, match="weight"):
        tn.gradcheck(BadDense(3, 2, rng=0), np.ones((2, 3)), rng=0)
