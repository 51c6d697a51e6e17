"""The import graph of `pxelab`, read from source: every import statement, at any depth.

An import inside a function counts like one at the top: it still ties the two modules together,
it only hides the circle until the function runs. An edge goes to the module the statement
names (`from a.b import c` goes to `a.b.c` when that is a module, else to `a.b`); the parent
packages Python imports on the way are not counted, or every module would sit in a circle with
its own package's `__init__`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "pxelab"


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported pxelab module, or the top-level name of anything else
    line: int
    names: tuple[str, ...] = ()  # for `from x import a, b`


def modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if base == "__future__":
                continue
            names = tuple(a.name for a in node.names)
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            for sub in submodules:
                yield Import(module, sub, node.lineno, (sub.rsplit(".", 1)[1],))
            rest = tuple(n for n in names if f"{base}.{n}" not in known)
            if rest or not submodules:
                yield Import(module, base, node.lineno, rest)


def graph(root: Path = PACKAGE_DIR) -> dict[str, list[Import]]:
    """Module -> its imports of other pxelab modules."""
    known = modules(root)
    edges: dict[str, list[Import]] = {}
    for name, path in known.items():
        edges[name] = [
            imp for imp in imports_of(name, path, known) if imp.target in known
            and imp.target != name
        ]  # fmt: skip
    return edges


def all_imports(root: Path = PACKAGE_DIR) -> Iterator[Import]:
    """Every import statement, pxelab's own and the standard library's alike."""
    known = modules(root)
    for name, path in known.items():
        yield from imports_of(name, path, known)


def cycles(edges: dict[str, list[Import]]) -> list[list[Import]]:
    """One circle per strongly connected component, as the chain of imports that closes it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for imp in edges.get(v, []):
            w = imp.target
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return [_circle(sorted(comp), edges) for comp in components]


def _circle(comp: list[str], edges: dict[str, list[Import]]) -> list[Import]:
    """A shortest chain of imports from the component's first module back to itself."""
    members = set(comp)
    start = comp[0]
    frontier: list[tuple[str, list[Import]]] = [(start, [])]
    seen = {start}
    while frontier:
        nxt: list[tuple[str, list[Import]]] = []
        for v, path in frontier:
            for imp in edges[v]:
                if imp.target == start:
                    return [*path, imp]
                if imp.target in members and imp.target not in seen:
                    seen.add(imp.target)
                    nxt.append((imp.target, [*path, imp]))
        frontier = nxt
    raise AssertionError(f"no circle through {start}")  # a component always has one


def describe(circle: list[Import]) -> str:
    steps = [f"{imp.source} (line {imp.line}) -> {imp.target}" for imp in circle]
    return "import circle:\n  " + "\n  ".join(steps)
