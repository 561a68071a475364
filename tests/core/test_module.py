"""The Module contract: discovery, accumulation, dtypes, shapes, state, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinynet as tn

Array = np.ndarray[Any, Any]


def mlp(dtype: Any = np.float64) -> tn.Sequential:
    return tn.Sequential(
        tn.Dense(4, 8, dtype=dtype, rng=0), tn.ReLU(), tn.Dense(8, 3, dtype=dtype, rng=1), tn.Softmax()
    )


class Scale(tn.Module):
    """A custom layer with a parameter list and a child, registered by assignment alone."""

    def __init__(self) -> None:
        super().__init__()
        self.gains = [tn.Parameter(np.ones(3)), tn.Parameter(np.ones(3), regularize=False)]
        self.inner = tn.Dense(3, 3, rng=0)

    def forward(self, x: Array) -> Array:
        return self.inner(x) * self.gains[0].data * self.gains[1].data

    def backward(self, grad_out: Array) -> Array:
        raise NotImplementedError


def test_parameters_are_found_in_assignment_order() -> None:
    names = [name for name, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [name for name, _ in Scale().named_parameters()] == [
        "gains.0",
        "gains.1",
        "inner.weight",
        "inner.bias",
    ]
    assert [p.regularize for p in mlp().parameters()] == [True, False, True, False]


def test_dense_shapes_follow_the_design() -> None:
    layer = tn.Dense(4, 7)
    assert layer.weight.data.shape == (4, 7)
    assert layer.bias is not None and layer.bias.data.shape == (7,)
    assert layer.weight.grad.shape == layer.weight.data.shape


def test_repeated_backward_accumulates_exactly_twice() -> None:
    model = mlp()
    x = np.random.default_rng(0).standard_normal((5, 4))
    g = np.random.default_rng(1).standard_normal((5, 3))
    model(x)
    model.backward(g)
    once = [p.grad.copy() for p in model.parameters()]
    model.backward(g)
    for first, p in zip(once, model.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, 2 * first, rtol=1e-14)
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())


def test_float32_stays_float32() -> None:
    model = mlp(np.float32)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    y = model(x)
    assert y.dtype == np.float32
    assert model.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_integer_input_is_cast_to_the_layer_dtype() -> None:
    model = mlp(np.float32)
    assert model(np.ones((2, 4), dtype=np.int64)).dtype == np.float32


def test_zero_row_batch_flows_through() -> None:
    model = mlp()
    y = model(np.zeros((0, 4)))
    assert y.shape == (0, 3)
    assert model.backward(np.zeros((0, 3))).shape == (0, 4)
    assert all(not p.grad.any() for p in model.parameters())


def test_non_contiguous_and_read_only_inputs_are_not_modified() -> None:
    model = mlp()
    base = np.random.default_rng(0).standard_normal((4, 10))
    view = base.T[::2]  # (5, 4), non-contiguous
    assert not view.flags.c_contiguous
    frozen = np.ascontiguousarray(view)
    frozen.setflags(write=False)
    copy = frozen.copy()
    y1, y2 = model(view), model(frozen)
    np.testing.assert_array_equal(y1, y2)
    g = np.ones_like(y1)
    g.setflags(write=False)
    model.backward(g)
    np.testing.assert_array_equal(frozen, copy)
    np.testing.assert_array_equal(view, copy)


def test_backward_before_forward_raises() -> None:
    for module in [tn.Dense(2, 2), tn.ReLU(), tn.Sigmoid(), tn.Tanh(), tn.Softmax(), tn.Identity(), mlp()]:
        with pytest.raises(RuntimeError, match="before forward"):
            module.backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before"):
        tn.MSELoss().backward()


def test_wrong_feature_count_names_the_layer_and_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"Dense\(4 -> 8\) expected input with 4 features, got shape \(2, 5\)"
    ):
        mlp()(np.ones((2, 5)))


def test_error_inside_sequential_names_the_child() -> None:
    model = tn.Sequential(tn.Dense(4, 8), tn.ReLU(), tn.Dense(7, 2))
    with pytest.raises(ValueError, match=r"Sequential\[2\] Dense\(7 -> 2\)"):
        model(np.ones((3, 4)))


@pytest.mark.parametrize("shape", [(4,), ()])
def test_input_without_a_batch_axis_raises_with_a_reshape_hint(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="reshape"):
        tn.Dense(4, 2)(np.ones(shape))


def test_dense_takes_any_rank_on_its_last_axis() -> None:
    assert tn.Dense(4, 2)(np.ones((2, 3, 4))).shape == (2, 3, 2)


@pytest.mark.parametrize(
    "bad", [np.array([["a", "b"]]), np.ones((1, 2), dtype=complex), np.array([[None, 1]])]
)
def test_non_numeric_input_raises_type_error(bad: Array) -> None:
    with pytest.raises(TypeError, match="dtype"):
        tn.Dense(2, 2)(bad)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: tn.Dense(0, 2), ValueError, "in_features"),
        (lambda: tn.Dense(2, -1), ValueError, "out_features"),
        (lambda: tn.Dense(2.0, 3), TypeError, "in_features"),
        (lambda: tn.Dense(2, 3, init="kaiming"), ValueError, r"init must be one of .*'he'"),
        (lambda: tn.Dense(2, 3, dtype=np.int32), TypeError, "dtype"),
        (lambda: tn.Dense(2, 3, rng="seed"), TypeError, "rng"),
        (lambda: tn.LeakyReLU(-0.1), ValueError, "negative_slope"),
        (lambda: tn.LeakyReLU(float("nan")), ValueError, "negative_slope"),
        (lambda: tn.HuberLoss(0.0), ValueError, "delta"),
    ],
)
def test_invalid_constructor_arguments_raise(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        make()
    assert type(info.value) is error


def test_custom_initializer_callable() -> None:
    layer = tn.Dense(2, 3, init=tn.init.zeros)
    assert not layer.weight.data.any()
    with pytest.raises(ValueError, match=r"init must return shape \(2, 3\)"):
        tn.Dense(2, 3, init=lambda i, o, r, d: np.zeros((o, i)))


@pytest.mark.parametrize(
    "name", ["he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "random_normal"]
)
def test_initializer_scale(name: str) -> None:
    w = getattr(tn.init, name)(400, 300, np.random.default_rng(0), np.float32)
    assert w.shape == (400, 300) and w.dtype == np.float32
    expected = {"he": 2 / 400, "xavier": 2 / 700, "random": 1e-4}[name.split("_")[0]]
    assert w.var() == pytest.approx(expected, rel=0.05)


def test_same_seed_same_weights() -> None:
    a, b = tn.Dense(3, 4, rng=7), tn.Dense(3, 4, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_state_dict_round_trip_and_errors() -> None:
    source, target = (
        mlp(),
        tn.Sequential(tn.Dense(4, 8, rng=5), tn.ReLU(), tn.Dense(8, 3, rng=6), tn.Softmax()),
    )
    state = source.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    target.load_state_dict(state)
    x = np.ones((2, 4))
    np.testing.assert_array_equal(source(x), target(x))
    state["0.weight"][...] = 0  # a copy: the model is unaffected
    assert source.parameters()[0].data.any()
    bad = {
        "0.weight": np.zeros((4, 9)),
        "2.weight": np.zeros((8, 3)),
        "2.bias": np.zeros(3),
        "extra": np.ones(1),
    }
    with pytest.raises(ValueError) as info:
        target.load_state_dict(bad)
    message = str(info.value)
    assert "missing keys ['0.bias']" in message
    assert "unexpected keys ['extra']" in message
    assert "0.weight: expected (4, 8), got (4, 9)" in message


def test_train_eval_return_self_and_propagate() -> None:
    model = mlp()
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())


def test_sequential_container_protocol() -> None:
    model = mlp()
    assert len(model) == 4
    assert isinstance(model[0], tn.Dense)
    assert isinstance(model[1:], tn.Sequential) and len(model[1:]) == 3
    assert [type(m).__name__ for m in model] == ["Dense", "ReLU", "Dense", "Softmax"]
    model.append(tn.Identity())
    assert len(model) == 5
    with pytest.raises(ValueError, match="clone"):
        relu = tn.ReLU()
        tn.Sequential(relu, relu)


def test_repr_and_summary() -> None:
    model = mlp()
    assert "(0): Dense(4 -> 8)" in repr(model)
    summary = model.summary()
    assert "(-1, 8)" in summary and "total parameters: 67" in summary
    assert model.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3


def test_clone_shares_parameters_only_when_asked() -> None:
    layer = tn.Dense(2, 2, rng=0)
    shared, own = layer.clone(share_parameters=True), layer.clone()
    assert shared.weight is layer.weight
    assert own.weight is not layer.weight
    np.testing.assert_array_equal(own.weight.data, layer.weight.data)


def test_to_changes_dtype() -> None:
    model = mlp().to(np.float32)
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="float32 or float64"):
        model.to(np.int8)


def test_lazy_zero_grad_never_shows_stale_values() -> None:
    model = mlp()
    x = np.random.default_rng(0).standard_normal((5, 4))
    g = np.random.default_rng(1).standard_normal((5, 3))
    model(x)
    model.backward(g)
    once = [p.grad.copy() for p in model.parameters()]
    model.backward(g)  # grads now hold 2x
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters()), "grad reads as zero right after zero_grad"
    model.zero_grad()
    model.backward(g)  # written straight into the buffers: must equal one backward, not three
    for first, p in zip(once, model.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, first, rtol=1e-14)


def test_writes_between_zero_grad_and_backward_are_kept() -> None:
    model = mlp()
    x = np.random.default_rng(0).standard_normal((5, 4))
    g = np.random.default_rng(1).standard_normal((5, 3))
    model(x)
    model.zero_grad()
    model.backward(g)
    plain = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    for p in model.parameters():
        p.grad += 1.0  # e.g. a hand-written penalty added before backward
    model.backward(g)
    for before, p in zip(plain, model.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, before + 1.0, rtol=1e-14)


def test_backward_parameters_equals_backward_for_every_case() -> None:
    from tinynet.tools.cases import MODULE_CASES, sample

    for name, factory, specs in MODULE_CASES:
        a = factory()
        b = a.clone()
        x = sample(specs[0], np.random.default_rng(0))
        y = a(x)
        g = (
            [np.random.default_rng(1).standard_normal(v.shape) for v in y]
            if isinstance(y, list)
            else (np.random.default_rng(1).standard_normal(y.shape))
        )
        b(x)
        a.zero_grad()
        b.zero_grad()
        a.backward(g)
        b.backward_parameters(g)
        for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, err_msg=f"{name} {n}")


def test_load_state_dict_copies_in_place_and_is_all_or_nothing() -> None:
    model = mlp()
    weight = model.parameters()[0].data
    state = mlp().state_dict()
    state["0.weight"] = state["0.weight"] + 1.0
    model.load_state_dict(state)
    assert model.parameters()[0].data is weight, "references to .data stay valid"
    np.testing.assert_array_equal(weight, state["0.weight"])
    broken = dict(state, **{"2.bias": np.array(["a", "b", "c"])})
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"non-numeric values \[2\.bias"):
        model.load_state_dict(broken)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
