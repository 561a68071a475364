"""Forward, backward and train-step timings of tinynet against the GEMM floor, NumPy and PyTorch.

Run: python benchmarks/bench.py [--quick] [--json PATH] [--sizes tiny,small] [--dtype float32]

Every number is measured in this one process, side by side, as the median of many repetitions
after a warm-up, so the ratios compare like with like on whatever machine runs it:

- tinynet:      a Sequential of Dense + ReLU, CrossEntropyLoss and SGD (forward, loss, zero_grad,
                backward, step), exactly as a user writes it;
- GEMM floor:   only the matrix products that step must do (3 per layer, 2 for the first), with
                preallocated outputs: the physical limit of this design on this machine;
- hand-written: the same step written directly in NumPy with no framework at all;
- PyTorch:      nn.Sequential, nn.CrossEntropyLoss and optim.SGD with the same thread count,
                when torch is installed (never a dependency of tinynet).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import tinynet as tn

Array = np.ndarray[Any, Any]

SIZES: dict[str, tuple[list[int], int]] = {
    "tiny": ([4, 16, 3], 32),
    "small": ([64, 128, 128, 10], 64),
    "mnist": ([784, 256, 256, 10], 128),
    "large": ([1024, 1024, 1024, 1024], 512),
}
LR = 0.01


# -- timing ---------------------------------------------------------------------------------------
def measure(steps: dict[str, Callable[[], object]], budget: float) -> dict[str, float]:
    """Median seconds per call of each step, sampled in interleaved rounds.

    Each round times one sample of every contender in turn (each sample at least ~5 ms of calls),
    so a slow spell of a noisy machine hits all of them alike and the ratios stay fair.
    """
    inner: dict[str, int] = {}
    per_round = 0.0
    for name, step in steps.items():
        for _ in range(3):  # warm-up: caches, allocator, lazy initialization
            step()
        start = time.perf_counter()
        step()
        once = max(time.perf_counter() - start, 1e-7)
        inner[name] = max(1, int(0.005 / once))
        per_round += inner[name] * once
    rounds = max(7, min(301, int(budget * len(steps) / per_round)))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, count = steps[name], inner[name]
            start = time.perf_counter()
            for _ in range(count):
                step()
            samples[name].append((time.perf_counter() - start) / count)
    return {name: statistics.median(values) for name, values in samples.items()}


# -- the four contenders ---------------------------------------------------------------------------
def make_data(widths: list[int], batch: int, dtype: Any) -> tuple[Array, Array]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, widths[0])).astype(dtype), rng.integers(0, widths[-1], batch)


def tinynet_model(widths: list[int], dtype: Any) -> tn.Sequential:
    rng = np.random.default_rng(1)
    layers: list[tn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(tn.Dense(a, b, dtype=dtype, rng=rng))
        if i < len(widths) - 2:
            layers.append(tn.ReLU())
    return tn.Sequential(*layers)


def tinynet_steps(widths: list[int], batch: int, dtype: Any) -> dict[str, Callable[[], object]]:
    x, y = make_data(widths, batch, dtype)
    model = tinynet_model(widths, dtype)
    loss = tn.CrossEntropyLoss()
    optimizer = tn.SGD(model.parameters(), lr=LR)

    def train_step() -> object:
        value = loss(model(x), y)
        model.zero_grad()
        model.backward_parameters(loss.backward())  # as fit does: dL/dx of the data is never read
        optimizer.step()
        return value

    out = model(x)
    grad = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)

    def backward() -> object:
        return model.backward(grad)

    return {"forward": lambda: model(x), "backward": backward, "train_step": train_step}


def gemm_floor_step(widths: list[int], batch: int, dtype: Any) -> Callable[[], object]:
    """Only the products a step needs: x W per layer, x^T g per layer, g W^T for all but the first."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in itertools.pairwise(widths)]
    acts = [rng.standard_normal((batch, w)).astype(dtype) for w in widths]
    wgrads = [np.empty_like(w) for w in weights]
    xgrads = [np.empty_like(a) for a in acts]

    def step() -> object:
        for i, w in enumerate(weights):
            np.matmul(acts[i], w, out=acts[i + 1])
        for i in range(len(weights) - 1, -1, -1):
            np.matmul(acts[i].T, acts[i + 1], out=wgrads[i])
            if i > 0:
                np.matmul(acts[i + 1], weights[i].T, out=xgrads[i])
        return None

    return step


