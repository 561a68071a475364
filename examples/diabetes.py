"""Regress diabetes progression with an MLP, Adam, L2 and early stopping, all built in code.

Run: python examples/diabetes.py
"""

from __future__ import annotations

import tinynet as tn
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import load_diabetes


def main(epochs: int = 200) -> float:
    data = load_diabetes()
    x_train, x_test, y_train, y_test = train_test_split(data.x, data.y, test_size=0.2, rng=42)
    x_scaler, y_scaler = StandardScaler().fit(x_train), StandardScaler().fit(y_train)

    model = tn.Sequential(
        tn.Dense(10, 32, rng=0), tn.ReLU(), tn.Dense(32, 16, rng=1), tn.ReLU(), tn.Dense(16, 1, rng=2)
    )
    history = tn.fit(
        model,
        x_scaler.transform(x_train),
        y_scaler.transform(y_train),  # a (n,) target against (n, 1) predictions is reshaped, not broadcast
        loss=tn.MSELoss(),
        optimizer=tn.Adam(model.parameters(), lr=1e-3),
        regularizer=tn.L2(1e-2),
        clipper=tn.ClipGlobalNorm(5.0),
        epochs=epochs,
        batch_size=32,
        validation_split=0.2,
        early_stopping=tn.EarlyStopping(patience=20),
        rng=42,
        verbose=0,
    )
    predicted = y_scaler.inverse_transform(tn.predict(model, x_scaler.transform(x_test))[:, 0])
    print(f"stopped after {history.epochs} epochs, best epoch {history.best_epoch}")
    print(tn.metrics.regression_report(y_test, predicted))
    return tn.metrics.r2(y_test, predicted)


if __name__ == "__main__":
    main()
