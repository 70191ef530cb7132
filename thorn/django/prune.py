"""Everything ``thorn prune`` deletes, in one place.

:func:`prune` deletes the delivery records older than
:setting:`THORN_DELIVERY_RETENTION`, the subscriptions expired for longer
than :setting:`THORN_EXPIRED_SUBSCRIPTION_GRACE` (see
:mod:`thorn.django.leases`) and the stream-only subscriptions nobody read
for :setting:`THORN_STREAM_SUBSCRIPTION_TTL`.  ``manage.py thorn prune``
and Celery beat's ``thorn.tasks.prune`` both call it, so both delete the
same things.

.. versionadded:: 2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from thorn.django.leases import expired_grace, prune_expired
from thorn.django.stream.leases import prune_stream_subscriptions
from thorn.relay import delivery_retention, prune_records

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = ["Pruned", "prune"]


@dataclass(frozen=True)
class Pruned:
    """What one :func:`prune` deleted, and how long it kept each kind."""

    #: Delivery records (messages, deliveries, attempts) deleted.
    records: int
    #: How old a record had to be.
    retention: timedelta
    #: Subscriptions whose lease ended before ``grace`` ago.
    expired_subscriptions: int
    grace: timedelta
    #: Stream-only subscriptions nobody read for ``stream_ttl``.
    stream_subscriptions: int
    stream_ttl: timedelta


def prune(app: Thorn, retention: timedelta | None = None) -> Pruned:
    """Delete old records, and expired and forgotten subscriptions.

    Arguments:
        app: The Thorn app, whose settings give the periods.
        retention: Keep the records this long instead of
            :setting:`THORN_DELIVERY_RETENTION`.
    """
    retention = retention or delivery_retention(app)
    records = prune_records(app, retention)
    grace = expired_grace(app)
    expired = prune_expired(app, grace=grace)
    stream_ttl = timedelta(seconds=float(app.settings.THORN_STREAM_SUBSCRIPTION_TTL))
    forgotten = prune_stream_subscriptions(app.env.Subscriber, stream_ttl)  # type: ignore[attr-defined]
    return Pruned(records, retention, expired, grace, forgotten, stream_ttl)
