"""Finite-difference gradient checks for modules and losses (central differences, float64).

For a module f and a random projection g, the scalar s(x, theta) = sum(f(x) * g) has
ds/dx = backward(g) and ds/dtheta = the accumulated ``.grad``; each is compared element by element
with (s(v + eps) - s(v - eps)) / (2 eps). An element passes when
abs(analytic - numeric) <= atol + rtol * abs(numeric), as ``numpy.allclose``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet._checks import Array, RngLike, as_array, as_generator, check_float, one_line
from tinynet.losses import Loss
from tinynet.module import Module


class GradcheckError(AssertionError):
    """A gradient disagrees with its finite-difference estimate (an AssertionError, so it fails tests)."""


@dataclass
class TensorCheck:
    """The worst disagreement found in one tensor."""

    name: str
    max_rel_error: float
    max_abs_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    passed: bool


@dataclass
class GradcheckReport:
    """Per-tensor results of a gradient check; ``passed`` is True when every tensor passed."""

    subject: str
    checks: list[TensorCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def max_rel_error(self) -> float:
        return max((check.max_rel_error for check in self.checks), default=0.0)

    def __str__(self) -> str:
        lines = [f"gradcheck {self.subject}: {'passed' if self.passed else 'FAILED'}"]
        for c in self.checks:
            status = "ok" if c.passed else "FAIL"
            lines.append(f"  {c.name:<16} max rel error {c.max_rel_error:.2e}  {status}")
        return "\n".join(lines)


def _compare(name: str, analytic: Array, numeric: Array, rtol: float, atol: float) -> TensorCheck:
    diff = np.abs(analytic - numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), atol)
    rel = diff / scale
    worst = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.size else ()
    index = tuple(int(i) for i in worst)
    return TensorCheck(
        name=name,
        max_rel_error=float(rel.max()) if rel.size else 0.0,
        max_abs_error=float(diff.max()) if diff.size else 0.0,
        worst_index=index,
        analytic=float(analytic[index]) if rel.size else 0.0,
        numeric=float(numeric[index]) if rel.size else 0.0,
        passed=bool(np.all(diff <= atol + rtol * np.abs(numeric))),
    )


def _numeric_gradient(objective: Callable[[], float], tensor: Array, eps: float) -> Array:
    """Central differences of ``objective`` with respect to every element of ``tensor`` (in place)."""
    grad = np.zeros_like(tensor)
    for index in np.ndindex(tensor.shape):
        saved = tensor[index]
        tensor[index] = saved + eps
        plus = objective()
        tensor[index] = saved - eps
        minus = objective()
        tensor[index] = saved
        grad[index] = (plus - minus) / (2.0 * eps)
    return grad


def _raise_if_failed(report: GradcheckReport) -> GradcheckReport:
    for c in report.checks:
        if not c.passed:
            raise GradcheckError(
                f"gradcheck {report.subject}: gradient of {c.name} is wrong at index {c.worst_index}: "
                f"backward gives {c.analytic:.10g}, finite differences give {c.numeric:.10g} "
                f"(relative error {c.max_rel_error:.2e})\n{report}"
            )
    return report


def gradcheck(
    module: Module,
    x: Any,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    rng: RngLike = None,
) -> GradcheckReport:
    """Check ``module.backward`` against central differences, in float64 on a copy of ``module``.

    Checks the input gradient and every parameter gradient; returns a ``GradcheckReport`` with the
    worst relative error per tensor, or raises ``GradcheckError`` naming the tensor and element.
    The module must be deterministic (fix any random state, e.g. a Dropout mask).
    """
    if not isinstance(module, Module):
        raise TypeError(f"module must be a tinynet Module, got {type(module).__name__}")
    eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
    rtol = check_float(rtol, "rtol", low=0.0)
    atol = check_float(atol, "atol", low=0.0)
    generator = as_generator(rng)
    model = copy.deepcopy(module).to(np.float64)
    inputs = as_array(x, "x").astype(np.float64, copy=True)

    out = model.forward(inputs)
    projection = generator.standard_normal(out.shape)
    model.zero_grad()
    grad_x = model.backward(projection.copy())

    def objective() -> float:
        return float(np.sum(model.forward(inputs) * projection))

    report = GradcheckReport(subject=one_line(module))
    report.checks.append(_compare("input", grad_x, _numeric_gradient(objective, inputs, eps), rtol, atol))
    for name, param in model.named_parameters():
        analytic = param.grad.copy()
        report.checks.append(
            _compare(name, analytic, _numeric_gradient(objective, param.data, eps), rtol, atol)
        )
    return _raise_if_failed(report)


def gradcheck_loss(
    loss: Loss,
    pred: Any,
    target: Any,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> GradcheckReport:
    """Check ``loss.backward()`` (dL/dpred) against central differences in float64 on a copy."""
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a tinynet Loss, got {type(loss).__name__}")
    eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
    rtol = check_float(rtol, "rtol", low=0.0)
    atol = check_float(atol, "atol", low=0.0)
    subject = copy.deepcopy(loss)
    p = as_array(pred, "pred").astype(np.float64, copy=True)
    t = np.asarray(target)
    if t.dtype.kind == "f":
        t = t.astype(np.float64)
    subject(p, t)
    analytic = subject.backward().copy()
    numeric = _numeric_gradient(lambda: subject(p, t), p, eps)
    report = GradcheckReport(subject=repr(loss), checks=[_compare("pred", analytic, numeric, rtol, atol)])
    return _raise_if_failed(report)
