"""``TabularModel``: a table in, a trained network, a model file and predictions out.

Everything ``tinynet train``, ``predict``, ``evaluate`` and ``export`` do, in a few lines:

    model = tn.TabularModel(task="classification", layers=(16, 8)).fit("penguins")
    model.predict("new_penguins.csv")            # class names, one per row
    model.evaluate("labelled_penguins.csv")      # .metrics (a dict) and the printed report
    model.save("penguins.npz");  tn.TabularModel.load("penguins.npz").to_onnx("penguins.onnx")

The model holds its ``settings`` (``TabularSettings``), the fitted ``encoder`` (standardization,
imputation and category indices, from the training rows only), the ``network`` (logits or
standardized values; a loaded one may end in Softmax), the target scaling ``y_scaler``
(regression), the ``class_names`` and the training ``history``. The same settings and rows give
the same numbers as the command line, bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from typing_extensions import Self

from tinynet.core.checks import Array
from tinynet.core.module import Module
from tinynet.data import StandardScaler
from tinynet.datasets import Table, encode_target
from tinynet.io.model_file import ModelFileError, load, load_metadata, save
from tinynet.layers.activation import Softmax, softmax
from tinynet.layers.containers import Sequential
from tinynet.models.mlp import with_output
from tinynet.tabular import report
from tinynet.tabular.data import TableData, load_table, read_csv_table, target_position
from tinynet.tabular.encoder import Encoded, TableEncoder
from tinynet.tabular.metadata import TabularMetadata, describes_a_table_model
from tinynet.tabular.settings import SettingError, TabularSettings
from tinynet.training.callbacks import Callback, History
from tinynet.training.loop import fit, predict
from tinynet.training.losses import CrossEntropyLoss, Loss, MSELoss

Rows = Sequence[int] | Array | None
TableLike = TableData | Table | str | os.PathLike[str]


@dataclass(frozen=True)
class Evaluation:
    """Test metrics: ``metrics`` (metrics.json's content), ``text`` (the report as printed) and
    ``predicted`` (class indices or values in the target's units)."""

    metrics: dict[str, Any]
    text: str
    predicted: Array

    def __str__(self) -> str:
        return self.text


class MetadataMismatchError(ValueError):
    """The network does not fit the metadata saved beside it (a damaged or hand-edited model file)."""


class TabularModel:
    """A network for a table (see the module docstring).

    ``TabularModel(settings)`` or ``TabularModel(task=..., layers=..., ...)`` (keyword arguments:
    the fields of ``TabularSettings``; given with ``settings``, they replace its fields).
    """

    def __init__(self, settings: TabularSettings | None = None, **changes: Any) -> None:
        if settings is None:
            settings = TabularSettings(**changes)
        elif changes:
            settings = settings.replace(**changes)
        if not isinstance(settings, TabularSettings):
            raise TypeError(f"settings must be a TabularSettings, got {type(settings).__name__}")
        self.settings = settings
        self.encoder: TableEncoder | None = None
        self.network: Module | None = None
        self.outputs: str | None = None  # "probabilities", "logits" or "values"
        self.y_scaler: StandardScaler | None = None
        self.class_names: tuple[str, ...] | None = None
        self.target_name: str | None = None
        self.dataset: str | None = None
        self.history: History | None = None
        self.seconds = 0.0
        self.parameter_count = 0
        self._rng: np.random.Generator | None = None  # set by build, used by the fit that follows

    def __repr__(self) -> str:
        state = "fitted" if self.network is not None else "not fitted"
        return f"TabularModel(task={self.settings.task!r}, layers={self.settings.layers}, {state})"

    # -- data --------------------------------------------------------------------------------------
    def select(self, data: TableLike, delimiter: str = ",") -> TableData:
        """The rows to learn from: ``data`` as given, or selected from a table, CSV path or bundled name."""
        if isinstance(data, TableData):
            return data
        if isinstance(data, Table):
            return TableData.select(data, self.settings)
        table, name, default_target = load_table(data, delimiter)
        return TableData.select(table, self.settings, name, default_target)

    # -- training ----------------------------------------------------------------------------------
    def build(self, data: TableLike, rows: Rows = None) -> Module:
        """Fit the encoder (and the target scaling) on ``rows`` of ``data`` (positions in its used
        rows; None: all) and build the untrained network; ``fit`` then trains it."""
        data = self.select(data)
        rows = _positions(rows, len(data))
        settings = self.settings
        encoder = TableEncoder(data.numeric, data.text, settings.categorical).fit(data.table, data.rows[rows])
        n_out = len(data.class_names or ()) if settings.classification else 1
        count = settings.check_size(encoder, n_out)
        categories = [] if settings.categorical == "onehot" else encoder.cardinalities()
        self._rng = np.random.default_rng(settings.seed)
        self.network = settings.mlp(categories)(encoder.width, n_out, self._rng, categories)
        self.encoder, self.parameter_count = encoder, count
        self.outputs = "logits" if settings.classification else "values"
        self.class_names = data.class_names if settings.classification else None
        self.y_scaler = None if settings.classification else StandardScaler().fit(data.y[rows])
        self.target_name, self.dataset = data.target.name, data.name
        self.history = None
        return self.network

    def fit(self, data: TableLike, rows: Rows = None, *, callbacks: Sequence[Callback] = ()) -> Self:
        """Train on ``rows`` of ``data`` (a ``TableData``, a ``Table``, a CSV path or a bundled data
        set's name): the network ``build`` made for these rows, or a new one. ``rows`` None: every
        row, in an order shuffled by ``seed`` (early stopping validates on the last
        ``validation_split`` of the rows trained on, as Keras does, so their order matters)."""
        data = self.select(data)
        positions = _positions(rows, len(data))
        if rows is None:  # every row, shuffled: the validation split is the last rows, and a table
            # sorted by its target (penguins is) would validate on one class it never trained on
            positions = np.random.default_rng([self.settings.seed, 2]).permutation(positions)
        if self._rng is None:  # not built since the last fit
            self.build(data, positions)
        network, encoder, rng = self.network, self.encoder, self._rng
        assert network is not None and encoder is not None and rng is not None
        self._rng = None
        self._check_validation_rows(len(positions))
        targets: Any = data.y[positions]
        loss: Loss = CrossEntropyLoss()
        if self.y_scaler is not None:
            targets = self.y_scaler.transform(targets).astype(self.settings.numpy_dtype)
            loss = MSELoss()
        start = time.perf_counter()
        self.history = fit(
            network,
            self._inputs(encoder.encode(data.table, data.rows[positions])),
            targets,
            loss=loss,
            rng=rng,
            callbacks=list(callbacks),
            verbose=0,
            **self.settings.fit_options(network.parameters()),
        )
        self.seconds = time.perf_counter() - start
        return self

    def _check_validation_rows(self, n: int) -> None:
        """Early stopping holds out ``validation_split`` of the ``n`` training rows (rounded, as
        ``fit`` does): both parts must keep a row."""
        split = self.settings.validation_split if self.settings.patience else 0.0
        n_val = round(n * split)
        if split and not 1 <= n_val < n:
            raise SettingError(
                "validation_split",
                split,
                f"holds out {n_val} of the {n} training rows for early stopping, leaving {n - n_val} "
                "to train on; both parts need a row",
                f"{1 / n:.2g}" if n_val < 1 else "0.2",
            )

    def describe(self) -> str:
        """The model line: architecture, and every setting that differs from the plain model."""
        s, encoder = self.settings, self._fitted_encoder()
        inputs = str(len(encoder.numeric))
        if encoder.text:
            kind = "one-hot" if s.categorical == "onehot" else "embedded"
            inputs += f" numbers + {len(encoder.text)} text ({kind})"
        n_out = len(self.class_names or ()) if s.classification else 1
        parts = [" -> ".join([inputs, *map(str, s.layers), str(n_out)]), s.activation]
        parts += [f"{s.resolved_output} output", f"{s.weight_init} init"]
        parts.append(f"{s.optimizer} lr={s.learning_rate} decay={s.decay_rate}")
        extras = [
            (s.l1, f"l1={s.l1}"),
            (s.l2, f"l2={s.l2}"),
            (s.dropout, f"dropout={s.dropout}"),
            (s.norm != "none", f"{s.norm} norm"),
            (s.clip, f"clip={s.clip}"),
            (s.batch_size != 32, f"batch={s.batch_size}"),
            (s.dtype != "float64", s.dtype),
            (s.patience != 10, f"patience={s.patience}" if s.patience else "no early stopping"),
            (s.validation_split != 0.2 and s.patience, f"validation={s.validation_split}"),
            (s.missing != "impute", "rows with missing values dropped"),
        ]
        parts += [text for on, text in extras if on]
        return f"model: {', '.join(parts)}, {self.parameter_count} parameters"

    # -- predicting --------------------------------------------------------------------------------
    def raw_outputs(self, data: TableLike, rows: Rows = None) -> Array:
        """The network's outputs for the rows: logits, probabilities or standardized values."""
        self._fitted_network()
        return self._network_outputs(self._encode(data, rows))

    def output_width(self) -> int:
        """How many outputs the network gives (class count or 1): one forward pass of one row of
        zeros; ``MetadataMismatchError`` when the network does not take what the encoder makes."""
        encoder = self._fitted_encoder()
        onehot = encoder.categorical == "onehot"
        counts = tuple(encoder.cardinalities()) if onehot else ()
        zeros = Encoded(
            np.zeros((1, len(encoder.numeric))), np.zeros((1, len(encoder.text)), np.int64), onehot, counts
        )
        return int(self._network_outputs(zeros).shape[1])

    def _network_outputs(self, encoded: Encoded) -> Array:
        """The network on encoded rows; ``MetadataMismatchError`` (the file's fault) when it does not
        take them, or gives another number of outputs than there are class names."""
        try:
            out: Array = predict(self._fitted_network(), self._inputs(encoded), batch_size=4096)
        except (ValueError, TypeError, IndexError) as error:
            raise MetadataMismatchError(
                f"the model does not fit its own feature description ({str(error).splitlines()[0]})"
            ) from None
        if (
            self.settings.classification
            and self.class_names is not None
            and out.shape[1] != len(self.class_names)
        ):
            raise MetadataMismatchError(
                f"the {len(self.class_names)} class names do not fit the model's {out.shape[1]} outputs"
            )
        return out

    def predict_proba(self, data: TableLike, rows: Rows = None) -> Array:
        """Class probabilities (n, classes), columns in the order of ``class_names``."""
        self._classifier("predict_proba")
        raw = self.raw_outputs(data, rows)
        if self.outputs == "probabilities":
            return raw
        probabilities: Array = softmax(np.asarray(raw, dtype=np.float64))
        return probabilities

    def predict_indices(self, data: TableLike, rows: Rows = None) -> Array:
        """Class indices (classification) or values in the target's units (regression)."""
        if self.settings.classification:
            indices: Array = self.raw_outputs(data, rows).argmax(axis=1)
            return indices
        raw = self.raw_outputs(data, rows)[:, 0]
        values: Array = raw if self.y_scaler is None else self.y_scaler.inverse_transform(raw)
        return values

    def predict(self, data: TableLike, rows: Rows = None) -> Array:
        """Class names (classification) or values in the target's units (regression), one per row."""
        if not self.settings.classification:
            return self.predict_indices(data, rows)
        probabilities = self.predict_proba(data, rows)
        labels: Array = np.array(self.names(probabilities.shape[1]))[probabilities.argmax(axis=1)]
        return labels

    def names(self, n_classes: int) -> list[str]:
        """The class names (files of tinynet 0.1 without names: the indices as text)."""
        return list(self.class_names) if self.class_names is not None else [str(i) for i in range(n_classes)]

    def evaluate(self, data: TableLike, rows: Rows = None, *, target: str | None = None) -> Evaluation:
        """Test metrics on ``rows`` of ``data``; for a table or CSV path, its ``target`` column
        (default: the column trained on) holds the true classes or values."""
        if not isinstance(data, (TableData, Table)):
            data = read_csv_table(os.fspath(data))
        if self.settings.classification:
            probabilities = self.predict_proba(data, rows)
            classes = self.names(probabilities.shape[1])
            predicted: Array = probabilities.argmax(axis=1)
        else:
            classes, predicted = [], self.predict_indices(data, rows)
        if isinstance(data, TableData):
            truth = data.y[_positions(rows, len(data))]
        else:
            truth = self._truth(data, target, classes)[_positions(rows, len(data))]
        if self.settings.classification:
            results, text = report.classification(truth, predicted, classes)
        else:
            results, text = report.regression(truth, predicted)
        return Evaluation(results, text, predicted)

    def _truth(self, table: Table, target: str | None, classes: list[str]) -> Array:
        name = target or self.target_name
        if name is None:
            raise SettingError("target", None, "the model file does not name its target column; give it")
        column = table.columns[target_position(table, name, None)]
        if column.first_missing is not None:
            raise ValueError(
                f"{table.path}: line {column.first_missing}: missing value in target column {column.name!r}"
            )
        if not self.settings.classification:
            values, _, _ = encode_target(column, "regression", table.path)
            return values
        labels = column.labels() if column.is_text else [f"{v:g}" for v in column.values]
        unknown = sorted({str(label) for label in labels} - set(classes))
        if unknown:
            raise ValueError(
                f"{table.path}: target column {column.name!r} holds classes the model does not know: "
                f"{unknown[:5]}"
            )
        lookup = {name: i for i, name in enumerate(classes)}
        return np.array([lookup[str(label)] for label in labels], dtype=np.int64)

    # -- files -------------------------------------------------------------------------------------
    def metadata(self) -> TabularMetadata:
        """What the model file records beside the network (see ``tinynet.tabular.metadata``)."""
        return TabularMetadata(
            self.settings.task,
            self._fitted_encoder(),
            self.outputs,
            self.class_names,
            self.y_scaler,
            self.target_name,
            self.dataset,
            self.settings.to_dict(),
        )

    def _appends_softmax(self) -> bool:
        return self.outputs == "logits" and self.settings.resolved_output == "softmax"

    def file_network(self) -> Module:
        """The network as saved: with a Softmax at the end when the settings ask for it."""
        network = self._fitted_network()
        return with_output(network, Softmax()) if self._appends_softmax() else network

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (network, weights and metadata; atomic, never a pickle)."""
        metadata = self.metadata()
        if self._appends_softmax():
            metadata = dataclasses.replace(metadata, outputs="probabilities")
        save(self.file_network(), path, metadata=metadata.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TabularModel:
        """A model from a file written by ``save`` or ``tinynet train`` (of tinynet 0.1, 0.2 or 0.3)."""
        network = load(path)
        meta = load_metadata(path)
        if not describes_a_table_model(meta):
            raise ModelFileError(
                f"{os.fspath(path)}: this model file has no feature description; save it with 'tinynet train'"
            )
        try:
            recorded = TabularMetadata.from_json(meta)
            settings = _settings(recorded)
        except (ValueError, TypeError) as error:
            raise ModelFileError(f"{os.fspath(path)}: {error}") from None
        model = cls(settings)
        outputs = recorded.outputs or _outputs_of(network, recorded.task)
        model.network, model.encoder, model.outputs = network, recorded.encoder, outputs
        model.class_names, model.y_scaler = recorded.class_names, recorded.y_scaler
        model.target_name, model.dataset = recorded.target_name, recorded.dataset
        return model

    def to_onnx(self, path: str | os.PathLike[str] | None = None, *, opset: int = 17) -> Any:
        """The model as ONNX with its preprocessing inside (``tinynet.tabular.onnx``; the ``onnx`` extra)."""
        from tinynet.tabular.onnx import export_tabular

        return export_tabular(self, None if path is None else os.fspath(path), opset=opset)

    # -- helpers -----------------------------------------------------------------------------------
    def _classifier(self, what: str) -> None:
        if not self.settings.classification:
            raise ValueError(f"{what} needs a classification model; this one is a regression model")

    def _fitted_network(self) -> Module:
        if self.network is None:
            raise ValueError("this TabularModel is not fitted yet: call fit (or load a model file)")
        return self.network

    def _fitted_encoder(self) -> TableEncoder:
        if self.encoder is None:
            raise ValueError("this TabularModel is not fitted yet: call fit (or load a model file)")
        return self.encoder

    def _encode(self, data: TableLike, rows: Rows) -> Encoded:
        encoder = self._fitted_encoder()
        if isinstance(data, TableData):
            return encoder.encode(data.table, data.rows[_positions(rows, len(data))])
        table = data if isinstance(data, Table) else read_csv_table(os.fspath(data))
        missing = [n for n in encoder.features if n not in table.names]
        if missing:
            raise ValueError(
                f"{table.path}: missing feature columns {missing}; the model needs {encoder.features}"
            )
        return encoder.encode(table, None if rows is None else _positions(rows, len(table)))

    def _inputs(self, encoded: Encoded) -> Any:
        """The encoded rows as the network takes them, floats in the network's dtype."""
        # not `network.dtype or ...`: a NumPy dtype is falsy (it has no fields)
        dtype = self.network.dtype if self.network is not None else None
        if dtype is None:
            dtype = self.settings.numpy_dtype
        inputs = encoded.inputs()
        if isinstance(inputs, list):
            return [part.astype(dtype) if part.dtype.kind == "f" else part for part in inputs]
        return inputs.astype(dtype)


def _positions(rows: Rows, n: int) -> Array:
    return np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)


def _outputs_of(network: Module, task: str) -> str:
    """What a file of tinynet 0.1 (which does not say) outputs: its classifiers end in Softmax."""
    if task != "classification":
        return "values"
    last = network[-1] if isinstance(network, Sequential) and len(network) > 0 else None
    return "probabilities" if isinstance(last, Softmax) else "logits"


def _settings(recorded: TabularMetadata) -> TabularSettings:
    """The settings a file records (tinynet 0.3), or the defaults for its task (0.1 and 0.2 files)."""
    if recorded.settings is not None:
        return TabularSettings.from_dict(recorded.settings)
    return TabularSettings(task=recorded.task)


__all__ = ["Evaluation", "MetadataMismatchError", "TabularModel"]
