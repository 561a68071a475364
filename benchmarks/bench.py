"""Forward, backward and train-step timings of tinynet against the GEMM floor, NumPy, PyTorch and
scikit-learn, all measured in this one process (``tinynet.tools.bench`` does the timing).

Run: python benchmarks/bench.py [--quick] [--json PATH] [--sizes tiny,small] [--dtype float32]
                                [--skip-table]

- tinynet:      a Sequential of Dense + ReLU, CrossEntropyLoss and SGD (forward, loss, zero_grad,
                backward, step), exactly as a user writes it;
- GEMM floor:   only the matrix products that step must do (3 per layer, 2 for the first), with
                preallocated outputs: the physical limit of this design on this machine;
- hand-written: the same step written directly in NumPy with no framework at all;
- PyTorch:      nn.Sequential, nn.CrossEntropyLoss and optim.SGD with the same thread count,
                when torch is installed (never a dependency of tinynet).

Further rows: an Adam step against a hand-written Adam over one flat buffer; every activation's
forward + backward against Tanh's; iris ``fit`` against scikit-learn's MLPClassifier (same
architecture, batch, epochs, SGD with momentum 0.9, no penalty on either side); a 300k x 50 table
against a plain PyTorch loop and MLPClassifier; and the memory ``fit`` adds when it trains from a
memory-mapped 1M-row file.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import tinynet as tn
from tinynet.tools.bench import environment, measure, steps

Array = np.ndarray[Any, Any]

SIZES: dict[str, tuple[list[int], int]] = {
    "tiny": ([4, 16, 3], 32),
    "small": ([64, 128, 128, 10], 64),
    "mnist": ([784, 256, 256, 10], 128),
    "large": ([1024, 1024, 1024, 1024], 512),
}
LR = 0.01


# -- the contenders of the train step -------------------------------------------------------------
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


def tinynet_steps(
    widths: list[int], batch: int, dtype: Any, optimizer: str = "sgd"
) -> dict[str, Callable[[], object]]:
    x, y = make_data(widths, batch, dtype)
    model = tinynet_model(widths, dtype)
    opt = tn.SGD(model.parameters(), lr=LR) if optimizer == "sgd" else tn.Adam(model.parameters(), lr=LR)
    return steps(model, x, y, loss=tn.CrossEntropyLoss(), optimizer=opt)


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


def numpy_step(widths: list[int], batch: int, dtype: Any, optimizer: str = "sgd") -> Callable[[], object]:
    """A minimal hand-written NumPy train step for the same network: the cost of no framework.

    With ``optimizer="adam"`` the update is Adam written over one flat buffer (views per layer),
    the fastest way to write it by hand.
    """
    x, y = make_data(widths, batch, dtype)
    model = tinynet_model(widths, dtype)
    dense = [m for m in model if isinstance(m, tn.Dense)]
    sizes = [d.weight.data.size + d.out_features for d in dense]
    flat = np.concatenate([np.concatenate([d.weight.data.ravel(), d.bias.data]) for d in dense])  # type: ignore[union-attr]
    grads = np.zeros_like(flat)
    m_buf, v_buf, scratch = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)
    views, grad_views, offset = [], [], 0
    for d, size in zip(dense, sizes, strict=True):
        w_size = d.weight.data.size
        views.append(
            (flat[offset : offset + w_size].reshape(d.weight.shape), flat[offset + w_size : offset + size])
        )
        grad_views.append(
            (grads[offset : offset + w_size].reshape(d.weight.shape), grads[offset + w_size : offset + size])
        )
        offset += size
    rows = np.arange(batch)
    last = len(views) - 1
    t = [0]

    def step() -> object:
        hs = [x]
        for i, (w, b) in enumerate(views):
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
            gw, gb = grad_views[i]
            np.matmul(h.T, g, out=gw)
            np.sum(g, axis=0, out=gb)
            if i > 0:
                g = g @ views[i][0].T
                g *= h > 0
            if optimizer == "sgd":
                w, b = views[i]
                w -= LR * gw
                b -= LR * gb
        if optimizer == "adam":  # over the one flat buffer, every operation in place
            t[0] += 1
            np.multiply(m_buf, 0.9, out=m_buf)
            np.add(m_buf, 0.1 * grads, out=m_buf)
            np.multiply(v_buf, 0.999, out=v_buf)
            np.add(v_buf, 0.001 * grads * grads, out=v_buf)
            np.sqrt(v_buf, out=scratch)
            np.divide(scratch, np.sqrt(1 - 0.999 ** t[0]), out=scratch)
            np.add(scratch, 1e-8, out=scratch)
            np.divide(m_buf, scratch, out=scratch)
            np.multiply(scratch, LR / (1 - 0.9 ** t[0]), out=scratch)
            np.subtract(flat, scratch, out=flat)
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


def step_flops(widths: list[int], batch: int) -> float:
    """Multiply-adds of the GEMM floor, counted as 2 flops each."""
    total = 0
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        total += 2 * batch * a * b * (2 if i == 0 else 3)
    return float(total)


def memory_ratio(widths: list[int], batch: int, dtype: Any) -> dict[str, float]:
    """Peak bytes a steady-state tinynet train step allocates, against the activation bytes it caches."""
    step = tinynet_steps(widths, batch, dtype)["train_step"]
    for _ in range(3):
        step()
    itemsize = np.dtype(dtype).itemsize
    activation_bytes = sum(
        batch * w * itemsize * (2 if i < len(widths) - 2 else 1) for i, w in enumerate(widths[1:])
    )
    tracemalloc.start()
    tracemalloc.reset_peak()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_bytes": float(peak),
        "activation_bytes": float(activation_bytes),
        "ratio": peak / activation_bytes,
    }


# -- the other rows --------------------------------------------------------------------------------
ACTIVATIONS: dict[str, Callable[[], tn.Module]] = {
    "Tanh": tn.Tanh,
    "Sigmoid": tn.Sigmoid,
    "ReLU": tn.ReLU,
    "LeakyReLU": tn.LeakyReLU,
    "GELU": tn.GELU,
    "GELU-tanh": lambda: tn.GELU("tanh"),
    "ELU": tn.ELU,
    "Softplus": tn.Softplus,
}


def activation_rows(budget: float) -> list[dict[str, Any]]:
    """Forward + backward of every element-wise layer on a (256, 256) float64 batch, against Tanh."""
    x = np.random.default_rng(0).standard_normal((256, 256))
    g = np.ones_like(x)
    contenders = {}
    for name, make in ACTIVATIONS.items():
        layer = make()

        def both(layer: tn.Module = layer) -> object:
            layer.forward(x)
            return layer.backward(g)

        contenders[name] = both
    times = measure(contenders, budget)
    return [{"activation": n, "us": t * 1e6, "vs_tanh": t / times["Tanh"]} for n, t in times.items()]


DENSE_ND = (64, 40, 128)  # (batch, sequence, features) -> 128: Dense on a sequence


def dense_nd_steps() -> dict[str, Callable[[], object]]:
    """Forward + backward of Dense(128, 128) on (64, 40, 128) float32: tinynet and the hand-written
    NumPy it should cost (one GEMM each way on the (2560, 128) view)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(DENSE_ND).astype(np.float32)
    g = rng.standard_normal(DENSE_ND).astype(np.float32)
    layer = tn.Dense(128, 128, dtype=np.float32, rng=0)
    w, b = layer.weight.data.copy(), layer.bias.data.copy()  # type: ignore[union-attr]

    def ours() -> object:
        layer.zero_grad()
        layer.forward(x)
        return layer.backward(g)

    def numpy() -> object:
        x2, g2 = x.reshape(-1, 128), g.reshape(-1, 128)
        y = x2 @ w
        y += b
        grad_w, grad_b = x2.T @ g2, g2.sum(axis=0)
        return (g2 @ w.T).reshape(DENSE_ND), y, grad_w, grad_b

    return {"tinynet": ours, "numpy": numpy}


