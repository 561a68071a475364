"""A functional Graph with two inputs on the penguins table: numbers through Dense layers, text
columns (island, sex) through an Embedding, joined by Concatenate.

    numbers (batch, 5) -> Dense(5, 16) -> ReLU ------------\\
                                                           Concatenate (batch, 22) -> Dense(22, 16)
    categories (batch, 2) -> Embedding(7, 3) -> Flatten -> (batch, 6) /     -> ReLU -> Dense(16, 3): logits

``categories`` holds one index per text column into one shared table of 7 rows (island: 3 +
missing, sex: 2 + missing). The table has missing values: numbers are imputed with the training
mean, a missing text cell is a category of its own. The model is trained with ``fit``, saved,
loaded, summarized and drawn as DOT.

Run: python examples/two_inputs.py [output folder]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import tinynet as tn
from tinynet.data import split_indices
from tinynet.datasets import load_penguins

NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
TEXT = ["island", "sex"]


def encode_numbers(table: Any, rows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    x = np.column_stack([table.column(name).values[rows] for name in NUMBERS])
    x = np.where(np.isnan(x), mean, x)  # impute with the training mean
    return (x - mean) / std


def encode_text(table: Any, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """One index per text column into one shared table: each column gets its own block of rows,
    and the last row of a block is that column's "missing" category."""
    codes, offset = [], 0
    for name in TEXT:
        column = table.column(name)
        size = len(column.categories) + 1
        values = column.values[rows]
        codes.append(offset + np.where(values < 0, size - 1, values))
        offset += size
    return np.column_stack(codes).astype(np.int64), offset


def build(n_categories: int, rng: np.random.Generator) -> tn.Graph:
    numbers = tn.Input(len(NUMBERS), name="numbers")
    categories = tn.Input(len(TEXT), name="categories", dtype="int64")
    h = tn.ReLU()(tn.Dense(len(NUMBERS), 16, rng=rng)(numbers))
    e = tn.Flatten()(tn.Embedding(n_categories, 3, rng=rng)(categories))  # (batch, 2, 3) -> (batch, 6)
    joined = tn.Concatenate()([h, e])
    hidden = tn.ReLU()(tn.Dense(16 + 2 * 3, 16, rng=rng)(joined))
    return tn.Graph(inputs=[numbers, categories], outputs=tn.Dense(16, 3, rng=rng)(hidden))


def main(folder: Path) -> float:
    table = load_penguins()
    species = table.column("species")
    y = species.values.astype(np.int64)
    train, test = split_indices(len(y), y, 0.2, rng=0, stratify=True)

    raw = np.column_stack([table.column(name).values[train] for name in NUMBERS])
    mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
    x_train = [encode_numbers(table, train, mean, std), encode_text(table, train)[0]]
    x_test = [encode_numbers(table, test, mean, std), encode_text(table, test)[0]]
    missing = sum(int(table.column(name).missing.sum()) for name in NUMBERS + TEXT)

    model = build(encode_text(table, train)[1], np.random.default_rng(0))
    history = tn.fit(
        model,
        x_train,
        y[train],
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.Adam(model.parameters(), lr=0.01),
        epochs=40,
        batch_size=32,
        validation_split=0.2,
        early_stopping=tn.EarlyStopping(patience=8),
        rng=0,
        verbose=0,
    )
    path = folder / "penguins_graph.npz"
    tn.save(model, path)
    loaded = tn.load(path)
    assert isinstance(loaded, tn.Graph)
    predicted = tn.predict(loaded, x_test).argmax(axis=1)
    accuracy = tn.metrics.accuracy(y[test], predicted)
    (folder / "penguins_graph.dot").write_text(loaded.to_dot())

    print(f"penguins: {len(train)} train / {len(test)} test rows, {missing} missing cells")
    print(loaded.summary())
    print(f"trained {history.epochs} epochs: {history.stop_reason}")
    print(f"saved {path} and loaded it back; wrote {folder / 'penguins_graph.dot'}")
    print(f"test accuracy {accuracy:.4f} ({', '.join(species.categories or ())})")
    return accuracy


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as scratch:
            main(Path(scratch))
