"""DESIGN.md's layer table as a test: no import circles, each layer importing only from above it.

Each check builds a small graph of its own first and sees it fail, so a check that could never
fire (a parser that finds no imports, a graph walk that finds no circles) fails here too.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tests.architecture.imports import PACKAGE_DIR, all_imports, cycles, describe, graph

# The layer table, top to bottom: a module may import its own layer and those before it.
LAYERS = ("wire", "boot", "config", "serve", "client", "lab", "faces")

# lab/ sub-packages in the same sense (lab/__init__ says why this order).
LAB_ORDER = ("network", "machines", "services", "report", "drills", "scenario")

# Arrows from lab/ into serve/ and client/ that the table does not draw; lab/__init__ says why.
# A new one fails here until it is written down there and here.
UNDRAWN = {
    ("pxelab.lab.scenario.runner", "pxelab.serve.events"),
    ("pxelab.lab.drills.storm", "pxelab.serve.events"),
    ("pxelab.lab.scenario.model", "pxelab.serve.router"),
    ("pxelab.lab.scenario.model", "pxelab.client.profile"),
    ("pxelab.lab.drills.storm", "pxelab.client.profile"),
    ("pxelab.lab.drills.storm", "pxelab.client.walk"),
    ("pxelab.lab.drills.storm", "pxelab.client.dhcp"),
}

# What "I/O" means for the pure layers: sockets, processes, threads, files, clocks, logging.
IO_MODULES = {
    "socket", "asyncio", "selectors", "select", "ssl", "subprocess", "threading",
    "multiprocessing", "concurrent", "os", "shutil", "tempfile", "time", "logging", "signal",
    "io", "mmap", "fcntl",
}  # fmt: skip
# (Path.resolve and .stat are left out: boot has pure functions of those names.)
IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "exists",
            "is_file", "is_dir", "rglob", "mkdir", "unlink"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["pxelab", "cli"] or module in ("pxelab.pytest_plugin", "pxelab.__main__"):
        return "faces"
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return None  # pxelab/__init__ (the version) and doctor.py (packages) stand beside the layers


def _write(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "pxelab"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return pkg


def test_finds_a_circle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "lab/__init__.py": "",
        "lab/runner.py": "from pxelab.lab.clients import drive\n",
        "lab/clients.py": "def drive():\n    from pxelab.lab import runner\n",
    })  # fmt: skip
    found = cycles(graph(pkg))
    assert len(found) == 1
    text = describe(found[0])
    assert "pxelab.lab.clients (line 2) -> pxelab.lab.runner" in text
    assert "pxelab.lab.runner (line 1) -> pxelab.lab.clients" in text


def test_relative_imports_and_parent_packages(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "lab/__init__.py": "from .a import x\n",
        "lab/a.py": "from . import b\n",
        "lab/b.py": "from .. import lab\n",
    })  # fmt: skip
    edges = graph(pkg)
    assert [i.target for i in edges["pxelab.lab.a"]] == ["pxelab.lab.b"]
    assert [i.target for i in edges["pxelab.lab.b"]] == ["pxelab.lab"]
    # lab/__init__ -> a -> b -> lab/__init__: a real circle, through the package itself.
    assert len(cycles(edges)) == 1


def test_no_import_circles() -> None:
    edges = graph()
    assert sum(len(v) for v in edges.values()) > 100  # the parser sees pxelab's own imports
    found = cycles(edges)
    assert not found, "\n\n".join(describe(c) for c in found)


def _layer_violations(edges: dict[str, list]) -> list[str]:
    bad = []
    for source, imps in edges.items():
        src = layer_of(source)
        if src is None:
            continue
        for imp in imps:
            dst = layer_of(imp.target)
            if dst is None or (source, imp.target) in UNDRAWN:
                continue
            if LAYERS.index(dst) > LAYERS.index(src):
                bad.append(f"{source} (line {imp.line}, layer {src}) imports {imp.target} "
                           f"(layer {dst}, below it)")  # fmt: skip
            elif src == "lab" and dst in ("serve", "client"):
                bad.append(f"{source} (line {imp.line}) imports {imp.target}: an arrow from lab "
                           "the layer table does not draw; write why into lab/__init__ and "
                           "UNDRAWN, or drop it")  # fmt: skip
    return bad


def test_each_layer_imports_only_from_above() -> None:
    bad = _layer_violations(graph())
    assert not bad, "\n".join(bad)


def test_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "serve/__init__.py": "",
        "serve/tftp.py": "def f():\n    from pxelab.lab import runner\n",
        "lab/__init__.py": "",
        "lab/runner.py": "from pxelab.serve import tftp\n",
    })  # fmt: skip
    bad = _layer_violations(graph(pkg))
    assert any("pxelab.serve.tftp (line 2, layer serve) imports pxelab.lab.runner" in b
               for b in bad), bad  # fmt: skip
    assert any("arrow from lab" in b for b in bad), bad


def test_undrawn_arrows_are_still_there() -> None:
    # An entry for an arrow that is gone would let a new one in under its name.
    edges = graph()
    present = {(s, i.target) for s, imps in edges.items() for i in imps}
    assert present >= UNDRAWN, sorted(UNDRAWN - present)
    doc = (PACKAGE_DIR / "lab" / "__init__.py").read_text()
    for _, target in UNDRAWN:
        assert target.removeprefix("pxelab.") in doc, f"lab/__init__ does not say why: {target}"


def test_lab_subpackages_import_only_from_above() -> None:
    bad = []
    for source, imps in graph().items():
        parts = source.split(".")
        if parts[:2] != ["pxelab", "lab"] or len(parts) < 4:
            continue
        for imp in imps:
            tparts = imp.target.split(".")
            if tparts[:2] != ["pxelab", "lab"] or len(tparts) < 3:
                continue
            if LAB_ORDER.index(tparts[2]) > LAB_ORDER.index(parts[2]):
                bad.append(f"{source} (line {imp.line}) imports {imp.target}")
    assert not bad, "\n".join(bad)


def test_serve_and_client_import_nothing_from_lab() -> None:
    bad = [f"{s} (line {i.line}) imports {i.target}" for s, imps in graph().items()
           for i in imps if layer_of(s) in ("serve", "client") and layer_of(i.target) == "lab"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", ["wire", "boot"])
def test_pure_layers_do_no_io(layer: str) -> None:
    seen = [imp for imp in all_imports() if layer_of(imp.source) == layer]
    assert seen  # the layer exists and its imports are read
    bad = [f"{imp.source} (line {imp.line}) imports {imp.target}" for imp in seen
           if imp.target.split(".")[0] in IO_MODULES]  # fmt: skip
    for path in sorted((PACKAGE_DIR / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", "")
                if name in IO_CALLS:
                    bad.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno} calls "
                               f"{name}()")  # fmt: skip
    assert not bad, "\n".join(bad)


# A command module configures its arguments and calls into a package; anything longer than this
# is logic that belongs in the package, where it can be tested without the command line.
CLI_MAX_STATEMENTS = 25


def _statements(fn: ast.FunctionDef) -> int:
    return sum(isinstance(n, ast.stmt) for n in ast.walk(fn)) - 1


def test_cli_holds_no_logic() -> None:
    bad = []
    for path in sorted((PACKAGE_DIR / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and _statements(node) > CLI_MAX_STATEMENTS:
                bad.append(f"{path.name}:{node.lineno} {node.name}() has {_statements(node)} "
                           f"statements (at most {CLI_MAX_STATEMENTS})")  # fmt: skip
    assert not bad, "\n".join(bad)
