"""``Embedding``: integer category indices in, learned vectors out, as ``torch.nn.Embedding``;
``PositionalEmbedding``: a learned vector per position, added to a sequence."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from typing_extensions import Self, override

from tinynet.core.checks import (
    Array,
    RngLike,
    as_float_dtype,
    as_generator,
    check_grad_out,
    check_int,
    fmt_shape,
)
from tinynet.core.init import Initializer, get_initializer
from tinynet.core.inspect import example_sequence
from tinynet.core.module import Module
from tinynet.core.parameter import Parameter, allocate
from tinynet.core.registry import register_module


@register_module
class Embedding(Module):
    """A table of ``num_embeddings`` vectors of ``embedding_dim`` values, looked up by index, as
    ``torch.nn.Embedding``.

    idx: (batch, ...) -> y: (batch, ..., dim), e.g. (batch, seq) -> (batch, seq, dim)
    With ``flatten=True`` each sample's vectors lie side by side instead, (batch, seq) ->
    (batch, seq * dim): what tinynet 0.2's Embedding returned (its model files load this way).
    forward:  y[b] = W[idx[b]]
    backward: dL/dW[i] += sum of g[b] over the positions b with idx[b] = i (repeated indices add up);
              indices have no gradient, so ``backward`` returns None.
    W starts as N(0, 1), as in PyTorch (``init="normal"``), or from any initializer of
    ``tinynet.core.init`` by name or callable. An index outside [0, num_embeddings) is a ``ValueError``
    naming it and its position.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("init", "rng")  # the saved weights replace them

    caches: ClassVar[tuple[str, ...]] = ("_idx",)

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        flatten: bool = False,
        init: str | Initializer = "normal",
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.flatten = bool(flatten)
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", minimum=1)
        resolved = as_float_dtype(dtype)
        shape = (self.num_embeddings, self.embedding_dim)
        if init == "normal":
            table = as_generator(rng).standard_normal(shape).astype(resolved)
        else:
            table = np.asarray(get_initializer(init)(*shape, as_generator(rng), resolved)).astype(
                resolved, copy=False
            )
            if table.shape != shape:
                raise ValueError(f"init must return shape {fmt_shape(shape)}, got {fmt_shape(table.shape)}")
        self.weight = Parameter(table, regularize=True, name="weight", copy=False)
        self._idx: Array | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Any = ()) -> Self:
        """The layer with a zero table (no random draw): a model file's weights are loaded next.

        A configuration without ``flatten`` comes from tinynet 0.2, whose Embedding flattened."""
        return cls(**{"flatten": True, **config}, init="zeros")

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.weight.data.dtype

    def example_input(self, in_features: int | tuple[int, ...] | None = None) -> Array:
        """A batch of one sample of index 0 (int64), shape (1, *in_features), to trace shapes with."""
        shape = (
            (1,) if in_features is None else (in_features,) if isinstance(in_features, int) else in_features
        )
        return np.zeros((1, *shape), dtype=np.int64)

    def _indices(self, idx: Any) -> Array:
        array = np.asarray(idx)
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"{self!r} takes integer indices, got dtype {array.dtype}; pass indices.astype(int)"
            )
        if array.ndim < 1:
            raise ValueError(f"{self!r} takes indices with a batch axis, got {fmt_shape(array.shape)}")
        if array.size and (array.min() < 0 or array.max() >= self.num_embeddings):
            bad = np.argwhere((array < 0) | (array >= self.num_embeddings))[0]
            where = tuple(int(i) for i in bad)
            value = int(array[where])
            raise ValueError(
                f"{self!r}: index {value} at position {where} is outside [0, {self.num_embeddings})"
            )
        return array

    @override
    def forward(self, x: Any) -> Array:
        idx = self._indices(x)
        self._idx = idx
        y: Array = self.weight.data[idx]
        return y.reshape(len(idx), -1) if self.flatten else y

    @override
    def backward(self, grad_out: Array) -> Any:
        idx = self._cached(self._idx)
        shape = (*idx.shape, self.embedding_dim)
        flat = (len(idx), int(np.prod(shape[1:])))
        g = check_grad_out(grad_out, flat if self.flatten else shape, self)
        grad = self.weight.grad
        np.add.at(grad, idx.reshape(-1), g.reshape(-1, self.embedding_dim))
        return None

    @override
    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (", flatten=True" if self.flatten else "")


@register_module
class PositionalEmbedding(Module):
    """Learned positions (BERT, GPT-2): a table P of ``max_len`` vectors added to a sequence.

    x: (N, L, E) with L <= max_len -> y = x + P[:L] (the same P[t] for every sample)
    backward: dL/dx = g;  dL/dP[t] += sum over the batch of g[:, t]

    P starts as N(0, ``std``^2) (0.02, as GPT-2). Keras's ``PositionEmbedding`` returns P[:L] alone
    for an ``Add``; here the sum comes out, so the layer chains after an ``Embedding`` in a
    ``Sequential``.
    """

    not_settings: ClassVar[tuple[str, ...]] = ("std", "rng")  # the saved table replaces the draw
    caches: ClassVar[tuple[str, ...]] = ("_length",)

    def __init__(
        self,
        max_len: int,
        embedding_dim: int,
        *,
        std: float = 0.02,
        dtype: DTypeLike = np.float64,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.max_len = check_int(max_len, "max_len", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", minimum=1)
        resolved = as_float_dtype(dtype)
        table = allocate((self.max_len, self.embedding_dim), resolved)
        if std:
            table[...] = as_generator(rng).normal(0.0, std, table.shape)
        self.weight = Parameter(table, regularize=False, name="weight", copy=False)
        self._length: int | None = None

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any], children: Any = ()) -> Self:
        """The layer with a zero table (no random draw): a model file's weights are loaded next."""
        return cls(**config, std=0.0)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.weight.data.dtype

    def example_input(self, in_features: int | tuple[int, ...] | None = None) -> Array:
        """A batch of one sample of index 0 (int64), shape (1, *in_features), to trace shapes with."""
        """One sequence of ``max_len`` steps (or of ``in_features`` shape) for ``summary()``."""
        return example_sequence(in_features, self.embedding_dim, self.dtype, self.max_len)

    @override
    def forward(self, x: Any) -> Array:
        array = np.asarray(x)
        if array.ndim != 3 or array.shape[2] != self.embedding_dim or not 1 <= array.shape[1] <= self.max_len:
            raise ValueError(
                f"{self!r} expected x (batch, steps <= {self.max_len}, {self.embedding_dim}), got shape "
                f"{fmt_shape(array.shape)}"
            )
        if array.dtype != self.dtype:
            array = array.astype(self.dtype)
        self._length = array.shape[1]
        y: Array = array + self.weight.data[: self._length]
        return y

    @override
    def backward(self, grad_out: Array) -> Array:
        length = self._cached(self._length)
        g = np.asarray(grad_out)
        if g.ndim != 3 or g.shape[1:] != (length, self.embedding_dim):
            raise ValueError(
                f"{self!r}.backward: grad_out must have the shape of the forward output (batch, {length}, "
                f"{self.embedding_dim}), got {fmt_shape(g.shape)}"
            )
        self.weight.grad[:length] += g.sum(axis=0)
        return g

    @override
    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.embedding_dim}"
