"""Schedules, clippers and regularizers against their formulas, computed by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tinynet as tn

T = range(0, 60)


@pytest.mark.parametrize(
    ("schedule", "formula"),
    [
        (tn.Constant(0.1), lambda t: 0.1),
        (tn.InverseTimeDecay(0.1, 0.01), lambda t: 0.1 / (1 + 0.01 * t)),
        (tn.ExponentialDecay(0.1, 0.9), lambda t: 0.1 * 0.9**t),
        (tn.StepDecay(0.1, 10, 0.5), lambda t: 0.1 * 0.5 ** (t // 10)),
        (
            tn.CosineDecay(0.1, 40, 0.001),
            lambda t: 0.001 + 0.099 * (1 + math.cos(math.pi * min(t, 40) / 40)) / 2,
        ),
        (tn.Warmup(5, tn.Constant(0.1)), lambda t: 0.1 * (t + 1) / 6 if t < 5 else 0.1),
        (tn.Warmup(0, tn.ExponentialDecay(0.1, 0.5)), lambda t: 0.1 * 0.5**t),
        (
            tn.Warmup(3, tn.CosineDecay(0.2, 10)),
            lambda t: 0.2 * (t + 1) / 4 if t < 3 else 0.1 * (1 + math.cos(math.pi * min(t - 3, 10) / 10)),
        ),
    ],
)
def test_schedule_matches_formula_and_stays_valid(schedule: tn.Schedule, formula: Any) -> None:
    for t in T:
        lr = schedule(t)
        assert lr == pytest.approx(formula(t), rel=1e-12, abs=1e-15)
        assert math.isfinite(lr) and lr >= 0
    assert schedule(10**9) >= 0 and math.isfinite(schedule(10**9))


def test_cosine_reaches_min_lr_at_total_and_after() -> None:
    schedule = tn.CosineDecay(0.1, 10, min_lr=0.01)
    assert schedule(0) == 0.1
    assert schedule(10) == schedule(11) == 0.01


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: tn.Constant(0), ValueError, "lr"),
        (lambda: tn.InverseTimeDecay(0.1, -1), ValueError, "decay_rate"),
        (lambda: tn.ExponentialDecay(0.1, 1.5), ValueError, "gamma"),
        (lambda: tn.StepDecay(0.1, 0), ValueError, "step_size"),
        (lambda: tn.CosineDecay(0.1, 0), ValueError, "total"),
        (lambda: tn.CosineDecay(0.1, 10, min_lr=0.2), ValueError, "min_lr"),
        (lambda: tn.Warmup(-1, tn.Constant(0.1)), ValueError, "warmup"),
        (lambda: tn.Warmup(2, 0.1), TypeError, "then"),
        (lambda: tn.Constant(0.1)(-1), ValueError, "t"),
    ],
)
def test_schedule_errors(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        make()
    assert type(info.value) is error


def params_with_grads(*grads: Any) -> list[tn.Parameter]:
    params = []
    for i, g in enumerate(grads):
        p = tn.Parameter(np.zeros_like(np.asarray(g, dtype=float)), name=f"p{i}")
        p.grad[...] = g
        params.append(p)
    return params


def test_clip_global_norm_uses_pytorch_coefficient() -> None:
    params = params_with_grads([3.0, 4.0], [[12.0]])  # total norm 13
    before = tn.ClipGlobalNorm(1.3)(params)
    assert before == pytest.approx(13.0)
    coefficient = 1.3 / (13.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad, [3 * coefficient, 4 * coefficient], rtol=1e-14)
    np.testing.assert_allclose(params[1].grad, [[12 * coefficient]], rtol=1e-14)


def test_clip_global_norm_leaves_small_gradients() -> None:
    params = params_with_grads([0.3, 0.4])
    assert tn.ClipGlobalNorm(1.0)(params) == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad, [0.3, 0.4])


def test_clip_norm_is_per_parameter() -> None:
    params = params_with_grads([3.0, 4.0], [0.3, 0.4])
    total = tn.ClipNorm(1.0)(params)
    assert total == pytest.approx(math.sqrt(25 + 0.25))
    np.testing.assert_allclose(params[0].grad, [0.6, 0.8], rtol=1e-14)
    np.testing.assert_array_equal(params[1].grad, [0.3, 0.4])


def test_clip_value() -> None:
    params = params_with_grads([-3.0, 0.5, 2.0])
    assert tn.ClipValue(1.0)(params) == pytest.approx(math.sqrt(9 + 0.25 + 4))
    np.testing.assert_array_equal(params[0].grad, [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("clipper", [tn.ClipValue(1.0), tn.ClipNorm(1.0), tn.ClipGlobalNorm(1.0)])
def test_clippers_accept_zero_and_reject_non_finite(clipper: tn.Clipper) -> None:
    assert clipper(params_with_grads([0.0, 0.0])) == 0.0
    with pytest.raises(FloatingPointError, match="p1"):
        clipper(params_with_grads([1.0], [np.nan]))


@pytest.mark.parametrize(
    "make", [lambda: tn.ClipGlobalNorm(0), lambda: tn.ClipNorm(-1), lambda: tn.ClipValue(math.nan)]
)
def test_clipper_errors(make: Any) -> None:
    with pytest.raises(ValueError, match="max_"):
        make()


def test_regularizers_skip_biases() -> None:
    layer = tn.Dense(2, 2, rng=0)
    layer.weight.data[...] = [[1.0, -2.0], [0.5, 0.0]]
    assert layer.bias is not None
    layer.bias.data[...] = [10.0, -10.0]
    params = layer.parameters()
    reg = tn.L1L2(l1=0.1, l2=0.2)
    w = layer.weight.data
    assert reg.penalty(params) == pytest.approx(0.1 * 3.5 + 0.1 * (1 + 4 + 0.25))
    reg.apply(params)
    np.testing.assert_allclose(layer.weight.grad, 0.1 * np.sign(w) + 0.2 * w)
    assert not layer.bias.grad.any()
    assert tn.L1(0.1).penalty(params) == pytest.approx(0.35)
    assert tn.L2(0.2).penalty(params) == pytest.approx(0.1 * 5.25)
    with pytest.raises(ValueError, match="l2"):
        tn.L2(-1.0)
