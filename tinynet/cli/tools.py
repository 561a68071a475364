"""``tinynet summary``, ``predict``, ``evaluate`` and ``gradcheck``."""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import math
from typing import Any

import numpy as np

import tinynet as tn
from tinynet._checks import one_line
from tinynet._io import atomic_write_bytes
from tinynet.activations import softmax
from tinynet.bench import benchmark, profile
from tinynet.cases import LOSS_CASES, MODULE_CASES, sample
from tinynet.cli import report
from tinynet.cli.data import (
    check_feature_columns,
    class_names,
    encoder_from_metadata,
    load_table,
    target_column,
    target_scaler,
)
from tinynet.cli.parser import CLIError
from tinynet.cli.train import builder, check_size
from tinynet.datasets import Table, encode_target, read_table
from tinynet.mlp import MLP
from tinynet.tabular import TableEncoder


def run_summary(args: argparse.Namespace, out: Any) -> int:
    if args.model:
        model = tn.load(args.model)
    else:
        if not args.layers:
            raise CLIError("summary needs --layers N [N ...] or --model FILE")
        if args.dataset:
            table, _, default_target = load_table(args.dataset, args.delimiter)
            position = target_column(table, args.target, default_target)
            target = table.columns[position]
            features = [c for j, c in enumerate(table.columns) if j != position]
            encoder = TableEncoder(
                [c.name for c in features if not c.is_text],
                [c.name for c in features if c.is_text],
                args.categorical,
            ).fit(table)
            known = target.values[~target.missing]
            classes = len(target.categories) if target.categories is not None else len(np.unique(known))
            classification = target.is_text or (
                classes <= 20 and np.all(target.values == np.round(target.values))
            )
            n_out = classes if classification else 1
            n_in, categories = encoder.width, [] if args.categorical == "onehot" else encoder.cardinalities()
        elif args.inputs:
            n_in, n_out, categories, classification = args.inputs, args.outputs, [], False
        else:
            raise CLIError("summary needs --dataset NAME or --inputs N to know the input width")
        build = builder(args, categories)
        check_size(args, build, n_in, n_out, categories)
        model = build(n_in, n_out, np.random.default_rng(0), categories)
        if (args.output or ("softmax" if classification else "linear")) == "softmax":
            model = tn.mlp.with_output(model, tn.Softmax())
    print(model.summary(), file=out)
    if args.dot:
        atomic_write_bytes(args.dot, model.to_dot().encode("utf-8"))
        print(f"wrote {args.dot}", file=out)
    return 0


# -- predict and evaluate -------------------------------------------------------------------------
def _model_and_meta(path: str) -> tuple[tn.Module, dict[str, Any], TableEncoder]:
    model = tn.load(path)
    meta = tn.load_metadata(path)
    return model, meta, encoder_from_metadata(meta, path)


def _outputs(model: tn.Module, meta: dict[str, Any], encoder: TableEncoder, table: Table, path: str) -> Any:
    check_feature_columns(table, encoder, table.path)
    encoded = encoder.encode(table)
    inputs = encoded.inputs()
    dtype = model.dtype or np.float64
    inputs = (
        [p.astype(dtype) if p.dtype.kind == "f" else p for p in inputs]
        if isinstance(inputs, list)
        else inputs.astype(dtype)
    )
    try:
        return tn.predict(model, inputs, batch_size=4096)
    except (ValueError, TypeError) as error:
        raise CLIError(
            f"{path}: the model does not fit its own feature description ({str(error).splitlines()[0]})"
        ) from None


def _probabilities(raw: Any, meta: dict[str, Any]) -> Any:
    if meta.get("outputs") == "probabilities":
        return raw
    legacy = meta.get("outputs") is None  # files of tinynet 0.1: the softmax is there when rows sum to 1
    if legacy and np.allclose(raw.sum(axis=1), 1.0) and (raw >= 0).all():
        return raw
    return softmax(np.asarray(raw, dtype=np.float64))


