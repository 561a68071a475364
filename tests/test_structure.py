"""The package's shape: dependencies point down, and no file reaches into another file's privates.

Each module of ``tinynet`` has a layer; a module may import (at the top or inside a function) only
from lower layers. A file may touch ``obj._name`` on other objects only when ``_name`` is defined in
that same file (the class it belongs to lives there).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

PACKAGE = ROOT / "tinynet"

# The floors of the package, lowest first: a file may import only from floors below its own. Inside
# a folder named in INSIDE, its files have floors of their own; elsewhere a folder's files may
# import each other (a folder's __init__ stands above its files).
FLOORS: list[list[str]] = [
    ["_version"],
    ["core"],  # the contract: Parameter, Module, Container, registry, settings, checks, files
    ["layers", "data"],  # every built-in Module; arrays in, batches out
    ["training", "datasets"],  # losses, optimizers, ..., the loop; bundled data and CSV tables
    ["models", "io"],  # ready-made networks; model files and ONNX
    ["tabular"],  # the table pipeline: TabularModel
    ["tools"],  # gradcheck, bench, plots
    ["integrations"],  # scikit-learn estimators
    ["sklearn"],  # their public import path
    ["__init__"],
    ["cli"],
    ["console"],  # the command's entry point: loads cli on call, so Ctrl-C while it loads is handled
    ["__main__"],
]
INSIDE: dict[str, list[list[str]]] = {
    "core": [
        ["checks", "files", "choices"],
        ["config", "parameter"],
        ["node", "inspect"],  # a graph's example batches count against parameter's allocation budget
        ["module"],
        ["container", "registry", "init"],
    ],
    "layers": [
        ["special"],
        ["activation", "core", "normalization", "embedding", "merge", "containers", "conv"],
        ["graph", "pooling", "recurrent", "attention"],
    ],
    "training": [
        ["metrics", "losses", "optim", "schedules", "clip", "regularizers", "callbacks"],
        ["loop", "settings"],
    ],
    "tabular": [["encoder"], ["settings", "report"], ["data", "metadata"], ["onnx"], ["model"]],
}
RANK = {name: rank for rank, names in enumerate(FLOORS) for name in names}
INNER = {
    (folder, name): rank
    for folder, floors in INSIDE.items()
    for rank, names in enumerate(floors)
    for name in names
}


def unit(parts: tuple[str, ...]) -> tuple[str, str]:
    """``(folder or top-level module, file inside the folder or "")`` of a module path below tinynet."""
    if not parts:
        return "__init__", ""
    return parts[0], parts[1] if len(parts) > 1 else "__init__"


def module_parts(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return () if parts == ("__init__",) else parts


def typing_only(tree: ast.AST) -> set[ast.AST]:
    """Import statements inside ``if TYPE_CHECKING:``: they never run, so they may point anywhere."""
    nodes: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes.update(n for statement in node.body for n in ast.walk(statement))
    return nodes


def imported(tree: ast.AST) -> list[tuple[int, tuple[str, ...]]]:
    """``(line, module path below tinynet)`` of every import of tinynet's own modules that runs."""
    found: list[tuple[int, tuple[str, ...]]] = []
    skipped = typing_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tinynet":
            parts = tuple(node.module.split(".")[1:])
            if parts and (PACKAGE.joinpath(*parts).is_dir()):  # from tinynet.core import files
                found += [
                    (node.lineno, (*parts, alias.name))
                    if (PACKAGE.joinpath(*parts, alias.name + ".py")).exists()
                    else (node.lineno, parts)
                    for alias in node.names
                ]
            elif parts:
                found.append((node.lineno, parts))
            else:  # from tinynet import x: x is a module, a folder, or a name of tinynet/__init__
                for alias in node.names:
                    known = (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").exists()
                    found.append((node.lineno, (alias.name,) if known else ()))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, tuple(alias.name.split(".")[1:]))
                for alias in node.names
                if alias.name.split(".")[0] == "tinynet"
            ]
    return found


