"""The package's shape: dependencies point down, and no file reaches into another file's privates.

Each module of ``tinynet`` has a layer; a module may import (at the top or inside a function) only
from lower layers. A file may touch ``obj._name`` on other objects only when ``_name`` is defined in
that same file (the class it belongs to lives there).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tinynet"

# lowest first; a module may import only from layers before its own
LAYERS: list[list[str]] = [
    ["_version", "_checks", "_io"],
    ["_special", "_config", "parameter", "hooks", "node"],
    ["module"],
    ["registry", "init"],
    ["activations", "layers", "normalization", "containers", "embedding", "merge"],
    ["graph"],
    ["losses", "optim", "schedules", "clip", "regularizers", "metrics", "data", "mlp"],
    ["datasets", "callbacks"],
    ["train", "serialization", "tabular"],
    ["cases", "gradcheck", "bench", "plot", "export"],
    ["sklearn"],
    ["__init__"],
    ["cli"],
    ["__main__"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]  # a package (datasets/, cli/) is one unit


def typing_only(tree: ast.AST) -> set[ast.AST]:
    """Import statements inside ``if TYPE_CHECKING:``: they never run, so they may point anywhere."""
    nodes: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes.update(n for statement in node.body for n in ast.walk(statement))
    return nodes


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, first part below tinynet)`` of every import of tinynet's own modules that runs."""
    found = []
    skipped = typing_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tinynet"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.append((node.lineno, parts[1]))
            else:  # from tinynet import x: x is a module or a name re-exported by __init__
                found += [
                    (node.lineno, alias.name if alias.name in RANK else "__init__") for alias in node.names
                ]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name.split(".")[1] if "." in alias.name else "__init__")
                for alias in node.names
                if alias.name.startswith("tinynet")
            ]
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    unknown = sorted({module_name(path) for path in FILES} - set(RANK))
    assert not unknown, f"give these modules a layer in LAYERS: {unknown}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    here = module_name(path)
    upward = [
        f"line {line}: imports tinynet.{target}"
        for line, target in imported(ast.parse(path.read_text()))
        if target != here and RANK.get(target, -1) >= RANK[here]
    ]
    assert not upward, f"{path.name} (layer {RANK[here]}) imports from its own layer or above: {upward}"


def defined_private_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_"):
            names.add(node.name)
        elif (
            isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr.startswith("_")
        ):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ entries
    return names


def foreign_private_accesses(tree: ast.AST) -> list[str]:
    own = defined_private_names(tree)
    return sorted(
        {
            f"line {node.lineno}: .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and node.attr not in own
        }
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_access_across_files(path: Path) -> None:
    foreign = foreign_private_accesses(ast.parse(path.read_text()))
    assert not foreign, f"{path.name} uses private names defined elsewhere: {foreign}"


def test_the_checks_catch_what_they_name() -> None:
    assert imported(ast.parse("from tinynet.training.loop import fit\n")) == [(1, "train")]
    assert RANK["train"] >= RANK["module"], "module.py importing train would be flagged"
    assert imported(ast.parse("if TYPE_CHECKING:\n    from tinynet.training.loop import fit\n")) == []
    assert foreign_private_accesses(ast.parse("model._named_modules()\n")) == ["line 1: ._named_modules"]
    assert foreign_private_accesses(ast.parse("self._x = 1\nother._x\n")) == []


def test_the_core_imports_no_optional_library_and_a_missing_extra_says_how_to_install_it() -> None:
    script = """
import sys
import tinynet, tinynet.cli
optional = ("sklearn", "distributed", "dask", "onnx", "matplotlib", "torch")
heavy = sorted(m for m in optional if m in sys.modules)
print("loaded:", heavy)
sys.modules["sklearn"] = None  # as if scikit-learn were not installed
try:
    import tinynet.sklearn
except ImportError as error:
    print("error:", error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    assert "error: tinynet.sklearn needs scikit-learn >= 1.6: pip install 'tinynet[sklearn]'" in result.stdout
