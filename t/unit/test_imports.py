"""The public API of ``thorn``, and the framework-free core's imports."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import thorn

#: What the documentation imports from ``thorn``.
DOCUMENTED = [
    "Event",
    "ModelEvent",
    "Q",
    "Thorn",
    "buffer_events",
    "model_reverser",
    "webhook_model",
]

#: Modules allowed to import Django, Celery or the task framework (with their submodules).
FRAMEWORK_MODULES = (
    "thorn.django",
    "thorn.tasks",
    "thorn.dispatch.celery",
    "thorn.dispatch.tasks",
)


def is_framework_module(name: str) -> bool:
    """Tell whether ``name`` may import Django or Celery."""
    return any(name == m or name.startswith(f"{m}.") for m in FRAMEWORK_MODULES)


def core_modules(path: str = thorn.__path__[0], prefix: str = "thorn.") -> Iterator[str]:
    """Yield every core module under ``path``, from the file tree (importing nothing)."""
    for info in pkgutil.iter_modules([path]):
        name = prefix + info.name
        if is_framework_module(name):
            continue
        yield name
        if info.ispkg:
            yield from core_modules(str(Path(path) / info.name), f"{name}.")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, with no Django settings configured."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_thorn_loads_neither_django_nor_celery() -> None:
    """``import thorn`` imports neither Django nor Celery."""
    result = run_python(
        "import thorn, sys; assert 'celery' not in sys.modules and 'django' not in sys.modules"
    )
    assert 0 == result.returncode, result.stderr


def test_re2_is_imported_only_for_a_pattern_filter() -> None:
    """RE2 is loaded when a subscriber's filter has a pattern, not with thorn or other filters."""
    result = run_python(
        "import sys, thorn; from thorn.generic.filters import compile_filter; "
        "compile_filter({'data__x__eq': 1}); assert 're2' not in sys.modules; "
        "compile_filter({'data__x__regex': 'a'}); assert 're2' in sys.modules"
    )
    assert 0 == result.returncode, result.stderr


def test_all_is_the_documented_api() -> None:
    """``thorn.__all__`` is exactly the documented names, sorted."""
    assert sorted(DOCUMENTED) == thorn.__all__


def test_every_name_in_all_exists() -> None:
    """Every name in ``thorn.__all__`` is an attribute of ``thorn``."""
    assert [] == [name for name in thorn.__all__ if not hasattr(thorn, name)]


@pytest.mark.parametrize("module", sorted(core_modules()))
def test_core_module_imports_without_django_or_celery(module: str) -> None:
    """Each core module imports on its own without importing Django or Celery."""
    result = run_python(
        "import importlib, sys; "
        f"importlib.import_module({module!r}); "
        "loaded = [m for m in ('django', 'celery') if m in sys.modules]; "
        "assert not loaded, f'imported {loaded}'"
    )
    assert 0 == result.returncode, result.stderr


# -- no import cycles ---------------------------------------------------------------------


def _module_names(path: Path = Path(thorn.__path__[0]), prefix: str = "thorn") -> dict[str, Path]:
    """Every module of the package (``thorn.x.y`` -> file), from the file tree."""
    modules = {prefix: path / "__init__.py"}
    for info in pkgutil.iter_modules([str(path)]):
        name = f"{prefix}.{info.name}"
        if info.ispkg:
            modules.update(_module_names(path / info.name, name))
        else:
            modules[name] = path / f"{info.name}.py"
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too, but not under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (imp for child in node.orelse for imp in _imports_of(child))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """The modules of thorn each module imports (at run time, wherever the import is)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                # "from a import b" imports module a.b when there is one, else a.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            edges.update(target for target in targets if target in modules and target != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of modules (first == last), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_find_cycle_finds_cycles() -> None:
    """The cycle finder itself: a cycle through three modules is found, a tree is not."""
    assert ["a", "b", "c", "a"] == find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_sees_imports_in_functions() -> None:
    """Imports inside functions count; those under ``if TYPE_CHECKING:`` do not."""
    graph = import_graph()
    assert "thorn.tasks" in graph["thorn.dispatch.celery"]
    assert "thorn.app" not in graph["thorn.dispatch.base"]  # typing only


def test_thorn_has_no_import_cycle() -> None:
    """No module of thorn imports itself back, directly or through others."""
    assert find_cycle(import_graph()) is None
