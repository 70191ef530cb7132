"""The celery dispatcher: one broker message per event, workers do the HTTP.

The web process publishes :func:`thorn.tasks.send_event` with the encoded
:class:`~thorn.messages.Message` (or, when flushing a buffer,
:func:`thorn.tasks.send_events` with up to ``THORN_CHUNKSIZE`` messages).
The worker side (:class:`~thorn.tasks.WorkerDispatcher`) finds the
subscribers and publishes the deliveries in chunks; see :mod:`thorn.tasks`.

Messages are JSON (:mod:`thorn.messages`): payloads are encoded with thorn's
JSON encoder, senders become primary keys, callbacks import paths, and
subscribers references (their uuid): secrets stay in the database and in
the settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thorn import tasks
from thorn.dispatch.base import Dispatcher as BaseDispatcher
from thorn.messages import Message, encode_message
from thorn.tasks import WorkerDispatcher
from thorn.utils.functional import chunks

__all__ = ["Dispatcher", "WorkerDispatcher"]


class Dispatcher(BaseDispatcher):
    """Publish each event to Celery workers (``THORN_DISPATCHER = "celery"``).

    :meth:`~thorn.dispatch.base.Dispatcher.send` returns the
    :class:`~celery.result.AsyncResult` of the ``send_event`` task (``[]``
    while buffering).  When the broker cannot be
    reached, the error is raised: a model event logs it (or raises it with
    ``propagate_errors``), and that event is not delivered.

    Raises:
        TypeError: from :meth:`~thorn.dispatch.base.Dispatcher.send`, for a
            payload, callback, validator or subscriber that cannot be sent as
            JSON (nothing is published).
    """

    def dispatch_message(self, message: Message) -> Any:
        """Publish ``message`` as one ``send_event`` task."""
        return tasks.send_event.apply_async(kwargs=encode_message(message))

    def batches(self, messages: Sequence[Message]) -> list[list[Message]]:
        """Held messages go out ``THORN_CHUNKSIZE`` to a broker message."""
        return list(chunks(iter(messages), self.app.settings.THORN_CHUNKSIZE))

    def send_batch(self, batch: Sequence[Message]) -> None:
        """Publish a batch as one ``send_events`` task."""
        tasks.send_events.apply_async(args=([encode_message(message) for message in batch],))
