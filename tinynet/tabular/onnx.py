"""A table model as ONNX with its preprocessing inside the graph (``TabularModel.to_onnx``).

The graph takes the raw feature columns and returns class probabilities and the class index (or
the prediction in the target's original units); see ``export_tabular``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from tinynet.core.files import atomic_write_bytes
from tinynet.datasets.table import MISSING
from tinynet.io.onnx import OnnxBuilder, check_options, convert, model_proto
from tinynet.tabular.encoder import FIRST_CATEGORY, MISSING_CODE, UNKNOWN

if TYPE_CHECKING:  # the model calls this file, on demand
    from tinynet.tabular.model import TabularModel


FIXED_NAMES = ("features", "probabilities", "label", "prediction")  # the graph's own inputs and outputs


def input_names(text_columns: list[str]) -> list[str]:
    """The ONNX input name of each text column: its own name, or ``text_<i>`` (i: its place among
    the text columns) for a name that is empty, is one of the graph's own names or repeats one."""
    names: list[str] = []
    taken = set(FIXED_NAMES)
    for i, column in enumerate(text_columns):
        name = column if column and column not in taken else f"text_{i}"
        while name in taken:
            name += "_"
        taken.add(name)
        names.append(name)
    return names


def export_tabular(tabular: TabularModel, path: str | None = None, *, opset: int = 17) -> Any:
    """A table model as ONNX with its preprocessing inside the graph.

    Inputs: the raw feature columns in the order the model file records: the numeric ones as one
    float32 ``features`` tensor (batch, n), NaN for a missing value (imputed with the training mean
    inside), and each text column as a string tensor (batch, 1) named after the column (an unseen
    category and a missing value are encoded as in training). Outputs: ``probabilities`` (batch, k)
    and ``label`` (batch,) int64 for classification, the class names in the model's metadata
    (``classes``, JSON); ``prediction`` (batch, 1) in the target's original units for regression.
    A text column whose name is empty or one of those is fed as ``text_<i>`` instead; the metadata
    lists the columns (``text_columns``) and their input names (``text_inputs``) in the same order.
    """
    opset, dtype = check_options(opset, "float32")
    builder = OnnxBuilder(opset, dtype)
    onnx = builder.onnx
    encoder = tabular.encoder
    model = tabular.file_network()
    if encoder is None:
        raise ValueError("this TabularModel is not fitted yet: call fit (or load a model file)")
    inputs: list[Any] = []
    parts: list[str] = []
    text_inputs = input_names(encoder.text)
    builder.taken.update([*FIXED_NAMES, *text_inputs])
    if encoder.numeric:
        inputs.append(
            onnx.helper.make_tensor_value_info(
                "features", onnx.TensorProto.FLOAT, ["batch", len(encoder.numeric)]
            )
        )
        mean = builder.constant(encoder.mean, "mean")
        filled = builder.node("Where", [builder.node("IsNaN", ["features"]), mean, "features"], "imputed")
        parts.append(
            builder.node(
                "Div",
                [builder.node("Sub", [filled, mean]), builder.constant(encoder.scale, "scale")],
                "standardized",
            )
        )
    codes = []
    for name, categories in zip(text_inputs, encoder.categories, strict=True):
        inputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.STRING, ["batch", 1]))
        keys = [*categories, *(token for token in _missing_spellings() if token not in categories)]
        values = [FIRST_CATEGORY + i for i in range(len(categories))] + [MISSING_CODE] * (
            len(keys) - len(categories)
        )
        codes.append(
            builder.node(
                "LabelEncoder",
                [name],
                f"{name}_code",
                domain="ai.onnx.ml",
                keys_strings=keys,
                values_int64s=values,
                default_int64=UNKNOWN,
            )
        )
    if encoder.categorical == "onehot":
        on_off = builder.constant(np.array([0.0, 1.0]), "on_off")  # in the model's float type
        for code, count in zip(codes, encoder.cardinalities(), strict=True):
            # OneHot of the code: no count x count table in the file (10,000 categories: 800 MB)
            depth = builder.constant(np.array([count], np.int64), "depth")
            parts.append(
                builder.node(
                    "Reshape",
                    [
                        builder.node("OneHot", [code, depth, on_off], axis=-1),
                        builder.constant(np.array([0, -1], np.int64)),
                    ],
                )
            )
        model_inputs = [builder.node("Concat", parts, "encoded", axis=1) if len(parts) > 1 else parts[0]]
    else:
        model_inputs = parts + codes
    was_training = model.training
    model.eval()
    try:
        (raw,) = convert(model, builder, model_inputs)
    finally:
        model.train(was_training)
    outputs_kind = "probabilities" if model is not tabular.network else tabular.outputs
    props: dict[str, str] = {
        "task": tabular.settings.task,
        "features": json.dumps(encoder.numeric),
        "text_columns": json.dumps(encoder.text),
        "text_inputs": json.dumps(text_inputs),
    }
    if tabular.settings.classification:
        classes = tabular.output_width()  # checked against the class names, when the file has them
        probabilities = raw if outputs_kind == "probabilities" else builder.node("Softmax", [raw], axis=-1)
        builder.nodes.append(onnx.helper.make_node("Identity", [probabilities], ["probabilities"]))
        builder.nodes.append(onnx.helper.make_node("ArgMax", [probabilities], ["label"], axis=1, keepdims=0))
        outputs = [
            onnx.helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["batch", classes]),
            onnx.helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["batch"]),
        ]
        props["classes"] = json.dumps(list(tabular.class_names) if tabular.class_names is not None else None)
    else:
        scaler = (
            tabular.y_scaler.get_state() if tabular.y_scaler is not None else {"mean": [0.0], "scale": [1.0]}
        )
        scaled = builder.node("Mul", [raw, builder.constant(np.array(scaler["scale"][:1]))])
        builder.nodes.append(
            onnx.helper.make_node(
                "Add", [scaled, builder.constant(np.array(scaler["mean"][:1]))], ["prediction"]
            )
        )
        outputs = [onnx.helper.make_tensor_value_info("prediction", onnx.TensorProto.FLOAT, ["batch", 1])]
    proto = model_proto(builder, inputs, outputs, "tinynet_pipeline", props)
    if path is not None:
        atomic_write_bytes(path, proto.SerializeToString())
    return proto


def _missing_spellings() -> list[str]:
    """The spellings of a missing value the CSV reader knows, in the cases people write them."""
    spellings = {"NaN"}
    for token in MISSING:
        spellings.update({token, token.upper(), token.capitalize()})
    return sorted(spellings)
