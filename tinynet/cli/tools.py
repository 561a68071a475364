"""``tinynet summary``, ``predict``, ``evaluate``, ``gradcheck``, ``bench`` and ``export``."""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.util
import io
import json
import math
import os
import sys
from typing import Any

import numpy as np

import tinynet as tn
from tinynet.cli.parser import CLIError
from tinynet.cli.train import flag_error
from tinynet.core.checks import one_line
from tinynet.core.files import atomic_write_bytes, check_fits_in_memory
from tinynet.datasets import MAX_CLASSES_INFERRED
from tinynet.models.mlp import MLP, with_output
from tinynet.tabular import TableEncoder, TabularModel, TabularSettings, load_table
from tinynet.tabular.data import read_csv_table, target_position
from tinynet.tabular.metadata import describes_a_table_model
from tinynet.tabular.model import MetadataMismatchError
from tinynet.tabular.settings import SettingError
from tinynet.tools.bench import benchmark, profile
from tinynet.tools.cases import LOSS_CASES, MODULE_CASES, sample


def run_summary(args: argparse.Namespace, out: Any) -> int:
    if args.model:
        model = tn.load(args.model)
    else:
        if not args.layers:
            raise CLIError("summary needs --layers N [N ...] or --model FILE")
        if args.dataset:
            try:
                table, _, default_target = load_table(args.dataset, args.delimiter)
                target = table.columns[target_position(table, args.target, default_target)]
            except SettingError as error:
                raise flag_error(error) from None
            features = [c for c in table.columns if c is not target]
            encoder = TableEncoder(
                [c.name for c in features if not c.is_text],
                [c.name for c in features if c.is_text],
                args.categorical,
            ).fit(table)
            known = target.values[~target.missing]
            classes = len(target.categories) if target.categories is not None else len(np.unique(known))
            classification = target.is_text or (
                classes <= MAX_CLASSES_INFERRED and np.all(target.values == np.round(target.values))
            )
            n_out = classes if classification else 1
        else:
            if not args.inputs:
                raise CLIError("summary needs --dataset NAME or --inputs N to know the input width")
            encoder = TableEncoder([f"x{i}" for i in range(args.inputs)], [])
            n_out, classification = args.outputs, False
        task = "classification" if classification else "regression"
        output = args.output if args.output != "softmax" or classification else None
        values = {name: getattr(args, name) for name in TabularSettings.field_names() if hasattr(args, name)}
        try:
            settings = TabularSettings(**{**values, "task": task, "output": output})
            settings.check_size(encoder, n_out)
        except SettingError as error:
            raise flag_error(error) from None
        categories = [] if settings.categorical == "onehot" else encoder.cardinalities()
        model = settings.mlp(categories)(encoder.width, n_out, np.random.default_rng(0), categories)
        if settings.resolved_output == "softmax":
            model = with_output(model, tn.Softmax())
    print(model.summary(), file=out)
    if args.dot:
        atomic_write_bytes(args.dot, model.to_dot().encode("utf-8"))
        print(f"wrote {args.dot}", file=out)
    return 0


# -- predict and evaluate -------------------------------------------------------------------------
def _cell(column: Any, row: int) -> str:
    if column.is_text:
        code = int(column.values[row])
        return "" if code < 0 else column.categories[code]
    value = float(column.values[row])
    return "" if math.isnan(value) else f"{value:g}"


def run_predict(args: argparse.Namespace, out: Any) -> int:
    model = TabularModel.load(args.model)
    table = read_csv_table(args.data, args.delimiter)
    unknown = [c for c in args.keep if c not in table.names]
    if unknown:
        raise CLIError(
            f"--keep {' '.join(unknown)}: no such columns in {args.data}; columns are {table.names}"
        )
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    kept = [table.column(c) for c in args.keep]
    if model.settings.classification:
        probabilities = _checked(args.model, lambda: model.predict_proba(table))
        classes = model.names(probabilities.shape[1])
        writer.writerow([*args.keep, "prediction", *(f"p_{c}" for c in classes)])
        for i, row in enumerate(probabilities):
            writer.writerow(
                [*(_cell(c, i) for c in kept), classes[int(row.argmax())], *(f"{p:.6f}" for p in row)]
            )
        count = len(probabilities)
    else:
        values = _checked(args.model, lambda: model.predict(table))
        writer.writerow([*args.keep, "prediction"])
        writer.writerows([[*(_cell(c, i) for c in kept), f"{v:.6g}"] for i, v in enumerate(values)])
        count = len(values)
    if args.output:
        atomic_write_bytes(args.output, lines.getvalue().encode("utf-8"))
        print(f"wrote {count} predictions to {args.output}", file=out)
    else:
        out.write(lines.getvalue())
    return 0


def _checked(path: str, work: Any) -> Any:
    """Run ``work``; a model that does not fit its own file's description is the file's fault."""
    try:
        return work()
    except MetadataMismatchError as error:
        raise CLIError(f"{path}: {error}") from None


