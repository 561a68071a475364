"""The gradient-check case list: every built-in Module and Loss with the inputs it is checked on.

``tinynet gradcheck`` and the test suite both run this one list; a meta-test fails when an
exported Module or Loss has no case. Inputs are drawn with |x| >= 0.1, so ReLU-like kinks never
sit inside a finite-difference step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinynet._checks import Array
from tinynet.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, softmax
from tinynet.containers import Sequential
from tinynet.layers import Dense, Flatten
from tinynet.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MAELoss, MSELoss
from tinynet.module import Module

ModuleCase = tuple[str, Callable[[], Module], list[tuple[int, ...]]]
LossCase = tuple[str, Callable[[], Loss], Callable[[np.random.Generator], tuple[Any, Any]]]


def away_from_kink(shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    """Standard normal values pushed away from 0: sign(x) (|x| + 0.1)."""
    x = rng.standard_normal(shape)
    result: Array = np.sign(x) * (np.abs(x) + 0.1)
    return result


MODULE_CASES: list[ModuleCase] = [
    ("Dense", lambda: Dense(4, 3, rng=0), [(5, 4), (1, 4)]),
    ("Dense-nobias", lambda: Dense(3, 2, bias=False, rng=1), [(4, 3)]),
    ("Dense-xavier", lambda: Dense(3, 5, init="xavier", rng=2), [(2, 3)]),
    ("Identity", Identity, [(3, 4), (1, 2)]),
    ("ReLU", ReLU, [(4, 5), (1, 3)]),
    ("LeakyReLU", lambda: LeakyReLU(0.1), [(4, 5), (1, 3)]),
    ("Sigmoid", Sigmoid, [(4, 5), (1, 3)]),
    ("Tanh", Tanh, [(4, 5), (1, 3)]),
    ("Softmax", Softmax, [(4, 5), (1, 3)]),
    ("Flatten", Flatten, [(3, 2, 4), (1, 5)]),
    (
        "Sequential",
        lambda: Sequential(Dense(4, 6, rng=3), Tanh(), Dense(6, 3, rng=4), Softmax()),
        [(5, 4), (1, 4)],
    ),
    (
        "Sequential-nested",
        lambda: Sequential(Sequential(Dense(3, 4, rng=5), Sigmoid()), Dense(4, 2, rng=6)),
        [(3, 3)],
    ),
]

LOSS_CASES: list[LossCase] = [
    ("MSELoss", MSELoss, lambda r: (r.standard_normal((5, 3)), r.standard_normal((5, 3)))),
    ("MSELoss-1d-target", MSELoss, lambda r: (r.standard_normal((4, 1)), r.standard_normal(4))),
    ("MAELoss", MAELoss, lambda r: (away_from_kink((5, 3), r), np.zeros((5, 3)))),
    ("HuberLoss", lambda: HuberLoss(0.7), lambda r: (away_from_kink((6, 2), r) * 2, np.zeros((6, 2)))),
    ("CrossEntropyLoss-index", CrossEntropyLoss, lambda r: (r.standard_normal((5, 4)), r.integers(0, 4, 5))),
    (
        "CrossEntropyLoss-probs",
        CrossEntropyLoss,
        lambda r: (r.standard_normal((3, 4)), softmax(r.standard_normal((3, 4)))),
    ),
    ("CrossEntropyLoss-batch1", CrossEntropyLoss, lambda r: (r.standard_normal((1, 3)), np.array([2]))),
    ("BCEWithLogitsLoss", BCEWithLogitsLoss, lambda r: (r.standard_normal((5, 2)), r.uniform(size=(5, 2)))),
]
