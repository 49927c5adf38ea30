"""Measure evalkit's import graph: modules, lines, circles, arrows back up the flow, floors.

Usage: python scripts/import_graph.py [PACKAGE_DIR]

Reads imports statically (ast), both module-level and function-level, of modules inside the package.
"Floors" is the longest chain of imports (after collapsing circles). An "arrow back up" is an import
from a module of a later stage into a module of an earlier one, by the stage order below.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# The stages from the top (cli) down to the leaves: an import may only go down this list or stay in its stage.
# as "below" it. cli/api sit on top; _compat and the leaf helpers at the bottom.
STAGES = ["cli", "api", "report", "judge", "card", "runner", "model", "results", "_compat", "_base"]


def stage(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) == 1:
        return "api"
    top = parts[1]
    if top in ("cli", "__main__") or top.startswith("_cli"):
        return "cli"
    if top in ("__init__",) or top.startswith("api"):
        return "api"
    return top if top in STAGES else "_base"


def modules(root: Path) -> dict[str, Path]:
    pkg = root.name
    out = {}
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    assert pkg in out
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in known:
                    found.add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                full = f"{mod}.{a.name}"
                if full in known:
                    found.add(full)
                elif mod in known:
                    found.add(mod)
    found.discard(name)
    return found


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "evalkit").resolve()
    mods = modules(root)
    known = set(mods)
    pkg = root.name
    # The package's own __init__ re-exports the surface: it is the top, leave it out of the graph.
    graph = {m: {i for i in imports(m, p, known) if i != pkg} for m, p in mods.items() if m != pkg}
    lines = {m: len(mods[m].read_text().splitlines()) for m in graph}
    circles = [c for c in sccs(graph) if len(c) > 1]
    comp_of = {}
    for i, c in enumerate(sccs(graph)):
        for m in c:
            comp_of[m] = i
    # floors: longest path in the condensed DAG
    depth: dict[int, int] = {}
    cgraph: dict[int, set[int]] = {}
    for m, deps in graph.items():
        cgraph.setdefault(comp_of[m], set()).update(comp_of[d] for d in deps if comp_of[d] != comp_of[m])

    def d(c: int) -> int:
        if c not in depth:
            depth[c] = 1 + max((d(x) for x in cgraph.get(c, ())), default=0)
        return depth[c]

    floors = max(d(c) for c in cgraph)
    order = {s: i for i, s in enumerate(STAGES)}
    back = []
    for m, deps in graph.items():
        for dep in deps:
            sm, sd = stage(m), stage(dep)
            if sm != sd and order[sd] < order[sm]:
                back.append((m, dep))
    big = sorted(((n, m) for m, n in lines.items() if n > 400), reverse=True)
    print(f"modules: {len(graph)}  lines: {sum(lines.values())}")
    print(f"over 400 lines: {len(big)}  " + ", ".join(f"{m} {n}" for n, m in big))
    print(f"import circles: {len(circles)}  " + "; ".join(" <-> ".join(sorted(c)) for c in circles))
    print(f"arrows back up: {len(back)}  " + ", ".join(f"{a} -> {b}" for a, b in sorted(back)))
    print(f"floors: {floors}")


if __name__ == "__main__":
    main()
