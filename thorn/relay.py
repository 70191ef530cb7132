"""The relay: hands over what the executors lost, and what is due again.

A pass (:func:`relay_once`) takes from the store:

* messages that were committed but never handed over (the process died
  between the commit and the hand-over, or the broker was down), once
  ``THORN_RELAY_AFTER`` has passed;
* deliveries whose retry is due;
* deliveries still held after ``THORN_DELIVERY_LEASE`` (their worker died
  in the middle of the attempt).

It hands them to the app's dispatcher: the default dispatcher attempts them
in the relay's process, the celery dispatcher publishes them to its workers.
Several relays may run at once: each takes different rows (leases), so
nothing is handed over twice.  Run it with ``manage.py thorn relay``, or
Celery beat's ``thorn.tasks.relay``.

:func:`prune_records` deletes the records older than
``THORN_DELIVERY_RETENTION``.

.. versionadded:: 2.0
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from itertools import groupby
from typing import TYPE_CHECKING

from thorn.delivery.plan import plan_deliveries
from thorn.generic.subscriber import subscribers_for_event
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.request import Request
    from thorn.store import DueDelivery

__all__ = ["Relayed", "delivery_retention", "prune_records", "relay_due", "relay_once"]

logger = get_logger(__name__)

#: Messages, and deliveries, taken at most per pass.
BATCH = 100


@dataclass(frozen=True)
class Relayed:
    """What a relay pass handed over."""

    #: Messages handed over again.
    messages: int = 0
    #: Deliveries handed over for an attempt.
    deliveries: int = 0
    #: Deliveries cancelled, because their subscription is gone or disabled.
    cancelled: int = 0

    def __bool__(self) -> bool:
        return bool(self.messages or self.deliveries or self.cancelled)


def relay_once(app: Thorn, limit: int = BATCH) -> Relayed:
    """One pass of the relay for ``app``: hand over due messages and deliveries.

    Arguments:
        app: The Thorn app (its store and dispatcher).
        limit: Messages, and deliveries, taken at most.
    """
    store, dispatcher = app.store, app.dispatcher
    messages = store.due_messages(limit)
    for message in messages:
        try:
            dispatcher.hand_over(message, stored=True)
        except Exception:  # the others are handed over all the same
            logger.exception("Relaying event %s (message %s) failed", message.event, message.id)
    handed, cancelled = relay_due(app, store.due_deliveries(limit))
    return Relayed(len(messages), handed, cancelled)


def relay_due(app: Thorn, due: list[DueDelivery]) -> tuple[int, int]:
    """Hand deliveries taken from the store over to ``app``'s dispatcher.

    The relay's, and redelivery's (:mod:`thorn.recovery`): each delivery is
    rebuilt from its message, and attempted in this process (default
    dispatcher) or published to the workers (celery dispatcher).  A
    delivery whose subscription is gone or disabled is cancelled instead.

    Returns:
        How many deliveries were handed over, and how many cancelled.
    """
    requests, gone = _rebuild(app, due)
    if gone:
        app.store.cancel(gone, "the subscription was removed or disabled")
    if requests:
        app.dispatcher.relay(requests)
    return len(requests), len(gone)


def _rebuild(app: Thorn, due: list[DueDelivery]) -> tuple[list[Request], list[str]]:
    """The requests of deliveries taken by the relay, and the ids of those whose subscriber is gone.

    The subscribers are found again (one query per message), the body
    encoded again, exactly as when the message was first planned.
    """
    requests: list[Request] = []
    gone: list[str] = []
    for _, group in groupby(
        sorted(due, key=lambda item: item.message.id), key=lambda item: item.message.id
    ):
        items = list(group)
        message = items[0].message
        subscribers = subscribers_for_event(
            app,
            message.event,
            message.sender,
            message.options.context,
            message.options.extra_subscribers,
            uuids={item.subscription for item in items},
        )
        planned = {
            str(delivery.subscriber.uuid): delivery
            for delivery in plan_deliveries(message, subscribers, app.encode)
        }
        for item in items:
            delivery = planned.get(item.subscription)
            if delivery is None:
                gone.append(item.id)
                continue
            # The record's id is the delivery's, whatever made it.
            delivery = replace(delivery, id=item.id, attempt=item.attempt, lease=item.lease)
            requests.append(app.request_class.for_delivery(delivery, app))
    return requests, gone


def delivery_retention(app: Thorn) -> timedelta:
    """``THORN_DELIVERY_RETENTION``: how long records are kept."""
    return timedelta(seconds=float(app.settings.THORN_DELIVERY_RETENTION))


def prune_records(app: Thorn, retention: timedelta | None = None) -> int:
    """Delete the records older than ``retention`` (default :func:`delivery_retention`).

    Return how many were deleted.
    """
    retention = retention or delivery_retention(app)
    deleted = app.store.prune(datetime.now(timezone.utc) - retention)
    if deleted:
        logger.info("Pruned %d delivery records older than %s", deleted, retention)
    return deleted
