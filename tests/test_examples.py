"""Every example runs as a script, in seconds, and reaches its documented result."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import ROOT, require

pytestmark = pytest.mark.slow  # runs every example

EXAMPLES = ROOT / "examples"


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# the examples that take half a minute or more, longest first, each on one core (none is faster
# with two BLAS threads: these networks are small). They start in the background as soon as the
# session has collected a test that needs them (conftest.py), so in a full run they train on one
# core while the rest of the suite runs on the other (CI: 390 s -> about 290 s); run alone, two at
# a time.
LONG = {
    "gru seed 0": ("mnist1d_gru.py", "1", "0"),
    "gru seed 1": ("mnist1d_gru.py", "1", "1"),
    "gru seed 2": ("mnist1d_gru.py", "1", "2"),
    "mnist1d cnn": ("mnist1d_cnn.py", "3"),
    "digits cnn": ("digits_cnn.py",),
    "language model": ("char_language_model.py", "300", "0", "0.5"),
    "adding problem": ("adding_problem.py",),
}
_POOL: list[ThreadPoolExecutor] = []
_RUNS: dict[str, Future[subprocess.CompletedProcess[str]]] = {}


def _run_on_one_core(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLES / script), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=ONE_THREAD)


def start_long_runs(workers: int) -> None:
    """Start every long example in ``workers`` background processes at a time (once)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(workers))
        _RUNS.update({key: _POOL[0].submit(_run_on_one_core, *args) for key, args in LONG.items()})


def stop_long_runs() -> None:
    for pool in _POOL:
        pool.shutdown(wait=True, cancel_futures=True)
    _POOL.clear()
    _RUNS.clear()


@pytest.fixture(scope="module")
def long_runs() -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    start_long_runs(2)  # not started by the session (a run of this file alone): two at a time
    return _RUNS


def output(runs: dict[str, Future[subprocess.CompletedProcess[str]]], key: str) -> str:
    result = runs[key].result()
    assert result.returncode == 0, result.stderr
    return result.stdout


