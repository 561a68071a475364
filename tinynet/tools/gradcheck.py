"""Finite-difference gradient checks of modules, of a model with its loss, and of losses.

The check works on a float64 copy of the model. Its scalar objective is s = sum_k sum(y_k * g_k)
for fixed random projections g_k of the outputs (or, with ``loss=``, the loss of the outputs
against ``target``), so ds/dx is what ``backward`` returns and ds/dtheta what it adds into each
``.grad``. Each checked element is compared with the central difference
n = (s(v + eps) - s(v - eps)) / (2 eps) by one criterion, which decides pass or fail *and* picks
the element reported (the worst violation, the largest ratio):

    |analytic - numeric| <= atol + rtol * |numeric|        (defaults eps 1e-6, atol 1e-5, rtol 1e-3,
                                                           as torch.autograd.gradcheck)

Kinks: the one-sided differences (s(v + eps) - s(v)) / eps and (s(v) - s(v - eps)) / eps disagree
where the function is not differentiable (ReLU or LeakyReLU at 0, |x| at 0). An element that fails
where they disagree by more than the failure itself is reported as a non-differentiable point,
not as a wrong gradient, and does not fail the check.

Before any difference is taken, the contract is checked, each with its own message: the forward
pass is deterministic (built-in Dropout layers in training mode are frozen to their first mask);
dL/dx has the input's shape and dtype; a second backward doubles every parameter gradient (``+=``,
not ``=``); and, with ``float32=True`` (the default), a float32 copy keeps every output and every
gradient in float32 (a float64 constant that silently promotes is named with its layer).
``samples=N`` checks N seeded random elements of each tensor instead of all of them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet.core.checks import (
    Array,
    RngLike,
    as_array,
    as_generator,
    check_float,
    check_int,
    fmt_shape,
    one_line,
)
from tinynet.core.inspect import instrument
from tinynet.core.module import Module
from tinynet.layers.core import Dropout
from tinynet.training.losses import Loss


class GradcheckError(AssertionError):
    """A gradient disagrees with finite differences, or the module breaks the contract the check needs.

    An ``AssertionError``, so it fails a test.
    """


@dataclass
class TensorCheck:
    """One tensor's result: how many elements were checked and the worst by the criterion."""

    name: str
    checked: int
    total: int
    worst_ratio: float  # |a - n| / (atol + rtol |n|) of the worst element: <= 1 passes
    max_abs_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    kinks: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every checked element is within ``atol + rtol * |numeric|``."""
        return self.worst_ratio <= 1.0


@dataclass
class GradcheckReport:
    """Per-tensor results of a gradient check; ``passed`` is True when every tensor passed."""

    subject: str
    checks: list[TensorCheck] = field(default_factory=list)
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def passed(self) -> bool:
        """Whether every tensor's check passed."""
        return all(check.passed for check in self.checks)

    @property
    def max_ratio(self) -> float:
        """The largest |a - n| / (atol + rtol |n|) over every tensor (<= 1: every element passed)."""
        return max((c.worst_ratio for c in self.checks), default=0.0)

    @property
    def max_rel_error(self) -> float:
        """The largest |a - n| / max(|n|, atol) over the reported elements (for tables and logs)."""
        return max(
            (abs(c.analytic - c.numeric) / max(abs(c.numeric), self.atol) for c in self.checks), default=0.0
        )

    @property
    def checked(self) -> int:
        """How many elements were compared, over every tensor."""
        return sum(c.checked for c in self.checks)

    def __str__(self) -> str:
        lines = [
            f"gradcheck {self.subject}: {'passed' if self.passed else 'FAILED'} "
            f"({self.checked} elements checked; |a - n| <= {self.atol:g} + {self.rtol:g} |n|)"
        ]
        for c in self.checks:
            status = "ok" if c.passed else "FAIL"
            kinks = f", {len(c.kinks)} at kinks" if c.kinks else ""
            counts = f"{c.checked:>6}/{c.total:<6}"
            lines.append(
                f"  {c.name:<20} {counts} worst {c.worst_ratio:8.2e} of the tolerance{kinks}  {status}"
            )
        return "\n".join(lines)


