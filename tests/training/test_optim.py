"""Optimizers against PyTorch's documented update rules, written out independently here (float64)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn

Array = np.ndarray[Any, Any]
Grad = Callable[[list[Array]], list[Array]]


def problem() -> tuple[tn.Sequential, Grad]:
    """A small model and a gradient oracle: gradients of its MSE loss at any given weights."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    model = tn.Sequential(tn.Dense(3, 4, rng=1), tn.Tanh(), tn.Dense(4, 2, rng=2))
    oracle = model.clone()
    loss = tn.MSELoss()

    def grads(weights: list[Array]) -> list[Array]:
        for p, w in zip(oracle.parameters(), weights, strict=True):
            p.data[...] = w
        loss(oracle(x), y)
        oracle.zero_grad()
        oracle.backward(loss.backward())
        return [p.grad.copy() for p in oracle.parameters()]

    return model, grads


def sgd_reference(
    lr: float, momentum: float, dampening: float, nesterov: bool, wd: float
) -> Callable[..., Any]:
    def step(w: Array, g: Array, s: dict[str, Any], t: int) -> Array:
        g = g + wd * w
        if momentum:
            s["b"] = g.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * g
            g = g + momentum * s["b"] if nesterov else s["b"]
        return w - lr * g

    return step


def adam_reference(
    lr: float, b1: float, b2: float, eps: float, wd: float, amsgrad: bool, decoupled: bool
) -> Callable[..., Any]:
    def step(w: Array, g: Array, s: dict[str, Any], t: int) -> Array:
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g**2
        m_hat = s["m"] / (1 - b1**t)
        if amsgrad:
            s["vmax"] = np.maximum(s.get("vmax", 0), s["v"])
            v_hat = s["vmax"] / (1 - b2**t)
        else:
            v_hat = s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def rmsprop_reference(
    lr: float, alpha: float, eps: float, wd: float, momentum: float, centered: bool
) -> Callable[..., Any]:
    def step(w: Array, g: Array, s: dict[str, Any], t: int) -> Array:
        g = g + wd * w
        s["v"] = alpha * s.get("v", 0) + (1 - alpha) * g**2
        v = s["v"]
        if centered:
            s["avg"] = alpha * s.get("avg", 0) + (1 - alpha) * g
            v = v - s["avg"] ** 2
        if momentum > 0:
            s["b"] = momentum * s.get("b", 0) + g / (np.sqrt(v) + eps)
            return w - lr * s["b"]
        return w - lr * g / (np.sqrt(v) + eps)

    return step


def adagrad_reference(lr: float, lr_decay: float, wd: float, eps: float) -> Callable[..., Any]:
    def step(w: Array, g: Array, s: dict[str, Any], t: int) -> Array:
        g = g + wd * w
        clr = lr / (1 + (t - 1) * lr_decay)
        s["sum"] = s.get("sum", 0) + g * g
        return w - clr * g / (np.sqrt(s["sum"]) + eps)

    return step


CASES: list[tuple[str, Callable[[list[tn.Parameter]], tn.Optimizer], Callable[..., Any]]] = [
    ("sgd", lambda p: tn.SGD(p, lr=0.1), sgd_reference(0.1, 0, 0, False, 0)),
    ("sgd-momentum", lambda p: tn.SGD(p, lr=0.05, momentum=0.9), sgd_reference(0.05, 0.9, 0, False, 0)),
    (
        "sgd-dampening-wd",
        lambda p: tn.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
        sgd_reference(0.05, 0.8, 0.3, False, 0.01),
    ),
    (
        "sgd-nesterov",
        lambda p: tn.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        sgd_reference(0.05, 0.9, 0, True, 0),
    ),
    ("adam", lambda p: tn.Adam(p, lr=0.01), adam_reference(0.01, 0.9, 0.999, 1e-8, 0, False, False)),
    (
        "adam-wd-amsgrad",
        lambda p: tn.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
        adam_reference(0.01, 0.8, 0.99, 1e-8, 0.1, True, False),
    ),
    ("adamw", lambda p: tn.AdamW(p, lr=0.01), adam_reference(0.01, 0.9, 0.999, 1e-8, 0.01, False, True)),
    ("rmsprop", lambda p: tn.RMSprop(p, lr=0.01), rmsprop_reference(0.01, 0.99, 1e-8, 0, 0, False)),
    (
        "rmsprop-centered-momentum",
        lambda p: tn.RMSprop(p, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01),
        rmsprop_reference(0.01, 0.99, 1e-8, 0.01, 0.9, True),
    ),
    ("adagrad", lambda p: tn.Adagrad(p, lr=0.1), adagrad_reference(0.1, 0, 0, 1e-10)),
    (
        "adagrad-decay",
        lambda p: tn.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01),
        adagrad_reference(0.1, 0.01, 0.01, 1e-10),
    ),
]


