"""ONNX export: every layer and composite at opsets 17 and 20, run in onnxruntime and onnx.reference,
and models trained on the command line exported with their preprocessing, against tinynet predict."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

import tinynet as tn
from tinynet.cli import main
from tinynet.tools.cases import MODULE_CASES, sample

RTOL, ATOL = 1e-4, 1e-5
MERGE = {"Add": tn.Add, "Multiply": tn.Multiply, "Concatenate": tn.Concatenate}


def model_and_input(name: str, factory: Any, spec: Any) -> tuple[tn.Module, list[Any], Any]:
    """The case's module (merge layers inside a Graph, as they are exported) and its input arrays."""
    rng = np.random.default_rng(0)
    if name in MERGE:
        a, b = tn.Input(3, name="a"), tn.Input(3, name="b")
        return (
            tn.Graph(inputs=[a, b], outputs=MERGE[name]()([a, b])),
            [sample((4, 3), rng), sample((4, 3), rng)],
            None,
        )
    x = sample(spec, rng)
    model = factory()
    if isinstance(x, list) and not isinstance(model, tn.Graph):  # several inputs go out in a Graph
        inputs = [tn.Input(shape=a.shape[1:], name=f"x{i}", dtype=a.dtype) for i, a in enumerate(x)]
        out = model(inputs)
        return tn.Graph(inputs, list(out) if out.parts is not None else out), x, None
    if isinstance(x, list):
        return model, x, None
    if np.ndim(x) == 1:  # category indices of an Embedding
        x = np.asarray(x).reshape(len(x), -1)
    shape = np.shape(x)[1:]
    return model, [x], shape[0] if len(shape) == 1 else shape  # N-D samples: their shape


def feeds(proto: Any, xs: list[Any]) -> dict[str, Any]:
    return {
        inp.name: a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32)
        for inp, a in zip(proto.graph.input, xs, strict=True)
    }


def expected(model: tn.Module, xs: list[Any]) -> list[Any]:
    model.eval().to(np.float32)
    args = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in xs]
    out = model(args if len(args) > 1 else args[0])
    return out if isinstance(out, list) else [out]


CASES = [pytest.param(n, f, s, id=f"{n}-{i}") for n, f, specs in MODULE_CASES for i, s in enumerate(specs)]


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize(("name", "factory", "spec"), CASES)
def test_every_layer_exports_and_runs_in_onnxruntime(opset: int, name: str, factory: Any, spec: Any) -> None:
    ort = require("onnxruntime")
    onnx = require("onnx")
    model, xs, width = model_and_input(name, factory, spec)
    proto = tn.export_onnx(model, None, opset=opset, in_features=width)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    session = ort.InferenceSession(proto.SerializeToString())
    got = session.run(None, feeds(proto, xs))
    for g, w in zip(got, expected(model, xs), strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    if opset == 20 and isinstance(model, tn.GELU):
        assert [n.op_type for n in proto.graph.node if n.op_type == "Gelu"] == ["Gelu"], "the native op"


@pytest.mark.parametrize(("name", "factory", "spec"), CASES)
def test_every_layer_runs_in_the_onnx_reference_evaluator(name: str, factory: Any, spec: Any) -> None:
    reference = require("onnx.reference")
    model, xs, width = model_and_input(name, factory, spec)
    proto = tn.export_onnx(model, None, opset=17, in_features=width)
    if isinstance(model, tn.RNN) and model.nonlinearity == "relu":
        # onnx.reference implements the RNN operator with tanh only; onnxruntime runs it (above)
        with pytest.raises(RuntimeError, match="Unknown activation function 'Relu'"):
            reference.ReferenceEvaluator(proto).run(None, feeds(proto, xs))
        return
    got = reference.ReferenceEvaluator(proto).run(None, feeds(proto, xs))
    for g, w in zip(got, expected(model, xs), strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_a_deep_composite_with_any_batch_size(tmp_path: Path) -> None:
    ort = require("onnxruntime")
    model = tn.Sequential(
        tn.Dense(6, 16, rng=0),
        tn.BatchNorm1d(16),
        tn.GELU(),
        tn.Residual(tn.Sequential(tn.LayerNorm(16), tn.Dense(16, 16, rng=1), tn.ELU(), tn.Dropout(0.3))),
        tn.Concat(tn.Dense(16, 4, rng=2), tn.Sequential(tn.Dense(16, 3, rng=3), tn.Softplus(2.0))),
        tn.Dense(7, 3, rng=4),
        tn.Softmax(),
    )
    model(np.random.default_rng(0).standard_normal((32, 6)))  # training mode: running statistics move
    path = tmp_path / "deep.onnx"
    tn.export_onnx(model, str(path), opset=20)
    session = ort.InferenceSession(str(path))
    for batch in (1, 7, 100):
        x = np.random.default_rng(batch).standard_normal((batch, 6)).astype(np.float32)
        (got,) = session.run(None, {"input": x})
        np.testing.assert_allclose(got, model.eval().to(np.float32)(x), rtol=RTOL, atol=ATOL)


class Swish(tn.Module):
    def forward(self, x: Any) -> Any:
        self.s = 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x))
        return x * self.s

    def to_onnx(self, builder: Any, inputs: list[str]) -> list[str]:
        (x,) = inputs
        return [builder.node("Mul", [x, builder.node("Sigmoid", [x])])]


