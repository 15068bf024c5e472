"""The package's layout: no import circles, imports point down the data flow, and the public
names of ``import linkage as lk`` are never shadowed by submodules."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import networkx as nx
import pytest

import linkage

PACKAGE = Path(linkage.__file__).parent

# Rooms of the house in data-flow order: a room may import rooms before it, never after.
# The top-level modules (config, schemas, errors, flags, privacy, ...) are shared by all.
# engines/ (how stages are executed: out of core, Spark) and service/ (resolver, index,
# incremental runs, HTTP) sit on top and may use everything below them.
ORDER = ["standardisers", "match", "master", "io", "engines", "service"]
# Stage rooms never import the pipeline that composes them.
STAGE_ROOMS = {"standardisers", "match", "master", "io"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports at run time (lazy ones included,
    ``if TYPE_CHECKING:`` blocks left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif node.module in known:
                    found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path, set(modules)):
            # Every module implicitly loads linkage/__init__, whose names are lazy: not an
            # edge of the layout.
            if target != "linkage":
                graph.add_edge(name, target)
    return graph


def test_the_walk_sees_imports_of_every_form(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import linkage.errors\n"
        "from linkage.master import golden\n"
        "from linkage.io.sources import read_sources\n"
        "if TYPE_CHECKING:\n    from linkage.pipeline import Pipeline\n"
        "def f():\n    from linkage.match.block import block\n", encoding="utf-8")
    known = set(_modules())
    assert _imports(source, known) == {"linkage.errors", "linkage.master.golden",
                                       "linkage.io.sources", "linkage.match.block"}


def test_no_import_circle_inside_the_package() -> None:
    graph = _graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    circles += [[n] for n in graph if graph.has_edge(n, n)]
    assert circles == []


def test_a_circle_would_be_found() -> None:
    graph = _graph()
    graph.add_edge("linkage.master.cluster", "linkage.master.golden")
    assert graph.has_edge("linkage.master.golden", "linkage.master.cluster")
    assert any(len(c) > 1 for c in nx.strongly_connected_components(graph))


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ORDER else None


def test_imports_point_down_the_data_flow() -> None:
    upward = []
    for a, b in _graph().edges:
        ra, rb = _room(a), _room(b)
        if ra and rb and ORDER.index(rb) > ORDER.index(ra):
            upward.append((a, b))
        if ra in STAGE_ROOMS and b == "linkage.pipeline":
            upward.append((a, b))
    assert upward == []


def test_few_modules_at_the_top_level() -> None:
    top = [p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"]
    assert len(top) <= 10, top


def test_no_public_name_is_also_a_submodule() -> None:
    submodules = {m.name for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert submodules & set(linkage.__all__) == set()


def test_public_names_survive_importing_every_submodule() -> None:
    # In a fresh interpreter: import the package, resolve a few names, import every module,
    # then every public name must still be what its home module defines.
    code = (
        "import importlib, pkgutil, types\n"
        "import linkage as lk\n"
        "first = lk.block, lk.standardise\n"
        "for m in pkgutil.walk_packages(lk.__path__, 'linkage.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [n for n in lk.__all__ if isinstance(getattr(lk, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
        "assert (lk.block, lk.standardise) == first\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("name", linkage.__all__)
def test_every_public_name_resolves_to_its_object(name: str) -> None:
    value = getattr(linkage, name)
    assert not isinstance(value, types.ModuleType)
    home = importlib.import_module(linkage._EXPORTS[name])
    assert value is getattr(home, name)


def test_readme_layout_table_matches_the_tree() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            listed.update(part.strip(" `") for part in cell.split(","))
    for path in listed:
        assert (PACKAGE.parent / path).exists(), f"README lists {path}, which is not there"
    rooms = {f"linkage/{p.name}/" for p in PACKAGE.iterdir()
             if p.is_dir() and (p / "__init__.py").exists()}
    top = {f"linkage/{p.name}" for p in PACKAGE.glob("*.py")}
    missing = sorted((rooms | top) - listed)
    assert missing == [], f"README's Layout table does not list {missing}"
