"""Classify iris flowers with a small MLP built in code.

Run: python examples/iris.py
"""

from __future__ import annotations

import tinynet as tn
from tinynet.data import StandardScaler, train_test_split
from tinynet.datasets import load_iris


def main(epochs: int = 100) -> float:
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(iris.x, iris.y, test_size=0.2, rng=42, stratify=True)
    scaler = StandardScaler().fit(x_train)  # statistics from the training split only
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    model = tn.Sequential(tn.Dense(4, 16, rng=0), tn.ReLU(), tn.Dense(16, 3, rng=1))
    history = tn.fit(
        model,
        x_train,
        y_train,
        loss=tn.CrossEntropyLoss(),  # takes logits: softmax is fused into the loss
        optimizer=tn.SGD(model.parameters(), lr=0.05, momentum=0.9),
        schedule=tn.InverseTimeDecay(0.05, decay_rate=0.01),
        epochs=epochs,
        batch_size=16,
        rng=42,
        metrics=["accuracy"],
        verbose=0,
    )
    predicted = tn.predict(model, x_test).argmax(axis=1)
    print(model.summary())
    print(f"\nfinal training loss {history.loss[-1]:.4f}, training accuracy {history['accuracy'][-1]:.3f}")
    print(tn.metrics.classification_report(y_test, predicted, target_names=iris.target_names))
    return tn.metrics.accuracy(y_test, predicted)


if __name__ == "__main__":
    main()
