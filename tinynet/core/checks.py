"""Validation helpers shared by the public entry points.

Every helper raises ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what came in, so user mistakes surface at the boundary with context.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.typing import DTypeLike

Array: TypeAlias = npt.NDArray[Any]
"""Any NumPy array; tinynet tensors are float32 or float64."""

RngLike: TypeAlias = np.random.Generator | int | None
"""A ``numpy.random.Generator``, an int seed, or None for fresh OS entropy."""


def as_generator(rng: RngLike, name: str = "rng") -> np.random.Generator:
    """Return a ``Generator`` for ``rng``: a Generator as is, an int seed, or None for fresh entropy."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise TypeError(
            f"{name} must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
        )
    if int(rng) < 0:
        raise ValueError(f"{name} must be a non-negative int seed, got {rng}")
    return np.random.default_rng(int(rng))


def as_float_dtype(dtype: DTypeLike, name: str = "dtype") -> np.dtype[Any]:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from error
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, rejecting bools, floats and values below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite float inside the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    if low is not None and (result < low or (result == low and not low_inclusive)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {bound} {low}, got {result}")
    if high is not None and (result > high or (result == high and not high_inclusive)):
        bound = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {bound} {high}, got {result}")
    return result


def as_array(x: Any, name: str = "x") -> Array:
    """Return ``x`` as a numeric ndarray; strings, objects and complex numbers raise ``TypeError``."""
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"{name} must be a real numeric array, got dtype {array.dtype} with shape {array.shape}"
        )
    return array


def as_float_input(x: Any) -> Array:
    """Return ``x`` as a plain float ndarray; integer and bool input becomes float64."""
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return array
    return as_array(array, "x").astype(np.float64)


def check_grad_out(grad_out: Any, shape: tuple[int, ...], owner: object) -> Array:
    """Return ``grad_out`` as a plain ndarray of the forward output's ``shape``, or raise ``ValueError``.

    A wrongly shaped gradient would otherwise broadcast silently; ``np.matrix`` and other array
    subclasses would change what ``*`` means.
    """
    grad = np.asarray(grad_out)
    if grad.shape != shape:
        raise ValueError(
            f"{owner!r}.backward: grad_out must have the shape of the forward output {fmt_shape(shape)}, "
            f"got {fmt_shape(grad.shape)}"
        )
    return grad


def add_note(error: BaseException, note: str) -> None:
    """Attach ``note`` to ``error`` without rebuilding it (PEP 678; a plain attribute before 3.11)."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]


def as_batch(x: Any, name: str = "x", dtype: DTypeLike | None = None, *, any_rank: bool = False) -> Array:
    """Return ``x`` as a float array ``(batch, features)`` (with ``any_rank``: ``(batch, ..., features)``).

    Integer and bool input is cast to ``dtype`` (float64 when None); float input keeps its dtype
    unless ``dtype`` is given. The caller's array is never modified or copied needlessly.
    """
    array = as_array(x, name)
    if array.ndim != 2 and not (any_rank and array.ndim > 2):
        hint = (
            "use x.reshape(-1, 1) for a single feature or x.reshape(1, -1) for a single sample"
            if array.ndim == 1
            else "use x.reshape(len(x), -1) to flatten the trailing axes"
        )
        raise ValueError(
            f"{name} must be 2-D (batch, features), got {array.ndim}-D shape {array.shape}; {hint}"
        )
    if dtype is not None:
        if array.dtype != dtype:
            array = array.astype(dtype)
    elif array.dtype.kind != "f":
        array = array.astype(np.float64)
    return array


def check_finite(array: Array, name: str) -> None:
    """Raise ``ValueError`` when a float array holds NaN or infinity, naming the first bad entry."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(f"{name} must be finite, found {array[where]} at index {where}")


def fmt_shape(shape: tuple[int, ...]) -> str:
    """Format a shape as ``(32, 5)``."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def one_line(obj: object) -> str:
    """A one-line description for messages: the repr, or the class name when the repr is multi-line."""
    text = repr(obj)
    return text if "\n" not in text else type(obj).__name__
