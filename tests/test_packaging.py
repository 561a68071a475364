"""The installed wheel (not the source tree) carries the package, its data and its typing marker."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.slow  # builds and installs a wheel


def test_wheel_installs_and_loads_bundled_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("tinynet_nn-*.whl")  # the distribution's own name, not the index's tinynet
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
    assert {
        "tinynet/py.typed",
        "tinynet/datasets/data/iris.csv",
        "tinynet/datasets/data/README.md",
        "tinynet/cli/train.py",
    } <= names
    runtime = sorted(
        line.split(":", 1)[1].split(">")[0].split(";")[0].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )
    assert runtime == ["numpy", "typing-extensions"]
    assert "\nName: tinynet-nn\n" in metadata

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
    )
    code = "import tinynet; print(tinynet.__file__); print(tinynet.datasets.load_iris().x.shape)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    )
    location, shape = out.stdout.splitlines()
    assert location.startswith(str(site)), "the test must import the installed wheel, not the source tree"
    assert shape == "(150, 4)"
