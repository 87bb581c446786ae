"""The house rules of DESIGN.md and STYLE.md that a machine can check.

* No import cycles between the modules of ``minirnn/``, counting imports written
  inside functions too (a lazy import that dodges a cycle is still a cycle).
* Imports point down the layers: backend -> functional -> nn -> models ->
  optim/data/train/io/viz/distributed -> cli. A module may import its own layer
  or a lower one, never a higher one.
* Only ``minirnn/backend.py`` imports numpy or cupy.
* No function in ``minirnn/`` runs over 60 code lines. A function's code lines are
  the lines of its body after the docstring (the signature and the docstring do not
  count; comments and blank lines inside the body do).

The import graph is read from the source with ``ast``, without importing anything.
Nodes are modules (``minirnn.models.seq2seq``, ``minirnn.nn`` for
``nn/__init__.py``); ``from .pkg import name`` points at ``pkg.name`` when that is a
module, otherwise at ``pkg`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "minirnn"
MAX_FUNCTION_LINES = 60

# DESIGN.md's layers, lowest first. The first name of a module under minirnn/ decides
# its layer; helpers that every layer may use sit with the backend.
LAYERS = (
    ("backend", "checks", "files"),
    ("functional", "fast"),  # fast: the optimised twin of functional.recurrent
    ("nn",),
    ("models",),
    ("optim", "data", "train", "io", "viz", "distributed", "interop", "gradcheck", "gradflow"),
    ("cli", "__main__", "__init__"),  # __init__: the package root re-exports everything
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    """{module name: path} for every .py file under minirnn/."""
    return {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from X import ...`` names (``X`` with its dots resolved)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]  # a package's "." is itself
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path, modules: dict) -> dict:
    """{imported minirnn module: line} for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, path.name == "__init__.py", node)
            # `from pkg import sub` imports the module pkg.sub; `from pkg import f`, pkg.
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("numpy", "cupy"):
                found.setdefault(target.split(".")[0], node.lineno)
            elif target in modules and target != name:
                found.setdefault(target, node.lineno)
    return found


def import_graph() -> dict:
    """{module: {imported module: line}} over minirnn/ (numpy and cupy kept as leaves)."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict) -> list:
    """The cycles that close the back edges of a depth-first search (none means acyclic).

    Each is a list of module names that starts and ends at the same module.
    """
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER_OF.get(parts[1] if len(parts) > 1 else "__init__")


def _body_lines(node) -> int:
    """Lines of a function's body after its docstring (signature and docstring excluded)."""
    first = node.body[0]
    has_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    has_docstring = has_docstring and isinstance(first.value.value, str)
    start = first.end_lineno if has_docstring else first.lineno - 1
    return node.end_lineno - start


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list:
    """``(lines, "path:line name")`` for every function under minirnn/ over ``limit``."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > limit:
                where = f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno} {node.name}"
                found.append((_body_lines(node), where))
    return sorted(found, reverse=True)


# ============================================================================ tests


def test_graph_sees_every_kind_of_import(tmp_path):
    graph = import_graph()
    assert "minirnn.nn.module" in graph["minirnn.nn.rnn"]
    assert "minirnn.backend" in graph["minirnn.functional.cells"]
    source = (
        "import numpy as np\n"
        "from . import seq2seq\n"
        "from ..nn import Linear\n"
        "def late():\n"
        "    from ..functional.cells import gru_cell_forward\n"  # inside a function: still an edge
    )
    path = tmp_path / "decoding.py"
    path.write_text(source)
    modules = dict.fromkeys(["minirnn.models.seq2seq", "minirnn.nn", "minirnn.functional.cells"])
    found = _imports("minirnn.models.decoding", path, modules)
    assert found == {"numpy": 1, "minirnn.models.seq2seq": 2, "minirnn.nn": 3, "minirnn.functional.cells": 5}


def test_find_cycles_reports_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_no_import_cycles():
    cycles = find_cycles({k: {m for m in v if m.startswith("minirnn")} for k, v in import_graph().items()})
    assert not cycles, "import cycles in minirnn/:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _modules() if _layer(m) is None)
    assert not unplaced, f"modules with no layer in tests/test_house.py LAYERS (place them): {unplaced}"


def test_imports_point_down_the_layers():
    wrong = []
    for module, imported in import_graph().items():
        for target, line in imported.items():
            if target.startswith("minirnn") and (_layer(module) or 0) < (_layer(target) or 0):
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "a lower layer imports a higher one (DESIGN.md's layers):\n" + "\n".join(wrong)


def test_only_the_backend_imports_numpy_or_cupy():
    wrong = [
        f"{module}:{line} imports {target}"
        for module, imported in import_graph().items()
        for target, line in imported.items()
        if target in ("numpy", "cupy") and module != "minirnn.backend"
    ]
    assert not wrong, "only minirnn/backend.py may import numpy or cupy:\n" + "\n".join(wrong)


def test_no_function_over_60_code_lines():
    found = long_functions()
    assert not found, f"functions over {MAX_FUNCTION_LINES} code lines (body after the docstring):\n" + "\n".join(
        f"{lines:4d}  {where}" for lines, where in found
    )


def test_body_lines_excludes_signature_and_docstring():
    source = 'def f(\n    a,\n    b,\n):\n    """Doc.\n\n    More.\n    """\n    x = a\n\n    # why\n    return x + b\n'
    assert _body_lines(ast.parse(source).body[0]) == 4
    assert _body_lines(ast.parse("def g():\n    return 1\n").body[0]) == 1