@pytest.mark.parametrize(("make", "reference"), [pytest.param(m, r, id=n) for n, m, r in CASES])
def test_optimizer_matches_reference_over_20_steps(
    make: Callable[..., tn.Optimizer], reference: Callable[..., Any]
) -> None:
    model, grads = problem()
    weights = [p.data.copy() for p in model.parameters()]
    states: list[dict[str, Any]] = [{} for _ in weights]
    optimizer = make(model.parameters())
    data_ids = [id(p.data) for p in model.parameters()]
    for t in range(1, 21):
        g_model = grads([p.data for p in model.parameters()])
        for p, g in zip(model.parameters(), g_model, strict=True):
            p.grad[...] = g
        optimizer.step()
        g_ref = grads(weights)
        weights = [reference(w, g, s, t) for w, g, s in zip(weights, g_ref, states, strict=True)]
    for p, w in zip(model.parameters(), weights, strict=True):
        np.testing.assert_allclose(p.data, w, rtol=1e-12, atol=1e-14)
    assert [id(p.data) for p in model.parameters()] == data_ids, "updates must be in place"
    assert not np.allclose(weights[0], problem()[0].parameters()[0].data), "the weights must have moved"


def test_optimizer_state_dict_resumes_exactly() -> None:
    model, grads = problem()
    twin = model.clone()
    a, b = tn.Adam(model.parameters(), lr=0.01), tn.Adam(twin.parameters(), lr=0.01)
    for step in range(10):
        for m, opt in ((model, a), (twin, b)):
            for p, g in zip(m.parameters(), grads([p.data for p in m.parameters()]), strict=True):
                p.grad[...] = g
            opt.step()
        if step == 4:
            b = tn.Adam(twin.parameters(), lr=0.5)
            b.load_state_dict(a.state_dict())
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_optimizer_zero_grad_and_lr_setter() -> None:
    model, _ = problem()
    opt = tn.SGD(model.parameters())
    model.parameters()[0].grad += 1
    opt.zero_grad()
    assert not model.parameters()[0].grad.any()
    opt.lr = 0.5
    assert opt.lr == 0.5
    with pytest.raises(ValueError, match="lr"):
        opt.lr = float("nan")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: tn.SGD(p, lr=0), ValueError, "lr"),
        (lambda p: tn.SGD(p, lr=-1), ValueError, "lr"),
        (lambda p: tn.SGD(p, lr=math.inf), ValueError, "lr"),
        (lambda p: tn.SGD(p, lr=math.nan), ValueError, "lr"),
        (lambda p: tn.SGD(p, momentum=-0.1), ValueError, "momentum"),
        (lambda p: tn.SGD(p, nesterov=True), ValueError, "nesterov"),
        (lambda p: tn.Adam(p, betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
        (lambda p: tn.Adam(p, betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
        (lambda p: tn.Adam(p, eps=0), ValueError, "eps"),
        (lambda p: tn.AdamW(p, weight_decay=-1), ValueError, "weight_decay"),
        (lambda p: tn.RMSprop(p, alpha=1.5), ValueError, "alpha"),
        (lambda p: tn.Adagrad(p, eps=-1), ValueError, "eps"),
        (lambda p: tn.SGD([], lr=0.1), ValueError, "params"),
        (lambda p: tn.SGD([np.zeros(3)], lr=0.1), TypeError, "params"),
    ],
)
def test_invalid_hyperparameters_raise(make: Callable[..., Any], error: type[Exception], match: str) -> None:
    model, _ = problem()
    with pytest.raises(error, match=match) as info:
        make(model.parameters())
    assert type(info.value) is error


TORCH_CASES: list[
    tuple[str, Callable[[list[tn.Parameter]], tn.Optimizer], Callable[[Any, list[Any]], Any]]
] = [
    (
        "sgd-nesterov-wd",
        lambda p: tn.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda o, t: o.SGD(t, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    (
        "adam-amsgrad",
        lambda p: tn.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True),
        lambda o, t: o.Adam(t, lr=0.01, weight_decay=0.1, amsgrad=True),
    ),
    ("adamw", lambda p: tn.AdamW(p, lr=0.01), lambda o, t: o.AdamW(t, lr=0.01)),
    (
        "rmsprop",
        lambda p: tn.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
        lambda o, t: o.RMSprop(t, lr=0.01, momentum=0.5, centered=True),
    ),
    ("adagrad", lambda p: tn.Adagrad(p, lr=0.1), lambda o, t: o.Adagrad(t, lr=0.1)),
]


@pytest.mark.parametrize(("ours", "theirs"), [pytest.param(a, b, id=n) for n, a, b in TORCH_CASES])
def test_same_steps_as_pytorch(ours: Callable[..., tn.Optimizer], theirs: Callable[..., Any]) -> None:
    torch = require("torch")
    model, grads = problem()
    params = model.parameters()
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt, ref = ours(params), theirs(torch.optim, tensors)
    for _ in range(20):
        for p, g in zip(params, grads([p.data for p in params]), strict=True):
            p.grad[...] = g
        for t, g in zip(tensors, grads([t.detach().numpy() for t in tensors]), strict=True):
            t.grad = torch.from_numpy(g)
        opt.step()
        ref.step()
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-13)
