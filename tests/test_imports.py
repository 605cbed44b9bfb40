"""Imports only go down (DESIGN.md, "The layers"): the import graph between skiplab's top-level packages and modules
is acyclic, nobody imports another package's private (_underscore) module, and `models` and `data` stay at the
bottom. Read from the source with ast, so a function-level (lazy) import counts as much as one at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

import skiplab

ROOT = Path(skiplab.__file__).parent


def _modules() -> dict[tuple[str, ...], Path]:
    """Dotted name (as a tuple) -> file, for every module under src/skiplab; a package is named by its folder."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("skiplab", *path.relative_to(ROOT).with_suffix("").parts)
        out[parts[:-1] if parts[-1] == "__init__" else parts] = path
    return out


MODULES = _modules()


def _imports(name: tuple[str, ...], path: Path) -> list[tuple[tuple[str, ...], int]]:
    """(absolute dotted target, line) of every import in the module, wherever it sits in the file. `from a import
    b` yields a.b as well as a: b may be a submodule."""
    package = name if path.name == "__init__.py" else name[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(tuple(a.name.split(".")), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            mod = base + (tuple(node.module.split(".")) if node.module else ())
            out += [(mod, node.lineno)] + [(mod + (a.name,), node.lineno) for a in node.names]
    return [(t, line) for t, line in out if t[0] == "skiplab"]


def _unit(name: tuple[str, ...]) -> str | None:
    """The top-level package or module a dotted name belongs to (models, guards, ...); None for skiplab itself and
    for names that are no module (`from skiplab import __version__`)."""
    return name[1] if len(name) > 1 and name[:2] in MODULES else None


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the "file:line" of each import behind it."""
    edges = defaultdict(list)
    for name, path in MODULES.items():
        src = _unit(name)
        for target, line in _imports(name, path):
            dst = _unit(target)
            where = f"{path.relative_to(ROOT)}:{line}"
            if src and dst and dst != src and where not in edges[src, dst]:
                edges[src, dst].append(where)
    return edges


def test_the_top_level_packages_import_each_other_without_a_cycle():
    edges = _edges()
    assert {"models", "data", "train", "probes", "attacks", "pruning", "physics", "report", "claims", "cli",
            "bench"} <= {u for e in edges for u in e}
    graph = nx.DiGraph(list(edges))
    cycles = list(nx.simple_cycles(graph))
    report = ["  " + " -> ".join(c + c[:1]) + ": " + "; ".join(
        f"{a} -> {b} at {', '.join(edges[a, b][:3])}" for a, b in zip(c, c[1:] + c[:1])) for c in cycles]
    assert not cycles, "import cycles between skiplab's packages:\n" + "\n".join(report)
    assert nx.is_directed_acyclic_graph(graph)


def test_nothing_imports_a_private_module_of_another_package():
    """A private module (or package) is for the package it sits in and the packages inside that: skiplab._atomic
    serves all of skiplab, probes/_x.py would serve only probes."""
    bad = set()
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            while target not in MODULES:  # `from a._b import c`: the module is a._b, c an attribute
                target = target[:-1]
            for i, part in enumerate(target):
                if part.startswith("_") and not part.startswith("__") and name[:i] != target[:i]:
                    bad.add(f"{path.relative_to(ROOT)}:{line} imports {'.'.join(target)}")
    assert not bad, "\n".join(sorted(bad))


def test_models_and_data_stay_at_the_bottom():
    """`models` knows nothing of data or training, `data` nothing of models (DESIGN.md): both import only the
    shared leaves."""
    leaves = {"config", "errors", "_atomic"}
    edges = _edges()
    for unit in ("models", "data"):
        above = {dst: where for (src, dst), where in edges.items() if src == unit and dst not in leaves}
        assert not above, f"{unit} imports {above}"


def test_only_the_models_package_imports_the_families():
    """The interface (net, blocks, registry, batchnorm) and the parts never import a family: a family registers
    itself when `skiplab.models` imports `models.families`."""
    families = ("skiplab", "models", "families")
    bad = []
    for name, path in MODULES.items():
        if name[:2] != ("skiplab", "models") or name[:3] == families or name == ("skiplab", "models"):
            continue
        bad += [f"{path.relative_to(ROOT)}:{line}" for target, line in _imports(name, path) if target[:3] == families]
    assert not bad, bad


def test_the_claims_core_knows_no_claim_and_chapters_import_without_a_cycle():
    """claims/core imports no chapter; between the chapters (depth, blocks, ode, ...) imports form no cycle (a
    chapter may read another's shared runs, e.g. the depth ladder, never both ways)."""
    chapters = defaultdict(set)
    for name, path in MODULES.items():
        if name[:2] != ("skiplab", "claims") or len(name) < 3:
            continue
        for target, line in _imports(name, path):
            if target[:2] == ("skiplab", "claims") and len(target) > 2 and target[2] != name[2]:
                chapters[name[2]].add(target[2])
                assert name[2] != "core", f"{path.relative_to(ROOT)}:{line} imports the {target[2]} chapter"
    graph = nx.DiGraph([(a, b) for a, bs in chapters.items() for b in bs])
    assert nx.is_directed_acyclic_graph(graph), list(nx.simple_cycles(graph))
    assert "core" not in chapters
