"""What ``tinynet train``, ``predict``, ``evaluate`` and ``export`` do on a table, in Python.

Run: python examples/penguins_table.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import tinynet as tn
from tinynet.data import split_indices
from tinynet.tabular import TableData, load_table


def main(folder: str) -> float:
    model = tn.TabularModel(task="classification", layers=(16,))
    table, name, target = load_table("penguins")
    data = TableData.select(table, model.settings, name, target)  # the rows with a target
    train, test = split_indices(len(data), data.y, 0.2, rng=model.settings.seed, stratify=True)

    model.fit(data, train)  # encoder and network from the training rows only
    print(model.describe())
    evaluation = model.evaluate(data, test)
    print(evaluation.text)

    path = Path(folder) / "penguins.npz"
    model.save(path)  # the same file `tinynet train` writes; `tinynet predict` reads it
    again = tn.TabularModel.load(path)
    print("\npredictions for the first test rows:", again.predict(data, test[:4]).tolist())
    return float(evaluation.metrics["accuracy"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
