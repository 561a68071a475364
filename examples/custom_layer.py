"""Write a new layer outside the package, prove its gradient, then train with it.

Run: python examples/custom_layer.py
"""

from __future__ import annotations

import numpy as np

import tinynet as tn


class Swish(tn.Module):
    """y = x * sigmoid(x);  dL/dx = g * (s + x * s * (1 - s)), s = sigmoid(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.s = x, 0.5 + 0.5 * np.tanh(0.5 * x)
        return x * self.s

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        s = self.s
        return grad_out * (s + self.x * s * (1.0 - s))


def main(epochs: int = 300) -> float:
    rng = np.random.default_rng(0)
    print(tn.gradcheck(Swish(), rng.standard_normal((4, 3)), rng=0))

    # learn y = sin(3x) with the new layer used like any built-in one
    x = rng.uniform(-1, 1, (256, 1))
    y = np.sin(3 * x)
    model = tn.Sequential(tn.Dense(1, 32, rng=1), Swish(), tn.Dense(32, 1, rng=2))
    history = tn.fit(
        model,
        x,
        y,
        loss=tn.MSELoss(),
        optimizer=tn.Adam(model.parameters(), lr=0.01),
        epochs=epochs,
        rng=0,
        verbose=0,
    )
    print(f"MSE after epoch 1: {history.loss[0]:.2e}, after epoch {epochs}: {history.loss[-1]:.2e}")
    return history.loss[-1]


if __name__ == "__main__":
    main()
