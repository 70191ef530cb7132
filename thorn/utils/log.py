"""Logging helpers: every thorn logger is a child of ``thorn``."""

from __future__ import annotations

import logging

__all__ = ["get_logger"]


def get_logger(name: str) -> logging.Logger:
    """Return the logger for module ``name`` (e.g. ``thorn.request``).

    .. versionchanged:: 2.0
        Loggers are children of ``thorn`` (1.5 used the parent ``webhooks``).
    """
    return logging.getLogger(name if name.startswith("thorn") else f"thorn.{name}")
