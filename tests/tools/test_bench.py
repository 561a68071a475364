"""The benchmark script and the public benchmark and profiler report every column; no timing is asserted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import ROOT, require

import tinynet as tn
from tinynet.cli import main
from tinynet.tools.cases import two_input_graph


@pytest.mark.slow
def test_bench_quick_prints_the_tables_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| tiny | float32 |" in result.stdout and "| small | float64 |" in result.stdout
    assert "| tiny Adam step |" in result.stdout and "| GELU-tanh |" in result.stdout
    assert "environment:" in result.stdout and "iris fit, per epoch" in result.stdout
    assert "| GRU(32->128) on (64, 40, 32) |" in result.stdout and "| MultiheadAttention(128" in result.stdout
    data = json.loads(out.read_text())
    assert {row["size"] for row in data["rows"]} == {"tiny", "small"}
    assert len(data["sequences"]) == 3 and all(row["vs_torch"] > 0 for row in data["sequences"])
    for row in data["rows"]:
        for key in (
            "forward_us",
            "backward_us",
            "train_step_us",
            "gemm_us",
            "numpy_us",
            "vs_gemm",
            "vs_numpy",
        ):
            assert row[key] > 0
    assert {a["activation"] for a in data["activations"]} >= {
        "Tanh",
        "GELU",
        "GELU-tanh",
        "ELU",
        "Softplus",
        "Sigmoid",
    }
    assert next(a for a in data["activations"] if a["activation"] == "Tanh")["vs_tanh"] == 1.0
    assert data["environment"]["numpy"] and data["environment"]["blas_threads"]


def test_the_hand_written_contenders_compute_what_tinynet_computes() -> None:
    """The baselines are honest: the hand-written SGD and Adam steps take the same steps as tinynet."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench
    finally:
        sys.path.pop(0)
    for optimizer in ("sgd", "adam"):
        ours = bench.tinynet_steps([4, 16, 3], 32, np.float64, optimizer)["train_step"]
        theirs = bench.numpy_step([4, 16, 3], 32, np.float64, optimizer)
        losses = [(float(ours()), float(theirs())) for _ in range(5)]  # type: ignore[arg-type]
        for a, b in losses:
            assert abs(a - b) < 1e-12 * max(1.0, abs(a)), (optimizer, losses)


def test_benchmark_and_profile_any_model() -> None:
    model = tn.Sequential(
        tn.Dense(8, 16, rng=0),
        tn.GELU(),
        tn.Residual(tn.Sequential(tn.LayerNorm(16), tn.Dense(16, 16, rng=1))),
    )
    x = np.random.default_rng(0).standard_normal((32, 8))
    result = tn.bench.benchmark(model, x, budget=0.05)
    assert (
        result.forward_us > 0 and result.backward_us > 0 and result.train_step_us > 0 and result.batch == 32
    )
    assert "samples/s" in str(result) and "threads" in str(result)
    profile = tn.bench.profile(model, x, rounds=5)
    names = [row.name for row in profile.rows]
    assert names == ["0", "1", "2", "2.module", "2.module.0", "2.module.1"]
    assert [row.depth for row in profile.rows] == [0, 0, 0, 1, 2, 2]
    assert all(row.forward_us > 0 and row.backward_us > 0 for row in profile.rows)
    assert profile.rows[2].forward_us >= profile.rows[4].forward_us, (
        "a container's time includes its children"
    )
    assert "share" in str(profile) and "(-1, 16)" in str(profile)
    before = [p.data.copy() for p in model.parameters()]
    tn.bench.profile(model, x, rounds=2)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters(), strict=True)), (
        "untouched"
    )


def test_profile_a_graph_with_several_inputs_and_outputs() -> None:
    graph = two_input_graph()
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((16, 3)), rng.integers(0, 5, (16, 2))]
    profile = tn.bench.profile(graph, x, rounds=3)
    assert {row.name for row in profile.rows} >= {"embedding", "concatenate", "add", "multiply"}