# -- the objective --------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _structure(x: Any) -> tuple[list[Array], Callable[[list[Array]], Any]]:
    """The inputs as a list of float64 copies (integers kept), and how to rebuild the model's input."""
    if isinstance(x, dict):
        keys = list(x)
        parts = [x[k] for k in keys]
        rebuild: Callable[[list[Array]], Any] = lambda arrays: dict(zip(keys, arrays, strict=True))  # noqa: E731
    elif isinstance(x, (list, tuple)) and x and all(hasattr(p, "shape") for p in x):
        parts = list(x)
        rebuild = list
    else:
        parts = [x]
        rebuild = lambda arrays: arrays[0]  # noqa: E731
    arrays = []
    for i, part in enumerate(parts):
        array = as_array(part, "x" if len(parts) == 1 else f"x[{i}]")
        arrays.append(array.astype(np.float64, copy=True) if array.dtype.kind in "fb" else array.copy())
    return arrays, rebuild


class _Objective:
    """s(model, inputs): the projected outputs, or the loss against a target."""

    def __init__(
        self,
        model: Module,
        inputs: list[Array],
        rebuild: Callable[[list[Array]], Any],
        loss: Loss | None,
        target: Any,
        generator: np.random.Generator,
    ) -> None:
        self.model, self.inputs, self.rebuild, self.loss, self.target = model, inputs, rebuild, loss, target
        outputs = _as_list(model.forward(rebuild(inputs)))
        self.projections = [generator.standard_normal(np.shape(y)) for y in outputs]

    def value(self) -> float:
        outputs = self.model.forward(self.rebuild(self.inputs))
        if self.loss is not None:
            return float(self.loss(outputs, self.target))
        return float(sum(np.sum(y * g) for y, g in zip(_as_list(outputs), self.projections, strict=True)))

    def output_gradient(self) -> Any:
        """ds/dy for the last forward."""
        if self.loss is not None:
            return self.loss.backward()
        grads = [g.copy() for g in self.projections]
        return grads if len(grads) > 1 else grads[0]


# -- the contract checks ----------------------------------------------------------------------------
def _freeze_dropout(model: Module) -> None:
    """Fix each training-mode Dropout's mask to the one it just drew, so repeated forwards agree."""
    for module in model.modules():
        if isinstance(module, Dropout) and module.training and module.fixed_mask is None:
            module.freeze()


def _check_deterministic(objective: _Objective, subject: str) -> float:
    first, second = objective.value(), objective.value()
    if first != second:
        raise GradcheckError(
            f"gradcheck {subject}: the model is not deterministic: two forward passes on the same input "
            f"gave {first!r} and {second!r}. Call model.eval() for layers that are random in training, "
            "or fix their randomness (built-in Dropout layers are frozen automatically; give a custom one "
            "a fixed mask)"
        )
    return first


def _check_backward(model: Module, objective: _Objective, inputs: list[Array], subject: str) -> list[Any]:
    """Run backward twice; check dL/dx's shape and dtype, and that parameter gradients accumulate.

    Of several inputs, one may get None ("no gradient flows here", as ``Select`` gives the outputs
    it does not pick): it is checked against the finite differences as zeros."""
    objective.value()
    model.zero_grad()
    grads_in = _as_list(model.backward(objective.output_gradient()))
    if len(grads_in) != len(inputs):
        raise GradcheckError(
            f"gradcheck {subject}: backward returned {len(grads_in)} input gradients for {len(inputs)} inputs"
        )
    for i, (grad, x) in enumerate(zip(grads_in, inputs, strict=True)):
        if x.dtype.kind in "iu":
            continue  # indices: no gradient to check
        label = "dL/dx" if len(inputs) == 1 else f"dL/dx[{i}]"
        if grad is None and len(inputs) > 1:  # "no gradient flows here": checked as zeros below
            grads_in[i] = np.zeros_like(x)
            continue
        if grad is None or np.shape(grad) != x.shape:
            got = fmt_shape(np.shape(grad)) if grad is not None else None
            raise GradcheckError(
                f"gradcheck {subject}: backward returned {label} of shape {got}, "
                f"but the input has shape {fmt_shape(x.shape)}"
            )
        if np.asarray(grad).dtype != x.dtype:
            dtype = np.asarray(grad).dtype
            raise GradcheckError(
                f"gradcheck {subject}: backward returned {label} of dtype {dtype} for a {x.dtype} input"
            )
    once = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.backward(objective.output_gradient())
    for name, param in model.named_parameters():
        if not np.allclose(param.grad, 2 * once[name], rtol=1e-10, atol=1e-300):
            raise GradcheckError(
                f"gradcheck {subject}: calling backward twice does not double the gradient of {name}: its "
                "backward must add into .grad (`param.grad += ...`), not assign it (`param.grad = ...`)"
            )
    return grads_in


