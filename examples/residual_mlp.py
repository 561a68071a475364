"""A deeper residual MLP with LayerNorm, GELU and Dropout on the bundled 8x8 digits.

Run: python examples/residual_mlp.py [epochs]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tinynet as tn
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import load_digits


def block(width: int, rng: np.random.Generator) -> tn.Module:
    """x + Dense(Dropout(GELU(Dense(LayerNorm(x))))): a pre-norm residual block."""
    return tn.Residual(
        tn.Sequential(
            tn.LayerNorm(width),
            tn.Dense(width, width, rng=rng),
            tn.GELU("tanh"),
            tn.Dropout(0.1, rng=rng),
            tn.Dense(width, width, init="xavier", rng=rng),
        )
    )


def main(epochs: int = 30) -> float:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.x, digits.y, 0.2, rng=0, stratify=True)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    rng = np.random.default_rng(0)
    model = tn.Sequential(
        tn.Dense(64, 128, rng=rng),
        block(128, rng),
        block(128, rng),
        block(128, rng),
        tn.LayerNorm(128),
        tn.Dense(128, 10, rng=rng),
    )
    start = time.perf_counter()
    history = tn.fit(
        model,
        x_train,
        y_train,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01),
        schedule=tn.Warmup(2, tn.CosineDecay(2e-3, total=max(epochs - 2, 1))),
        epochs=epochs,
        batch_size=64,
        rng=0,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    accuracy = tn.metrics.accuracy(y_test, tn.predict(model, x_test))
    print(f"{model.num_parameters()} parameters, {history.epochs} epochs in {seconds:.1f}s")
    print(f"test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
