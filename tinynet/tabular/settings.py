"""``TabularSettings``: everything that makes a table model what it is, as one typed object.

The fields are the long flags of ``tinynet train`` without their dashes (``--learning_rate`` is
``learning_rate``), so a ``config.json`` written by a run, the flags and this object are three
spellings of one thing. ``SettingError`` is a setting that does not fit the data: it names the
setting, so the command line can say which flag to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet.core.checks import as_float_dtype, check_float, check_int
from tinynet.core.choices import Choices
from tinynet.core.config import plain
from tinynet.core.files import check_fits_in_memory
from tinynet.datasets import TASKS
from tinynet.models.mlp import MLP
from tinynet.tabular.encoder import CATEGORICAL, TableEncoder
from tinynet.training.settings import TrainingSettings

OUTPUTS: Choices[str] = Choices("output", {"softmax": "probabilities", "linear": "values"})
MISSING_POLICIES = ("impute", "drop")


class SettingError(ValueError):
    """A setting that does not fit the table: ``setting`` names it (a ``TabularSettings`` field),
    ``value`` is what it was, ``problem`` says what is wrong and ``fix`` is a value of the same
    setting that would work ("" when there is none)."""

    def __init__(self, setting: str, value: Any, problem: str, fix: str = "") -> None:
        self.setting, self.value, self.problem, self.fix = setting, value, problem, fix
        super().__init__(f"{setting}={value!r}: {problem}" + (f"; use {setting}={fix!r}" if fix else ""))


@dataclass(frozen=True, kw_only=True)
class TabularSettings(TrainingSettings):
    """What a ``TabularModel`` learns from and how (the training fields: ``TrainingSettings``).

    task: "classification" or "regression"; target: the target column by name or index (None: the
    data set's own, or the last column); features: use only these columns; drop: leave these out;
    missing: "impute" (numbers: the training mean; text: a category of its own) or "drop" rows;
    layers: hidden sizes; activation, norm, weight_init: names of ``tinynet.mlp.ACTIVATIONS``,
    ``NORMS`` and ``tinynet.init.INITIALIZERS``; output: "softmax" (classification) or "linear"
    (None: by task); dtype: "float32" or "float64"; dropout in [0, 1); categorical: "embedding"
    (an ``Embedding`` per text column) or "onehot"; embedding_dim: the width of every embedding
    (None: by rule); seed: the one seed of every random choice (initialization, shuffling,
    validation split).
    """

    task: str
    target: str | int | None = None
    features: tuple[str, ...] | None = None
    drop: tuple[str, ...] | None = None
    missing: str = "impute"
    layers: tuple[int, ...] = (16,)
    activation: str = "relu"
    output: str | None = None
    weight_init: str = "he"
    dtype: str = "float64"
    dropout: float = 0.0
    norm: str = "none"
    categorical: str = "embedding"
    embedding_dim: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        if self.missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {list(MISSING_POLICIES)}, got {self.missing!r}")
        if self.categorical not in CATEGORICAL:
            raise ValueError(f"categorical must be one of {list(CATEGORICAL)}, got {self.categorical!r}")
        for name in ("layers", "features", "drop"):  # lists from JSON or flags become tuples
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, (str, int)):
                    raise TypeError(f"{name} must be a sequence, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        for i, size in enumerate(self.layers):
            check_int(size, f"layers[{i}]", minimum=1)
        if self.output is not None:
            OUTPUTS.check(self.output)
            if self.output == "softmax" and self.task != "classification":
                raise SettingError("output", "softmax", "needs task classification (regression: linear)")
        object.__setattr__(self, "dtype", as_float_dtype(self.dtype).name)
        check_float(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        if self.embedding_dim is not None:
            check_int(self.embedding_dim, "embedding_dim", minimum=1)
        check_int(self.seed, "seed", minimum=0)
        self.mlp([]).check()  # activation, norm and weight_init

    @property
    def classification(self) -> bool:
        """Whether the task is classification."""
        return self.task == "classification"

    @property
    def resolved_output(self) -> str:
        """``output``, or its default for the task: softmax for classification, linear otherwise."""
        return self.output or ("softmax" if self.classification else "linear")

    def mlp(self, categories: Sequence[int]) -> MLP:
        """The network builder for text columns of ``categories`` indices each (none: one-hot)."""
        dims = [self.embedding_dim] * len(categories) if self.embedding_dim else None
        return MLP(self.layers, self.activation, self.dropout, self.norm, self.weight_init, self.dtype, dims)

    def check_size(self, encoder: TableEncoder, n_outputs: int) -> int:
        """The parameter count of the network for ``encoder``'s columns; ``SettingError`` when its
        weights, gradients and optimizer state would not fit in memory."""
        categories = [] if self.categorical == "onehot" else encoder.cardinalities()
        count = self.mlp(categories).num_parameters(encoder.width, n_outputs, categories)
        try:  # weights, gradients and up to two optimizer buffers
            check_fits_in_memory(4 * count * self.numpy_dtype.itemsize, f"the network ({count:,} parameters)")
        except ValueError as error:
            raise SettingError("layers", list(self.layers), str(error)) from None
        return count

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        """``dtype`` as a NumPy dtype (float32 or float64)."""
        return np.dtype(self.dtype)

    # -- as data -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able data (tuples as lists), in declaration order."""
        return {field.name: plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def field_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TabularSettings:
        """The settings from ``to_dict()`` (or a subset of its keys); an unknown key is an error."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; settings are {cls.field_names()}")
        return cls(**values)

    def replace(self, **changes: Any) -> TabularSettings:
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        return dataclasses.replace(self, **changes)
