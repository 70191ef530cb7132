"""Queued executors: what the celery and tasks dispatchers share, framework-free.

Both hand deliveries to workers through a queue: Celery's broker, or a
backend of Django's task framework.  The web side
(:class:`QueuedDispatcher`) publishes each event as one message, and when
the queue cannot take it, leaves it in the outbox for the relay.  The worker
side (:class:`WorkerDispatcher`) finds the subscribers, records the
deliveries, publishes them in chunks of ``THORN_CHUNKSIZE``, then reloads
each chunk's subscribers and attempts it.  Each executor's module
(:mod:`thorn.dispatch.celery` with :mod:`thorn.tasks`, and
:mod:`thorn.dispatch.tasks`) only publishes, with its framework.

.. versionadded:: 2.0
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from thorn.dispatch.base import Dispatcher as BaseDispatcher
from thorn.generic.subscriber import subscribers_for_event
from thorn.messages import Message, decode_delivery, decode_message, encode_delivery, encode_options
from thorn.store import Result
from thorn.utils.functional import chunks
from thorn.utils.log import get_logger
from thorn.utils.redact import redact_url

if TYPE_CHECKING:
    from logging import Logger

    from thorn.delivery.policy import Verdict
    from thorn.generic.models import AbstractSubscriber
    from thorn.request import Request

__all__ = ["QueuedDispatcher", "WorkerDispatcher", "encode_chunks"]

logger = get_logger(__name__)


def encode_chunks(requests: Iterable[Request], size: int) -> list[list[dict[str, Any]]]:
    """The deliveries of ``requests``, encoded, in chunks of ``size`` (one task each)."""
    return [
        [encode_delivery(request.delivery) for request in chunk]
        for chunk in chunks(iter(requests), size)
    ]


class QueuedDispatcher(BaseDispatcher):
    """The web side of a queued executor: one message per event, workers do the HTTP.

    Subclasses publish: :meth:`publish_event`, :meth:`publish_events` and
    :meth:`publish_deliveries`, whose errors are handled here.
    """

    #: Where "not published" warnings go (the executor's module logger).
    logger: Logger = logger

    def message(self, *args: Any, **kwargs: Any) -> Message:
        """The message of an event; what cannot travel to a worker raises now.

        Raises:
            TypeError: for a callback, validator or subscriber that cannot be
                sent as JSON (nothing is written nor published).
        """
        message = super().message(*args, **kwargs)
        encode_options(message.options)
        return message

    def hand_over(
        self,
        message: Message,
        subscribers: list[AbstractSubscriber] | None = None,
        *,
        stored: bool = False,
        durable: bool = False,
    ) -> Any:
        """Publish ``message`` for a worker (see :meth:`publish_event`).

        When the queue cannot take a message that is (or must be, with
        ``durable``) in the outbox, the relay publishes it later: a warning
        says so, and nothing is raised.  Otherwise the error is raised.
        """
        try:
            return self.publish_event(message)
        except Exception as exc:
            store = self.app.store
            if not (stored or (durable and store.durable)):
                raise
            if not stored:
                store.add(message)
            self.logger.warning(
                "Event %s was not published (%s): it is in the outbox, the relay will publish it",
                message.event,
                exc,
            )
            return None

    def relay(self, requests: Sequence[Request]) -> None:
        """Publish deliveries the relay took, ``THORN_CHUNKSIZE`` to a task.

        A chunk the queue does not take is published again by a later
        relay pass, once its lease has run out.
        """
        for encoded in encode_chunks(requests, self.app.settings.THORN_CHUNKSIZE):
            try:
                self.publish_deliveries(encoded)
            except Exception as exc:
                self.logger.warning("%d deliveries were not published (%s)", len(encoded), exc)

    def batches(self, messages: Sequence[Message]) -> list[list[Message]]:
        """Held messages go out ``THORN_CHUNKSIZE`` to a task."""
        return list(chunks(iter(messages), self.app.settings.THORN_CHUNKSIZE))

    def send_batch(self, batch: Sequence[Message]) -> None:
        """Publish a batch of held messages as one task (see :meth:`publish_events`)."""
        self.publish_events(batch)

    def publish_event(self, message: Message) -> Any:
        """Publish the task that hands ``message`` over in a worker; return what it returns."""
        raise NotImplementedError

    def publish_events(self, messages: Sequence[Message]) -> None:
        """Publish one task that hands over each of ``messages``."""
        raise NotImplementedError

    def publish_deliveries(self, encoded: list[dict[str, Any]]) -> None:
        """Publish one task that attempts the encoded deliveries of a chunk."""
        raise NotImplementedError


class WorkerDispatcher(BaseDispatcher):
    """The worker side of a queued executor.

    Finds the subscribers of a message, records the deliveries, and
    publishes them in chunks of ``THORN_CHUNKSIZE``
    (:meth:`publish_chunks`); a worker then reloads each chunk
    (:meth:`load_requests`), attempts it (:meth:`deliver`) and schedules
    its retries (:meth:`dispatch`, :meth:`schedule_retry`).
    """

    #: The executor makes the retries due within ``THORN_DELIVERY_LEASE``
    #: itself (a countdown, a deferred task); when false, the relay makes
    #: every retry.
    schedules_retries = True

    def hand_over(
        self,
        message: Message,
        subscribers: list[AbstractSubscriber] | None = None,
        *,
        stored: bool = False,
        durable: bool = False,
    ) -> list[Request]:
        """Record the deliveries of ``message`` and publish them (if anybody subscribed)."""
        requests = self.plan(message, subscribers)
        encoded = encode_chunks(requests, self.app.settings.THORN_CHUNKSIZE)
        if encoded:
            self.publish_chunks(encoded)
        return requests

    def publish_chunks(self, encoded: list[list[dict[str, Any]]]) -> None:
        """Publish one task per chunk of encoded deliveries."""
        raise NotImplementedError

    def load_requests(self, encoded: Iterable[Mapping[str, Any]]) -> list[Request]:
        """Rebuild requests from encoded deliveries, loading their subscribers.

        Subscribers are found again, one query per event of the chunk for
        just the chunk's subscriptions, so no secret travels; a delivery
        whose subscription was removed or disabled meanwhile is cancelled.
        """
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for item in encoded:
            key = json.dumps(
                [
                    item["event"],
                    item.get("sender"),
                    item.get("context"),
                    item.get("extra_subscribers"),
                ],
                sort_keys=True,
            )
            groups.setdefault(key, []).append(item)
        requests, gone = [], []
        for items in groups.values():
            first = decode_message({**items[0], "payload": None})
            subscribers = subscribers_for_event(
                self.app,
                first.event,
                first.sender,
                first.options.context,
                first.options.extra_subscribers,
                uuids={item["subscriber"]["uuid"] for item in items},
            )
            found = {str(subscriber.uuid): subscriber for subscriber in subscribers}
            for item in items:
                subscriber = found.get(item["subscriber"]["uuid"])
                if subscriber is None:
                    logger.info(
                        "Not delivering %s to %s: the subscription is gone",
                        item["event"],
                        redact_url(item["subscriber"]["url"]),
                    )
                    gone.append(item["id"])
                    continue
                delivery = decode_delivery(item, subscriber)
                requests.append(self.app.request_class.for_delivery(delivery, self.app))
        if gone:
            self.app.store.cancel(gone, "the subscription was removed or disabled")
        return requests

    def dispatch(self, encoded: Iterable[Mapping[str, Any]]) -> list[Result]:
        """Attempt a chunk of encoded deliveries, and schedule the retries that are this executor's.

        A retry that cannot be scheduled is logged: its lease runs out, and
        the relay makes it.
        """
        results = self.deliver(self.load_requests(encoded))
        for result in results:
            if result.scheduled and result.verdict.retry_in is not None:
                try:
                    self.schedule_retry(result, result.verdict.retry_in)
                except Exception:
                    logger.exception(
                        "Scheduling a retry of %s to %s failed",
                        result.request.event,
                        redact_url(result.request.url),
                    )
        return results

    def schedule_retry(self, result: Result, countdown: float) -> None:
        """Publish the next attempt of ``result``'s delivery, due in ``countdown`` seconds."""
        raise NotImplementedError

    def deliver(self, requests: Sequence[Request]) -> list[Result]:
        """Attempt the requests whose lease still holds (see the base class); record them."""
        kept = {d.id for d in self.app.store.take([request.delivery for request in requests])}
        return super().deliver([request for request in requests if request.delivery.id in kept])

    @property
    def makes_retries(self) -> bool:
        """When the executor schedules retries, or the relay makes them from the records."""
        return self.schedules_retries or self.app.store.durable

    def schedules(self, verdict: Verdict) -> bool:
        """A retry due within ``THORN_DELIVERY_LEASE`` is this executor's (see :meth:`dispatch`).

        When it :attr:`schedules_retries`; a later one is the relay's,
        unless there are no records to relay from.
        """
        if verdict.retry_in is None or not self.schedules_retries:
            return False
        lease = float(self.app.settings.THORN_DELIVERY_LEASE)
        return not self.app.store.durable or verdict.retry_in <= lease
