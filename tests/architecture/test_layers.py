"""The house rules of DESIGN.md, checked on the source: imports point down the layer table, no
package takes another package's private names, packages do not import each other in a cycle,
classes stay under 400 lines and functions under cyclomatic complexity 30."""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "veil"

#: DESIGN.md's layer table, top to bottom. A module may import its own package, any package
#: of its own layer (without a cycle) and any package of a layer below. ``veil._*`` modules are
#: the root package's own helpers, shared by every layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("interfaces", ("cli", "service", "ui", "spark", "stream", "__init__", "__main__")),
    ("workflows", ("pipeline", "rights", "decisions", "lifecycle", "incidents", "ropa", "dpia",
                   "doctor")),
    ("capabilities", ("discovery", "transforms", "risk", "consent", "lineage", "sample")),
    ("services", ("keys", "audit", "kek", "detect")),
    ("primitives", ("crypto",)),
    ("foundation", ("policy", "store", "io", "errors", "_actor", "_lazy", "_version")),
]
RANK = {pkg: len(LAYERS) - i for i, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}
LAYER_NAME = {pkg: name for name, pkgs in LAYERS for pkg in pkgs}

MAX_CLASS_LINES = 400
MAX_COMPLEXITY = 30


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted
    line: int
    target: str  # imported module, dotted
    name: str | None  # the name taken from it (from-imports)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


MODULES = _modules()


def _imports() -> list[Import]:
    found = []
    for module, path in MODULES:
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target == "veil" or target.startswith("veil."):
                    found += [Import(module, node.lineno, target, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [Import(module, node.lineno, a.name, None) for a in node.names
                          if a.name == "veil" or a.name.startswith("veil.")]
    return found


IMPORTS = _imports()


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_every_package_has_a_layer() -> None:
    unknown = sorted({package_of(m) for m, _ in MODULES} - set(RANK))
    assert not unknown, f"packages missing from the layer table: {unknown}"


def test_imports_point_down() -> None:
    up = []
    for imp in IMPORTS:
        src, dst = package_of(imp.module), package_of(imp.target)
        if imp.name and dst == "__init__" and imp.target == "veil":
            dst = package_of(f"veil.{imp.name}")  # `from veil import x`
        if src != dst and RANK[dst] > RANK[src]:
            up.append(f"{imp.module}:{imp.line} imports {imp.target} "
                      f"({LAYER_NAME[src]} -> {LAYER_NAME[dst]})")
    assert not up, "imports that point up a layer:\n" + "\n".join(up)


def test_no_private_names_across_packages() -> None:
    bad = []
    for imp in IMPORTS:
        src, dst = package_of(imp.module), package_of(imp.target)
        if src == dst or dst.startswith("_"):
            continue  # own package; veil._* helpers belong to the root package
        inner = imp.target.split(".")[2:]
        if any(_is_private(p) for p in inner) or (imp.name and _is_private(imp.name)):
            bad.append(f"{imp.module}:{imp.line} takes {imp.target}"
                       f"{'.' + imp.name if imp.name else ''}")
    assert not bad, "private names taken from another package:\n" + "\n".join(bad)


def test_packages_do_not_import_each_other_in_a_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        src, dst = package_of(imp.module), package_of(imp.target)
        if src != dst and src != "__init__" and dst != "__init__":
            graph[src].add(dst)
    cycles = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if a < b and a in graph.get(b, set()):
                cycles.append(f"{a} <-> {b}")
    # longer cycles: a DFS over the package graph
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if len(cycle) > 3:
                    cycles.append(" -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "packages that import each other:\n" + "\n".join(cycles)


def complexity(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """McCabe's cyclomatic complexity as radon counts it: one, plus one per branch point
    (if, loop, except, assert, conditional expression, comprehension clause, match case),
    plus one per extra operand of ``and`` / ``or``. Nested functions count on their own."""
    score = 1
    stack: list[ast.AST] = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While,
                             ast.ExceptHandler, ast.Assert, ast.match_case)):
            score += 1
        elif isinstance(node, ast.comprehension):
            score += 1 + len(node.ifs)
        elif isinstance(node, ast.BoolOp):
            score += len(node.values) - 1
        stack.extend(ast.iter_child_nodes(node))
    return score


def _definitions() -> list[tuple[str, ast.AST]]:
    out = []
    for module, path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((f"{module}:{node.lineno} {node.name}", node))
    return out


def test_classes_stay_small() -> None:
    big = [f"{where} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[attr-defined]
           for where, node in _definitions() if isinstance(node, ast.ClassDef)
           and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES]  # type: ignore[operator]
    assert not big, f"classes over {MAX_CLASS_LINES} lines:\n" + "\n".join(big)


def test_functions_stay_simple() -> None:
    tangled = [f"{where} (complexity {c})" for where, node in _definitions()
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               and (c := complexity(node)) > MAX_COMPLEXITY]
    assert not tangled, (f"functions over complexity {MAX_COMPLEXITY}:\n" + "\n".join(tangled))


@pytest.mark.parametrize("source, expected", [
    ("def f():\n    return 1\n", 1),
    ("def f(a, b):\n    if a and b or a:\n        return 1\n    for x in a:\n        pass\n", 5),
    ("def f(a):\n    try:\n        pass\n    except ValueError:\n        pass\n"
     "    return [x for x in a if x]\n", 4),
])
def test_complexity_counts_like_radon(source: str, expected: int) -> None:
    fn = ast.parse(source).body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert complexity(fn) == expected


def test_the_readme_layout_table_matches_the_layers() -> None:
    """The README's layout table names every package at its layer (docs and rules in step)."""
    import re

    readme = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\w+) \| (.+) \|$", readme.split("## Layout", 1)[1],
                           flags=re.M))
    for layer, packages in LAYERS:
        named = set(re.findall(r"`(\w+)/`", rows.get(layer, "")))
        present = {p for p in packages if (SRC / p).is_dir()}
        assert present <= named, f"README layout, {layer}: missing {sorted(present - named)}"
