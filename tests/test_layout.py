"""The house rules that a reader sees first, read from the source: no module over 300 lines, no function over 50
lines outside the kernels (``ops/_*.py``), and the README's layout names every module there is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "gatedgcn"
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 50
# the modules still over a limit, each to be split and taken off (a new one fails the test)
LONG_FILES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()

MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _is_kernel(module: str) -> bool:
    return module.startswith("ops/_")


def _long_functions(module: str) -> list[str]:
    tree = ast.parse((PACKAGE / module).read_text())
    return [
        f"{module}:{node.name}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


@pytest.mark.parametrize("module", MODULES)
def test_a_module_is_at_most_300_lines(module):
    lines = len((PACKAGE / module).read_text().splitlines())
    assert lines <= MAX_FILE_LINES or module in LONG_FILES, f"{module}: {lines} lines; split it by idea"


@pytest.mark.parametrize("module", [m for m in MODULES if not _is_kernel(m)])
def test_a_function_outside_the_kernels_is_at_most_50_lines(module):
    long = set(_long_functions(module)) - LONG_FUNCTIONS
    assert not long, f"over {MAX_FUNCTION_LINES} lines: {', '.join(sorted(long))}; split it into steps"


def test_the_lists_of_exceptions_hold_only_what_is_still_long():
    """A module split below the limits comes off the lists (they only shrink)."""
    long_files = {m for m in MODULES if len((PACKAGE / m).read_text().splitlines()) > MAX_FILE_LINES}
    long_functions = {f for m in MODULES if not _is_kernel(m) for f in _long_functions(m)}
    assert not LONG_FILES - long_files, f"within the limit now, take off LONG_FILES: {LONG_FILES - long_files}"
    short = LONG_FUNCTIONS - long_functions
    assert not short, f"short now, take off LONG_FUNCTIONS: {short}"


def _layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```\nsrc/gatedgcn/\n", 1)[1].split("```", 1)[0]


def test_the_readme_layout_names_every_module_and_folder():
    words = set(re.findall(r"[A-Za-z_][\w.]*\.(?:py|cpp)|[a-z_]+/", _layout()))
    missing = []
    for module in MODULES:
        *folders, name = module.split("/")
        missing += [f + "/" for f in folders if f + "/" not in words]
        if name not in words:
            missing.append(module)
    assert not missing, f"README.md's layout does not name: {', '.join(sorted(set(missing)))}"


def test_the_readme_layout_names_no_module_that_is_gone():
    names = {Path(m).name for m in MODULES} | {"gated_edges.cpp"}
    named = set(re.findall(r"[A-Za-z_][\w]*\.(?:py|cpp)", _layout()))
    assert named <= names, f"README.md's layout names modules that do not exist: {', '.join(sorted(named - names))}"


def test_the_readme_links_to_lines_show_the_code_they_name():
    """README.md's ``[`code`](path#Lnn)`` links go from a symbol to the line that computes it: that line must
    still hold the quoted code (a file edited above it moves the line: move the link)."""
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\[`([^`]+)`\]\(([^)#]+)#L(\d+)\)", readme)
    assert len(links) >= 10
    stale = []
    for code, path, line in links:
        lines = (ROOT / path).read_text().splitlines()
        if int(line) > len(lines) or code not in lines[int(line) - 1]:
            stale.append(f"{path}#L{line} does not hold {code!r}")
    assert not stale, "\n".join(stale)
