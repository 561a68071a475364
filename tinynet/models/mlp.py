"""``MLP``: a builder of the usual network, ``(n_features, n_outputs, rng) -> Module``.

Dense -> [BatchNorm1d | LayerNorm] -> activation -> [Dropout] for each hidden size, then a Dense
output layer giving logits (classification) or values (regression). With category columns
(``categories``: how many indices each takes) it builds a ``Graph`` instead: the numbers and one
``Embedding`` per category column, joined by ``Concatenate`` before the hidden layers.

The builder is a plain object with scikit-learn's ``get_params``/``set_params``, so
``TinyNetClassifier(module=MLP(...))`` searches ``module__hidden`` like any other setting; the
command line builds its networks with it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from tinynet.core.checks import RngLike, as_float_dtype, as_generator, check_float, check_int
from tinynet.core.choices import Choices
from tinynet.core.config import Configurable
from tinynet.core.init import INITIALIZERS
from tinynet.core.module import Module
from tinynet.core.node import Input, Node
from tinynet.layers.activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from tinynet.layers.containers import Sequential
from tinynet.layers.core import Dense, Dropout, Flatten
from tinynet.layers.embedding import Embedding
from tinynet.layers.graph import Graph
from tinynet.layers.merge import Concatenate
from tinynet.layers.normalization import BatchNorm1d, LayerNorm

# the hidden activations and normalizations of the MLP, the command line and the estimators
ACTIVATIONS: Choices[type[Module]] = Choices(
    "activation",
    {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "gelu": GELU, "elu": ELU},
)
NORMS: Choices[type[Module] | None] = Choices(
    "norm", {"none": None, "batch": BatchNorm1d, "layer": LayerNorm}
)


class MLP(Configurable):
    """A multi-layer perceptron builder (see the module docstring).

    hidden: hidden layer sizes; activation: one of ``ACTIVATIONS``; dropout: probability after each
    hidden activation; norm: one of ``NORMS``; weight_init: a name of ``tinynet.init.INITIALIZERS``
    ("he", "xavier", "random", ...); dtype: float32 or float64; embedding_dims: widths of the
    category embeddings (None: fastai's rule of thumb, 1.6 n^0.56 between 2 and 16, for n indices).

    Its settings are its constructor's arguments (``get_params``/``set_params`` for scikit-learn,
    ``get_config`` and ``repr`` as every tinynet setting).
    """

    def __init__(
        self,
        hidden: Sequence[int] = (16,),
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str = "none",
        weight_init: str = "he",
        dtype: DTypeLike = "float64",
        embedding_dims: Sequence[int] | None = None,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.weight_init = weight_init
        self.dtype = dtype
        self.embedding_dims = embedding_dims

    # -- scikit-learn's parameter protocol, from the constructor's arguments ----------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments and their values (scikit-learn's ``get_params``)."""
        return {argument: getattr(self, attribute) for argument, attribute in self.setting_names()}

    def set_params(self, **params: Any) -> MLP:
        """Set constructor arguments by name (scikit-learn's ``set_params``); an unknown name is a
        ``ValueError``."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"MLP has no setting {key!r}; settings are {sorted(valid)}")
            setattr(self, key, value)
        return self

    def check(self) -> None:
        """Validate every setting (called before building), with messages naming the setting."""
        if isinstance(self.hidden, (int, np.integer)):
            raise TypeError(f"hidden must be a list of layer sizes such as (16, 8), got {self.hidden!r}")
        for i, size in enumerate(self.hidden):
            check_int(size, f"hidden[{i}]", minimum=1)
        ACTIVATIONS.check(self.activation)
        check_float(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        NORMS.check(self.norm)
        if not isinstance(self.weight_init, str) or self.weight_init not in INITIALIZERS:
            raise ValueError(f"weight_init must be one of {INITIALIZERS.names}, got {self.weight_init!r}")
        as_float_dtype(self.dtype)

    # -- building ------------------------------------------------------------------------------
    def __call__(
        self, n_features: int, n_outputs: int, rng: RngLike = None, categories: Sequence[int] = ()
    ) -> Module:
        """The network for ``n_features`` numbers (and ``categories`` index columns) and ``n_outputs``."""
        self.check()
        n_features = check_int(n_features, "n_features", minimum=0)
        n_outputs = check_int(n_outputs, "n_outputs", minimum=1)
        generator = as_generator(rng)
        if not categories:
            if n_features < 1:
                raise ValueError("an MLP needs at least one feature")
            return Sequential(*self._stack(n_features, n_outputs, generator))
        dims = list(self.embedding_dims) if self.embedding_dims is not None else [_dim(c) for c in categories]
        if len(dims) != len(categories):
            raise ValueError(f"embedding_dims has {len(dims)} widths for {len(categories)} category columns")
        inputs: list[Node] = []
        parts: list[Node] = []
        if n_features:
            numbers = Input(n_features, name="numbers", dtype=self.dtype)
            inputs.append(numbers)
            parts.append(numbers)
        for j, (count, dim) in enumerate(zip(categories, dims, strict=True)):
            codes = Input(1, name=f"category_{j}", dtype=np.int64)
            inputs.append(codes)
            vectors = Embedding(count, dim, dtype=self.dtype, rng=generator)(codes)  # (batch, 1, dim)
            parts.append(Flatten()(vectors))
        width = n_features + sum(dims)
        h = Concatenate()(parts) if len(parts) > 1 else parts[0]
        for layer in self._stack(width, n_outputs, generator):
            h = layer(h)
        return Graph(inputs=inputs if len(inputs) > 1 else inputs[0], outputs=h)

    def _stack(self, width: int, n_outputs: int, rng: np.random.Generator) -> list[Module]:
        layers: list[Module] = []
        activation, norm = ACTIVATIONS[self.activation], NORMS[self.norm]
        for size in self.hidden:
            layers.append(Dense(width, int(size), init=self.weight_init, dtype=self.dtype, rng=rng))
            if norm is not None:
                layers.append(norm(int(size), dtype=self.dtype))  # type: ignore[call-arg]
            layers.append(activation())
            if self.dropout:
                layers.append(Dropout(float(self.dropout), rng=rng))
            width = int(size)
        layers.append(Dense(width, n_outputs, init=self.weight_init, dtype=self.dtype, rng=rng))
        return layers

    def num_parameters(self, n_features: int, n_outputs: int, categories: Sequence[int] = ()) -> int:
        """The parameter count of the network ``__call__`` would build, computed without building it."""
        dims = list(self.embedding_dims) if self.embedding_dims is not None else [_dim(c) for c in categories]
        total = sum(c * d for c, d in zip(categories, dims, strict=False))
        width = n_features + sum(dims)
        for size in self.hidden:
            total += width * int(size) + int(size) + (2 * int(size) if self.norm != "none" else 0)
            width = int(size)
        return total + width * n_outputs + n_outputs


def _dim(categories: int) -> int:
    """1.6 n^0.56 (fastai's rule of thumb), between 2 and 16."""
    return int(min(16, max(2, round(1.6 * categories**0.56))))


def with_output(body: Module, output: Module) -> Module:
    """``body`` followed by ``output`` (e.g. Softmax), sharing the body's layers (no copies)."""
    if isinstance(body, Graph):
        return body.followed_by(output)
    if isinstance(body, Sequential):
        return Sequential(*body, output)
    return Sequential(body, output)