def test_a_custom_module_takes_part_through_its_hook_and_one_without_is_named() -> None:
    ort = require("onnxruntime")
    model = tn.Sequential(tn.Dense(3, 4, rng=0), Swish())
    proto = tn.export_onnx(model)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    (got,) = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})
    np.testing.assert_allclose(got, model.to(np.float32)(x), rtol=RTOL, atol=ATOL)

    class Opaque(tn.Identity):
        pass

    with pytest.raises(tn.ExportError, match=r"cannot export Opaque\(\) to ONNX: it has no to_onnx"):
        tn.export_onnx(tn.Sequential(tn.Dense(3, 3, rng=0), Opaque()))


def test_text_columns_named_like_the_graphs_own_tensors_export_under_other_input_names(
    tmp_path: Path,
) -> None:
    ort = require("onnxruntime")
    rng = np.random.default_rng(0)
    names = ["size", "label", "", "features", "imputed_1", "kind"]  # kind: the target
    lines = [",".join(names)]
    for i in range(80):
        lines.append(
            f"{rng.normal():.3f},{'ab'[i % 2]},{'xyz'[i % 3]},{'pq'[i % 2]},{'mn'[i % 4 // 2]},{'uv'[i % 2]}"
        )
    table = tmp_path / "clash.csv"
    table.write_text("\n".join(lines) + "\n")
    printed, session, predicted = trained_and_exported(ort, tmp_path, table, "-l", "4", "-e", "5")
    assert "text_0 (batch, 1) string (column 'label')" in printed
    assert "text_1 (batch, 1) string (column '')" in printed
    assert "text_2 (batch, 1) string (column 'features')" in printed
    assert "imputed_1 (batch, 1) string;" in printed, "a name the graph does not use stays"
    _, labels = session.run(None, onnx_feeds(session, rows_of(table)))
    classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    assert [classes[i] for i in labels] == [row["prediction"] for row in predicted]


def trained_and_exported(
    ort: Any, folder: Path, table: Path, *flags: str
) -> tuple[str, Any, list[dict[str, str]]]:
    """Train a classifier on ``table`` with ``flags``, export it: what export printed, an onnxruntime
    session of the export, and ``tinynet predict``'s rows for the table."""
    argv = ["train", "-t", "classification", "-d", str(table), *flags, "-q", "--output_dir", str(folder)]
    assert main(argv) == 0
    printed = io.StringIO()
    assert main(["export", str(folder / "model.npz"), str(folder / "model.onnx")], out=printed) == 0
    predicted = io.StringIO()
    assert main(["predict", "--model", str(folder / "model.npz"), "--data", str(table)], out=predicted) == 0
    session = ort.InferenceSession(str(folder / "model.onnx"))
    return printed.getvalue(), session, list(csv.DictReader(io.StringIO(predicted.getvalue())))


