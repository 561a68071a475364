"""tinynet: a small, readable, fast NumPy neural-network framework.

Modules compute ``forward`` and ``backward`` by hand and compose in containers; training is
driven by small pluggable objects (Loss, Optimizer, Schedule, Clipper, Regularizer).
"""

from tinynet import init
from tinynet.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from tinynet.containers import Sequential
from tinynet.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_loss
from tinynet.layers import Dense, Flatten
from tinynet.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    Loss,
    MAELoss,
    MSELoss,
)
from tinynet.module import Module, Parameter

__version__ = "0.1.0"

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dense",
    "Flatten",
    "GradcheckError",
    "GradcheckReport",
    "HuberLoss",
    "Identity",
    "LeakyReLU",
    "Loss",
    "MAELoss",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "__version__",
    "gradcheck",
    "gradcheck_loss",
    "init",
]