def upward(here: tuple[str, ...], target: tuple[str, ...]) -> bool:
    """True when a file at ``here`` may not import ``target`` (its floor or a floor above)."""
    (folder, inner), (to_folder, to_inner) = unit(here), unit(target)
    if folder != to_folder:
        return RANK.get(to_folder, len(FLOORS)) >= RANK[folder]
    if inner == to_inner or inner == "__init__" or folder not in INSIDE:
        return to_inner == "__init__" and inner != "__init__"  # a file never imports its own folder's face
    return INNER.get((folder, to_inner), len(FLOORS)) >= INNER[(folder, inner)]


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_floor() -> None:
    units = {unit(module_parts(path)) for path in FILES}
    unknown = sorted(folder for folder, _ in units if folder not in RANK)
    assert not unknown, f"give these modules a floor in FLOORS: {unknown}"
    inner = sorted(
        f"{folder}/{name}"
        for folder, name in units
        if folder in INSIDE and name != "__init__" and (folder, name) not in INNER
    )
    assert not inner, f"give these files a floor in INSIDE: {inner}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    here = module_parts(path)
    wrong = [
        f"line {line}: imports tinynet.{'.'.join(target)}"
        for line, target in imported(ast.parse(path.read_text()))
        if upward(here, target)
    ]
    assert not wrong, f"{path.relative_to(PACKAGE)} imports from its own floor or above: {wrong}"


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
    assert imported(ast.parse("from tinynet.training.loop import fit\n")) == [(1, ("training", "loop"))]
    assert imported(ast.parse("from tinynet.core import files\n")) == [(1, ("core", "files"))]
    assert upward(("core", "module"), ("training", "loop")), "the contract importing the loop is flagged"
    assert upward(("core", "parameter"), ("core", "module")), (
        "a lower floor inside core importing a higher one"
    )
    assert upward(("tabular", "model"), ("tabular",)), "a file importing its own folder's face"
    assert not upward(("tabular", "model"), ("tabular", "data"))
    assert not upward(("cli", "train"), ("tabular",))
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
    assert (
        "error: tinynet.sklearn needs scikit-learn >= 1.6: pip install 'tinynet-nn[sklearn]'" in result.stdout
    )


def test_import_tinynet_loads_no_tool_and_the_tools_load_on_first_use() -> None:
    script = """
import sys
import tinynet as tn
tools = ("tinynet.tools.bench", "tinynet.tools.gradcheck", "tinynet.io.onnx", "tinynet.cli")
tools += ("tinynet.tabular",)
print("loaded:", sorted(m for m in tools if m in sys.modules))
print(tn.gradcheck.__module__, tn.bench.__name__, tn.export_onnx.__module__, tn.TabularModel.__module__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    assert (
        "tinynet.tools.gradcheck tinynet.tools.bench tinynet.io.onnx tinynet.tabular.model" in result.stdout
    )


@pytest.mark.parametrize("path", [p for p in FILES if "cli" not in p.relative_to(PACKAGE).parts], ids=str)
def test_only_the_command_line_knows_argparse(path: Path) -> None:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "argparse" not in names, f"{path.name} uses argparse: settings outside the CLI are typed objects"


def test_every_install_line_names_this_distribution_not_the_index_s_tinynet() -> None:
    """``tinynet`` on the package index is an unrelated project: ``pip install "tinynet[dask]"``
    installed it. Every hint and instruction must say ``tinynet-nn``."""
    files = [*PACKAGE.rglob("*.py"), ROOT / "README.md", ROOT / "pyproject.toml"]
    files += [*ROOT.glob("examples/**/*.py"), *ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("docs/**/*.md")]
    wrong = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\btinynet\[", line)
        or (
            re.search(r"pip install ['\"]?tinynet(?![-_\w])", line)
            and "never `pip install tinynet`" not in line
        )
    ]
    assert not wrong, f"install lines naming the index's tinynet: {wrong}"
    from tinynet._version import install_hint

    assert install_hint("dask,sklearn") == "pip install 'tinynet-nn[dask,sklearn]'"
