"""Python webhook and event framework for Django."""

from __future__ import annotations

from thorn._version import __version__ as __version__
from thorn.app import Thorn
from thorn.buffer import buffer_events
from thorn.decorators import webhook_model
from thorn.events import Event, ModelEvent
from thorn.reverse import model_reverser
from thorn.utils.functional import Q

__all__ = [
    "Event",
    "ModelEvent",
    "Q",
    "Thorn",
    "buffer_events",
    "model_reverser",
    "webhook_model",
]
