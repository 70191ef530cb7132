"""The leases of live streams: at most ``THORN_MAX_STREAMS_PER_USER`` per user, everywhere.

A stream takes a lease (a :class:`~thorn.django.models.StreamLease` row)
before it starts, renews it with each heartbeat and gives it back when its
client goes away.  A lease lasts three heartbeats
(``THORN_STREAM_HEARTBEAT``): the lease of a process that died expires that
long after its last heartbeat, and no longer counts.  Taking a lease locks
the user's row, so that two requests at once cannot both take the last one
(on databases with row locks: not SQLite).

The leases also tell when a stream-only subscription was last read
(``stream_seen_at``): one that nobody read for
``THORN_STREAM_SUBSCRIPTION_TTL`` is forgotten, and
:func:`prune_stream_subscriptions` deletes it.

.. versionadded:: 2.0
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import models, router
from django.db.models.functions import Coalesce
from django.utils import timezone

from thorn.django.index import subscriptions_changed
from thorn.django.models import StreamLease
from thorn.django.models.subscriber import STREAM
from thorn.django.transactions import write_transaction

if TYPE_CHECKING:
    from thorn.conf import Settings

__all__ = [
    "HEARTBEATS_PER_LEASE",
    "acquire",
    "lease_period",
    "prune_stream_subscriptions",
    "release",
    "renew",
]

#: A lease lasts this many heartbeats.
HEARTBEATS_PER_LEASE = 3


def lease_period(settings: Settings) -> timedelta:
    """How long a lease lasts without a heartbeat."""
    return timedelta(seconds=HEARTBEATS_PER_LEASE * float(settings.THORN_STREAM_HEARTBEAT))


def _has_streams(subscriber_model: type[models.Model]) -> bool:
    """Whether the model has stream-only subscriptions (a ``THORN_SUBSCRIBER_MODEL`` may not)."""
    names = {field.name for field in subscriber_model._meta.get_fields()}
    return {"delivery_mode", "stream_seen_at"} <= names


def _seen(subscriber_model: type[models.Model], subscription: Any, now: datetime) -> None:
    if _has_streams(subscriber_model):
        subscriber_model._default_manager.filter(uuid=subscription).update(stream_seen_at=now)


def acquire(user: Any, subscriber: models.Model, settings: Settings) -> StreamLease | None:
    """Take a lease for a stream of ``subscriber`` by ``user``; ``None`` if they hold the maximum.

    The user's expired leases are deleted first.  The count and the new
    lease are one :func:`~thorn.django.transactions.write_transaction`,
    under the lock of the user's row: two streams opened at once cannot
    both take the last place.
    """
    limit = int(settings.THORN_MAX_STREAMS_PER_USER)
    now = timezone.now()
    with write_transaction(StreamLease) as using:
        users = user.__class__._default_manager.db_manager(using).select_for_update()
        list(users.filter(pk=user.pk).values_list("pk", flat=True))
        leases = StreamLease.objects.using(using).filter(user=user.pk)
        leases.filter(expires_at__lte=now).delete()
        if leases.count() >= limit:
            return None
        lease: StreamLease = StreamLease.objects.using(using).create(
            user_id=user.pk,
            subscription=subscriber.uuid,  # type: ignore[attr-defined]
            started_at=now,
            expires_at=now + lease_period(settings),
        )
    _seen(type(subscriber), lease.subscription, now)
    return lease


def renew(lease: StreamLease, subscriber_model: type[models.Model], settings: Settings) -> bool:
    """Hold ``lease`` another lease period (a heartbeat); false if it is gone.

    A lease is gone when it expired and another stream took its place, or
    its subscription or user was deleted: its stream must end.
    """
    now = timezone.now()
    leases = StreamLease.objects.filter(pk=lease.pk)
    if not leases.update(expires_at=now + lease_period(settings)):
        return False
    _seen(subscriber_model, lease.subscription, now)
    return True


def release(lease: StreamLease, subscriber_model: type[models.Model]) -> None:
    """Give ``lease`` back: its client went away."""
    StreamLease.objects.filter(pk=lease.pk).delete()
    _seen(subscriber_model, lease.subscription, timezone.now())


def prune_stream_subscriptions(subscriber_model: type[models.Model], ttl: timedelta) -> int:
    """Delete the stream-only subscriptions nobody read for ``ttl``; return how many.

    A subscription is forgotten when no lease of it holds and its stream was
    last read (or, never read, it was made) more than ``ttl`` ago.  A
    subscriber model without stream-only subscriptions has none to delete.
    """
    if not _has_streams(subscriber_model):
        return 0
    now = timezone.now()
    using = router.db_for_write(subscriber_model)
    live = StreamLease.objects.using(using).filter(expires_at__gt=now).values("subscription")
    forgotten = (
        subscriber_model._default_manager.using(using)
        .filter(delivery_mode=STREAM)
        .annotate(_last_read=Coalesce("stream_seen_at", "created_at"))
        .filter(_last_read__lt=now - ttl)
        .exclude(uuid__in=live)
    )
    count = 0
    for subscriber in forgotten:
        subscriber.delete()
        count += 1
    if count:
        subscriptions_changed(subscriber_model, using)
    return count