def _cell(column: Any, row: int) -> str:
    if column.is_text:
        code = int(column.values[row])
        return "" if code < 0 else column.categories[code]
    value = float(column.values[row])
    return "" if math.isnan(value) else f"{value:g}"


def run_predict(args: argparse.Namespace, out: Any) -> int:
    model, meta, encoder = _model_and_meta(args.model)
    table = read_table(args.data, args.delimiter)
    unknown = [c for c in args.keep if c not in table.names]
    if unknown:
        raise CLIError(
            f"--keep {' '.join(unknown)}: no such columns in {args.data}; columns are {table.names}"
        )
    raw = _outputs(model, meta, encoder, table, args.model)
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    kept = [table.column(c) for c in args.keep]
    if meta.get("task") == "classification":
        probabilities = _probabilities(raw, meta)
        classes = class_names(meta, probabilities.shape[1], args.model)
        writer.writerow([*args.keep, "prediction", *(f"p_{c}" for c in classes)])
        for i, row in enumerate(probabilities):
            writer.writerow(
                [*(_cell(c, i) for c in kept), classes[int(row.argmax())], *(f"{p:.6f}" for p in row)]
            )
    else:
        scaler = target_scaler(meta, args.model)
        values = raw[:, 0] if scaler is None else scaler.inverse_transform(raw[:, 0])
        writer.writerow([*args.keep, "prediction"])
        writer.writerows([[*(_cell(c, i) for c in kept), f"{v:.6g}"] for i, v in enumerate(values)])
    if args.output:
        atomic_write_bytes(args.output, lines.getvalue().encode("utf-8"))
        print(f"wrote {len(raw)} predictions to {args.output}", file=out)
    else:
        out.write(lines.getvalue())
    return 0


def run_evaluate(args: argparse.Namespace, out: Any) -> int:
    path = args.model or args.model_flag
    if not path:
        raise CLIError("evaluate needs a model file: tinynet evaluate MODEL --data CSV")
    model, meta, encoder = _model_and_meta(path)
    table = read_table(args.data, args.delimiter)
    name = args.target or meta.get("target_name")
    if name is None:
        raise CLIError(f"{path}: the model file does not name its target column; pass --target")
    position = target_column(table, str(name), None)
    column = table.columns[position]
    if column.first_missing is not None:
        raise CLIError(
            f"{args.data}: line {column.first_missing}: missing value in target column {column.name!r}"
        )
    raw = _outputs(model, meta, encoder, table, path)

    def say(*parts: object) -> None:
        print(*parts, file=out)

    say(f"tinynet {tn.__version__}: {path} on {args.data} ({len(table)} samples)")
    if meta.get("task") == "classification":
        probabilities = _probabilities(raw, meta)
        classes = class_names(meta, probabilities.shape[1], path)
        labels = column.labels() if column.is_text else [f"{v:g}" for v in column.values]
        unknown = sorted({str(label) for label in labels} - set(classes))
        if unknown:
            raise CLIError(
                f"{args.data}: target column {column.name!r} holds classes the model does not know: "
                f"{unknown[:5]}"
            )
        y = np.array([classes.index(str(label)) for label in labels])
        report.classification(y, probabilities.argmax(axis=1), classes, say)
    else:
        y, _, _ = encode_target(column, "regression", args.data)
        scaler = target_scaler(meta, path)
        values = raw[:, 0] if scaler is None else scaler.inverse_transform(raw[:, 0])
        report.regression(y, values, say)
    return 0


