"""Copies and pickles of a model, an optimizer, both, and an estimator train exactly as the original.

A copied model's parameters are new arrays; an optimizer keeps its parameters in flat storage. A
copy of both must give the copied parameters flat storage of their own, with the state along, or
its steps update buffers no parameter reads (the weights never change while the loss is reported).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn
from tinynet.training.optim import OPTIMIZERS

rng = np.random.default_rng(0)
X = rng.standard_normal((64, 4))
Y = rng.integers(0, 3, 64)
COPIES: dict[str, Callable[[Any], Any]] = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
}


def setup(optimizer: str) -> tuple[tn.Module, tn.Optimizer]:
    model = tn.Sequential(tn.Dense(4, 8, rng=0), tn.ReLU(), tn.Dropout(0.1, rng=2), tn.Dense(8, 3, rng=1))
    chosen = OPTIMIZERS[optimizer](model.parameters(), lr=0.05)
    train(model, chosen, epochs=2)  # the optimizer has state (moments, a step count) before the copy
    return model, chosen


def train(model: tn.Module, optimizer: tn.Optimizer, epochs: int = 3) -> tn.History:
    return tn.fit(
        model,
        X,
        Y,
        loss=tn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        rng=7,
        clipper=tn.ClipGlobalNorm(1.0),
        regularizer=tn.L2(1e-3),
        verbose=0,
    )


def weights(model: tn.Module) -> dict[str, Any]:
    return model.state_dict()


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_a_copy_of_model_and_optimizer_continues_bit_for_bit_and_leaves_the_original_alone(
    optimizer: str, how: str
) -> None:
    model, chosen = setup(optimizer)
    copied_model, copied_optimizer = COPIES[how]((model, chosen))
    before = weights(model)
    copied_history = train(copied_model, copied_optimizer)
    assert not same(weights(copied_model), before), "the copy learns"
    assert same(weights(model), before), "training the copy does not touch the original"
    history = train(model, chosen)
    assert same(weights(copied_model), weights(model)), "the copy takes the original's steps exactly"
    assert copied_history.loss == history.loss and copied_optimizer.t == chosen.t


@pytest.mark.parametrize("how", list(COPIES))
def test_a_copied_model_alone_trains_with_a_new_optimizer(how: str) -> None:
    model, _ = setup("adam")
    copied = COPIES[how](model)
    before = weights(copied)
    train(copied, tn.Adam(copied.parameters(), lr=0.05))
    assert not same(weights(copied), before)


@pytest.mark.parametrize("how", list(COPIES))
def test_a_copied_optimizer_alone_steps_its_own_parameters(how: str) -> None:
    model, chosen = setup("rmsprop")
    copied = COPIES[how](chosen)
    before = weights(model)
    for param in copied.params:
        param.grad[...] = 1.0
    copied.step()
    assert same(weights(model), before), "the original model's weights are not the copy's"
    assert not all(np.array_equal(p.data, q.data) for p, q in zip(copied.params, chosen.params, strict=True))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 3 epochs
@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("kind", ["partial_fit", "warm_start"])
def test_a_copied_estimator_keeps_learning_like_the_original(how: str, kind: str) -> None:
    require("sklearn")
    from tinynet.sklearn import TinyNetClassifier

    estimator = TinyNetClassifier(epochs=3, random_state=0, warm_start=kind == "warm_start").fit(X, Y)
    copied = COPIES[how](estimator)
    before = weights(copied.model_)
    if kind == "partial_fit":
        copied.partial_fit(X, Y)
        estimator.partial_fit(X, Y)
    else:
        copied.fit(X, Y)
        estimator.fit(X, Y)
    assert not same(weights(copied.model_), before), "the copy learns"
    assert same(weights(copied.model_), weights(estimator.model_))
    assert copied.loss_curve_ == estimator.loss_curve_
