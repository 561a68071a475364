"""The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): a long-memory test.

Run: python examples/adding_problem.py [STEPS] [SEED]

Each sequence has T = 50 steps of two numbers: a value drawn uniformly from [0, 1] and a marker, 1 at
exactly two steps (one in each half) and 0 elsewhere. The target is the sum of the two marked values,
read only at the end, so the network must carry them across up to 49 steps. Predicting the mean
sum (1.0) gives a mean squared error of 1/6 = 0.167; a network that solves the task goes below 0.01.
An LSTM reads the sequence; its final hidden state h_n feeds a Dense layer.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tinynet as tn

LENGTH = 50


def adding_problem(
    count: int, rng: np.random.Generator, length: int = LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sequences (count, length, 2) of [value, marker] and their targets (count, 1)."""
    values = rng.uniform(0.0, 1.0, (count, length))
    markers = np.zeros((count, length))
    rows = np.arange(count)
    first = rng.integers(0, length // 2, count)
    second = rng.integers(length // 2, length, count)
    markers[rows, first] = markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=2), target[:, None]


def model(rng: np.random.Generator) -> tn.Sequential:
    return tn.Sequential(
        tn.LSTM(2, 32, rng=rng),  # [output (N, 50, 32), h_n (N, 1, 32), c_n (N, 1, 32)]
        tn.Select(1),  # the final hidden state
        tn.Flatten(),  # (N, 32)
        tn.Dense(32, 1, rng=rng),
    )


def main(steps: int = 1200, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x, y = adding_problem(20_000, rng)
    x_test, y_test = adding_problem(2_000, rng)
    network = model(rng)
    batch = 50
    epochs = max(1, round(steps * batch / len(x)))
    start = time.perf_counter()
    history = tn.fit(
        network,
        x,
        y,
        loss=tn.MSELoss(),
        optimizer=tn.Adam(network.parameters(), lr=1e-2),
        clipper=tn.ClipGlobalNorm(1.0),
        epochs=epochs,
        batch_size=batch,
        validation_data=(x_test, y_test),
        rng=seed,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    mse = tn.metrics.mse(y_test, tn.predict(network, x_test))
    curve = ", ".join(f"{v:.3f}" for v in history.val_loss)
    print(f"validation MSE by epoch: {curve}")
    print(
        f"adding problem, T = {LENGTH}: test MSE {mse:.4f} after {epochs * len(x) // batch} steps "
        f"({seconds:.0f}s); predicting the mean gives {float(np.var(y_test)):.3f}"
    )
    return mse


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