def numpy_step(widths: list[int], batch: int, dtype: Any) -> Callable[[], object]:
    """A minimal hand-written NumPy train step for the same network: the cost of no framework."""
    x, y = make_data(widths, batch, dtype)
    model = tinynet_model(widths, dtype)
    weights = [m.weight.data.copy() for m in model if isinstance(m, tn.Dense)]
    biases = [m.bias.data.copy() for m in model if isinstance(m, tn.Dense) and m.bias is not None]
    rows = np.arange(batch)
    last = len(weights) - 1

    def step() -> object:
        hs = [x]
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = hs[-1] @ w
            z += b
            if i < last:
                np.maximum(z, 0, out=z)
            hs.append(z)
        z = hs.pop()
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        total = z.sum(axis=1, keepdims=True)
        z /= total
        value = float(np.mean(np.log(total[:, 0]) - np.log(z[rows, y] * total[:, 0])))
        z[rows, y] -= 1.0
        z /= batch
        g = z
        for i in range(last, -1, -1):
            h = hs[i]
            grad_w = h.T @ g
            grad_b = g.sum(axis=0)
            if i > 0:
                g = g @ weights[i].T
                g *= h > 0
            weights[i] -= LR * grad_w
            biases[i] -= LR * grad_b
        return value

    return step


def torch_steps(
    widths: list[int], batch: int, dtype: Any, threads: int
) -> dict[str, Callable[[], object]] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    layers: list[Any] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(a, b, dtype=torch_dtype))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    x_np, y_np = make_data(widths, batch, dtype)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def train_step() -> object:
        optimizer.zero_grad()
        value = loss_fn(model(x), y)
        value.backward()
        optimizer.step()
        return value

    def forward() -> object:
        with torch.no_grad():
            return model(x)

    return {"forward": forward, "train_step": train_step}


# -- the report ------------------------------------------------------------------------------------
def step_flops(widths: list[int], batch: int) -> float:
    """Multiply-adds of the GEMM floor, counted as 2 flops each."""
    total = 0
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        total += 2 * batch * a * b * (2 if i == 0 else 3)
    return float(total)


def memory_ratio(widths: list[int], batch: int, dtype: Any) -> dict[str, float]:
    """Peak bytes a steady-state tinynet train step allocates, against the activation bytes it caches."""
    steps = tinynet_steps(widths, batch, dtype)
    for _ in range(3):
        steps["train_step"]()
    itemsize = np.dtype(dtype).itemsize
    # every layer output (Dense and ReLU) of the forward pass, the logits included
    activation_bytes = sum(
        batch * w * itemsize * (2 if i < len(widths) - 2 else 1) for i, w in enumerate(widths[1:])
    )
    tracemalloc.start()
    tracemalloc.reset_peak()
    steps["train_step"]()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_bytes": float(peak),
        "activation_bytes": float(activation_bytes),
        "ratio": peak / activation_bytes,
    }


def blas_info() -> tuple[str, int]:
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')})", int(
                    pool["num_threads"]
                )
    except ImportError:
        pass
    config = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip(), os.cpu_count() or 1