def _check_float32(module: Module, x: Any, subject: str) -> None:
    """A float32 copy must keep float32 everywhere: name the first layer whose output is float64."""
    model = copy.deepcopy(module).to(np.float32)
    inputs, rebuild = _structure(x)
    inputs = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in inputs]
    promoted: list[str] = []

    def wrap(name: str, layer: Module, kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def checked(value: Any, **options: Any) -> Any:
            result = method(value, **options)
            for item in _as_list(result) if kind != "backward_parameters" else []:
                if item is not None and np.asarray(item).dtype == np.float64 and not promoted:
                    promoted.append(f"{kind} of {one_line(layer)}{f' ({name})' if name else ''}")
            return result

        return checked

    with instrument(model, wrap):
        out = model.forward(rebuild(inputs))
        model.zero_grad()
        model.backward([np.ones_like(y) for y in out] if isinstance(out, list) else np.ones_like(out))
    bad_grads = [n for n, p in model.named_parameters() if p.grad.dtype != np.float32]
    if promoted or bad_grads:
        where = promoted[0] if promoted else f"the gradient of {bad_grads[0]}"
        raise GradcheckError(
            f"gradcheck {subject}: in float32 the {where} came out as float64: a float64 constant or array "
            "promotes the computation (twice the memory and time); cast it to the input's dtype"
        )


# -- finite differences -------------------------------------------------------------------------------
def _elements(
    shape: tuple[int, ...], samples: int | None, generator: np.random.Generator
) -> list[tuple[int, ...]]:
    total = int(np.prod(shape))
    if samples is None or samples >= total:
        return [tuple(int(i) for i in index) for index in np.ndindex(shape)]
    flat = np.sort(generator.choice(total, size=samples, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def _compare(
    name: str,
    tensor: Array,
    analytic: Array,
    objective: Callable[[], float],
    base: float,
    elements: list[tuple[int, ...]],
    eps: float,
    atol: float,
    rtol: float,
) -> TensorCheck:
    """Central differences of ``objective`` at the chosen elements of ``tensor`` (perturbed in place)."""
    worst: tuple[float, float, tuple[int, ...], float, float] = (
        0.0,
        0.0,
        (),
        0.0,
        0.0,
    )  # ratio, error, index, a, n
    kinks = []
    for index in elements:
        saved = tensor[index]
        tensor[index] = saved + eps
        plus = objective()
        tensor[index] = saved - eps
        minus = objective()
        tensor[index] = saved
        numeric = (plus - minus) / (2.0 * eps)
        a = float(analytic[index])
        error = abs(a - numeric)
        ratio = error / (atol + rtol * abs(numeric))
        if ratio > 1.0:
            forward, backward = (plus - base) / eps, (base - minus) / eps
            jump = abs(forward - backward)
            if jump > error and jump > atol + rtol * abs(numeric):
                kinks.append(index)
                continue
        if ratio > worst[0] or not worst[2]:
            worst = (ratio, error, index, a, numeric)
    ratio, error, index, a, numeric = worst
    return TensorCheck(name, len(elements), tensor.size, ratio, error, index, a, numeric, kinks)


def _raise_if_failed(report: GradcheckReport) -> GradcheckReport:
    for c in report.checks:
        if not c.passed:
            raise GradcheckError(
                f"gradcheck {report.subject}: gradient of {c.name} is wrong at index {c.worst_index}: "
                f"backward gives {c.analytic:.10g}, finite differences give {c.numeric:.10g}; "
                f"|a - n| = {c.max_abs_error:.3g} > {report.atol:g} + {report.rtol:g} |n| "
                f"({c.worst_ratio:.3g} times the tolerance)\n{report}"
            )
    return report


def gradcheck(
    module: Module,
    x: Any,
    *,
    loss: Loss | None = None,
    target: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    samples: int | None = None,
    float32: bool = True,
    rng: RngLike = None,
) -> GradcheckReport:
    """Check ``module.backward`` (and, with ``loss``, the loss's backward) against central differences.

    x: the input (an array; a list or dict for several inputs; integer inputs are not perturbed).
    Returns a ``GradcheckReport``, or raises ``GradcheckError`` (see the module docstring). The
    caller's module is never changed: the check runs on float64 and float32 copies.
    """
    if not isinstance(module, Module):
        raise TypeError(f"module must be a tinynet Module, got {type(module).__name__}")
    if loss is not None and not isinstance(loss, Loss):
        raise TypeError(f"loss must be a tinynet Loss, got {type(loss).__name__}")
    if (loss is None) != (target is None):
        raise ValueError("pass loss and target together (or neither, to check the module on its own)")
    eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
    atol = check_float(atol, "atol", low=0.0)
    rtol = check_float(rtol, "rtol", low=0.0)
    if atol == 0.0 and rtol == 0.0:
        raise ValueError("atol and rtol cannot both be 0")
    if samples is not None:
        samples = check_int(samples, "samples", minimum=1)
    generator = as_generator(rng)
    subject = one_line(module) + (f" with {one_line(loss)}" if loss is not None else "")
    if float32:
        _check_float32(module, x, subject)
    model = copy.deepcopy(module).to(np.float64)
    inputs, rebuild = _structure(x)
    objective = _Objective(
        model, inputs, rebuild, copy.deepcopy(loss) if loss is not None else None, target, generator
    )
    _freeze_dropout(model)  # the first forward (in _Objective) drew the masks
    base = _check_deterministic(objective, subject)
    grads_in = _check_backward(model, objective, inputs, subject)
    model.zero_grad()
    objective.value()
    model.backward(objective.output_gradient())
    report = GradcheckReport(subject=subject, atol=atol, rtol=rtol)
    for i, (tensor, grad) in enumerate(zip(inputs, grads_in, strict=True)):
        if tensor.dtype.kind in "iu":
            continue
        name = "input" if len(inputs) == 1 else f"input[{i}]"
        elements = _elements(tensor.shape, samples, generator)
        report.checks.append(
            _compare(name, tensor, np.asarray(grad), objective.value, base, elements, eps, atol, rtol)
        )
    for name, param in model.named_parameters():
        elements = _elements(param.shape, samples, generator)
        report.checks.append(
            _compare(name, param.data, param.grad.copy(), objective.value, base, elements, eps, atol, rtol)
        )
    return _raise_if_failed(report)


def gradcheck_loss(
    loss: Loss,
    pred: Any,
    target: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    sample_weight: Any = None,
) -> GradcheckReport:
    """Check ``loss.backward()`` (dL/dpred) against central differences in float64 on a copy."""
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a tinynet Loss, got {type(loss).__name__}")
    eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
    atol = check_float(atol, "atol", low=0.0)
    rtol = check_float(rtol, "rtol", low=0.0)
    subject = copy.deepcopy(loss)
    p = as_array(pred, "pred").astype(np.float64, copy=True)
    t = np.asarray(target)
    if t.dtype.kind == "f":
        t = t.astype(np.float64)

    def objective() -> float:
        return float(subject(p, t) if sample_weight is None else subject(p, t, sample_weight))

    base = objective()
    analytic = subject.backward().copy()
    elements = _elements(p.shape, None, np.random.default_rng(0))
    report = GradcheckReport(subject=repr(loss), atol=atol, rtol=rtol)
    report.checks.append(_compare("pred", p, analytic, objective, base, elements, eps, atol, rtol))
    return _raise_if_failed(report)


def describe_failure(error: GradcheckError) -> str:
    """The first line of a failure, for tables."""
    return str(error).splitlines()[0]


__all__: Sequence[str] = ["GradcheckError", "GradcheckReport", "TensorCheck", "gradcheck", "gradcheck_loss"]
