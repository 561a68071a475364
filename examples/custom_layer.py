"""Write a new layer outside the package, prove its gradient, and train with it.

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


def main() -> None:
    rng = np.random.default_rng(0)
    print(tn.gradcheck(Swish(), rng.standard_normal((4, 3)), rng=0))

    # learn y = sin(3x) with a hand-written loop, using the new layer like any other
    x = rng.uniform(-1, 1, (256, 1))
    y = np.sin(3 * x)
    model = tn.Sequential(tn.Dense(1, 32, rng=1), Swish(), tn.Dense(32, 1, rng=2))
    loss = tn.MSELoss()
    first = loss(model(x), y)
    for _ in range(500):
        value = loss(model(x), y)
        model.zero_grad()
        model.backward(loss.backward())
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    print(f"MSE before {first:.4f}, after 500 steps {value:.4f}")


if __name__ == "__main__":
    main()
