"""Benchmarking and profiling of any model: forward, backward and train-step timings, per-layer costs.

    result = tn.bench.benchmark(model, x, y, loss=tn.CrossEntropyLoss())
    print(result)                  # medians in µs, with the BLAS library, kernel and threads
    profile = tn.bench.profile(model, x, y, loss=tn.CrossEntropyLoss())
    print(profile)                 # one row per layer, nested containers included
    profile.rows                   # the same as data

Timings are medians over interleaved rounds after a warm-up: each round times a sample of every
contender in turn (each sample at least ~5 ms of calls), so a slow spell of a noisy machine hits
all of them alike. Compare ratios measured in one process, never absolute times across machines.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinynet._version import BLAS_THREADS_SOURCE, BLAS_VARIABLES, __version__
from tinynet.core.checks import one_line
from tinynet.core.inspect import instrument, shape_text, table, walk
from tinynet.core.module import Module
from tinynet.training.losses import CrossEntropyLoss, Loss, MSELoss
from tinynet.training.optim import SGD, Optimizer

Step = Callable[[], object]


# -- the machine ------------------------------------------------------------------------------------
def _threads_source() -> str:
    """How the BLAS thread count was chosen: the tinynet command's --threads, its automatic choice,
    a variable set by the user, or the library's own default."""
    chosen = os.environ.get(BLAS_THREADS_SOURCE)
    if chosen:
        return chosen
    for name in BLAS_VARIABLES:
        if name in os.environ:
            return f"{name}={os.environ[name]}"
    return "the library's default"


def _threads(count: Any) -> str:
    return f"{count} thread" + ("" if str(count) == "1" else "s")


def environment() -> dict[str, Any]:
    """Python, NumPy and the BLAS library NumPy calls: its name, version, kernel and thread count."""
    info: dict[str, Any] = {
        "tinynet": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
        "blas_threads_source": _threads_source(),
    }
    try:
        from threadpoolctl import threadpool_info  # optional: the most precise source

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info.update(
                    blas=f"{pool.get('internal_api')} {pool.get('version')}",
                    blas_kernel=pool.get("architecture"),
                    blas_threads=pool.get("num_threads"),
                )
                return info
    except ImportError:
        pass
    config: Any = {}
    with contextlib.suppress(TypeError):  # NumPy < 1.26 has no mode="dicts"
        config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    info.update(
        blas=f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip(),
        blas_kernel="unknown (pip install threadpoolctl)",
        blas_threads=os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "unknown",
    )
    return info


