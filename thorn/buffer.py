"""Event buffering: hold messages back and send them together.

Everything about buffering is here: the buffer of each thread (or asyncio
task), turning it on and off, holding messages, and flushing them with one
error path (:func:`send_each`).  Dispatchers only say how held messages are
grouped into batches and how a batch is sent (``batches``/``send_batch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from time import monotonic
from typing import TYPE_CHECKING

from thorn._state import app_or_default
from thorn.exceptions import BufferNotEmpty
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from types import TracebackType

    from thorn.app import Thorn
    from thorn.dispatch.base import Dispatcher
    from thorn.messages import Message

__all__ = ["Buffers", "EventBuffer", "buffer_events", "send_each"]

logger = get_logger(__name__)


def send_each(batches: Iterable[tuple[Callable[[], object], Sequence[str]]]) -> None:
    """Call ``send()`` for every ``(send, event_names)`` batch, even after one failed.

    Each failure is logged once, naming the batch's events; the first error
    is raised when every batch was attempted.
    """
    first_error: Exception | None = None
    for send, names in batches:
        try:
            send()
        except Exception as exc:
            logger.exception("Sending buffered events failed: %s", ", ".join(names))
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


@dataclass
class EventBuffer:
    """The messages held back in one context, and the context that owns them."""

    owner: object | None = None
    pending: list[tuple[Dispatcher, Message]] = field(default_factory=list)


class Buffers:
    """The event buffer of each thread (or asyncio task), for one app."""

    def __init__(self, name: str) -> None:
        self._buffer: ContextVar[EventBuffer | None] = ContextVar(name, default=None)

    @property
    def active(self) -> EventBuffer | None:
        """The buffer of this context, when buffering is on."""
        return self._buffer.get()

    def hold(self, dispatcher: Dispatcher, message: Message) -> bool:
        """Keep ``message`` for the next flush if buffering is on; return whether it did."""
        buffer = self._buffer.get()
        if buffer is None:
            return False
        buffer.pending.append((dispatcher, message))
        return True

    def enable(self, owner: object | None = None) -> None:
        """Turn buffering on (nothing happens if it is on: the first owner stays)."""
        if self._buffer.get() is None:
            self._buffer.set(EventBuffer(owner))

    def _owned(self, owner: object | None) -> EventBuffer | None:
        buffer = self._buffer.get()
        if buffer is None or (owner is not None and buffer.owner not in (None, owner)):
            return None
        return buffer

    def disable(self, owner: object | None = None) -> None:
        """Turn buffering off (only the owner, or anyone when ``owner`` is None).

        Raises:
            BufferNotEmpty: if messages are still held.
        """
        buffer = self._owned(owner)
        if buffer is None:
            return
        if buffer.pending:
            raise BufferNotEmpty("please flush_buffer() before disabling it")
        self._buffer.set(None)

    def flush(self, owner: object | None = None) -> None:
        """Send the held messages (only the owner, or anyone when ``owner`` is None).

        Each dispatcher groups its messages into batches (one message, or
        ``THORN_CHUNKSIZE`` messages per broker message); every batch is
        sent even when another failed (see :func:`send_each`).  Events sent
        while flushing (by a callback) are not buffered.
        """
        buffer = self._owned(owner)
        if buffer is None:
            return
        pending, buffer.pending = buffer.pending, []
        token = self._buffer.set(None)
        try:
            send_each(
                (partial(dispatcher.send_batch, batch), [message.event for message in batch])
                for dispatcher, group in groupby(pending, key=lambda item: item[0])
                for batch in dispatcher.batches([message for _, message in group])
            )
        finally:
            self._buffer.reset(token)


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
