"""The README's commands, and what the README and the documentation pages show, stay true."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.slow  # runs the README's commands

README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DOCS = "\n".join(page.read_text() for page in PAGES)  # where the examples below are looked up


# the examples whose printed output the tests below compare with what the pages say
THIRTY_SECONDS = r"```python\n(import numpy as np.*?)\n```"
SEQUENCE = r"```python\n(import numpy as np\nimport tinynet as tn\n\nx = tn.Input\(shape=.*?)\n```"
CHECKPOINT = r"```python\n(import tinynet as tn\nfrom tinynet.data import train_test_split\n.*?)\n```"
ESTIMATOR_SEARCHES = r"```python\n(import warnings\n\nimport optuna\n.*?)\n```"


def checked_snippets() -> set[str]:
    """The snippets these tests run and check line for line (tests/test_docs.py runs the others)."""
    found = (
        re.search(pattern, DOCS, flags=re.S)
        for pattern in (THIRTY_SECONDS, SEQUENCE, CHECKPOINT, ESTIMATOR_SEARCHES)
    )
    return {match.group(1) for match in found if match is not None}


def test_readme_starts_with_the_two_commands_ci_uses() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    main_command, test_command = blocks[0], blocks[1]
    assert README.index(main_command) < README.index("## ")
    assert "tinynet train -t classification -d iris" in main_command
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"pip install (-e \"\.\[dev\]\")", test_command)
    assert install is not None
    assert f"pip install --quiet {install.group(1)}" in ci
    assert "python -m pytest -q" in test_command and "python -m pytest -q" in ci


def test_thirty_second_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    code = re.search(THIRTY_SECONDS, DOCS, flags=re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    promised = re.search(r"# (test accuracy [0-9.]+)", code.group(1))
    assert promised is not None and result.stdout.strip() == promised.group(1)


def test_the_sequence_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    code = re.search(SEQUENCE, DOCS, flags=re.S)
    assert code is not None and "tn.GRU(" in code.group(1)
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    promised = code.group(1).rstrip().rsplit("# ", 1)[1]
    assert result.stdout.strip() == promised


def test_the_checkpoint_example_resumes_when_run_again(tmp_path: Path) -> None:
    code = re.search(CHECKPOINT, DOCS, flags=re.S)
    assert code is not None and "tn.Checkpoint(" in code.group(1)
    first, again = (
        subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path)
        for _ in range(2)
    )
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    promised = re.search(r"# (\d+ epochs, resumed from nothing) +\(run again: (.*?)\)", code.group(1))
    assert promised is not None
    assert first.stdout.strip() == promised.group(1) and again.stdout.strip() == promised.group(2)


def test_the_estimator_searches_print_what_the_readme_says(tmp_path: Path) -> None:
    code = re.search(ESTIMATOR_SEARCHES, DOCS, flags=re.S)
    assert code is not None and "HalvingRandomSearchCV(" in code.group(1)
    promised = re.findall(r"^# ((?:random|halving|optuna): .*)$", code.group(1), flags=re.M)
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == promised and len(promised) == 3


def console_block(command: str) -> list[str]:
    """The lines the README shows after ``$ command``, up to the end of the block or a ``...``."""
    start = DOCS.index(f"$ {command}\n") + len(command) + 3
    lines = DOCS[start : DOCS.index("```", start)].rstrip("\n").split("\n")
    return lines[: lines.index("...")] if "..." in lines else lines


def without_times(lines: list[str]) -> list[str]:
    return [re.sub(r"\b\d+\.\d+s\b", "<time>", line) for line in lines]


@pytest.mark.parametrize(
    "command",
    [
        "tinynet train -t classification -d iris -l 16 8",
        "tinynet train -t classification -d penguins -l 16",
        # serial and seeded: Optuna's trials, pruning and all, are the same on every run
        "tinynet search -t regression -d diabetes --strategy optuna --trials 40 "
        '--space learning_rate=log:1e-4:0.3 --space "layers=16;64;64 32" --space activation=relu,tanh '
        "--space l2=log:1e-5:1e-1",
    ],
)
def test_console_output_shown_in_the_readme_is_real(tmp_path: Path, command: str) -> None:
    tinynet = Path(sys.executable).parent / "tinynet"
    result = subprocess.run(
        [str(tinynet), *shlex.split(command)[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    shown = console_block(command)
    assert len(shown) > 5
    assert without_times(result.stdout.rstrip("\n").split("\n")[: len(shown)]) == without_times(shown)
