"""Event buffering: hold events back and send them together."""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default

if TYPE_CHECKING:
    from types import TracebackType

    from thorn.app import Thorn
    from thorn.dispatch.base import Dispatcher

__all__ = ["EventBuffer", "PendingEvent", "buffer_events"]


@dataclass
class PendingEvent:
    """An event sent while buffering, waiting for the buffer to be flushed."""

    dispatcher: Dispatcher
    event: str
    payload: Any
    sender: Any
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventBuffer:
    """The events held back in one context, and the context that owns them."""

    owner: object | None = None
    pending: list[PendingEvent] = field(default_factory=list)


class buffer_events:
    """Context that buffers the events sent inside it.

    The buffer is flushed when the outermost context exits, or explicitly:

    .. code-block:: python

        with buffer_events() as buffer:
            Article.objects.create(...)
            buffer.flush()  # <-- sent here
            Article.objects.create(...)
        # <-- and the rest here

    Nested contexts do nothing on exit: the outermost one flushes.
    :meth:`flush` sends everything buffered in this thread or task.

    Arguments:
        flush_freq: :meth:`maybe_flush` flushes every ``flush_freq`` calls.
        flush_timeout: :meth:`maybe_flush` flushes when this many seconds
            passed since the last flush.
        app: The Thorn app (the current one by default).

    .. versionchanged:: 2.0
        The buffer belongs to the current thread (or asyncio task), not to
        the process; it works with every dispatcher; and when a flush fails,
        buffering is still turned off and every event that could not be
        sent is logged.
    """

    def __init__(
        self,
        flush_freq: int | None = None,
        flush_timeout: float | None = None,
        app: Thorn | None = None,
    ) -> None:
        self.app = app_or_default(app)
        self.flush_freq = flush_freq
        self.flush_timeout = flush_timeout
        self.calls = 0
        self.last_flush = monotonic()

    def __enter__(self) -> buffer_events:
        self.app.enable_buffer(owner=self)
        self.last_flush = monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.app.flush_buffer(owner=self)
        finally:
            self.app.disable_buffer(owner=self)

    def flush(self) -> None:
        """Send every buffered event now."""
        self.last_flush = monotonic()
        self.app.flush_buffer()

    def should_flush(self) -> bool:
        """Return true if :meth:`maybe_flush` should flush now."""
        if self.flush_freq and self.calls % self.flush_freq == 0:
            return True
        return bool(self.flush_timeout) and monotonic() - self.last_flush >= self.flush_timeout  # type: ignore[operator]

    def maybe_flush(self) -> None:
        """Count a call, and flush if ``flush_freq``/``flush_timeout`` say so."""
        self.calls += 1
        if self.should_flush():
            self.flush()