# -- timing -----------------------------------------------------------------------------------------
def measure(steps: dict[str, Step], budget: float = 0.5, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each step, sampled in interleaved rounds for about ``budget`` seconds."""
    inner: dict[str, int] = {}
    per_round = 0.0
    for name, step in steps.items():
        for _ in range(warmup):  # caches, allocator, lazy initialization
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


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _default_loss(out: Any) -> Loss:
    first = _as_list(out)[0]
    shape = np.shape(first)
    return CrossEntropyLoss() if len(shape) == 2 and shape[1] > 1 else MSELoss()  # N-D outputs: MSE


def _default_target(out: Any, loss: Loss, rng: np.random.Generator) -> Any:
    first = _as_list(out)[0]
    if isinstance(loss, CrossEntropyLoss):
        shape = np.shape(first)  # class indices: the output's shape without its class axis 1
        return rng.integers(0, shape[1], (shape[0], *shape[2:]))
    return rng.standard_normal(np.shape(first)).astype(first.dtype)


def steps(
    model: Module, x: Any, y: Any = None, *, loss: Loss | None = None, optimizer: Optimizer | None = None
) -> dict[str, Step]:
    """``forward``, ``backward`` and ``train_step`` closures over a copy of ``model``.

    The train step is what ``fit`` does per batch: forward, loss, zero_grad, backward (the
    parameter part, as ``fit`` calls it), optimizer step. Without ``y`` a random target fits the
    output; without ``loss``, cross-entropy for several outputs and MSE for one; without
    ``optimizer``, SGD. The caller's model and optimizer are never touched.
    """
    return _prepare(model, x, y, loss, optimizer)[1]


def _prepare(
    model: Module, x: Any, y: Any, loss: Loss | None, optimizer: Optimizer | None
) -> tuple[Module, dict[str, Step]]:
    subject = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    out = subject.forward(x)
    several = isinstance(out, list)  # one loss per output, summed, as fit does
    losses = [copy.deepcopy(loss) if loss is not None else _default_loss(o) for o in _as_list(out)]
    targets = (
        _as_list(y)
        if y is not None
        else [_default_target(o, f, rng) for o, f in zip(_as_list(out), losses, strict=True)]
    )
    if optimizer is None:
        opt: Optimizer = SGD(subject.parameters(), lr=1e-3)
    else:  # the same kind and settings, over the copy's parameters
        opt = type(optimizer)(subject.parameters(), **optimizer.get_config())
    grad = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype) for o in _as_list(out)]
    grad_out = grad if isinstance(out, list) else grad[0]

    def forward() -> object:
        return subject.forward(x)

    def backward() -> object:
        return subject.backward(grad_out)

    def train_step() -> object:
        if several:
            outputs = subject.forward(x)
            value = sum(f(o, t) for f, o, t in zip(losses, outputs, targets, strict=True))
            gradient: Any = [f.backward() for f in losses]
        else:
            value = losses[0](subject.forward(x), targets[0])
            gradient = losses[0].backward()
        subject.zero_grad()
        subject.backward_parameters(gradient)
        opt.step()
        return value

    return subject, {"forward": forward, "backward": backward, "train_step": train_step}


@dataclass
class BenchmarkResult:
    """Median µs of forward, backward and a train step, and the machine they were measured on."""

    subject: str
    batch: int
    forward_us: float
    backward_us: float
    train_step_us: float
    environment: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        env = self.environment
        return (
            f"{self.subject}, batch {self.batch}: forward {self.forward_us:.1f} µs, backward "
            f"{self.backward_us:.1f} µs, train step {self.train_step_us:.1f} µs "
            f"({self.batch / self.train_step_us * 1e6:,.0f} samples/s)\n"
            f"BLAS {env.get('blas')} ({env.get('blas_kernel')}, {_threads(env.get('blas_threads'))}, "
            f"{env.get('blas_threads_source', 'unknown')}), "
            f"NumPy {env.get('numpy')}, Python {env.get('python')}"
        )


def benchmark(
    model: Module,
    x: Any,
    y: Any = None,
    *,
    loss: Loss | None = None,
    optimizer: Optimizer | None = None,
    budget: float = 0.5,
) -> BenchmarkResult:
    """Time forward, backward and a full train step of ``model`` on ``x`` (see ``steps``)."""
    times = measure(steps(model, x, y, loss=loss, optimizer=optimizer), budget)
    first = next(iter(x.values())) if isinstance(x, dict) else _as_list(x)[0]
    batch = int(np.shape(first)[0])
    return BenchmarkResult(
        one_line(model),
        batch,
        times["forward"] * 1e6,
        times["backward"] * 1e6,
        times["train_step"] * 1e6,
        environment(),
    )


# -- the per-layer profile ------------------------------------------------------------------------
@dataclass
class LayerTiming:
    """One module of the model: where it is, what it is, and what its calls cost (median µs)."""

    name: str
    layer: str
    depth: int
    output_shape: str
    forward_us: float
    backward_us: float
    share: float  # of the train step, in [0, 1]; a container's includes its children's


@dataclass
class Profile:
    """A per-layer profile: ``rows`` in tree order, and the train step it is a share of."""

    subject: str
    train_step_us: float
    rows: list[LayerTiming]

    def __str__(self) -> str:
        body = [
            (
                r.name,
                "  " * r.depth + r.layer,
                r.output_shape,
                f"{r.forward_us:.1f}",
                f"{r.backward_us:.1f}",
                f"{100 * r.share:.1f}%",
            )
            for r in self.rows
        ]
        text = table(("name", "layer", "output shape", "forward µs", "backward µs", "share"), body)
        return (
            f"{text}\ntrain step: {self.train_step_us:.1f} µs, timed with its layers (a container's time "
            "includes its children's; the rest of a step is the loss, zero_grad and the update)"
        )


def profile(
    model: Module,
    x: Any,
    y: Any = None,
    *,
    loss: Loss | None = None,
    optimizer: Optimizer | None = None,
    rounds: int = 50,
) -> Profile:
    """Time every module's forward and backward inside real train steps, and the steps themselves.

    Layers and steps are timed in the same ``rounds`` (one train step each), and every number is
    the mean over the quieter half of them (the rounds whose step took at most the median): a
    burst of load on the machine falls on the step and its layers alike, so a row's share of the
    step is always a share of the very steps its times come from, and the shares of sibling rows
    never add up to more than the whole.
    """
    target, prepared = _prepare(model, x, y, loss, optimizer)
    runner = prepared["train_step"]
    current: dict[tuple[int, str], float] = {}  # this round's time per (module, forward/backward)
    per_round: list[dict[tuple[int, str], float]] = []
    shapes: dict[int, str] = {}

    def wrap(name: str, module: Module, kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        key = (id(module), "forward" if kind == "forward" else "backward")

        def timed(value: Any, **options: Any) -> Any:
            start = time.perf_counter()
            result = method(value, **options)
            current[key] = current.get(key, 0.0) + time.perf_counter() - start
            if kind == "forward":
                shapes[id(module)] = shape_text(result)
            return result

        return timed

    for _ in range(3):
        runner()
    steps = []
    with instrument(target, wrap):
        for _ in range(rounds):
            current.clear()
            start = time.perf_counter()
            runner()
            steps.append(time.perf_counter() - start)
            per_round.append(dict(current))
    cutoff = statistics.median(steps)
    quiet = [r for r, seconds in enumerate(steps) if seconds <= cutoff]
    total = statistics.fmean(steps[r] for r in quiet)

    def mean_time(module: Module, kind: str) -> float:
        return statistics.fmean(per_round[r].get((id(module), kind), 0.0) for r in quiet)

    rows = []
    for name, module, depth in walk(target):
        forward, backward = mean_time(module, "forward"), mean_time(module, "backward")
        rows.append(
            LayerTiming(
                name,
                one_line(module),
                depth,
                shapes.get(id(module), "-"),
                forward * 1e6,
                backward * 1e6,
                (forward + backward) / total if total else 0.0,
            )
        )
    return Profile(one_line(model), total * 1e6, rows)
