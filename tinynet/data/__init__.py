"""Arrays in, batches out: splits, folds, minibatches, standardization and one-hot rows."""

from tinynet.data.preprocessing import NotFittedError, StandardScaler, one_hot
from tinynet.data.split import (
    fold_indices,
    minibatch_indices,
    minibatches,
    split_indices,
    train_test_split,
)

__all__ = [
    "NotFittedError",
    "StandardScaler",
    "fold_indices",
    "minibatch_indices",
    "minibatches",
    "one_hot",
    "split_indices",
    "train_test_split",
]
