"""``TrainingSettings``: how a network trains, by name, in one typed object.

The command line, the search, ``TabularModel`` and the scikit-learn estimators describe training
with the same few names (an optimizer, a learning rate, penalties, clipping, early stopping); this
is the one place where those names become tinynet objects:

    settings = TrainingSettings(optimizer="adam", learning_rate=0.01, clip=1.0, patience=5)
    history = tn.fit(model, x, y, loss=tn.MSELoss(), **settings.fit_options(model.parameters()))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tinynet.core.checks import check_float, check_int
from tinynet.core.parameter import Parameter
from tinynet.training.callbacks import EarlyStopping
from tinynet.training.clip import ClipGlobalNorm, Clipper
from tinynet.training.optim import OPTIMIZERS, Optimizer
from tinynet.training.regularizers import L1L2, Regularizer
from tinynet.training.schedules import InverseTimeDecay, Schedule


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """Training by name (defaults: those of ``tinynet train``, kept from the
    small NumPy MLP project tinynet grew from).

    optimizer: a name of ``tinynet.optim.OPTIMIZERS``; learning_rate > 0; decay_rate >= 0, the
    inverse-time decay per epoch, lr_t = lr / (1 + decay_rate * t); l1, l2 >= 0, penalties on the
    weights (never the biases); clip: the largest global gradient norm (None: no clipping);
    epochs >= 1; batch_size >= 1; patience >= 0, epochs without improvement of the validation loss
    before stopping, the best weights kept (0: no early stopping); validation_split in (0, 1), the
    fraction of the training rows held out for early stopping.
    """

    optimizer: str = "momentum"
    learning_rate: float = 0.01
    decay_rate: float = 0.01
    l1: float = 0.0
    l2: float = 0.0
    clip: float | None = None
    epochs: int = 100
    batch_size: int = 32
    patience: int = 10
    validation_split: float = 0.2

    def __post_init__(self) -> None:
        OPTIMIZERS.check(self.optimizer)
        check_float(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_float(self.decay_rate, "decay_rate", low=0.0)
        check_float(self.l1, "l1", low=0.0)
        check_float(self.l2, "l2", low=0.0)
        if self.clip is not None:
            check_float(self.clip, "clip", low=0.0, low_inclusive=False)
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.patience, "patience", minimum=0)
        check_float(
            self.validation_split,
            "validation_split",
            low=0.0,
            high=1.0,
            low_inclusive=False,
            high_inclusive=False,
        )

    # -- the objects the names stand for -------------------------------------------------------
    def make_optimizer(self, params: Sequence[Parameter]) -> Optimizer:
        return OPTIMIZERS[self.optimizer](list(params), lr=self.learning_rate)

    def schedule(self) -> Schedule:
        return InverseTimeDecay(self.learning_rate, self.decay_rate)

    def clipper(self) -> Clipper | None:
        return ClipGlobalNorm(self.clip) if self.clip else None

    def regularizer(self) -> Regularizer | None:
        return L1L2(self.l1, self.l2) if self.l1 or self.l2 else None

    def early_stopping(self) -> EarlyStopping | None:
        return EarlyStopping(patience=self.patience) if self.patience else None

    def fit_options(self, params: Sequence[Parameter]) -> dict[str, Any]:
        """The keyword arguments of ``tinynet.fit`` these settings stand for (a fresh optimizer)."""
        return {
            "optimizer": self.make_optimizer(params),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "schedule": self.schedule(),
            "clipper": self.clipper(),
            "regularizer": self.regularizer(),
            "validation_split": self.validation_split if self.patience else 0.0,
            "early_stopping": self.early_stopping(),
        }