def dense_nd_torch(threads: int) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(DENSE_ND).astype(np.float32)).requires_grad_(True)
    g = torch.from_numpy(rng.standard_normal(DENSE_ND).astype(np.float32))
    linear = torch.nn.Linear(128, 128)

    def step() -> object:
        linear.zero_grad()
        x.grad = None
        linear(x).backward(g)
        return x.grad

    return step


CONV_CASES = {  # name: (tinynet layer, torch layer, input shape); float32, forward + backward
    "Conv2d(1->32, 5x5, same) on (64, 1, 28, 28)": (
        lambda: tn.Conv2d(1, 32, 5, padding="same", dtype=np.float32, rng=0),
        lambda torch: torch.nn.Conv2d(1, 32, 5, padding="same"),
        (64, 1, 28, 28),
    ),
    "Conv2d(32->64, 5x5, same) on (64, 32, 14, 14)": (
        lambda: tn.Conv2d(32, 64, 5, padding="same", dtype=np.float32, rng=0),
        lambda torch: torch.nn.Conv2d(32, 64, 5, padding="same"),
        (64, 32, 14, 14),
    ),
    "MaxPool2d(2) on (64, 32, 28, 28)": (
        lambda: tn.MaxPool2d(2),
        lambda torch: torch.nn.MaxPool2d(2),
        (64, 32, 28, 28),
    ),
}


