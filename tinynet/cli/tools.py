"""``tinynet summary``, ``tinynet predict`` and ``tinynet gradcheck``."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from typing import Any

import numpy as np

import tinynet as tn
from tinynet._io import atomic_write_bytes
from tinynet.cases import LOSS_CASES, MODULE_CASES, sample
from tinynet.cli.parser import CLIError
from tinynet.cli.train import build_model
from tinynet.datasets import DATASETS
from tinynet.serialization import load_metadata


def run_summary(args: argparse.Namespace, out: Any) -> int:
    if args.model:
        model = tn.load(args.model)
        print(model.summary(), file=out)
        return 0
    if not args.layers:
        raise CLIError("summary needs --layers N [N ...] or --model FILE")
    if args.dataset:
        if args.dataset not in DATASETS:
            raise CLIError(f"unknown data set {args.dataset!r}; bundled data sets are {sorted(DATASETS)}")
        dataset = DATASETS[args.dataset]()
        n_in, n_out = dataset.x.shape[1], max(dataset.n_classes, 1)
        output = args.output or ("softmax" if dataset.task == "classification" else "linear")
    elif args.inputs:
        n_in, n_out, output = args.inputs, args.outputs, args.output or "linear"
    else:
        raise CLIError("summary needs --dataset NAME or --inputs N to know the input width")
    model = build_model(n_in, args.layers, n_out, args, np.random.default_rng(0), output)
    print(model.summary(), file=out)
    return 0


def run_predict(args: argparse.Namespace, out: Any) -> int:
    model = tn.load(args.model)
    meta = load_metadata(args.model)
    names = meta.get("feature_names")
    if not isinstance(names, list) or "x_scaler" not in meta:
        raise CLIError(
            f"{args.model}: this model file has no feature description; save it with 'tinynet train'"
        )
    table = read_feature_table(args.data, names)
    x = (table - np.array(meta["x_scaler"]["mean"])) / np.array(meta["x_scaler"]["scale"])
    raw = tn.predict(model, x.astype(model.dtype or np.float64))
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    if meta.get("task") == "classification":
        classes = meta.get("target_names") or [str(i) for i in range(raw.shape[1])]
        writer.writerow(["prediction", *(f"p_{c}" for c in classes)])
        has_softmax = isinstance(model, tn.Sequential) and isinstance(model[-1], tn.Softmax)
        probabilities = raw if has_softmax else tn.activations.softmax(raw)
        for row in probabilities:
            writer.writerow([classes[int(row.argmax())], *(f"{p:.6f}" for p in row)])
    else:
        y_scaler = meta.get("y_scaler") or {"mean": [0.0], "scale": [1.0]}
        values = raw[:, 0] * y_scaler["scale"][0] + y_scaler["mean"][0]
        writer.writerow(["prediction"])
        writer.writerows([[f"{v:.6g}"] for v in values])
    if args.output:
        atomic_write_bytes(args.output, lines.getvalue().encode("utf-8"))
        print(f"wrote {len(raw)} predictions to {args.output}", file=out)
    else:
        out.write(lines.getvalue())
    return 0


def read_feature_table(path: str, names: list[str]) -> Any:
    """The model's feature columns from a CSV (found by header name; extra columns are ignored)."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise CLIError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    missing = [n for n in names if n not in header]
    if missing:
        raise CLIError(f"{path}: missing feature columns {missing}; the model needs {names}")
    columns = [header.index(n) for n in names]
    values = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise CLIError(f"{path}: line {number}: expected {len(header)} fields, got {len(row)}")
        try:
            values.append([float(row[j]) for j in columns])
        except ValueError:
            raise CLIError(f"{path}: line {number}: non-numeric feature value") from None
    table = np.array(values)
    if not np.isfinite(table).all():
        raise CLIError(f"{path}: feature values must be finite numbers")
    return table


def run_gradcheck(args: argparse.Namespace, out: Any) -> int:
    rng = np.random.default_rng(0)
    rows = []
    for name, factory, shapes in MODULE_CASES:
        try:
            report = tn.gradcheck(factory(), sample(shapes[0], rng), rng=0)
            rows.append((name, report.max_rel_error, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    for name, make_loss, make_data in LOSS_CASES:
        try:
            report = tn.gradcheck_loss(make_loss(), *make_data(rng))
            rows.append((name, report.max_rel_error, "ok"))
        except tn.GradcheckError as error:
            rows.append((name, math.nan, f"FAILED: {str(error).splitlines()[0]}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'module':<{width}}  max rel error  status", file=out)
    for name, error_value, status in rows:
        print(f"{name:<{width}}  {error_value:>13.2e}  {status}", file=out)
    failed = sum(status != "ok" for _, _, status in rows)
    print(f"{len(rows) - failed} passed, {failed} failed", file=out)
    return 1 if failed else 0
