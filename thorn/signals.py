"""thorn's Django signals, by their short path: ``from thorn.signals import delivery_failed``.

The signals are defined in :mod:`thorn.django.delivery_signals`, where
their arguments and where each is sent are documented.  This module
imports nothing itself, so that ``import thorn`` never imports Django: each
name imports :mod:`thorn.django.delivery_signals` (and Django) the first
time it is read.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thorn.django.delivery_signals import (
        delivery_failed,
        delivery_retry_scheduled,
        delivery_succeeded,
        subscription_disabled,
        subscription_enabled,
    )

__all__ = [
    "delivery_failed",
    "delivery_retry_scheduled",
    "delivery_succeeded",
    "subscription_disabled",
    "subscription_enabled",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from thorn.django import delivery_signals

        return getattr(delivery_signals, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
