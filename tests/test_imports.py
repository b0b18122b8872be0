"""The import contract: every floor imports only the floors beneath it, read from the source (ast).

    errors <- {options <- spec} <- graph <- interop
    graph <- ops <- nn <- model <- layerwise;  graph <- data;  ... <- train <- app <- cli

``data`` reads graphs only (it knows no operator, layer or model); ``train`` knows no layer; the private
modules of ``ops`` (``ops._x``) are imported inside ``ops`` alone.  Parsing a command imports no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "gatedgcn"

BASE = {"errors"}
ALLOWED = {
    "errors": set(),
    "options": BASE,
    "spec": BASE | {"options"},
    "graph": BASE,
    "interop": BASE | {"graph"},
    "ops": BASE | {"graph"},
    "nn": BASE | {"graph", "ops"},
    "model": BASE | {"options", "spec", "graph", "ops", "nn"},
    "data": BASE | {"graph", "interop"},
    "layerwise": BASE | {"options", "spec", "graph", "ops", "nn", "model", "data"},
    "train": BASE | {"options", "spec", "graph", "interop", "data"},
    "app": BASE | {"options", "spec", "graph", "interop", "ops", "nn", "model", "layerwise", "data", "train"},
}
ALLOWED["cli"] = ALLOWED["app"] | {"app"}
FACADE = {"__init__", "__main__"}  # gatedgcn/__init__.py (lazy names) and python -m gatedgcn: above every floor


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return out


def _imports(path: Path) -> set[str]:
    """Every ``gatedgcn...`` module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (the contract reads absolute ones)")
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found |= {n for n in names if n == "gatedgcn" or n.startswith("gatedgcn.")}
    return found


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()


def test_the_contract_names_every_floor():
    floors = {_floor(m) for m, _ in MODULES} - FACADE
    assert floors - set(ALLOWED) == set(), "a new top-level module needs its floor in ALLOWED"


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_a_module_imports_only_the_floors_beneath_it(module, path):
    floor = _floor(module)
    if floor in FACADE or module == "gatedgcn":
        return
    upward = sorted(
        target for target in _imports(path) if _floor(target) != floor and _floor(target) not in ALLOWED[floor]
    )
    assert upward == [], f"{module} ({floor}) imports {upward}: not beneath it"


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_the_private_modules_of_ops_stay_in_ops(module, path):
    private = sorted(t for t in _imports(path) if t.startswith("gatedgcn.ops._"))
    assert module.startswith("gatedgcn.ops") or private == [], f"{module} imports the private {private}"


def test_the_contract_sees_a_violation(tmp_path):
    """The walker itself: an upward import written into a module is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gatedgcn.train.metrics import UNLABELLED\n")
    assert _imports(bad) == {"gatedgcn.train.metrics"}
    assert "train" not in ALLOWED["data"]


def test_parsing_a_command_and_a_bad_set_import_no_torch():
    code = (
        "import sys; from gatedgcn.cli.parser import parse; from gatedgcn.app.config import Config;"
        "from gatedgcn.errors import ConfigError; parse(['train', '--epochs', '3'])\n"
        "try: Config().with_overrides(['model.hidden=2'])\nexcept ConfigError: pass\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'scipy', 'networkx', 'matplotlib') if m in sys.modules);"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
