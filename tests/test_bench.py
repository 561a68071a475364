"""The benchmark runs (quick mode) and reports every column; it asserts no timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| tiny | float32 |" in result.stdout and "| small | float64 |" in result.stdout
    assert "environment:" in result.stdout and "iris fit, per epoch" in result.stdout
    data = json.loads(out.read_text())
    assert {row["size"] for row in data["rows"]} == {"tiny", "small"}
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
    assert data["environment"]["numpy"]


def test_bench_memory_measurement_runs() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench
    finally:
        sys.path.pop(0)
    import numpy as np

    memory = bench.memory_ratio([16, 8, 4], 8, np.float64)
    assert memory["activation_bytes"] == 8 * (8 + 8 + 4) * 8
    assert memory["peak_bytes"] > 0
