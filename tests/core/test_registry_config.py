"""Settings declared once, a registry that cannot load the wrong class, errors that keep their type."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import tinynet as tn
from tinynet.core.registry import registered_class
from tinynet.data import StandardScaler
from tinynet.tools.cases import MODULE_CASES


class Scaled(tn.Module):
    """y = factor * x: a custom layer declaring its settings."""

    settings: ClassVar[tuple[str, ...]] = ("factor",)

    def __init__(self, factor: float = 2.0) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Any) -> Any:
        return np.asarray(x) * self.factor

    def backward(self, grad_out: Any) -> Any:
        return grad_out * self.factor


# -- settings ----------------------------------------------------------------------------------------
def test_settings_give_config_repr_and_rebuild() -> None:
    layer = Scaled(3.0)
    assert layer.get_config() == {"factor": 3.0}
    assert repr(layer) == "Scaled(factor=3.0)"
    assert repr(Scaled()) == "Scaled()", "defaults are left out of the repr"
    assert Scaled.from_config(layer.get_config()).factor == 3.0


@pytest.mark.parametrize(("name", "factory"), [(n, f) for n, f, _ in MODULE_CASES])
def test_every_built_in_module_rebuilds_from_its_config(name: str, factory: Any) -> None:
    module = factory()
    rebuilt = type(module).from_config(module.get_config(), list(module.children()))
    assert rebuilt.get_config() == module.get_config()
    assert rebuilt.state_shapes() == module.state_shapes()
    assert repr(rebuilt) == repr(module)


def params() -> list[tn.Parameter]:
    return tn.Dense(2, 2, rng=0).parameters()


@pytest.mark.parametrize(
    "obj",
    [
        tn.HuberLoss(0.5),
        tn.CrossEntropyLoss(),
        tn.InverseTimeDecay(0.1, 0.01),
        tn.CosineDecay(0.1, 10, min_lr=0.01),
        tn.StepDecay(0.1, 3, gamma=0.5),
        tn.ClipGlobalNorm(2.0),
        tn.ClipValue(0.5),
        tn.L1(0.1),
        tn.L2(0.2),
        tn.L1L2(0.1, 0.2),
    ],
    ids=repr,
)
def test_losses_schedules_clippers_regularizers_round_trip(obj: Any) -> None:
    rebuilt = type(obj).from_config(obj.get_config())
    assert rebuilt.get_config() == obj.get_config() and repr(rebuilt) == repr(obj)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: tn.SGD(p, lr=0.1, momentum=0.9), "SGD(lr=0.1, momentum=0.9)"),
        (lambda p: tn.Adam(p, betas=(0.8, 0.99)), "Adam(betas=[0.8, 0.99])"),
        (lambda p: tn.AdamW(p), "AdamW()"),
        (lambda p: tn.RMSprop(p, centered=True), "RMSprop(centered=True)"),
    ],
)
def test_optimizer_settings(make: Any, expected: str) -> None:
    optimizer = make(params())
    assert repr(optimizer) == expected
    assert optimizer.state_dict()["hyperparameters"] == optimizer.get_config()


def test_scaler_comes_back_from_its_state() -> None:
    x = np.random.default_rng(0).standard_normal((20, 3)) * [1, 10, 100]
    scaler = StandardScaler().fit(x)
    restored = StandardScaler.from_state(scaler.get_state(), columns=3)
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    y = np.arange(10.0)
    y_scaler = StandardScaler().fit(y)
    np.testing.assert_array_equal(
        StandardScaler.from_state(y_scaler.get_state()).inverse_transform(y), y_scaler.inverse_transform(y)
    )


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"mean": [0.0]}, "with 'mean' and 'scale'"),
        ({"mean": [0.0, 1.0], "scale": [1.0]}, "one length"),
        ({"mean": [0.0], "scale": [0.0]}, "scales finite and > 0"),
        ({"mean": ["a"], "scale": [1.0]}, "lists of numbers"),
        ({"mean": [0.0], "scale": [1.0]}, "has 1 columns, expected 2"),
    ],
)
def test_scaler_state_errors(state: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StandardScaler.from_state(state, columns=2)


# -- the registry --------------------------------------------------------------------------------------
def test_a_name_collision_is_an_error_unless_replacing_is_asked_for() -> None:
    def make() -> type[tn.Module]:
        class Twin(tn.Identity):
            pass

        return Twin

    first, second = make(), make()
    first.__qualname__, second.__qualname__ = "First.Twin", "Second.Twin"
    tn.register_module(first)
    with pytest.raises(ValueError, match=r"'Twin' is already registered for .*First\.Twin.*replace=True"):
        tn.register_module(second)
    assert registered_class("Twin") is first
    tn.register_module(second, replace=True)
    assert registered_class("Twin") is second


def test_a_built_in_name_cannot_be_taken_silently() -> None:
    class Dense(tn.Identity):
        pass

    with pytest.raises(ValueError, match=r"'Dense' is already registered for tinynet\.layers\.core\.Dense"):
        tn.register_module(Dense)
    assert registered_class("Dense") is tn.Dense
    tn.register_module(Dense, name="tests.Dense")
    assert registered_class("tests.Dense") is Dense and registered_class("Dense") is tn.Dense


def test_two_classes_of_one_name_load_as_themselves(tmp_path: Path) -> None:
    class SiLU(Scaled):
        pass

    class OtherSiLU(Scaled):
        def forward(self, x: Any) -> Any:
            return np.asarray(x) * self.factor + 1.0

    OtherSiLU.__name__ = "SiLU"
    tn.register_module(SiLU, name="mine.SiLU")
    tn.register_module(OtherSiLU, name="theirs.SiLU")
    tn.save(tn.Sequential(SiLU(2.0)), tmp_path / "a.npz")
    tn.save(tn.Sequential(OtherSiLU(2.0)), tmp_path / "b.npz")
    assert type(tn.load(tmp_path / "a.npz")[0]) is SiLU  # type: ignore[index]
    assert type(tn.load(tmp_path / "b.npz")[0]) is OtherSiLU  # type: ignore[index]


def test_a_module_that_cannot_be_rebuilt_is_refused_at_save(tmp_path: Path) -> None:
    @tn.register_module(name="tests.Forgetful")
    class Forgetful(tn.Module):
        """Its constructor needs ``width``, but it keeps no attribute of that name."""

        def __init__(self, width: int) -> None:
            super().__init__()
            self.weight = tn.Parameter(np.zeros((width,)))

        def forward(self, x: Any) -> Any:
            return x

    with pytest.raises(
        TypeError, match=r"the constructor argument 'width' is a setting, but the object has no"
    ):
        tn.save(tn.Sequential(Forgetful(3)), tmp_path / "f.npz")
    assert not (tmp_path / "f.npz").exists()

    class Partial(Forgetful):
        settings: ClassVar[tuple[str, ...]] = ()

        def __init__(self, width: int = 1) -> None:
            super().__init__(width)

    tn.register_module(Partial, name="tests.Partial")
    with pytest.raises(
        TypeError, match=r"has parameters \{'weight': \(1,\)\}, expected \{'weight': \(3,\)\}"
    ):
        tn.save(Partial(3), tmp_path / "p.npz")


# -- errors keep their type, message and attributes through every container -----------------------
class CodedError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Raises(tn.Identity):
    def __init__(self, error: Exception, where: str = "forward") -> None:
        super().__init__()
        self.error, self.where = error, where

    def forward(self, x: Any) -> Any:
        if self.where == "forward":
            raise self.error
        return super().forward(x)

    def backward(self, grad_out: Any) -> Any:
        raise self.error


CONTAINERS = {
    "Sequential": (lambda m: tn.Sequential(tn.Identity(), m), r"in Sequential\[1\] Raises"),
    "Residual": (lambda m: tn.Residual(m), r"in Residual\.module Raises"),
    "Residual-shortcut": (lambda m: tn.Residual(tn.Identity(), m), r"in Residual\.shortcut Raises"),
    "Concat": (lambda m: tn.Concat(tn.Identity(), m), r"in Concat\[1\] Raises"),
    "nested": (lambda m: tn.Sequential(tn.Residual(tn.Sequential(m))), r"in Sequential\[0\] Raises"),
}


@pytest.mark.parametrize("where", ["forward", "backward", "backward_parameters"])
@pytest.mark.parametrize("container", list(CONTAINERS))
def test_errors_keep_type_message_and_attributes(container: str, where: str) -> None:
    make, note = CONTAINERS[container]
    x = np.ones((2, 3))
    for error, check in [
        (CodedError("boom", code=42), lambda e: e.code == 42 and str(e) == "boom"),
        (KeyError("missing"), lambda e: str(e) == "'missing'" and e.args == ("missing",)),
    ]:
        model = make(Raises(error, "forward" if where == "forward" else "backward"))
        with pytest.raises(type(error)) as info:
            if where == "forward":
                model(x)
            else:
                model(x)
                getattr(model, where)(np.ones((2, 3 if container != "Concat" else 6)))
        assert info.value is error, "the same exception object comes out, not a rebuilt one"
        assert check(info.value)
        notes = "\n".join(getattr(info.value, "__notes__", []))
        assert __import__("re").search(note, notes), notes


def test_a_new_constructor_argument_is_a_setting_without_a_further_edit(tmp_path: Path) -> None:
    @tn.register_module(name="tests.Affine")
    class Affine(tn.Module):
        def __init__(self, factor: float = 2.0, offset: float = 0.0) -> None:  # offset: the "new" argument
            super().__init__()
            self.factor, self.offset = factor, offset

        def forward(self, x: Any) -> Any:
            return x * self.factor + self.offset

    module = Affine(3.0, offset=1.5)
    assert module.get_config() == {"factor": 3.0, "offset": 1.5}
    assert repr(module) == "Affine(factor=3.0, offset=1.5)" and repr(Affine()) == "Affine()"
    tn.save(tn.Sequential(module), tmp_path / "a.npz")
    loaded = tn.load(tmp_path / "a.npz")[0]
    assert isinstance(loaded, Affine) and loaded.offset == 1.5, "the new argument is saved and loaded"


def test_arguments_that_are_not_settings_are_opted_out_by_name() -> None:
    assert (
        "rng" not in tn.Dense(2, 3, rng=0).get_config() and "init" not in tn.Dense(2, 3, rng=0).get_config()
    )
    assert tn.Dense(2, 3, bias=False, rng=0).get_config()["bias"] is False
    assert tn.SGD(tn.Dense(2, 3, rng=0).parameters(), lr=0.1).get_config()["lr"] == 0.1
    assert "params" not in tn.Adam(tn.Dense(2, 3, rng=0).parameters()).get_config()
    assert tn.MLP(hidden=(8,)).get_params()["hidden"] == (8,) and "hidden=[8]" in repr(tn.MLP(hidden=(8,)))