def run_evaluate(args: argparse.Namespace, out: Any) -> int:
    path = args.model
    model = TabularModel.load(path)
    table = read_csv_table(args.data, args.delimiter)
    if (args.target or model.target_name) is None:
        raise CLIError(f"{path}: the model file does not name its target column; pass --target")
    evaluation = _checked(path, lambda: model.evaluate(table, target=args.target))
    print(f"tinynet {tn.__version__}: {path} on {args.data} ({len(table)} samples)", file=out)
    print("\n" + evaluation.text, file=out)
    return 0


def import_modules(names: list[str]) -> None:
    """``--import``: each module by name, looked for in the current folder first (as ``python -m``
    would; an installed console script does not look there), or a ``.py`` file by its path."""
    if names and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in names:
        try:
            if name.endswith(".py"):
                _import_file(name)
            else:
                importlib.import_module(name)
        except ImportError as error:
            raise CLIError(f"--import {name}: {error}") from None
        except Exception as error:  # the module's own code failed: say so, in one line
            raise CLIError(f"--import {name}: importing it failed: {type(error).__name__}: {error}") from None


def _import_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ImportError(f"no such file {path!r}")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


# -- gradcheck --------------------------------------------------------------------------------------
def run_gradcheck(args: argparse.Namespace, out: Any) -> int:
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


def _example_batch(model: tn.Module, rows: int, shape: list[int] | None = None) -> Any:
    """Random rows for the model's inputs (indices below each Embedding's size)."""
    rng = np.random.default_rng(0)
    specs = getattr(model, "input_specs", None)
    if specs:
        limits = {name: _index_limit(model, name) for name, _, dtype in specs if dtype.kind in "iu"}
        parts = [
            rng.integers(0, limits[name], (rows, *shape))
            if dtype.kind in "iu"
            else rng.standard_normal((rows, *shape))
            for name, shape, dtype in specs
        ]
        return parts if len(parts) > 1 else parts[0]
    width = model.input_width()
    sample = tuple(shape) if shape else (width,) if width is not None else None
    if sample is None:
        raise CLIError(f"{one_line(model)}: the model does not declare its input width; give --shape")
    return rng.standard_normal((rows, *sample)).astype(model.dtype if model.dtype is not None else np.float64)


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
        x = _example_batch(model, args.batch, args.shape)
    else:
        if not args.layers or len(args.layers) < 2:
            raise CLIError(
                "bench needs --layers IN [HIDDEN ...] OUT (e.g. --layers 64 128 10) or --model FILE"
            )
        build = MLP(args.layers[1:-1], args.activation, 0.0, args.norm, "he", args.dtype)
        count = build.num_parameters(args.layers[0], args.layers[-1])
        try:  # weights, gradients and up to two optimizer buffers
            check_fits_in_memory(4 * count * np.dtype(args.dtype).itemsize, f"{count:,} parameters")
        except ValueError as error:
            raise CLIError(
                f"--layers {' '.join(map(str, args.layers))}: {error}; choose smaller --layers"
            ) from None
        model = build(args.layers[0], args.layers[-1], rng)
        x = rng.standard_normal((args.batch, args.layers[0])).astype(args.dtype)
    print(benchmark(model, x, budget=args.budget), file=out)
    print(file=out)
    print(profile(model, x), file=out)
    return 0


# -- export -----------------------------------------------------------------------------------------
def run_export(args: argparse.Namespace, out: Any) -> int:
    from tinynet.io.onnx import export_onnx

    try:
        if describes_a_table_model(tn.load_metadata(args.model)):  # its preprocessing goes inside
            proto = TabularModel.load(args.model).to_onnx(args.output, opset=args.opset)
        else:
            proto = export_onnx(tn.load(args.model), args.output, opset=args.opset)
    except ImportError as error:
        raise CLIError(str(error)) from None
    props = {p.key: p.value for p in proto.metadata_props}
    names, text = json.loads(props.get("text_inputs", "[]")), json.loads(props.get("text_columns", "[]"))
    columns = dict(zip(names, text, strict=True))  # a text column fed under another name
    inputs = ", ".join(
        _tensor_text(t) + (f" (column {columns[t.name]!r})" if columns.get(t.name, t.name) != t.name else "")
        for t in proto.graph.input
    )
    outputs = ", ".join(_tensor_text(t) for t in proto.graph.output)
    print(f"wrote {args.output} (ONNX opset {args.opset}): inputs {inputs}; outputs {outputs}", file=out)
    return 0


def _tensor_text(value: Any) -> str:
    dims = [d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim]
    kinds = {1: "float32", 7: "int64", 8: "string", 11: "float64"}
    return f"{value.name} ({', '.join(dims)}) {kinds.get(value.type.tensor_type.elem_type, '?')}"
