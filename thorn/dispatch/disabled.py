"""The disabled dispatcher: events are not delivered at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thorn.dispatch.base import Dispatcher as BaseDispatcher

__all__ = ["Dispatcher"]


class Dispatcher(BaseDispatcher):
    """Send nothing: no subscriber lookup, no request, no buffering.

    Model events do not even run their filters or build their messages.
    """

    sends = False

    def send(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Do nothing and return ``None``."""
        return None
