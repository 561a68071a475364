"""The metadata a table model's file carries: one typed, versioned schema, read and written here only.

Version 3 (tinynet 0.3) is a JSON object with ``schema_version: 3`` and

    task            "classification" or "regression"
    dataset         the data set's name (or null)
    target_name     the target column's name
    target_names    the class names, in output order (classification; else null)
    features        the feature encoder's state (``TableEncoder.state``)
    outputs         what the network returns: "probabilities" (it ends in Softmax), "logits" or
                    "values" (standardized by ``y_scaler`` when given)
    y_scaler        {"mean": [m], "scale": [s]} for regression; else null
    settings        the ``TabularSettings`` the model was trained with

Version 2 (tinynet 0.2) is the same without ``schema_version`` and ``settings``. Version 1
(tinynet 0.1) recorded ``feature_names`` and ``x_scaler`` (plain standardization, no text
columns) and no ``outputs``: its classifiers end in a Softmax layer, which ``TabularModel.load``
recognizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet.data import StandardScaler
from tinynet.datasets import TASKS
from tinynet.tabular.encoder import TableEncoder

SCHEMA_VERSION = 3
OUTPUT_KINDS = ("probabilities", "logits", "values")


def describes_a_table_model(meta: dict[str, Any]) -> bool:
    """True when ``meta`` (a model file's metadata) is a table model's, of any version."""
    return "features" in meta or ("feature_names" in meta and "x_scaler" in meta)


@dataclass(frozen=True)
class TabularMetadata:
    """A table model's metadata (see the module for the schema)."""

    task: str
    encoder: TableEncoder
    outputs: str | None  # None: a version 1 file, which does not say (the network does)
    class_names: tuple[str, ...] | None = None
    y_scaler: StandardScaler | None = None
    target_name: str | None = None
    dataset: str | None = None
    settings: dict[str, Any] | None = None
    version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The JSON-able metadata of the newest schema (what ``tinynet.save`` writes)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "task": self.task,
            "dataset": self.dataset,
            "target_name": self.target_name,
            "target_names": list(self.class_names) if self.class_names is not None else None,
            "features": self.encoder.state(),
            "outputs": self.outputs,
            "y_scaler": self.y_scaler.get_state() if self.y_scaler is not None else None,
            "settings": self.settings,
        }

    @classmethod
    def from_json(cls, meta: dict[str, Any]) -> TabularMetadata:
        """Read any version; ``ValueError`` saying what is wrong (a file may come from anywhere)."""
        version = meta.get("schema_version", 2 if "features" in meta else 1)
        if version not in (1, 2, SCHEMA_VERSION):
            raise ValueError(f"metadata schema version {version!r} is not one this tinynet reads (1 to 3)")
        task = meta.get("task")
        if task not in TASKS:
            raise ValueError(f"the task is damaged: expected one of {list(TASKS)}, got {task!r}")
        encoder = _encoder(meta)
        outputs = meta.get("outputs")
        if outputs is not None and outputs not in OUTPUT_KINDS:
            raise ValueError(
                f"the outputs are damaged: expected one of {list(OUTPUT_KINDS)}, got {outputs!r}"
            )
        if outputs is None and version != 1:
            raise ValueError("the metadata does not say what the network outputs")
        names = meta.get("target_names")
        class_names = None
        if task == "classification" and names is not None:  # files of 0.1 may have none
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("the class names are damaged: expected a list of strings")
            class_names = tuple(names)
        y_scaler = None
        if meta.get("y_scaler") is not None:
            try:
                y_scaler = StandardScaler.from_state(meta["y_scaler"], columns=1)
            except ValueError as error:
                raise ValueError(f"the target scaling is damaged ({error})") from None
        target_name = meta.get("target_name")
        dataset = meta.get("dataset")
        settings = meta.get("settings")
        return cls(
            task,
            encoder,
            outputs,
            class_names,
            y_scaler,
            str(target_name) if target_name is not None else None,
            str(dataset) if dataset is not None else None,
            settings if isinstance(settings, dict) else None,
            int(version),
        )


def _encoder(meta: dict[str, Any]) -> TableEncoder:
    """The feature encoder of any version (version 1: a plain scaler of numeric columns)."""
    if "features" in meta:
        return TableEncoder.from_state(meta["features"])
    if isinstance(meta.get("feature_names"), list) and "x_scaler" in meta:
        names = [str(n) for n in meta["feature_names"]]
        scaler = StandardScaler.from_state(meta["x_scaler"], columns=len(names))
        encoder = TableEncoder(names, [])
        encoder.mean = np.asarray(scaler.mean_, dtype=np.float64)
        encoder.scale = np.asarray(scaler.scale_, dtype=np.float64)
        return encoder
    raise ValueError("this model file has no feature description; save it with 'tinynet train'")
