"""Python webhook and event framework for Django."""

from __future__ import annotations

from thorn.app import Thorn
from thorn.buffer import buffer_events
from thorn.events import Event
from thorn.reverse import model_reverser
from thorn.utils.functional import Q

__version__ = "2.0.0.dev0"

__all__ = ["Event", "Q", "Thorn", "buffer_events", "model_reverser"]
