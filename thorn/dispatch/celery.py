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

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any, TypeVar

from celery import current_app as current_celery_app

from thorn import tasks
from thorn.dispatch.queued import QueuedDispatcher
from thorn.messages import Message, encode_message
from thorn.tasks import WorkerDispatcher
from thorn.utils.log import get_logger

__all__ = ["PUBLISHERS", "Dispatcher", "WorkerDispatcher", "publish"]

logger = get_logger(__name__)

_T = TypeVar("_T")

#: Threads that publish at once, per process (those stalled by a broker included).
PUBLISHERS = 4

_publishers_lock = threading.Lock()
_publishers: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _publishers
    with _publishers_lock:
        if _publishers is None:
            _publishers = ThreadPoolExecutor(PUBLISHERS, thread_name_prefix="thorn-publish")
        return _publishers


def _report_late(what: str, future: Future[Any]) -> None:
    error = future.exception()
    if error is None:
        logger.info("%s was published after all, later than THORN_PUBLISH_TIMEOUT", what)
    else:
        logger.error("%s was not published: %s", what, error)


def publish(send: Callable[[], _T], what: str, timeout: float) -> _T | None:
    """Call ``send()`` (a publish to the broker), waiting ``timeout`` seconds at most.

    A broker that accepts connections but does not answer would otherwise
    hold the caller (a ``save()``'s commit) for as long as the connection
    lasts.  Past ``timeout`` a warning says ``what`` was not published, and
    ``None`` is returned; the publish goes on in the background, and its end
    is logged: at ``INFO`` when it went out after all, at ``ERROR`` when it
    failed.  An error raised within ``timeout`` is raised here.
    """
    future = _executor().submit(contextvars.copy_context().run, send)
    try:
        return future.result(timeout)
    except FutureTimeout:
        logger.warning(
            "%s was not published within %ss (THORN_PUBLISH_TIMEOUT): "
            "the broker does not answer; still trying in the background",
            what,
            timeout,
        )
        future.add_done_callback(partial(_report_late, what))
        return None


class Dispatcher(QueuedDispatcher):
    """Publish each event to Celery workers (``THORN_DISPATCHER = "celery"``).

    :meth:`~thorn.dispatch.base.Dispatcher.send` returns the
    :class:`~celery.result.AsyncResult` of the ``send_event`` task (``[]``
    inside a transaction or while buffering, ``None`` when publishing took
    longer than ``THORN_PUBLISH_TIMEOUT``).  When the broker cannot take a
    message that is in the outbox, the relay publishes it later; without an
    outbox (no delivery records, or ``signal_honors_transaction=False``)
    the error is raised: a model event logs it (or raises it with
    ``propagate_errors``).  What it shares with the tasks dispatcher is in
    :class:`~thorn.dispatch.queued.QueuedDispatcher`.

    Raises:
        TypeError: from :meth:`~thorn.dispatch.base.Dispatcher.send`, for a
            payload, callback, validator or subscriber that cannot be sent as
            JSON (nothing is published).
    """

    logger = logger

    def publish_event(self, message: Message) -> Any:
        """Publish ``message`` as one ``send_event`` task (see :meth:`publish`)."""
        kwargs = encode_message(message)
        return self.publish(
            partial(tasks.send_event.apply_async, kwargs=kwargs), f"Event {message.event}"
        )

    def publish_deliveries(self, encoded: list[dict[str, Any]]) -> None:
        """Publish a chunk of deliveries as one ``dispatch_requests`` task (see :meth:`publish`)."""
        self.publish(
            partial(tasks.dispatch_requests.apply_async, args=(encoded,)),
            f"{len(encoded)} deliveries",
        )

    def publish_events(self, messages: Sequence[Message]) -> None:
        """Publish a batch as one ``send_events`` task (see :meth:`publish`)."""
        encoded = [encode_message(message) for message in messages]
        names = ", ".join(message.event for message in messages)
        self.publish(partial(tasks.send_events.apply_async, args=(encoded,)), f"Events {names}")

    def publish(self, send: Callable[[], _T], what: str) -> _T | None:
        """Publish with :func:`publish`, bounded by ``THORN_PUBLISH_TIMEOUT``.

        With Celery's ``task_always_eager`` the task runs here and now,
        without a bound.
        """
        if current_celery_app.conf.task_always_eager:
            return send()
        return publish(send, what, float(self.app.settings.THORN_PUBLISH_TIMEOUT))
