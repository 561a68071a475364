"""Splitting arrays: train/test splits, cross-validation folds and minibatches (stratified where asked)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinynet.core.checks import Array, RngLike, as_array, as_generator, check_int


def _check_xy(x: Any, y: Any) -> tuple[Array, Array]:
    xs, ys = as_array(x, "x"), as_array(y, "y")
    if xs.ndim == 0 or ys.ndim == 0:
        raise ValueError(f"x and y must be arrays with a sample axis, got shapes {xs.shape} and {ys.shape}")
    if len(xs) != len(ys):
        raise ValueError(f"x and y must have the same length, got len(x)={len(xs)} and len(y)={len(ys)}")
    return xs, ys


def _test_count(test_size: float | int, n: int) -> int:
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size}")
        n_test = math.ceil(test_size * n)  # as scikit-learn: the test side is rounded up
    else:
        raise TypeError(f"test_size must be a fraction in (0, 1) or a count, got {type(test_size).__name__}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size} gives {n_test} test and {n - n_test} training samples out of {n}; "
            "both sides must hold at least one sample"
        )
    return n_test


class StratifyError(ValueError):
    """A stratified split that cannot keep every class on both sides: ``classes`` classes need at
    least that many rows on each side, and the split gave ``n_test`` and ``n_train``."""

    def __init__(self, classes: int, n_test: int, n_train: int) -> None:
        self.classes, self.n_test, self.n_train = classes, n_test, n_train
        super().__init__(
            f"stratify=True with {classes} classes needs at least {classes} samples on each side, "
            f"got {n_test} test and {n_train} training"
        )


def _stratified_test_indices(labels: Array, n_test: int, rng: np.random.Generator) -> Array:
    """Pick ``n_test`` indices so each class keeps its share (largest-remainder rounding)."""
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        lonely = classes[counts < 2].tolist()
        raise ValueError(f"stratify=True needs at least 2 samples of every class, classes {lonely} have 1")
    if n_test < len(classes) or len(labels) - n_test < len(classes):
        raise StratifyError(len(classes), n_test, len(labels) - n_test)
    exact = counts * n_test / len(labels)
    take = np.clip(np.floor(exact).astype(np.int64), 1, counts - 1)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    for c in order:  # hand out what rounding down left over, largest remainder first
        if take.sum() >= n_test:
            break
        if take[c] < counts[c] - 1:
            take[c] += 1
    for c in order[::-1]:  # the clip to >= 1 may have overshot: give back smallest remainder first
        if take.sum() <= n_test:
            break
        if take[c] > 1:
            take[c] -= 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)]
    return rng.permutation(np.concatenate(chosen))


def _parts(x: Any) -> tuple[list[Any], Any]:
    """Several arrays (a list, tuple or dict of arrays) as a list, and how to give them back."""
    if isinstance(x, dict):
        keys = list(x)
        return [x[k] for k in keys], lambda parts: dict(zip(keys, parts, strict=True))
    if isinstance(x, (list, tuple)) and x and all(hasattr(p, "shape") for p in x):
        return list(x), list
    return [x], lambda parts: parts[0]


def train_test_split(
    x: Any, y: Any, test_size: float | int = 0.2, *, rng: RngLike = 42, stratify: bool = False
) -> tuple[Any, Any, Any, Any]:
    """Shuffle and split into ``(x_train, x_test, y_train, y_test)``.

    ``x`` (and ``y``) may be several arrays at once, a list or a dict of arrays with the same number
    of rows, for a model with several inputs (or outputs): each comes back split the same way, in
    the same structure. ``test_size`` is a fraction in (0, 1) (the test count is rounded up) or a
    count; both sides must be non-empty. ``stratify=True`` keeps the class proportions of ``y``
    (class labels; the first array when there are several) in both sides. The default seed 42 makes
    the split reproducible; without stratification an int seed gives the same split as
    scikit-learn's ``train_test_split(random_state=seed)``.
    """
    x_parts, x_back = _parts(x)
    y_parts, y_back = _parts(y)
    checked = [_check_xy(part, y_parts[0]) for part in x_parts]
    checked_y = [_check_xy(x_parts[0], part)[1] for part in y_parts]
    train, test = split_indices(len(checked[0][0]), checked_y[0], test_size, rng=rng, stratify=stratify)
    return (
        x_back([xs[train] for xs, _ in checked]),
        x_back([xs[test] for xs, _ in checked]),
        y_back([ys[train] for ys in checked_y]),
        y_back([ys[test] for ys in checked_y]),
    )


def split_indices(
    n: int, y: Any = None, test_size: float | int = 0.2, *, rng: RngLike = 42, stratify: bool = False
) -> tuple[Array, Array]:
    """The ``(train, test)`` row indices ``train_test_split`` uses (``y`` only matters to stratify)."""
    ys = np.asarray(y) if y is not None else np.zeros(n)
    n_test = _test_count(test_size, n)
    generator = as_generator(rng)
    legacy = np.random.RandomState(int(rng)) if isinstance(rng, (int, np.integer)) else None
    if stratify:
        if ys.ndim != 1:
            raise ValueError(f"stratify=True needs 1-D class labels y, got shape {ys.shape}")
        test = _stratified_test_indices(ys, n_test, generator)
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        train = generator.permutation(np.flatnonzero(mask))
    else:
        # an int seed gives exactly scikit-learn's split for random_state=seed (a legacy
        # RandomState permutation, test samples first), so results compare across the two
        order = legacy.permutation(n) if legacy is not None else generator.permutation(n)
        test, train = order[:n_test], order[n_test:]
    return train, test


def fold_indices(
    n: int, k: int, y: Any = None, *, rng: RngLike = 42, stratify: bool = False
) -> list[tuple[Array, Array]]:
    """``k`` cross-validation folds of ``n`` rows: a list of ``(train, held_out)`` index arrays.

    Every row is held out exactly once; fold sizes differ by at most one. With ``stratify=True``
    (``y`` 1-D class labels) each class is shuffled and dealt round-robin over the folds, so each
    fold keeps the class shares (like scikit-learn's ``StratifiedKFold(shuffle=True)``; the exact
    assignment differs). The same ``rng`` seed gives the same folds.
    """
    k = check_int(k, "k", minimum=2)
    n = check_int(n, "n", minimum=1)
    if k > n:
        raise ValueError(f"k={k} folds need at least {k} rows, got n={n}")
    generator = as_generator(rng)
    if stratify:
        labels = np.asarray(y)
        if labels.shape != (n,):
            raise ValueError(
                f"stratify=True needs y of shape ({n},) (class labels), got shape {labels.shape}"
            )
        order = np.concatenate(
            [generator.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
        )
        fold_of = np.empty(n, dtype=np.int64)
        fold_of[order] = np.arange(n) % k  # dealing class after class keeps every fold's share
    else:
        fold_of = np.empty(n, dtype=np.int64)
        fold_of[generator.permutation(n)] = np.arange(n) % k
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]


def minibatch_indices(
    n: int, batch_size: int, rng: np.random.Generator | None = None, *, join_single: bool = False
) -> Iterator[Array]:
    """Index arrays of consecutive minibatches covering ``range(n)`` once, shuffled when ``rng`` is given.

    The last batch may be smaller. With ``join_single`` a last batch of a single row joins the one
    before it (``fit`` asks for this: one row has no batch statistics for BatchNorm1d to use).
    """
    order = rng.permutation(n) if rng is not None else np.arange(n)
    starts = list(range(0, n, batch_size))
    if join_single and len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, start in enumerate(starts):
        yield order[start : starts[i + 1] if i + 1 < len(starts) else n]


def minibatches(x: Any, y: Any, batch_size: int, rng: RngLike | bool = None) -> Iterator[tuple[Array, Array]]:
    """Yield ``(x_batch, y_batch)`` pairs covering the data once; shuffled unless ``rng`` is None."""
    xs, ys = _check_xy(x, y)
    size = check_int(batch_size, "batch_size", minimum=1)
    generator = None if rng is None or rng is False else as_generator(None if rng is True else rng)
    for index in minibatch_indices(len(xs), size, generator):
        yield xs[index], ys[index]
