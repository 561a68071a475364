"""Grid, random and Optuna search on one table: the best cross-validated score each reaches and
the training epochs and wall time each spends (the table in the README comes from this script).

Run: python benchmarks/search_strategies.py [--dataset digits] [--jobs 2] [--out DIR]

All search the same lists (learning rate x layers x activation, 5-fold cross-validation, up to 100
epochs with early stopping): the grid tries all 48; Optuna (TPE, median pruner) runs each of
``--fractions`` of the grid's number of trials; after each, random search gets that Optuna run's
budget in epochs (as many candidates as the grid's mean epochs per candidate allow). Scores are
points (accuracy or R² x 100); the percentage is of the grid's epochs. Each search runs through
``tinynet search`` in this process, one after the other, with the same ``--jobs``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tinynet.cli import main

SPACE = [
    "learning_rate=0.001,0.003,0.01,0.03,0.1,0.3",
    "layers=16;64;64 32;128 64",
    "activation=relu,tanh",
]
TASKS = {
    "digits": "classification",
    "penguins": "classification",
    "diabetes": "regression",
    "iris": "classification",
}


def search(dataset: str, strategy: str, folder: Path, jobs: int, extra: list[str]) -> dict[str, Any]:
    flag = "--grid" if strategy == "grid" else "--space"
    argv = ["search", "-t", TASKS[dataset], "-d", dataset, "-e", "100", "--cv", "5", "-q"]
    argv += [item for value in SPACE for item in (flag, value)]
    argv += ["--strategy", strategy, "--jobs", str(jobs), "--output_dir", str(folder), *extra]
    code = main(argv)
    if code != 0:
        raise SystemExit(f"tinynet {' '.join(argv)} exited with {code}")
    record: dict[str, Any] = json.loads((folder / "search.json").read_text())
    rows = record["candidates"]
    scoring = record["scoring"]
    best = max(float(r[f"mean_{scoring}"]) for r in rows if r["state"] == "complete")
    return {
        "strategy": strategy,
        "candidates": len(rows),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "epochs": record["epochs"],
        "best": 100 * best,
        "seconds": record["seconds"],
        "scoring": scoring,
    }


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=sorted(TASKS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--fractions", default="0.5,0.75", help="Optuna's trials / the grid's candidates, one search each"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=None, help="keep the searches' files here")
    args = parser.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    seed = ["--seed", str(args.seed)]
    grid = search(args.dataset, "grid", root / "grid", args.jobs, seed)
    rows = [grid]
    per_candidate = grid["epochs"] / grid["candidates"]
    for fraction in map(float, args.fractions.split(",")):
        trials = max(1, round(fraction * grid["candidates"]))
        folder = root / f"optuna-{trials}"
        optuna = search(args.dataset, "optuna", folder, args.jobs, [*seed, "--trials", str(trials)])
        budget = max(1, round(optuna["epochs"] / per_candidate))  # random: the same epochs
        random = search(
            args.dataset, "random", root / f"random-{budget}", args.jobs, [*seed, "--trials", str(budget)]
        )
        optuna["strategy"] = f"optuna, {trials} trials"
        random["strategy"] = "random, as many epochs"
        rows += [optuna, random]
    name = f"best {grid['scoring']} (points)"
    print(f"\n{args.dataset}, 5-fold cross-validation, {args.jobs} processes, seed {args.seed}\n")
    print(f"| strategy | candidates (pruned) | epochs trained | {name} | wall time |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        share = f" ({100 * row['epochs'] / grid['epochs']:.0f}%)" if row is not grid else ""
        pruned = f" ({row['pruned']})" if row["strategy"].startswith("optuna") else ""
        print(
            f"| {row['strategy']} | {row['candidates']}{pruned} | {row['epochs']:,}{share} | "
            f"{row['best']:.2f} | {row['seconds']:.0f} s |"
        )
    print(f"\nfiles in {root}", file=sys.stderr)


if __name__ == "__main__":
    main_()
