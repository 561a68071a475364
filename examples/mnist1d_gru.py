"""MNIST-1D (Greydanus 2020) with the paper's recurrent model: a bidirectional GRU of hidden size 6.

Run: python examples/mnist1d_gru.py [SEEDS] [FIRST_SEED]      (needs: pip install mnist1d; no download)

Each of the 4,000 training sequences (1,000 test) is 40 steps of one number, read as (N, 40, 1). The
paper's GRU: bidirectional, hidden size 6, its whole output sequence (40 steps x 12) flattened into
Dense(480 -> 10); Adam at 1e-2, batches of 100, 8,000 steps (200 epochs). The paper reports 91%.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tinynet as tn


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    generated = make_dataset(get_dataset_args())  # the paper's settings, seed 42
    return generated["x"][:, :, None], generated["y"], generated["x_test"][:, :, None], generated["y_test"]


def gru(rng: np.random.Generator) -> tn.Sequential:
    return tn.Sequential(
        tn.GRU(1, 6, bidirectional=True, rng=rng),  # [output (N, 40, 12), h_n (N, 2, 6)]
        tn.Select(0),
        tn.Flatten(),  # (N, 480)
        tn.Dense(480, 10, rng=rng),
    )


def main(seeds: int = 3, first: int = 0) -> float:
    x, y, x_test, y_test = data()
    scores = []
    for seed in range(first, first + seeds):
        model = gru(np.random.default_rng(seed))
        start = time.perf_counter()
        tn.fit(
            model,
            x,
            y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.Adam(model.parameters(), lr=1e-2),
            epochs=200,  # 40 batches of 100 an epoch: 8,000 steps
            batch_size=100,
            rng=seed,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        scores.append(tn.metrics.accuracy(y_test, tn.predict(model, x_test)))
        print(f"GRU, seed {seed}: test accuracy {scores[-1]:.3f} ({seconds:.0f}s of training)")
    print(f"GRU mean over {seeds} seeds: {np.mean(scores):.3f} (paper: 0.91)")
    return float(np.mean(scores))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
