"""The public API of ``thorn``, and the framework-free core's imports."""

from __future__ import annotations

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

#: Modules allowed to import Django or Celery (with their submodules).
FRAMEWORK_MODULES = ("thorn.django", "thorn.tasks", "thorn.dispatch.celery")


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
