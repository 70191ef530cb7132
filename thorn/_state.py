"""The current and the default Thorn application."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = ["app_or_default", "current_app", "set_current_app", "set_default_app"]

_current_app: ContextVar[Thorn | None] = ContextVar("thorn_current_app", default=None)
_default_app: Thorn | None = None
_default_lock = threading.Lock()


def set_current_app(app: Thorn) -> None:
    """Make ``app`` the current app of this thread/context."""
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
                from thorn.app import Thorn

                _default_app = Thorn(set_as_current=False)
    return _default_app


def app_or_default(app: Thorn | None = None) -> Thorn:
    """Return ``app`` if given, else the current app."""
    return app if app is not None else current_app()
