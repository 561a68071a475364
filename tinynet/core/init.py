"""Weight initializers: ``init(fan_in, fan_out, rng, dtype) -> array`` of shape ``(fan_in, fan_out)``.

| name            | distribution                                   | suits            |
|-----------------|------------------------------------------------|------------------|
| he_normal       | N(0, 2 / fan_in)                               | ReLU, LeakyReLU  |
| he_uniform      | U(-a, a), a = sqrt(6 / fan_in)                 | ReLU, LeakyReLU  |
| xavier_normal   | N(0, 2 / (fan_in + fan_out))                   | Tanh, Sigmoid    |
| xavier_uniform  | U(-a, a), a = sqrt(6 / (fan_in + fan_out))     | Tanh, Sigmoid    |
| random_normal   | N(0, 0.01^2) (``--weight_init random``)         | small baselines  |
| zeros           | 0                                              | biases           |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
from numpy.typing import DTypeLike

from tinynet.core.checks import Array
from tinynet.core.choices import Choices
from tinynet.core.parameter import allocate

Initializer: TypeAlias = Callable[[int, int, np.random.Generator, DTypeLike], Array]


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """N(0, 2 / fan_in): keeps the activation variance through ReLU layers (He et al., 2015)."""
    std = float(np.sqrt(2.0 / fan_in))
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """U(-sqrt(6 / fan_in), sqrt(6 / fan_in)): the uniform variant of ``he_normal``."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """N(0, 2 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    std = float(np.sqrt(2.0 / (fan_in + fan_out)))
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def random_normal(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """N(0, 0.01^2): small random weights, ``tinynet train --weight_init random``."""
    return (rng.standard_normal((fan_in, fan_out)) * 0.01).astype(dtype)


def zeros(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: DTypeLike) -> Array:
    """All zeros (``rng`` unused; kept for the common signature). Touches no memory until written."""
    return allocate((fan_in, fan_out), dtype)


# "he", "xavier" and "random" are the names ``tinynet train --weight_init`` has always taken
INITIALIZERS: Choices[Initializer] = Choices(
    "init",
    {
        "he": he_normal,
        "xavier": xavier_normal,
        "random": random_normal,
        "he_normal": he_normal,
        "he_uniform": he_uniform,
        "xavier_normal": xavier_normal,
        "xavier_uniform": xavier_uniform,
        "random_normal": random_normal,
        "zeros": zeros,
    },
)


def get_initializer(init: str | Initializer) -> Initializer:
    """Resolve an initializer name (see ``INITIALIZERS``) or return a callable unchanged."""
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    raise ValueError(f"init must be one of {INITIALIZERS.names} or a callable, got {init!r}")
