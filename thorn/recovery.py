"""Redelivery and recovery: attempt recorded deliveries again, with the same ids.

Both go through the delivery engine, not around it: a delivery is made due
again in the store (its state ``retrying``, or ``pending`` if it was never
attempted, its next attempt now), then handed over to the app's dispatcher
as the relay hands over a retry (:func:`thorn.relay.relay_due`).  It keeps
its id, so the receiver gets the same ``Hook-Delivery`` and ``webhook-id``
again, and its attempts go on being numbered and recorded after the ones
before.

* :func:`redeliver` takes deliveries under a lease and returns a
  :class:`Redelivery`, whose :meth:`~Redelivery.hand_over` attempts them
  (default dispatcher) or publishes them (celery dispatcher).  The REST API
  hands over once its ``202`` response is sent; if that never happens (the
  process dies), the relay takes them when the lease runs out.
* :func:`recover` makes every failed and cancelled delivery of a
  subscription since a time due now, at most :data:`RECOVER_LIMIT` per
  call (as Svix), and leaves them to the relay, which hands them over in
  batches.

Only recorded deliveries can be redelivered: with ``THORN_DELIVERY_RECORDS
= "failed"``, a delivery that succeeded at its first attempt has no record.

.. versionadded:: 2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thorn.relay import relay_due

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from thorn.app import Thorn
    from thorn.store import DueDelivery, Recovered

__all__ = ["RECOVER_LIMIT", "Redelivery", "recover", "redeliver"]

#: Deliveries one recovery makes due at most (Svix's ``RECOVER_LIMIT``).
RECOVER_LIMIT = 10_000


@dataclass(frozen=True)
class Redelivery:
    """Deliveries made due again and held for the caller, until :meth:`hand_over`."""

    #: The app whose dispatcher hands them over.
    app: Thorn
    #: The deliveries taken (those being attempted right now are not).
    due: tuple[DueDelivery, ...]

    @property
    def ids(self) -> list[str]:
        """The ids of the deliveries taken."""
        return [item.id for item in self.due]

    def hand_over(self) -> tuple[int, int]:
        """Attempt them, or publish them to the workers; return (handed over, cancelled).

        A delivery whose subscription was removed or disabled meanwhile is
        cancelled instead.
        """
        if not self.due:
            return 0, 0
        return relay_due(self.app, list(self.due))


def redeliver(app: Thorn, ids: Sequence[str]) -> Redelivery:
    """Make the recorded deliveries ``ids`` due now, and hold them for a hand-over.

    Any delivery may be redelivered (succeeded, failed, cancelled, or
    waiting for its retry), except one being attempted right now.  Nothing
    is sent until :meth:`Redelivery.hand_over` is called.

    Arguments:
        app: The Thorn app (its store and dispatcher).
        ids: Delivery ids (``Hook-Delivery``).
    """
    return Redelivery(app, tuple(app.store.redeliver(ids)))


def recover(
    app: Thorn, subscription: Any, since: datetime, limit: int = RECOVER_LIMIT
) -> Recovered:
    """Make the failed and cancelled deliveries of ``subscription`` made since ``since`` due now.

    The oldest ``limit`` of them; :attr:`~thorn.store.Recovered.more` tells
    that there are more (call again: those made due are not failed any
    more).  The relay hands them over on its next passes.

    Arguments:
        app: The Thorn app.
        subscription: The subscription's uuid.
        since: An aware datetime: deliveries made at or after it.
        limit: Deliveries made due at most.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return app.store.recover(subscription, since, limit)