def torch_output(result: Any) -> Any:
    """The output sequence of a torch layer's call (recurrent layers and attention return tuples)."""
    return result[0] if isinstance(result, tuple) else result


SEQUENCE_CASES = {  # float32, forward + backward; the targets are 2x PyTorch
    "GRU(32->128) on (64, 40, 32)": (
        lambda: tn.GRU(32, 128, dtype=np.float32, rng=0),
        lambda torch: torch.nn.GRU(32, 128, batch_first=True),
        (64, 40, 32),
    ),
    "LSTM(32->128) on (64, 40, 32)": (
        lambda: tn.LSTM(32, 128, dtype=np.float32, rng=0),
        lambda torch: torch.nn.LSTM(32, 128, batch_first=True),
        (64, 40, 32),
    ),
    "MultiheadAttention(128, 4 heads) on (64, 32, 128)": (
        lambda: tn.MultiheadAttention(128, 4, dtype=np.float32, rng=0),
        lambda torch: SelfAttention(torch.nn.MultiheadAttention(128, 4, batch_first=True)),
        (64, 32, 128),
    ),
}


class SelfAttention:
    """PyTorch's attention called as self-attention without weights (its fused path), like ours."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def __call__(self, x: Any) -> Any:
        return self.layer(x, x, x, need_weights=False)[0]

    def zero_grad(self) -> None:
        self.layer.zero_grad()


def lenet(framework: Any = None) -> Any:
    """LeNet-5's shape on 28x28 images: two convolutions with pooling, three dense layers."""
    if framework is None:
        rng = np.random.default_rng(0)
        f32 = np.float32
        return tn.Sequential(
            tn.Conv2d(1, 6, 5, padding=2, dtype=f32, rng=rng), tn.ReLU(), tn.MaxPool2d(2),
            tn.Conv2d(6, 16, 5, dtype=f32, rng=rng), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
            tn.Dense(400, 120, dtype=f32, rng=rng), tn.ReLU(),
            tn.Dense(120, 84, dtype=f32, rng=rng), tn.ReLU(), tn.Dense(84, 10, dtype=f32, rng=rng),
        )  # fmt: skip
    nn = framework.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def layer_steps(cases: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """tinynet's forward + backward of each case (only the first output carries a gradient)."""
    rng = np.random.default_rng(0)
    steps: dict[str, Callable[[], object]] = {}
    for name, (ours, _, shape) in cases.items():
        layer, x = ours(), rng.standard_normal(shape).astype(np.float32)
        out = layer(x)
        g: Any = rng.standard_normal(out[0].shape if isinstance(out, list) else out.shape).astype(np.float32)
        if isinstance(out, list):
            g = [g, *[None] * (len(out) - 1)]

        def both(layer: tn.Module = layer, x: Array = x, g: Any = g) -> object:
            layer.zero_grad()
            layer.forward(x)
            return layer.backward(g)

        steps[name] = both
    return steps


def conv_steps() -> dict[str, Callable[[], object]]:
    """tinynet's forward + backward of each conv case, and a LeNet train step on (64, 1, 28, 28)."""
    steps = layer_steps(CONV_CASES)
    steps["LeNet train step, batch 64"] = tinynet_steps_for(lenet(), (64, 1, 28, 28))
    return steps


def tinynet_steps_for(model: tn.Module, shape: tuple[int, ...]) -> Callable[[], object]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])
    return tn.bench.steps(
        model, x, y, loss=tn.CrossEntropyLoss(), optimizer=tn.SGD(model.parameters(), lr=0.01)
    )["train_step"]