def iris_end_to_end(budget_epochs: int) -> dict[str, float] | None:
    """fit on iris against scikit-learn's MLPClassifier: same architecture, batch, epochs, plain SGD."""
    from tinynet.data import StandardScaler, train_test_split
    from tinynet.datasets import load_iris

    iris = load_iris()
    x, _, y, _ = train_test_split(iris.x, iris.y, 0.2, rng=42, stratify=True)
    x = StandardScaler().fit_transform(x)
    model = tn.Sequential(
        tn.Dense(4, 16, rng=0), tn.ReLU(), tn.Dense(16, 8, rng=1), tn.ReLU(), tn.Dense(8, 3, rng=2)
    )
    start = time.perf_counter()
    tn.fit(
        model,
        x,
        y,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=0.01),
        epochs=budget_epochs,
        batch_size=16,
        rng=0,
        verbose=0,
    )
    ours = (time.perf_counter() - start) / budget_epochs
    result = {"tinynet_epoch_s": ours}
    try:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return result
    clf = MLPClassifier(
        hidden_layer_sizes=(16, 8),
        solver="sgd",
        batch_size=16,
        max_iter=budget_epochs,
        learning_rate_init=0.01,
        momentum=0.0,
        n_iter_no_change=budget_epochs + 1,
        tol=0.0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(x, y)
    theirs = (time.perf_counter() - start) / clf.n_iter_
    result.update({"sklearn_epoch_s": theirs, "speedup": theirs / ours})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny and small sizes, short timings (seconds)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--sizes", help=f"comma-separated subset of {','.join(SIZES)}")
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    args = parser.parse_args(argv)

    names = args.sizes.split(",") if args.sizes else (["tiny", "small"] if args.quick else list(SIZES))
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    dtypes = [np.float32, np.float64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    budget = 0.05 if args.quick else 0.6
    blas, threads = blas_info()
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "blas_threads": threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
    }
    try:
        import torch

        env["torch"] = torch.__version__
    except ImportError:
        env["torch"] = "not installed (PyTorch columns skipped)"

    rows = []
    for name in names:
        widths, batch = SIZES[name]
        for dtype in dtypes:
            ours = tinynet_steps(widths, batch, dtype)
            contenders = {
                "forward_us": ours["forward"],
                "backward_us": ours["backward"],
                "train_step_us": ours["train_step"],
                "gemm_us": gemm_floor_step(widths, batch, dtype),
                "numpy_us": numpy_step(widths, batch, dtype),
            }
            row: dict[str, Any] = {"size": name, "dtype": np.dtype(dtype).name, "batch": batch}
            row.update({key: seconds * 1e6 for key, seconds in measure(contenders, budget).items()})
            rows.append(row)
            print(f"  measured {name} {row['dtype']}", file=sys.stderr)
    time.sleep(0.5)
    # PyTorch after NumPy, in a phase of its own: its OpenMP threads keep spinning after each call and
    # would steal the two cores from OpenBLAS if the two alternated
    for row in rows:
        widths, batch = SIZES[row["size"]]
        theirs = torch_steps(widths, batch, np.dtype(row["dtype"]).type, threads)
        if theirs is not None:
            torch_group = {"torch_forward_us": theirs["forward"], "torch_us": theirs["train_step"]}
            row.update({key: seconds * 1e6 for key, seconds in measure(torch_group, budget).items()})
    time.sleep(0.5)  # let PyTorch's spinning threads go idle before timing NumPy again
    memory = None
    if "mnist" in names:
        memory = memory_ratio(*SIZES["mnist"], np.float32 if np.float32 in dtypes else np.float64)
    end_to_end = iris_end_to_end(20 if args.quick else 200)
    for row in rows:
        widths, batch = SIZES[row["size"]]
        row["gflops"] = step_flops(widths, batch) / (row["train_step_us"] * 1e-6) / 1e9
        row["vs_gemm"] = row["train_step_us"] / row["gemm_us"]
        row["vs_numpy"] = row["train_step_us"] / row["numpy_us"]
        if "torch_us" in row:
            row["vs_torch"] = row["train_step_us"] / row["torch_us"]

    print(render(rows, env, memory, end_to_end))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"environment": env, "rows": rows, "memory": memory, "iris_fit": end_to_end}, handle, indent=2
            )
    return 0


def render(
    rows: list[dict[str, Any]],
    env: dict[str, Any],
    memory: dict[str, float] | None,
    end_to_end: dict[str, float] | None,
) -> str:
    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "-"

    lines = [
        "| size | dtype | forward µs | backward µs | train step µs | GFLOP/s | GEMM floor µs "
        "| hand-written µs | PyTorch µs | x GEMM floor | x hand-written | x PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['dtype']} | {r['forward_us']:.1f} | {r['backward_us']:.1f} "
            f"| {r['train_step_us']:.1f} "
            f"| {r['gflops']:.2f} | {r['gemm_us']:.1f} | {r['numpy_us']:.1f} | {cell(r, 'torch_us', '.1f')} "
            f"| {r['vs_gemm']:.2f} | {r['vs_numpy']:.2f} | {cell(r, 'vs_torch', '.2f')} |"
        )
    lines.append("")
    if memory is not None:
        lines.append(
            f"memory (mnist train step): peak allocation {memory['peak_bytes'] / 1024:.0f} KiB, "
            f"cached activations {memory['activation_bytes'] / 1024:.0f} KiB, ratio {memory['ratio']:.2f}"
        )
    if end_to_end is not None:
        text = f"iris fit, per epoch: tinynet {end_to_end['tinynet_epoch_s'] * 1e3:.2f} ms"
        if "sklearn_epoch_s" in end_to_end:
            text += (
                f", scikit-learn MLPClassifier {end_to_end['sklearn_epoch_s'] * 1e3:.2f} ms, "
                f"tinynet {end_to_end['speedup']:.1f}x faster"
            )
        else:
            text += " (scikit-learn not installed: no comparison)"
        lines.append(text)
    lines.append("")
    lines.append("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
