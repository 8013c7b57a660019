"""edgewise's import graph stays honest: no cycle among its modules, and no import of its own code
hidden behind `except ImportError`.

Every module under edgewise/ is parsed with `ast` (nothing is imported), so the check sees imports
at module level, inside functions and under `if TYPE_CHECKING:` alike: a cycle hidden from the
interpreter is still two modules that know each other, and a type checker follows it. A package's
__init__ counts as a module of the package's name, and importing a module also runs the __init__ of
each package around it (unless the importer sits inside that package).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "edgewise"
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST):
    """Every node below `node`, the bodies of `if TYPE_CHECKING:` blocks included."""
    for child in ast.iter_child_nodes(node):
        yield child
        yield from _walk(child)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict) -> set[str]:
    """The edgewise modules an import statement executes (parent packages aside)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        if not is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    found = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in modules:
            found.add(sub)
        elif base in modules:
            found.add(base)
    return found


def _imports_edgewise_dynamically(node: ast.AST) -> bool:
    """`importlib.import_module("edgewise...")` or with an f-string naming an edgewise module."""
    if not (isinstance(node, ast.Call) and node.args):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in ("import_module", "__import__"):
        return False
    arg = node.args[0]
    if isinstance(arg, ast.JoinedStr) and arg.values:
        arg = arg.values[0]
    return isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("edgewise")


def _outer_packages(target: str, importer: str) -> set[str]:
    """The packages Python runs before `target` (their __init__ first), leaving out those that hold the
    importer: they are already under way when it runs."""
    parts = target.split(".")
    packages = {".".join(parts[:i]) for i in range(1, len(parts))}
    return {p for p in packages if not (importer == p or importer.startswith(p + "."))}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(n, ast.Name) and n.id in IMPORT_ERRORS)
        or (isinstance(n, ast.Attribute) and n.attr in IMPORT_ERRORS)
        for n in names
    )


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    guarded: list[str] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, name, is_package, modules):
                    graph[name] |= ({target} | _outer_packages(target, name)) - {name}
            elif isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                for inner in node.body:
                    for sub in [inner, *_walk(inner)]:
                        if (isinstance(sub, (ast.Import, ast.ImportFrom)) and _targets(
                            sub, name, is_package, modules
                        )) or _imports_edgewise_dynamically(sub):
                            guarded.append(f"{path.relative_to(PACKAGE.parent)}:{sub.lineno}")
    return graph, guarded


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_edgewise_modules():
    graph, _ = _graph()
    assert "edgewise.study" in graph and "edgewise.report" in graph
    # Edges are found at all: the study reaches its store, the CLI its errors.
    assert "edgewise.output.store" in graph["edgewise.study"]
    assert "edgewise.errors" in graph["edgewise.cli"]


def test_no_import_cycle_among_edgewise_modules():
    graph, _ = _graph()
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_edgewise_import_guarded_by_import_error():
    _, guarded = _graph()
    assert not guarded, "imports of edgewise modules inside try/except ImportError: " + ", ".join(guarded)


def test_find_cycle_reports_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