def layer_torch_steps(cases: dict[str, Any], threads: int) -> dict[str, Callable[[], object]] | None:
    """PyTorch's forward + backward of each case, on the same shapes."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    steps: dict[str, Callable[[], object]] = {}
    for name, (_, theirs, shape) in cases.items():
        layer = theirs(torch)
        x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(True)
        out_shape = tuple(torch_output(layer(x)).shape)
        g = torch.from_numpy(rng.standard_normal(out_shape).astype(np.float32))

        def both(layer: Any = layer, x: Any = x, g: Any = g) -> object:
            layer.zero_grad()
            x.grad = None
            torch_output(layer(x)).backward(g)
            return x.grad

        steps[name] = both
    return steps


def conv_torch_steps(threads: int) -> dict[str, Callable[[], object]] | None:
    steps = layer_torch_steps(CONV_CASES, threads)
    if steps is None:
        return None
    import torch

    model = lenet(torch)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = torch.from_numpy(np.random.default_rng(1).integers(0, 10, 64))
    optimizer, loss = torch.optim.SGD(model.parameters(), lr=0.01), torch.nn.CrossEntropyLoss()

    def train_step() -> object:
        optimizer.zero_grad()
        value = loss(model(x), y)
        value.backward()
        optimizer.step()
        return value

    steps["LeNet train step, batch 64"] = train_step
    return steps


def conv_memory() -> dict[str, float]:
    """Peak allocation of a LeNet train step against the activations its layers cache."""
    import tracemalloc

    step = tinynet_steps_for(lenet(), (64, 1, 28, 28))
    step()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    model = lenet()
    x = np.random.default_rng(1).standard_normal((64, 1, 28, 28)).astype(np.float32)
    cached = 0
    for layer in model:
        x = layer(x)
        cached += x.nbytes
    return {"peak_bytes": float(peak), "activation_bytes": float(cached), "ratio": peak / cached}


def iris_fit(epochs: int, repeats: int) -> dict[str, float] | None:
    """fit on iris against MLPClassifier: 4-16-8-3, batch 16, SGD with momentum 0.9, no penalty."""
    from tinynet.data import StandardScaler, train_test_split
    from tinynet.datasets import load_iris

    iris = load_iris()
    x, _, y, _ = train_test_split(iris.x, iris.y, 0.2, rng=42, stratify=True)
    x = StandardScaler().fit_transform(x)

    def ours() -> float:
        model = tn.Sequential(
            tn.Dense(4, 16, rng=0), tn.ReLU(), tn.Dense(16, 8, rng=1), tn.ReLU(), tn.Dense(8, 3, rng=2)
        )
        optimizer = tn.SGD(model.parameters(), lr=0.01, momentum=0.9)
        start = time.perf_counter()
        tn.fit(
            model,
            x,
            y,
            loss=tn.CrossEntropyLoss(),
            optimizer=optimizer,
            epochs=epochs,
            batch_size=16,
            rng=0,
            verbose=0,
        )
        return (time.perf_counter() - start) / epochs

    try:
        import sklearn  # noqa: F401
    except ImportError:
        return {"tinynet_epoch_s": float(np.median([ours() for _ in range(repeats)]))}

    def theirs() -> float:
        return sklearn_sgd_fit(x, y, (16, 8), batch_size=16, epochs=epochs) / epochs

    pairs = [(ours(), theirs()) for _ in range(repeats)]  # interleaved: a slow spell hits both
    a, b = float(np.median([p[0] for p in pairs])), float(np.median([p[1] for p in pairs]))
    return {"tinynet_epoch_s": a, "sklearn_epoch_s": b, "speedup": b / a}


def table_fit(rows: int, epochs: int, threads: int) -> dict[str, float]:
    """A 300k x 50 table, 50-128-128-2, batch 256, SGD with momentum, float32: samples per second."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 50)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) > 0).astype(np.int64)
    result: dict[str, float] = {}
    model = tn.Sequential(
        tn.Dense(50, 128, dtype=np.float32, rng=0),
        tn.ReLU(),
        tn.Dense(128, 128, dtype=np.float32, rng=1),
        tn.ReLU(),
        tn.Dense(128, 2, dtype=np.float32, rng=2),
    )
    start = time.perf_counter()
    tn.fit(
        model,
        x,
        y,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.SGD(model.parameters(), lr=0.01, momentum=0.9),
        epochs=epochs,
        batch_size=256,
        rng=0,
        verbose=0,
    )
    result["tinynet_samples_s"] = rows * epochs / (time.perf_counter() - start)
    time.sleep(0.5)
    try:
        import torch

        torch.set_num_threads(threads)
        net = torch.nn.Sequential(
            torch.nn.Linear(50, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 2),
        )
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(rows, generator=generator)
            for i in range(0, rows, 256):
                index = order[i : i + 256]
                opt.zero_grad()
                loss_fn(net(xt[index]), yt[index]).backward()
                opt.step()
        result["torch_samples_s"] = rows * epochs / (time.perf_counter() - start)
        result["vs_torch"] = result["tinynet_samples_s"] / result["torch_samples_s"]
    except ImportError:
        pass
    time.sleep(0.5)
    try:
        seconds = sklearn_sgd_fit(x, y, (128, 128), batch_size=256, epochs=epochs)
        result["sklearn_samples_s"] = rows * epochs / seconds
    except ImportError:
        pass
    return result