def test_the_bench_command_on_a_layer_spec_and_on_a_saved_model(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(
        [
            "bench",
            "--layers",
            "16",
            "32",
            "4",
            "-a",
            "gelu",
            "--batch",
            "8",
            "--dtype",
            "float32",
            "--budget",
            "0.05",
        ],
        out=out,
    )
    text = out.getvalue()
    assert code == 0 and "Sequential, batch 8" in text and "GELU()" in text and "forward µs" in text
    path = tmp_path / "m.npz"
    tn.save(tn.Sequential(tn.Dense(5, 3, rng=0), tn.Tanh()), path)
    out = io.StringIO()
    assert main(["bench", "--model", str(path), "--batch", "4", "--budget", "0.05"], out=out) == 0
    assert "Dense(5 -> 3)" in out.getvalue()


def test_the_profile_and_its_train_step_are_measured_in_the_same_rounds() -> None:
    """Load that comes and goes (simulated: a layer slow for its first calls only) falls on the layer
    and on the steps it is a share of alike; the shares of one level never pass 100%."""

    class SlowAtFirst(tn.Module):
        calls = 0

        def forward(self, x: Any) -> Any:
            type(self).calls += 1
            if type(self).calls <= 40:  # the machine is busy while the layers are being timed
                time.sleep(0.002)
            return x

        def backward(self, grad_out: Any) -> Any:
            return grad_out

    model = tn.Sequential(tn.Dense(8, 16, rng=0), SlowAtFirst(), tn.ReLU(), tn.Dense(16, 3, rng=1))
    x = np.random.default_rng(0).standard_normal((32, 8))
    profile = tn.bench.profile(model, x, rounds=30)
    shares = [row.share for row in profile.rows if row.depth == 0]
    assert sum(shares) <= 1.0 + 1e-9, shares
    assert profile.train_step_us >= sum(row.forward_us + row.backward_us for row in profile.rows)


def test_the_bench_command_on_a_conv_model_file_given_the_sample_shape(tmp_path: Path, capsys: Any) -> None:
    model = tn.Sequential(
        tn.Conv2d(1, 4, 3, padding=1, rng=0), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Dense(64, 3, rng=1)
    )
    tn.save(model, tmp_path / "cnn.npz")
    out = io.StringIO()
    assert main(["bench", "--model", str(tmp_path / "cnn.npz"), "--budget", "0.02"], out=out) == 2
    assert "give --shape" in capsys.readouterr().err
    assert (
        main(
            ["bench", "--model", str(tmp_path / "cnn.npz"), "--shape", "1", "8", "8", "--budget", "0.02"],
            out=out,
        )
        == 0
    )
    assert "(-1, 4, 4, 4)" in out.getvalue() and "MaxPool2d" in out.getvalue()


def test_profile_a_sequence_model_with_several_outputs_and_attention() -> None:
    model = tn.Sequential(
        tn.GRU(3, 8, rng=0), tn.Select(0), tn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, rng=1)
    )
    x = np.random.default_rng(0).standard_normal((4, 5, 3))
    profile = tn.bench.profile(model, x, rounds=2)
    rows = {row.name: row for row in profile.rows}
    assert {"0", "1", "2", "2.self_attn", "2.linear1"} <= set(rows)
    assert all(row.forward_us > 0 and row.backward_us > 0 for row in profile.rows)
    assert "[(-1, 5, 8), (-1, 1, 8)]" in str(profile), "both outputs of the GRU"


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["train", "-d", "iris"], {}, "1"),  # table networks: one thread
        (["search", "-d", "iris"], {}, "1"),
        (["predict", "model.npz"], {}, "1"),
        (["evaluate", "model.npz"], {}, "1"),
        (["bench", "-l", "8", "8"], {}, None),  # bench measures the machine: the library's choice
        (["train", "-d", "iris"], {"OMP_NUM_THREADS": "4"}, None),  # the user's own variable stands
        (["train", "--threads", "2"], {"OMP_NUM_THREADS": "4"}, "2"),  # ... unless --threads says
        (["bench", "--threads=3"], {}, "3"),
        (["train", "--threads", "0"], {}, None),  # not a count: the parser says so
    ],
)
def test_the_blas_thread_count_is_chosen_before_numpy_loads(
    argv: list[str], environ: dict[str, str], expected: str | None
) -> None:
    from tinynet.console import choose_blas_threads

    assert choose_blas_threads(argv, environ) == expected


@pytest.mark.slow
def test_the_command_sets_the_threads_before_numpy_and_bench_says_which(tmp_path: Path) -> None:
    """On a busy 2-core machine a small network trained 4 times slower with OpenBLAS's two threads."""
    require("threadpoolctl")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    count = (
        "import sys; from tinynet.console import set_blas_threads; set_blas_threads(sys.argv[1:]); "
        "import numpy, threadpoolctl; "
        "print(*[p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'])"
    )
    for argv, expected in ((["train"], "1"), (["train", "--threads", "2"], "2")):
        out = subprocess.run([sys.executable, "-c", count, *argv], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == expected, out.stderr
    tinynet = str(Path(sys.executable).parent / "tinynet")
    for extra, said in (([], "the library's default"), (["--threads", "1"], "1 thread, set by --threads")):
        result = subprocess.run(
            [tinynet, "bench", "-l", "4", "4", "--budget", "0.01", *extra],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0 and said in result.stdout.splitlines()[1], result.stdout
    wrong = subprocess.run([tinynet, "train", "--threads", "0"], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "--threads" in wrong.stderr and wrong.stderr.count("\n") == 1
