"""The package's layout: its import graph has no circle, and its top level stays a short list of entry points.

Every import counts, including those inside functions: a function-level import hides a circle at import time
but not from a reader (docs/layout.md).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "r1recipes"
TOP_LEVEL_LIMIT = 14


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `path` imports, anywhere in it; `from package import module` counts as the
    module, `from module import name` as the module."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
        else:
            continue
        for target in targets:
            if target in modules and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(path, name, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in graph[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle():
    assert circles(import_graph()) == []


def test_the_circle_finder_sees_a_circle_through_a_function_level_import(tmp_path):
    graph = {
        "r1recipes.a": {"r1recipes.b"},
        "r1recipes.b": {"r1recipes.c"},
        "r1recipes.c": {"r1recipes.a"},
        "r1recipes.d": {"r1recipes.a"},
    }
    assert circles(graph) == [["r1recipes.a", "r1recipes.b", "r1recipes.c"]]
    source = tmp_path / "r1recipes"
    source.mkdir()
    (source / "x.py").write_text("def f():\n    from r1recipes.y import g\n")
    modules = {"r1recipes.x": source / "x.py", "r1recipes.y": source / "y.py"}
    assert imported_modules(source / "x.py", "r1recipes.x", modules) == {"r1recipes.y"}


def test_the_top_level_is_a_short_list():
    top = [path.name for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= TOP_LEVEL_LIMIT, sorted(top)
