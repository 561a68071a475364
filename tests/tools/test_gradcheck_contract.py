"""The gradient checker itself: it passes correct deep models and fails each kind of broken one clearly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinynet as tn

Array = np.ndarray[Any, Any]
rng = np.random.default_rng(0)


def deep_model() -> tn.Module:
    """Concat of two branches, two pre-norm residual blocks with LayerNorm and GELU: 87k parameters."""

    def block(width: int, seed: int) -> tn.Module:
        return tn.Residual(
            tn.Sequential(
                tn.LayerNorm(width),
                tn.Dense(width, width + 32, rng=seed),
                tn.GELU(),
                tn.Dense(width + 32, width, rng=seed + 1),
            )
        )

    return tn.Sequential(
        tn.Concat(
            tn.Sequential(tn.Dense(32, 64, rng=0), tn.Tanh()),
            tn.Sequential(tn.Dense(32, 64, rng=1), tn.ELU()),
        ),
        block(128, 2),
        block(128, 4),
        tn.Dense(128, 10, rng=6),
    ).eval()


def test_a_correct_deep_model_passes_at_the_defaults() -> None:
    model = deep_model()
    assert 85_000 < model.num_parameters() < 90_000
    report = tn.gradcheck(model, rng.standard_normal((8, 32)), samples=40, rng=0)
    assert report.passed and report.max_ratio < 0.5
    assert all(c.checked == min(40, c.total) for c in report.checks), "40 elements of each tensor (or all)"
    assert "40/256" in str(report) and "40/20480" in str(report)


def test_model_and_loss_are_checked_end_to_end() -> None:
    model = tn.Sequential(tn.Dense(4, 6, rng=0), tn.Tanh(), tn.Dense(6, 3, rng=1))
    x, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    report = tn.gradcheck(model, x, loss=tn.CrossEntropyLoss(), target=y, rng=0)
    assert report.subject == "Sequential with CrossEntropyLoss()"
    assert [c.name for c in report.checks] == ["input", "0.weight", "0.bias", "2.weight", "2.bias"]

    class WrongLoss(tn.MSELoss):
        def forward(self, pred: Any, target: Any, weights: Any = None) -> float:
            value = super().forward(pred, target, weights)
            self._grad = self.backward() * 1.5  # a loss whose backward is off by half
            return value

    with pytest.raises(tn.GradcheckError, match="gradient of input is wrong"):
        tn.gradcheck(
            tn.Dense(3, 2, rng=0), rng.standard_normal((4, 3)), loss=WrongLoss(), target=np.zeros((4, 2))
        )


class OffAtOneElement(tn.Module):
    """y = 3 x, whose backward is wrong at exactly one element, (1, 2)."""

    def forward(self, x: Array) -> Array:
        self.shape = np.shape(x)
        return 3 * np.asarray(x)

    def backward(self, grad_out: Array) -> Array:
        grad = 3 * np.asarray(grad_out)
        grad[1, 2] += 0.5
        return grad


def test_the_element_reported_is_the_failing_one() -> None:
    with pytest.raises(tn.GradcheckError, match=r"gradient of input is wrong at index \(1, 2\)") as info:
        tn.gradcheck(OffAtOneElement(), rng.standard_normal((3, 4)), float32=False)
    assert "times the tolerance" in str(info.value)


class AssignsGradient(tn.Dense):
    """A Dense whose backward writes `=` into .grad instead of adding."""

    def backward(self, grad_out: Array) -> Array:
        x = self._cached(self._x)
        self.weight.grad = x.T @ grad_out  # the bug: overwrites what was there
        self.bias.grad = grad_out.sum(axis=0)  # type: ignore[union-attr]
        result: Array = grad_out @ self.weight.data.T
        return result


def test_assigning_instead_of_adding_is_caught() -> None:
    with pytest.raises(tn.GradcheckError, match=r"does not double the gradient of weight.*\+=.*not assign"):
        tn.gradcheck(AssignsGradient(3, 2, rng=0), rng.standard_normal((4, 3)), float32=False)


class Noisy(tn.Module):
    """Random in training mode: y = x + noise."""

    def forward(self, x: Array) -> Array:
        return np.asarray(x) + rng.standard_normal(np.shape(x))

    def backward(self, grad_out: Array) -> Array:
        return grad_out


def test_a_random_layer_is_reported_as_not_deterministic_with_the_fix() -> None:
    with pytest.raises(tn.GradcheckError, match=r"not deterministic.*Call model\.eval\(\)"):
        tn.gradcheck(Noisy(), rng.standard_normal((2, 3)), float32=False)
    report = tn.gradcheck(
        tn.Sequential(tn.Dense(3, 4, rng=0), tn.Dropout(0.5, rng=1)), rng.standard_normal((5, 3))
    )
    assert report.passed, "built-in Dropout in training mode is frozen to its mask during the check"


class Promotes(tn.Module):
    """y = 2 x with a float64 constant: a float32 input comes out float64."""

    def forward(self, x: Array) -> Array:
        return np.asarray(x) * np.float64(2.0)

    def backward(self, grad_out: Array) -> Array:
        return np.asarray(grad_out) * np.float64(2.0)


def test_a_layer_that_promotes_float32_is_named() -> None:
    model = tn.Sequential(tn.Dense(3, 3, rng=0), Promotes(), tn.Dense(3, 2, rng=1))
    with pytest.raises(
        tn.GradcheckError, match=r"in float32 the forward of Promotes\(\) \(1\) came out as float64"
    ):
        tn.gradcheck(model, rng.standard_normal((4, 3)))
    assert tn.gradcheck(model, rng.standard_normal((4, 3)), float32=False).passed, "the gradients are right"


def test_a_kink_is_reported_as_such_not_as_a_wrong_gradient() -> None:
    x = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, -0.5]])  # ReLU at exactly 0, twice
    report = tn.gradcheck(tn.ReLU(), x, rng=0)
    assert report.passed
    assert report.checks[0].kinks == [(0, 0), (1, 1)]
    assert "2 at kinks" in str(report)
    x = np.array([[0.0, 1.0]])
    assert tn.gradcheck(tn.LeakyReLU(0.1), x).checks[0].kinks == [(0, 0)]


class WrongShapeBackward(tn.Module):
    """Returns dL/dx with a column too many."""

    def forward(self, x: Array) -> Array:
        return np.asarray(x).copy()

    def backward(self, grad_out: Array) -> Array:
        return np.hstack([grad_out, grad_out[:, :1]])


def test_a_wrongly_shaped_input_gradient_is_blamed_on_the_layer_that_made_it() -> None:
    with pytest.raises(
        tn.GradcheckError, match=r"returned dL/dx of shape \(4, 4\), but the input has shape \(4, 3\)"
    ):
        tn.gradcheck(WrongShapeBackward(), rng.standard_normal((4, 3)), float32=False)
    model = tn.Sequential(tn.Dense(3, 3, rng=0), WrongShapeBackward(), tn.Dense(3, 2, rng=1))
    model(rng.standard_normal((4, 3)))
    with pytest.raises(
        ValueError, match=r"WrongShapeBackward\(\)\.backward returned dL/dx of shape \(4, 4\)"
    ) as info:
        model.backward(np.ones((4, 2)))
    assert "in Sequential[1] WrongShapeBackward()" in "".join(info.value.__notes__)