def run(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_example_has_a_test() -> None:
    tested = {
        "iris.py",
        "diabetes.py",
        "custom_layer.py",
        "residual_mlp.py",
        "two_inputs.py",
        "penguins_table.py",
        "digits_cnn.py",
        "mnist1d_cnn.py",
        "mnist1d_gru.py",
        "adding_problem.py",
        "char_language_model.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


def test_iris_example() -> None:
    out = run("iris.py")
    accuracy = float(next(line for line in out.splitlines() if line.startswith("accuracy")).split()[1])
    assert accuracy >= 0.95


def test_diabetes_example() -> None:
    out = run("diabetes.py")
    r2 = float(next(line for line in out.splitlines() if line.startswith("R2")).split()[1])
    assert r2 >= 0.45


def test_custom_layer_example_gradchecks_and_trains() -> None:
    out = run("custom_layer.py")
    assert "gradcheck Swish(): passed" in out
    first, last = (float(part.split(": ")[1]) for part in out.splitlines()[-1].split(", "))
    assert last < first / 100


def test_custom_activation_fits_in_15_lines() -> None:
    source = (EXAMPLES / "custom_layer.py").read_text()
    start = source.index("class Swish")
    body = source[start : source.index("\n\n\n", start)]
    assert len(body.strip().splitlines()) <= 15


def test_residual_mlp_example_with_fewer_epochs() -> None:
    out = run("residual_mlp.py", "8")  # the full 30 epochs reach 0.97 in a few seconds (see README)
    assert "8 epochs" in out
    accuracy = float(out.splitlines()[-1].split()[-1])
    assert accuracy >= 0.9


@pytest.mark.parametrize("name", ["iris.py", "diabetes.py", "custom_layer.py", "residual_mlp.py"])
def test_examples_use_only_the_public_api(name: str) -> None:
    source = (EXAMPLES / name).read_text()
    assert "tinynet._" not in source and "from tinynet._" not in source


def test_two_inputs_example_trains_saves_loads_and_draws_a_graph(tmp_path: Path) -> None:
    out = run("two_inputs.py", str(tmp_path))
    assert "penguins: 275 train / 69 test rows, 19 missing cells" in out
    assert any(line.startswith("concatenate") and line.endswith("relu, flatten") for line in out.splitlines())
    accuracy = float(next(line for line in out.splitlines() if line.startswith("test accuracy")).split()[2])
    assert accuracy >= 0.95
    dot = (tmp_path / "penguins_graph.dot").read_text()
    assert 'label="numbers: (batch, 5)"' in dot and 'label="categories: (batch, 2)"' in dot
    assert (tmp_path / "penguins_graph.npz").exists()


def test_penguins_table_example_matches_tinynet_train(tmp_path: Path) -> None:
    out = run("penguins_table.py", str(tmp_path))
    assert "accuracy                             0.971        69" in out, "the README's tinynet train result"
    assert (tmp_path / "penguins.npz").exists() and "predictions for the first test rows" in out


def test_a_small_cnn_on_the_8x8_digits_passes_98_5_percent(long_runs: dict[str, Any]) -> None:
    out = output(long_runs, "digits cnn")
    accuracy = float(out.splitlines()[-1].split()[-1])
    assert accuracy >= 0.985, out
    assert "(-1, 64, 4, 4)" in out, "the summary shows the image shapes"


def test_the_mnist1d_paper_cnn_reaches_92_percent_over_three_seeds_and_beats_the_mlp(
    long_runs: dict[str, Any],
) -> None:
    require("mnist1d")
    out = output(long_runs, "mnist1d cnn")
    last = out.splitlines()[-1]
    cnn, mlp = float(last.split("seeds: ")[1].split()[0]), float(last.split("MLP: ")[1].split()[0])
    assert cnn >= 0.92 and mlp < 0.75, out
    seconds = [
        float(line.split("(")[1].split("s of")[0])
        for line in out.splitlines()
        if line.startswith("CNN, seed")
    ]
    assert max(seconds) < 60, out


def test_the_mnist1d_paper_gru_reaches_88_percent_over_three_seeds(long_runs: dict[str, Any]) -> None:
    """The paper's bidirectional GRU (hidden 6) reports 91%; three seeds, each in its own process."""
    require("mnist1d")
    outputs = [output(long_runs, f"gru seed {seed}") for seed in range(3)]
    scores = [float(out.split("test accuracy ")[1].split()[0]) for out in outputs]
    assert np.mean(scores) >= 0.88, scores


def test_an_lstm_solves_the_adding_problem(long_runs: dict[str, Any]) -> None:
    out = output(long_runs, "adding problem")
    mse = float(out.splitlines()[-1].split("test MSE ")[1].split()[0])
    baseline = float(out.splitlines()[-1].split("gives ")[1])
    assert mse < 0.01 and baseline > 0.15, out


def test_a_gru_language_model_beats_bigram_counts_and_writes_reproducibly(long_runs: dict[str, Any]) -> None:
    out = output(long_runs, "language model")
    line = next(line for line in out.splitlines() if line.startswith("held-out loss"))
    gru, bigram = float(line.split("GRU ")[1].split()[0]), float(line.split("bigram counts ")[1].split()[0])
    assert gru < bigram - 0.5, out
    sample = out.split("---\n", 1)[1]
    assert sample.startswith("MENENIUS:\n") and len(sample) > 300
    spec = importlib.util.spec_from_file_location("char_language_model", EXAMPLES / "char_language_model.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    alphabet = "ABC:\n"
    network = example.model(len(alphabet), np.random.default_rng(0))
    texts = [example.generate(network, "A:", 50, 1.0, alphabet, seed) for seed in (1, 1, 2)]
    assert texts[0] == texts[1] != texts[2], "a seed fixes the text; another seed changes it"