# -- gradcheck --------------------------------------------------------------------------------------
def run_gradcheck(args: argparse.Namespace, out: Any) -> int:
    for name in args.imports:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise CLIError(f"--import {name}: {error}") from None
    if args.model:
        return _gradcheck_model(args, out)
    rng = np.random.default_rng(0)
    rows = []
    for name, factory, specs in MODULE_CASES:
        try:
            checked = tn.gradcheck(factory(), sample(specs[0], rng), rng=0, samples=args.samples)
            rows.append((name, checked.max_ratio, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    for name, make_loss, make_data in LOSS_CASES:
        try:
            checked = tn.gradcheck_loss(make_loss(), *make_data(rng))
            rows.append((name, checked.max_ratio, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'module':<{width}}  worst / tolerance  status", file=out)
    for name, ratio, status in rows:
        print(f"{name:<{width}}  {ratio:>17.2e}  {status}", file=out)
    failed = sum(status != "ok" for _, _, status in rows)
    print(
        f"{len(rows) - failed} passed, {failed} failed (|a - n| <= 1e-05 + 0.001 |n| per element)", file=out
    )
    return 1 if failed else 0


def _gradcheck_model(args: argparse.Namespace, out: Any) -> int:
    model = tn.load(args.model).eval()
    x = _example_batch(model, 4)
    try:
        checked = tn.gradcheck(model, x, rng=0, samples=args.samples)
    except tn.GradcheckError as error:
        print(str(error), file=out)
        return 1
    print(checked, file=out)
    return 0


def _example_batch(model: tn.Module, rows: int) -> Any:
    """Random rows for the model's inputs (indices below each Embedding's size)."""
    rng = np.random.default_rng(0)
    specs = getattr(model, "input_specs", None)
    if specs:
        limits = {name: _index_limit(model, name) for name, _, dtype in specs if dtype.kind in "iu"}
        parts = [
            rng.integers(0, limits[name], (rows, width))
            if dtype.kind in "iu"
            else rng.standard_normal((rows, width))
            for name, width, dtype in specs
        ]
        return parts if len(parts) > 1 else parts[0]
    width = model.input_width()
    if width is None:
        raise CLIError(f"{one_line(model)}: the model does not declare its input width")
    return rng.standard_normal((rows, width)).astype(model.dtype or np.float64)


def _index_limit(model: Any, name: str) -> int:
    reads = {w.name: w.inputs for w in model.wires}
    for wire, layer in zip(model.wires, model.layers, strict=True):
        if name in reads[wire.name] and isinstance(layer, tn.Embedding):
            return int(layer.num_embeddings)
    return 1


# -- bench ------------------------------------------------------------------------------------------
def run_bench(args: argparse.Namespace, out: Any) -> int:
    rng = np.random.default_rng(0)
    if args.model:
        model = tn.load(args.model)
        x = _example_batch(model, args.batch)
    else:
        if not args.layers or len(args.layers) < 2:
            raise CLIError(
                "bench needs --layers IN [HIDDEN ...] OUT (e.g. --layers 64 128 10) or --model FILE"
            )
        build = MLP(args.layers[1:-1], args.activation, 0.0, args.norm, "he", args.dtype)
        check_size(args, build, args.layers[0], args.layers[-1], [])
        model = build(args.layers[0], args.layers[-1], rng)
        x = rng.standard_normal((args.batch, args.layers[0])).astype(args.dtype)
    print(benchmark(model, x, budget=args.budget), file=out)
    print(file=out)
    print(profile(model, x), file=out)
    return 0


# -- export -----------------------------------------------------------------------------------------
def run_export(args: argparse.Namespace, out: Any) -> int:
    from tinynet.export import export_onnx, export_tabular

    model = tn.load(args.model)
    meta = tn.load_metadata(args.model)
    try:
        if "features" in meta or "x_scaler" in meta:  # written by tinynet train: preprocessing goes inside
            proto = export_tabular(model, meta, args.output, opset=args.opset)
        else:
            proto = export_onnx(model, args.output, opset=args.opset)
    except ImportError as error:
        raise CLIError(str(error)) from None
    inputs = ", ".join(_tensor_text(t) for t in proto.graph.input)
    outputs = ", ".join(_tensor_text(t) for t in proto.graph.output)
    print(f"wrote {args.output} (ONNX opset {args.opset}): inputs {inputs}; outputs {outputs}", file=out)
    return 0


def _tensor_text(value: Any) -> str:
    dims = [d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim]
    kinds = {1: "float32", 7: "int64", 8: "string", 11: "float64"}
    return f"{value.name} ({', '.join(dims)}) {kinds.get(value.type.tensor_type.elem_type, '?')}"
