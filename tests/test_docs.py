"""The documentation: every Python snippet in the README and the docs runs as it is, the site builds
with ``mkdocs build --strict``, every public name has a docstring, and the README is a front page."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, require

import tinynet as tn

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _snippets() -> list[tuple[str, str]]:
    """Every Python snippet but those tests/test_readme.py runs and checks line for line, and those
    of docs/index.md, which repeats the README (tested below)."""
    from test_readme import checked_snippets

    checked = checked_snippets()
    found = []
    for page in PAGES:
        if page.name == "index.md" and page.parent.name == "docs":
            continue
        text = page.read_text()
        for match in re.finditer(r"```python\n(.*?)\n```", text, flags=re.S):
            line = text[: match.start()].count("\n") + 1
            if match.group(1) not in checked:
                found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


SNIPPETS = _snippets()


@pytest.mark.slow
@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_every_python_snippet_runs_as_it_is(tmp_path: Path, where: str, code: str) -> None:
    """Self-contained: each runs alone, in an empty folder, with nothing defined before it."""
    for library in ("sklearn", "onnxruntime", "distributed", "optuna"):
        if re.search(rf"^\s*(import|from) {library}\b", code, flags=re.M):
            require(library)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, f"{where}:\n{result.stderr[-3000:]}"


def test_the_snippets_are_found() -> None:
    from test_readme import checked_snippets

    assert len(SNIPPETS) >= 10 and any(where.startswith("README.md") for where, _ in SNIPPETS)
    assert len(checked_snippets()) == 4, "the four checked by test_readme.py are found"


@pytest.mark.slow
def test_the_documentation_site_builds_strictly(tmp_path: Path) -> None:
    """--strict: a broken link, a missing anchor or a page left out of the navigation fails."""
    require("mkdocs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "layers" / "index.html").read_text()
    assert "Conv2d" in reference and "TransformerEncoderLayer" in reference


def _public_objects() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in tn.__all__:
        value = getattr(tn, name)
        if inspect.ismodule(value) or name == "__version__":
            continue
        found.append((f"tinynet.{name}", value))
        if inspect.isclass(value):
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and (
                    inspect.isfunction(member) or isinstance(member, property)
                ):
                    found.append((f"tinynet.{name}.{attribute}", member))
    return found


def test_every_public_name_and_method_has_a_docstring() -> None:
    """The API reference is generated from the docstrings: none may be missing."""
    missing = [name for name, value in _public_objects() if not inspect.getdoc(value)]
    assert not missing, f"public names without a docstring: {missing}"


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count("\n") <= 250
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / page).is_file(), page
    for phrase in ("seed project", "issues were silent", "this machine", "targets not met"):
        assert phrase not in "\n".join(p.read_text() for p in PAGES), phrase


def _console_commands() -> list[tuple[str, str, bool]]:
    """Each ``$ tinynet ...`` or ``$ python examples/...`` line of the pages' console blocks, in page
    order (README first), with whether the block shows it ending in an error."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```text\n(.*?)\n```", text, flags=re.S):
            lines = block.split("\n")
            for i, line in enumerate(lines):
                if line.startswith(("$ tinynet ", "$ python examples/")):
                    fails = i + 1 < len(lines) and lines[i + 1].startswith("tinynet: error")
                    found.append((str(page.relative_to(ROOT)), line[2:], fails))
    return found


@pytest.mark.slow
def test_every_console_command_shown_runs(tmp_path: Path) -> None:
    """In one folder, page after page (a page's predict reads the model its train wrote), with
    ``examples/`` beside it; a command shown failing must fail with exit code 2. The Optuna run is
    compared line for line by tests/test_readme.py and not repeated here."""
    import shlex

    (tmp_path / "examples").symlink_to(ROOT / "examples")
    commands = [c for c in _console_commands() if "--strategy optuna --trials 40" not in c[1]]
    assert len(commands) >= 10
    for where, command, fails in commands:
        words = shlex.split(command)
        program = (
            [str(Path(sys.executable).parent / "tinynet")] if words[0] == "tinynet" else [sys.executable]
        )
        result = subprocess.run(
            [*program, *words[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        expected = 2 if fails else 0
        assert result.returncode == expected, f"{where}: $ {command}\n{result.stderr[-2000:]}"


def test_the_site_s_home_page_is_the_readme() -> None:
    """docs/index.md repeats the README (links made relative to docs/) so the two never drift."""
    readme = (ROOT / "README.md").read_text()
    front = readme[: readme.index("## Documentation")].replace("](docs/", "](")
    assert (ROOT / "docs" / "index.md").read_text().startswith(front)
