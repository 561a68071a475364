"""tinynet: a small, readable, fast NumPy neural-network framework.

Modules compute ``forward`` and ``backward`` by hand and compose in containers; training is
driven by small pluggable objects (Loss, Optimizer, Schedule, Clipper, Regularizer).

Every public name loads on first use (PEP 562): ``import tinynet`` imports nothing but the
version, so it is instant, and the ``tinynet`` command can answer a Ctrl-C while NumPy loads.
``tinynet.Dense`` imports ``tinynet.layers.core`` the first time it is read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tinynet._version import __version__

if TYPE_CHECKING:  # what __getattr__ below loads on first use, for type checkers and editors
    from tinynet import data, datasets, tabular
    from tinynet.core import init
    from tinynet.core.container import Container
    from tinynet.core.module import Module, Parameter
    from tinynet.core.node import Input, Node
    from tinynet.core.registry import register_module
    from tinynet.datasets import load_csv
    from tinynet.io.checkpoint import Checkpoint, CheckpointMismatchError
    from tinynet.io.model_file import ModelFileError, load, load_metadata, save
    from tinynet.io.onnx import ExportError, export_onnx
    from tinynet.layers.activation import (
        ELU,
        GELU,
        Identity,
        LeakyReLU,
        ReLU,
        Sigmoid,
        Softmax,
        Softplus,
        Tanh,
    )
    from tinynet.layers.attention import MultiheadAttention, TransformerEncoderLayer
    from tinynet.layers.containers import Concat, Residual, Sequential
    from tinynet.layers.conv import Conv1d, Conv2d
    from tinynet.layers.core import Dense, Dropout, Dropout2d, Flatten, Permute, Reshape
    from tinynet.layers.embedding import Embedding, PositionalEmbedding
    from tinynet.layers.graph import Graph
    from tinynet.layers.merge import Add, Concatenate, Multiply, Select
    from tinynet.layers.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
    from tinynet.layers.pooling import (
        AdaptiveAvgPool1d,
        AdaptiveAvgPool2d,
        AvgPool1d,
        AvgPool2d,
        MaxPool1d,
        MaxPool2d,
    )
    from tinynet.layers.recurrent import GRU, LSTM, RNN
    from tinynet.models import mlp
    from tinynet.models.mlp import MLP
    from tinynet.tabular import TabularModel, TabularSettings
    from tinynet.tools import bench
    from tinynet.tools.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
    from tinynet.training import callbacks, clip, metrics, optim, regularizers, schedules
    from tinynet.training.callbacks import Callback, CSVLogger, EarlyStopping, History, Progress, TensorBoard
    from tinynet.training.clip import ClipGlobalNorm, ClipNorm, Clipper, ClipValue
    from tinynet.training.loop import TrainingDivergedError, evaluate, fit, predict
    from tinynet.training.losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, Loss, MAELoss, MSELoss
    from tinynet.training.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
    from tinynet.training.regularizers import L1, L1L2, L2, Regularizer
    from tinynet.training.schedules import (
        Constant,
        CosineDecay,
        ExponentialDecay,
        InverseTimeDecay,
        Schedule,
        StepDecay,
        Warmup,
    )


# module -> the public names it defines
_NAMES: dict[str, tuple[str, ...]] = {
    "tinynet.core.container": ("Container",),
    "tinynet.core.module": ("Module", "Parameter"),
    "tinynet.core.node": ("Input", "Node"),
    "tinynet.core.registry": ("register_module",),
    "tinynet.io.checkpoint": ("Checkpoint", "CheckpointMismatchError"),
    "tinynet.io.model_file": ("ModelFileError", "load", "load_metadata", "save"),
    "tinynet.layers.activation": (
        "ELU",
        "GELU",
        "Identity",
        "LeakyReLU",
        "ReLU",
        "Sigmoid",
        "Softmax",
        "Softplus",
        "Tanh",
    ),
    "tinynet.layers.attention": ("MultiheadAttention", "TransformerEncoderLayer"),
    "tinynet.layers.containers": ("Concat", "Residual", "Sequential"),
    "tinynet.layers.conv": ("Conv1d", "Conv2d"),
    "tinynet.layers.core": ("Dense", "Dropout", "Dropout2d", "Flatten", "Permute", "Reshape"),
    "tinynet.layers.embedding": ("Embedding", "PositionalEmbedding"),
    "tinynet.layers.graph": ("Graph",),
    "tinynet.layers.merge": ("Add", "Concatenate", "Multiply", "Select"),
    "tinynet.layers.normalization": ("BatchNorm1d", "BatchNorm2d", "LayerNorm"),
    "tinynet.layers.pooling": (
        "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d",
        "AvgPool1d",
        "AvgPool2d",
        "MaxPool1d",
        "MaxPool2d",
    ),
    "tinynet.layers.recurrent": ("GRU", "LSTM", "RNN"),
    "tinynet.models.mlp": ("MLP",),
    "tinynet.training.callbacks": (
        "Callback",
        "CSVLogger",
        "EarlyStopping",
        "History",
        "Progress",
        "TensorBoard",
    ),
    "tinynet.training.clip": ("ClipGlobalNorm", "ClipNorm", "Clipper", "ClipValue"),
    "tinynet.training.loop": ("TrainingDivergedError", "evaluate", "fit", "predict"),
    "tinynet.training.losses": (
        "BCEWithLogitsLoss",
        "CrossEntropyLoss",
        "HuberLoss",
        "Loss",
        "MAELoss",
        "MSELoss",
    ),
    "tinynet.training.optim": ("SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"),
    "tinynet.training.regularizers": ("L1", "L1L2", "L2", "Regularizer"),
    "tinynet.training.schedules": (
        "Constant",
        "CosineDecay",
        "ExponentialDecay",
        "InverseTimeDecay",
        "Schedule",
        "StepDecay",
        "Warmup",
    ),
}

# name -> (module, attribute); attribute None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    name: (module, name) for module, names in _NAMES.items() for name in names
}
_LAZY.update(
    {
        "bench": ("tinynet.tools.bench", None),
        "gradcheck": ("tinynet.tools.gradcheck", "gradcheck"),
        "gradcheck_loss": ("tinynet.tools.gradcheck", "gradcheck_loss"),
        "GradcheckError": ("tinynet.tools.gradcheck", "GradcheckError"),
        "GradcheckReport": ("tinynet.tools.gradcheck", "GradcheckReport"),
        "export_onnx": ("tinynet.io.onnx", "export_onnx"),
        "ExportError": ("tinynet.io.onnx", "ExportError"),
        "load_csv": ("tinynet.datasets", "load_csv"),
        "TabularModel": ("tinynet.tabular", "TabularModel"),
        "TabularSettings": ("tinynet.tabular", "TabularSettings"),
        "data": ("tinynet.data", None),
        "datasets": ("tinynet.datasets", None),
        "tabular": ("tinynet.tabular", None),
        "init": ("tinynet.core.init", None),
        "mlp": ("tinynet.models.mlp", None),
        "callbacks": ("tinynet.training.callbacks", None),
        "clip": ("tinynet.training.clip", None),
        "metrics": ("tinynet.training.metrics", None),
        "optim": ("tinynet.training.optim", None),
        "regularizers": ("tinynet.training.regularizers", None),
        "schedules": ("tinynet.training.schedules", None),
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tinynet' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "L1",
    "L1L2",
    "L2",
    "LSTM",
    "MLP",
    "RNN",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "Add",
    "AvgPool1d",
    "AvgPool2d",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "CheckpointMismatchError",
    "ClipGlobalNorm",
    "ClipNorm",
    "ClipValue",
    "Clipper",
    "Concat",
    "Concatenate",
    "Constant",
    "Container",
    "Conv1d",
    "Conv2d",
    "CosineDecay",
    "CrossEntropyLoss",
    "Dense",
    "Dropout",
    "Dropout2d",
    "EarlyStopping",
    "Embedding",
    "ExponentialDecay",
    "ExportError",
    "Flatten",
    "GradcheckError",
    "GradcheckReport",
    "Graph",
    "History",
    "HuberLoss",
    "Identity",
    "Input",
    "InverseTimeDecay",
    "LayerNorm",
    "LeakyReLU",
    "Loss",
    "MAELoss",
    "MSELoss",
    "MaxPool1d",
    "MaxPool2d",
    "ModelFileError",
    "Module",
    "MultiheadAttention",
    "Multiply",
    "Node",
    "Optimizer",
    "Parameter",
    "Permute",
    "PositionalEmbedding",
    "Progress",
    "RMSprop",
    "ReLU",
    "Regularizer",
    "Reshape",
    "Residual",
    "Schedule",
    "Select",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StepDecay",
    "TabularModel",
    "TabularSettings",
    "Tanh",
    "TensorBoard",
    "TrainingDivergedError",
    "TransformerEncoderLayer",
    "Warmup",
    "__version__",
    "bench",
    "callbacks",
    "clip",
    "data",
    "datasets",
    "evaluate",
    "export_onnx",
    "fit",
    "gradcheck",
    "gradcheck_loss",
    "init",
    "load",
    "load_csv",
    "load_metadata",
    "metrics",
    "mlp",
    "optim",
    "predict",
    "register_module",
    "regularizers",
    "save",
    "schedules",
    "tabular",
]