def sklearn_sgd_fit(x: Any, y: Any, hidden: tuple[int, ...], *, batch_size: int, epochs: int) -> float:
    """Seconds for scikit-learn's MLPClassifier to run ``epochs`` epochs of the step tinynet runs:
    SGD with momentum 0.9 (not Nesterov), lr 0.01, no L2 penalty, no early stop."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        solver="sgd",
        batch_size=batch_size,
        max_iter=epochs,
        learning_rate_init=0.01,
        momentum=0.9,
        nesterovs_momentum=False,
        alpha=0.0,  # no L2 penalty: tinynet runs without one too
        n_iter_no_change=epochs + 1,
        tol=0.0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(x, y)
        seconds = time.perf_counter() - start
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"MLPClassifier ran {clf.n_iter_} epochs, not {epochs}")
    return seconds


def memmap_fit(rows: int) -> dict[str, float]:
    """Train one epoch from a memory-mapped .npy of ``rows`` x 50 float32; what does fit add?"""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "table.npy")
        data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 50))
        rng = np.random.default_rng(0)
        for start in range(0, rows, 100_000):
            data[start : start + 100_000] = rng.standard_normal((min(100_000, rows - start), 50))
        data.flush()
        del data
        x = np.load(path, mmap_mode="r")
        y = (np.arange(rows) % 2).astype(np.int64)
        model = tn.Sequential(
            tn.Dense(50, 64, dtype=np.float32, rng=0), tn.ReLU(), tn.Dense(64, 2, dtype=np.float32, rng=1)
        )
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        tn.fit(
            model,
            x,
            y,
            loss=tn.CrossEntropyLoss(),
            optimizer=tn.SGD(model.parameters(), lr=0.01),
            epochs=1,
            batch_size=256,
            rng=0,
            verbose=0,
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        file_mib = rows * 50 * 4 / 2**20
        del x
    return {
        "rows": rows,
        "file_mib": file_mib,
        "allocated_peak_mib": peak / 2**20,
        "max_rss_growth_mib": (rss_after - rss_before) / 1024,
    }


# -- the report -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny and small sizes, short timings (seconds)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--sizes", help=f"comma-separated subset of {','.join(SIZES)}")
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument(
        "--skip-table", action="store_true", help="leave out the 300k-row and memory-map rows"
    )
    args = parser.parse_args(argv)

    names = args.sizes.split(",") if args.sizes else (["tiny", "small"] if args.quick else list(SIZES))
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    dtypes = [np.float32, np.float64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    budget = 0.05 if args.quick else 0.6
    env = environment()
    threads = env.get("blas_threads") if isinstance(env.get("blas_threads"), int) else (os.cpu_count() or 1)
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
    adam = []
    for dtype in dtypes:
        widths, batch = SIZES["tiny"]
        times = measure(
            {
                "tinynet": tinynet_steps(widths, batch, dtype, "adam")["train_step"],
                "numpy": numpy_step(widths, batch, dtype, "adam"),
            },
            budget,
        )
        adam.append(
            {
                "dtype": np.dtype(dtype).name,
                "tinynet_us": times["tinynet"] * 1e6,
                "numpy_us": times["numpy"] * 1e6,
                "ratio": times["tinynet"] / times["numpy"],
            }
        )
    activations = activation_rows(budget)
    dense_nd = {f"{k}_us": v * 1e6 for k, v in measure(dense_nd_steps(), budget).items()}
    convs = [{"case": k, "tinynet_us": v * 1e6} for k, v in measure(conv_steps(), budget).items()]
    sequences = [
        {"case": k, "tinynet_us": v * 1e6} for k, v in measure(layer_steps(SEQUENCE_CASES), budget).items()
    ]
    time.sleep(0.5)
    # PyTorch after NumPy, in a phase of its own: its OpenMP threads keep spinning after each call and
    # would steal the cores from OpenBLAS if the two alternated
    for row in rows:
        widths, batch = SIZES[row["size"]]
        theirs = torch_steps(widths, batch, np.dtype(row["dtype"]).type, int(threads))
        if theirs is not None:
            torch_group = {"torch_forward_us": theirs["forward"], "torch_us": theirs["train_step"]}
            row.update({key: seconds * 1e6 for key, seconds in measure(torch_group, budget).items()})
    torch_convs = conv_torch_steps(int(threads))
    if torch_convs is not None:
        for row, seconds in zip(convs, measure(torch_convs, budget).values(), strict=True):
            row["torch_us"] = seconds * 1e6
            row["vs_torch"] = row["tinynet_us"] / row["torch_us"]
    torch_sequences = layer_torch_steps(SEQUENCE_CASES, int(threads))
    if torch_sequences is not None:
        for row, seconds in zip(sequences, measure(torch_sequences, budget).values(), strict=True):
            row["torch_us"] = seconds * 1e6
            row["vs_torch"] = row["tinynet_us"] / row["torch_us"]
    torch_dense = dense_nd_torch(int(threads))
    if torch_dense is not None:
        dense_nd["torch_us"] = measure({"torch": torch_dense}, budget)["torch"] * 1e6
        dense_nd["vs_torch"] = dense_nd["tinynet_us"] / dense_nd["torch_us"]
    dense_nd["vs_numpy"] = dense_nd["tinynet_us"] / dense_nd["numpy_us"]
    time.sleep(0.5)  # let PyTorch's spinning threads go idle before timing NumPy again
    memory = (
        memory_ratio(*SIZES["mnist"], np.float32 if np.float32 in dtypes else np.float64)
        if "mnist" in names
        else None
    )
    iris = iris_fit(20 if args.quick else 100, 3 if args.quick else 7)
    table = None if args.quick or args.skip_table else table_fit(300_000, 3, int(threads))
    mapped = None if args.quick or args.skip_table else memmap_fit(1_000_000)
    for row in rows:
        widths, batch = SIZES[row["size"]]
        row["gflops"] = step_flops(widths, batch) / (row["train_step_us"] * 1e-6) / 1e9
        row["vs_gemm"] = row["train_step_us"] / row["gemm_us"]
        row["vs_numpy"] = row["train_step_us"] / row["numpy_us"]
        if "torch_us" in row:
            row["vs_torch"] = row["train_step_us"] / row["torch_us"]

    results = {
        "environment": env,
        "rows": rows,
        "adam": adam,
        "activations": activations,
        "dense_nd": dense_nd,
        "convs": convs,
        "sequences": sequences,
        "conv_memory": conv_memory(),
        "memory": memory,
        "iris_fit": iris,
        "table_fit": table,
        "memmap_fit": mapped,
    }
    print(render(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


def render(results: dict[str, Any]) -> str:
    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "-"

    lines = [
        "| size | dtype | forward µs | backward µs | train step µs | GFLOP/s | GEMM floor µs "
        "| hand-written µs | PyTorch µs | x GEMM floor | x hand-written | x PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['size']} | {r['dtype']} | {r['forward_us']:.1f} | {r['backward_us']:.1f} "
            f"| {r['train_step_us']:.1f} | {r['gflops']:.2f} | {r['gemm_us']:.1f} | {r['numpy_us']:.1f} "
            f"| {cell(r, 'torch_us', '.1f')} "
            f"| {r['vs_gemm']:.2f} | {r['vs_numpy']:.2f} | {cell(r, 'vs_torch', '.2f')} |"
        )
    lines += [
        "",
        "| tiny Adam step | tinynet µs | hand-written flat Adam µs | x hand-written |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {a['dtype']} | {a['tinynet_us']:.1f} | {a['numpy_us']:.1f} | {a['ratio']:.2f} |"
        for a in results["adam"]
    ]
    lines += ["", "| activation, forward + backward on (256, 256) float64 | µs | x Tanh |", "|---|---:|---:|"]
    lines += [f"| {a['activation']} | {a['us']:.1f} | {a['vs_tanh']:.2f} |" for a in results["activations"]]
    dense = results["dense_nd"]
    text = (
        f"\nDense(128 -> 128) on {DENSE_ND} float32, forward + backward: "
        f"tinynet {dense['tinynet_us']:.1f} µs, "
        f"hand-written NumPy {dense['numpy_us']:.1f} µs ({dense['vs_numpy']:.2f}x)"
    )
    if "torch_us" in dense:
        text += f", PyTorch nn.Linear {dense['torch_us']:.1f} µs ({dense['vs_torch']:.2f}x)"
    lines.append(text)
    lines += [
        "",
        "| float32, forward + backward | tinynet µs | PyTorch µs | x PyTorch |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c['case']} | {c['tinynet_us']:.0f} | {c.get('torch_us', math.nan):.0f} "
        f"| {c.get('vs_torch', math.nan):.2f} |"
        for c in [*results["convs"], *results["sequences"]]
    ]
    conv_memory = results["conv_memory"]
    lines.append(
        f"LeNet train step (batch 64): peak allocation {conv_memory['peak_bytes'] / 2**20:.1f} MiB, cached "
        f"activations {conv_memory['activation_bytes'] / 2**20:.1f} MiB, ratio {conv_memory['ratio']:.2f}"
    )
    lines.append("")
    memory = results["memory"]
    if memory is not None:
        lines.append(
            f"memory (mnist train step): peak allocation {memory['peak_bytes'] / 1024:.0f} KiB, "
            f"cached activations {memory['activation_bytes'] / 1024:.0f} KiB, ratio {memory['ratio']:.2f}"
        )
    iris = results["iris_fit"]
    if iris is not None:
        text = f"iris fit, per epoch: tinynet {iris['tinynet_epoch_s'] * 1e3:.2f} ms"
        if "sklearn_epoch_s" in iris:
            text += (
                f", scikit-learn MLPClassifier {iris['sklearn_epoch_s'] * 1e3:.2f} ms, "
                f"tinynet {iris['speedup']:.1f}x faster"
            )
        lines.append(text)
    table = results["table_fit"]
    if table is not None:
        text = f"300k x 50 table, 3 epochs: tinynet {table['tinynet_samples_s'] / 1e3:.0f}k samples/s"
        if "torch_samples_s" in table:
            text += f", PyTorch loop {table['torch_samples_s'] / 1e3:.0f}k/s ({table['vs_torch']:.2f}x)"
        if "sklearn_samples_s" in table:
            text += f", MLPClassifier {table['sklearn_samples_s'] / 1e3:.0f}k/s"
        lines.append(text)
    mapped = results["memmap_fit"]
    if mapped is not None:
        lines.append(
            f"fit from a memory-mapped {mapped['rows']:,}-row file ({mapped['file_mib']:.0f} MiB): "
            f"allocations peak at {mapped['allocated_peak_mib']:.1f} MiB, "
            f"max RSS grew {mapped['max_rss_growth_mib']:.0f} MiB "
            "(file pages, which the OS can drop)"
        )
    lines.append("")
    lines.append("environment: " + ", ".join(f"{k} {v}" for k, v in results["environment"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
