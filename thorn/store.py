"""Stores: where messages and deliveries are kept between attempts.

A :class:`Store` keeps the outbox (messages written in the transaction of
the change that made them), a record of every delivery and attempt, and the
leases that let several executors and relays share the work without sending
anything twice.  The environment gives each app its store:
:class:`~thorn.django.store.DjangoStore` under Django, with thorn's app
installed; this base class, which keeps nothing, otherwise.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thorn.delivery.policy import Verdict
    from thorn.messages import Delivery, Message
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = ["DueDelivery", "Result", "Store"]


@dataclass(frozen=True)
class Result:
    """What an attempt came to, for the store to record."""

    #: The delivery, as attempted.
    request: Request
    #: How the attempt ended.
    outcome: Outcome
    #: What becomes of the delivery.
    verdict: Verdict
    #: The executor makes the next attempt itself (a Celery countdown), so
    #: it keeps the lease; otherwise the relay makes it when it is due.
    scheduled: bool = False


@dataclass(frozen=True)
class DueDelivery:
    """A recorded delivery whose next attempt is due, taken by the relay under a lease."""

    #: Its message.
    message: Message
    #: The delivery id.
    id: str
    #: The uuid of its subscription.
    subscription: str
    #: The number of the attempt to make.
    attempt: int
    #: The lease it was taken under.
    lease: str


class Store:
    """A store that keeps nothing: deliveries are attempted once, in memory.

    What thorn uses without a database (``Thorn(config=...)``, or Django
    without the ``thorn.django`` app).  Subclasses keep the records.
    """

    #: True when messages and deliveries outlive the process, so that failed
    #: deliveries can be retried later (by the relay), and lost ones found.
    durable = False

    def add(self, message: Message, using: str | None = None) -> None:
        """Write ``message`` to the outbox, in the current transaction of database ``using``."""

    def plan(self, message: Message, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Record the deliveries of ``message`` and take them for attempting.

        Planning the same message twice records nothing twice.  Returns the
        deliveries to attempt now, with their lease: those already recorded
        by an earlier planning are left to whoever holds them.
        """
        return list(deliveries)

    def take(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Of ``deliveries`` handed over under a lease, return those still to attempt.

        A delivery whose lease was taken over (by the relay, after a crash),
        or that was already delivered, is left out; the others are held for
        another lease period.
        """
        return list(deliveries)

    def record(self, results: Sequence[Result]) -> None:
        """Record the attempts, the new state of each delivery, and the health of endpoints."""

    def cancel(self, ids: Sequence[str], reason: str) -> None:
        """Give up deliveries ``ids`` without attempting them (their subscription is gone)."""

    def due_messages(self, limit: int) -> list[Message]:
        """Take messages that were never planned, ``THORN_RELAY_AFTER`` after they were made."""
        return []

    def due_deliveries(self, limit: int) -> list[DueDelivery]:
        """Take deliveries whose next attempt is due and that nobody holds."""
        return []

    def prune(self, before: datetime, batch: int = 1000) -> int:
        """Delete records made before ``before`` (not active deliveries); return how many."""
        return 0
