"""The current and the default Thorn application.

This module imports nothing from thorn: :mod:`thorn.app` registers how the
default app is made (:func:`set_default_factory`) when it is imported, which
``import thorn`` always does first.  So every layer may ask for the current
app without importing :mod:`thorn.app`, and no import cycle runs through
here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = [
    "app_or_default",
    "current_app",
    "set_current_app",
    "set_default_app",
    "set_default_factory",
]

_current_app: ContextVar[Thorn | None] = ContextVar("thorn_current_app", default=None)
_default_app: Thorn | None = None
_default_factory: Callable[[], Thorn] | None = None
_default_lock = threading.Lock()


def set_default_factory(factory: Callable[[], Thorn]) -> None:
    """Register how the default app is created on first use."""
    global _default_factory
    _default_factory = factory


def set_current_app(app: Thorn | None) -> None:
    """Make ``app`` the current app of this thread/context (``None``: the default app)."""
    _current_app.set(app)


def set_default_app(app: Thorn) -> None:
    """Make ``app`` the process-wide default app."""
    global _default_app
    _default_app = app


def current_app() -> Thorn:
    """Return the current app, creating the default app on first use."""
    app = _current_app.get()
    if app is not None:
        return app
    global _default_app
    if _default_app is None:
        with _default_lock:
            if _default_app is None:
                if _default_factory is None:  # pragma: no cover -- import thorn registers it
                    raise RuntimeError("thorn.app was not imported: import thorn first")
                _default_app = _default_factory()
    return _default_app


def app_or_default(app: Thorn | None = None) -> Thorn:
    """Return ``app`` if given, else the current app."""
    return app if app is not None else current_app()
