"""Import objects named by a dotted path (``module:attr`` or ``module.attr``)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from thorn.exceptions import ImproperlyConfigured

__all__ = ["callable_path", "import_string", "qualified_name"]


def import_string(path: str, setting: str | None = None) -> Any:
    """Import the object named by ``path``.

    Both ``"package.module:attr"`` and ``"package.module.attr"`` are
    accepted (Thorn 1.5 used the colon form in its settings).

    Arguments:
        path: Dotted path of the object.
        setting: Name of the setting (or argument) the path came from,
            used in the error message.

    Raises:
        ImproperlyConfigured: if the object cannot be imported; the message
            names ``setting`` and ``path``.
    """
    where = f"{setting}={path!r}" if setting else repr(path)
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImproperlyConfigured(
            f"{where} is not a dotted path to an object (expected 'package.module:name')"
        )
    try:
        obj: Any = import_module(module_name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{where}: cannot import module {module_name!r}: {exc}") from exc
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ImproperlyConfigured(
            f"{where}: module {module_name!r} has no attribute {attr!r}"
        ) from exc
    return obj


def qualified_name(obj: Any) -> str:
    """Return the ``module:qualname`` path that :func:`import_string` reverses."""
    return f"{obj.__module__}:{obj.__qualname__}"


def callable_path(fun: Any, what: str = "callable") -> str:
    """Return the ``module:qualname`` path of ``fun``, checking that it imports back.

    Used to send callables (callbacks, subscriber functions) in JSON
    messages, e.g. to Celery workers.  A string is returned as it is.

    Raises:
        TypeError: if ``fun`` cannot be imported by its path (a lambda, a
            nested function, a bound method of an instance...).
    """
    if isinstance(fun, str):
        return fun
    path = qualified_name(fun) if hasattr(fun, "__qualname__") else repr(fun)
    try:
        found = import_string(path)
    except ImproperlyConfigured:
        found = None
    if found is not fun:
        raise TypeError(
            f"the {what} {fun!r} cannot be sent to a worker: give a module-level "
            "function, or its path as a 'module:name' string"
        )
    return path