def test_a_onehot_export_grows_with_the_categories_not_their_square(tmp_path: Path) -> None:
    ort = require("onnxruntime")
    rng = np.random.default_rng(0)
    lines = ["size,code,kind"] + [f"{rng.normal():.3f},c{i % 3000},{'ab'[i % 2]}" for i in range(6000)]
    table = tmp_path / "codes.csv"
    table.write_text("\n".join(lines) + "\n")
    _, session, predicted = trained_and_exported(
        ort, tmp_path, table, "-l", "2", "-e", "1", "--categorical", "onehot"
    )
    weights = (tmp_path / "model.npz").stat().st_size
    assert (tmp_path / "model.onnx").stat().st_size < 2 * weights + 200_000, "no 3000 x 3000 table inside"
    probabilities, _ = session.run(None, onnx_feeds(session, rows_of(table)))
    expected = [float(row["p_a"]) for row in predicted]
    np.testing.assert_allclose(probabilities[:, 0], expected, rtol=RTOL, atol=ATOL)


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def onnx_feeds(session: Any, rows: list[dict[str, str]]) -> dict[str, Any]:
    meta = session.get_modelmeta().custom_metadata_map
    numeric, text = json.loads(meta["features"]), json.loads(meta["text_columns"])
    names = json.loads(meta["text_inputs"])  # the input of each text column

    def number(cell: str) -> float:
        try:
            return float(cell)
        except ValueError:
            return float("nan")

    result: dict[str, Any] = {}
    if numeric:
        result["features"] = np.array([[number(r[c]) for c in numeric] for r in rows], dtype=np.float32)
    for column, name in zip(text, names, strict=True):
        result[name] = np.array([[r[column]] for r in rows], dtype=object)
    return result


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("train -t classification -d iris -l 8 -e 30", "iris.csv"),
        ("train -t regression -d diabetes -l 16 -e 30", "diabetes.csv"),
        ("train -t classification -d penguins -l 16 -e 40", "penguins.csv"),
        ("train -t classification -d penguins -l 8 -e 20 --categorical onehot", "penguins.csv"),
    ],
)
def test_a_trained_model_exports_with_its_preprocessing_and_matches_predict(
    tmp_path: Path, capsys: Any, command: str, data: str
) -> None:
    ort = require("onnxruntime")
    assert main([*command.split(), "-q", "--output_dir", str(tmp_path)]) == 0
    model = tmp_path / "model.npz"
    assert main(["export", str(model), str(tmp_path / "model.onnx")], out=io.StringIO()) == 0
    source = Path(tn.datasets.__file__).parent / "data" / data
    table = tmp_path / "rows.csv"
    table.write_text("\n".join(source.read_text().splitlines()[:41]) + "\n")
    table.write_text(table.read_text().replace(",NA,", ",,", 1))  # an empty cell is missing too
    out = io.StringIO()
    assert main(["predict", "--model", str(model), "--data", str(table)], out=out) == 0
    predicted = list(csv.DictReader(io.StringIO(out.getvalue())))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    results = session.run(None, onnx_feeds(session, rows_of(table)))
    if "classification" in command:
        probabilities, labels = results
        classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
        assert [classes[i] for i in labels] == [row["prediction"] for row in predicted]
        expected_p = np.array([[float(row[f"p_{c}"]) for c in classes] for row in predicted])
        np.testing.assert_allclose(probabilities, expected_p, rtol=RTOL, atol=ATOL)  # float32 against float64
    else:
        (values,) = results
        np.testing.assert_allclose(values[:, 0], [float(row["prediction"]) for row in predicted], rtol=1e-4)
