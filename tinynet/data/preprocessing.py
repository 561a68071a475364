"""Preprocessing arrays: feature standardization and one-hot class rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import Self

from tinynet.core.checks import Array, as_array, check_int


class NotFittedError(ValueError):
    """A transformer was used before ``fit``."""


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

    def fit(self, x: Any, sample_weight: Any = None) -> Self:
        """Learn the mean and scale of each column; with ``sample_weight`` (n,) weighted ones (a
        weight of 2 counts a row twice, as scikit-learn)."""
        array = self._columns(x)
        if len(array) == 0:
            raise ValueError("StandardScaler.fit: x must hold at least one sample")
        if sample_weight is None:
            self.mean_ = array.mean(axis=0)
            scale = array.std(axis=0)
        else:
            weights = as_array(sample_weight, "sample_weight")
            if weights.shape != (len(array),):
                raise ValueError(f"sample_weight must have shape ({len(array)},), got {weights.shape}")
            self.mean_ = np.average(array, axis=0, weights=weights)
            scale = np.sqrt(np.average((array - self.mean_) ** 2, axis=0, weights=weights))
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
