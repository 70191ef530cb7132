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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thorn.delivery.policy import Verdict
    from thorn.messages import Delivery, Message
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = ["Backlog", "DueDelivery", "Recovered", "Result", "Store"]


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


@dataclass(frozen=True)
class Recovered:
    """What :meth:`Store.recover` made due again."""

    #: Deliveries made due again.
    count: int = 0
    #: True when more deliveries matched than the limit (call again for the rest).
    more: bool = False


@dataclass(frozen=True)
class Backlog:
    """What the relay would hand over if it ran now."""

    #: Messages committed but never handed over, past ``THORN_RELAY_AFTER``.
    messages: int = 0
    #: Deliveries whose next attempt is due and that nobody holds.
    deliveries: int = 0


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

    def redeliver(self, ids: Sequence[str]) -> list[DueDelivery]:
        """Make recorded deliveries ``ids`` due now, and take them under a new lease.

        A delivery is taken whatever its state, unless an executor holds it
        (it is being attempted); it keeps its id, and its next attempt is
        numbered after its last one.  The store that keeps nothing has no
        delivery to redeliver.
        """
        return []

    def recover(self, subscription: Any, since: datetime, limit: int) -> Recovered:
        """Make the failed and cancelled deliveries of ``subscription`` since ``since`` due now.

        At most ``limit`` of them, oldest first; the relay hands them over.
        """
        return Recovered()

    def backlog(self) -> Backlog | None:
        """How much the relay would hand over now, or ``None`` when nothing is kept."""
        return None
