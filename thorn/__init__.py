"""Python webhook and event framework for Django."""

from __future__ import annotations

from thorn.app import Thorn
from thorn.buffer import buffer_events
from thorn.decorators import webhook_model
from thorn.events import Event, ModelEvent
from thorn.reverse import model_reverser
from thorn.utils.functional import Q

__version__ = "2.0.0.dev0"

__all__ = [
    "Event",
    "ModelEvent",
    "Q",
    "Thorn",
    "buffer_events",
    "model_reverser",
    "webhook_model",
]
