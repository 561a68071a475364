"""tinynet: a small, readable, fast NumPy neural-network framework.

Modules compute ``forward`` and ``backward`` by hand and compose in containers; training is
driven by small pluggable objects (Loss, Optimizer, Schedule, Clipper, Regularizer).
"""

from tinynet import (
    bench,
    callbacks,
    clip,
    data,
    datasets,
    init,
    metrics,
    mlp,
    optim,
    regularizers,
    schedules,
    tabular,
)
from tinynet._version import __version__
from tinynet.activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from tinynet.callbacks import Callback, EarlyStopping, History, Progress
from tinynet.clip import ClipGlobalNorm, ClipNorm, Clipper, ClipValue
from tinynet.containers import Concat, Container, Residual, Sequential
from tinynet.datasets import load_csv
from tinynet.embedding import Embedding
from tinynet.export import ExportError, export_onnx  # onnx itself is imported only on export
from tinynet.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
from tinynet.graph import Graph
from tinynet.layers import Dense, Dropout, Flatten
from tinynet.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    Loss,
    MAELoss,
    MSELoss,
)
from tinynet.merge import Add, Concatenate, Multiply
from tinynet.mlp import MLP
from tinynet.module import Module, Parameter
from tinynet.node import Input, Node
from tinynet.normalization import BatchNorm1d, LayerNorm
from tinynet.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from tinynet.registry import register_module
from tinynet.regularizers import L1, L1L2, L2, Regularizer
from tinynet.schedules import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Schedule,
    StepDecay,
    Warmup,
)
from tinynet.serialization import ModelFileError, load, load_metadata, save
from tinynet.train import (
    TrainingDivergedError,
    evaluate,
    fit,
    predict,
)

__all__ = [
    "ELU",
    "GELU",
    "L1",
    "L1L2",
    "L2",
    "MLP",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Add",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "Callback",
    "ClipGlobalNorm",
    "ClipNorm",
    "ClipValue",
    "Clipper",
    "Concat",
    "Concatenate",
    "Constant",
    "Container",
    "CosineDecay",
    "CrossEntropyLoss",
    "Dense",
    "Dropout",
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
    "ModelFileError",
    "Module",
    "Multiply",
    "Node",
    "Optimizer",
    "Parameter",
    "Progress",
    "RMSprop",
    "ReLU",
    "Regularizer",
    "Residual",
    "Schedule",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StepDecay",
    "Tanh",
    "TrainingDivergedError",
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
