"""Data utilities: splits, feature scaling, one-hot encoding and minibatches."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from typing_extensions import Self

from tinynet._checks import Array, RngLike, as_array, as_generator, check_int


class NotFittedError(ValueError):
    """A transformer was used before ``fit``."""


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


def _stratified_test_indices(labels: Array, n_test: int, rng: np.random.Generator) -> Array:
    """Pick ``n_test`` indices so each class keeps its share (largest-remainder rounding)."""
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        lonely = classes[counts < 2].tolist()
        raise ValueError(f"stratify=True needs at least 2 samples of every class, classes {lonely} have 1")
    if n_test < len(classes) or len(labels) - n_test < len(classes):
        raise ValueError(
            f"stratify=True with {len(classes)} classes needs at least {len(classes)} samples on each side, "
            f"got {n_test} test and {len(labels) - n_test} training"
        )
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


class StandardScaler:
    """Standardize features: z = (x - mean) / std, statistics from ``fit`` (population std, ddof=0).

    Constant columns get a scale of 1 instead of 0, so they map to 0 without dividing by zero.
    Accepts (n, d) arrays, or (n,) for a single column (e.g. a regression target); the output
    has the input's shape.
    """

    def __init__(self) -> None:
        self.mean_: Array | None = None
        self.scale_: Array | None = None

    @staticmethod
    def _columns(x: Any, name: str = "x") -> Array:
        array = as_array(x, name)
        if array.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {array.shape}")
        return array.astype(np.float64, copy=False) if array.dtype.kind != "f" else array

    def fit(self, x: Any) -> Self:
        array = self._columns(x)
        if len(array) == 0:
            raise ValueError("StandardScaler.fit: x must hold at least one sample")
        self.mean_ = array.mean(axis=0)
        scale = array.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0).astype(array.dtype)
        return self

    def _fitted(self, array: Array) -> tuple[Array, Array]:
        if self.mean_ is None or self.scale_ is None:
            raise NotFittedError("StandardScaler is not fitted yet; call fit(x) before transform")
        if array.ndim == 1 and self.mean_.shape == (1,):  # a single column restored by from_state
            return self.mean_[0], self.scale_[0]
        if array.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"StandardScaler was fitted on {self.mean_.shape[0] if self.mean_.ndim else 1}-column data, "
                f"got shape {array.shape}"
            )
        return self.mean_, self.scale_

    def transform(self, x: Any) -> Array:
        array = self._columns(x)
        mean, scale = self._fitted(array)
        result: Array = (array - mean) / scale
        return result

    def fit_transform(self, x: Any) -> Array:
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> Array:
        array = self._columns(z, "z")
        mean, scale = self._fitted(array)
        result: Array = array * scale + mean
        return result

    def get_state(self) -> dict[str, list[float]]:
        """Mean and scale as lists (JSON-able); ``from_state`` is the way back."""
        if self.mean_ is None or self.scale_ is None:
            raise NotFittedError("StandardScaler is not fitted yet; call fit(x) first")
        return {"mean": np.atleast_1d(self.mean_).tolist(), "scale": np.atleast_1d(self.scale_).tolist()}

    @classmethod
    def from_state(cls, state: Any, columns: int | None = None) -> StandardScaler:
        """A fitted scaler from ``get_state()``'s dict; ``ValueError`` for anything malformed.

        ``columns`` (optional) is the number of columns the scaler must have. The state may come
        from a file, so every value is checked: equal lengths, finite numbers, scales > 0.
        """
        if not isinstance(state, dict) or not {"mean", "scale"} <= set(state):
            raise ValueError(
                f"scaler state must be a dict with 'mean' and 'scale', got {type(state).__name__}"
            )
        try:
            mean = np.array(state["mean"], dtype=np.float64)
            scale = np.array(state["scale"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("scaler state: 'mean' and 'scale' must be lists of numbers") from None
        if mean.ndim != 1 or mean.shape != scale.shape or mean.size == 0:
            raise ValueError(
                f"scaler state: 'mean' and 'scale' must be lists of one length, got shapes {mean.shape} and "
                f"{scale.shape}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("scaler state: means must be finite and scales finite and > 0")
        if columns is not None and mean.size != columns:
            raise ValueError(f"scaler state has {mean.size} columns, expected {columns}")
        scaler = cls()
        scaler.mean_, scaler.scale_ = mean, scale
        return scaler


def one_hot(labels: Any, n_classes: int | None = None) -> Array:
    """Class indices (n,) -> float64 rows (n, n_classes) with a single 1."""
    array = as_array(labels, "labels")
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {array.dtype}")
    k = (
        int(array.max()) + 1
        if n_classes is None and array.size
        else check_int(n_classes or 0, "n_classes", minimum=1)
    )
    bad = array[(array < 0) | (array >= k)]
    if bad.size:
        raise ValueError(f"labels must be in [0, {k}), got {np.unique(bad)[:10].tolist()}")
    out = np.zeros((len(array), k))
    out[np.arange(len(array)), array] = 1.0
    return out


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
