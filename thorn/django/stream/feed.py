"""What a live stream sends: its subscription's deliveries, read from the records as they come.

A :class:`Cursor` knows where a stream is in the records: it sends each
delivery once, oldest first, and resumes after the delivery of a
``Last-Event-ID``.  A :class:`Feed` turns what the cursor finds into
Server-Sent Events (:mod:`.frames`), with a heartbeat comment every
``THORN_STREAM_HEARTBEAT`` seconds that also renews the stream's lease
(:mod:`thorn.django.stream.leases`), and gives the lease back when its client goes away.

Records are written by whichever process planned the message, so a feed
reads them again every ``THORN_STREAM_POLL_INTERVAL`` seconds; with
``THORN_STREAM_REDIS_URL`` it reads them when Redis wakes it up
(:mod:`.notify`), and at each heartbeat in case a wake-up was lost.

.. versionadded:: 2.0
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from thorn.django.models import DeliveryRecord
from thorn.django.stream import leases
from thorn.django.stream.frames import frame
from thorn.django.stream.notify import channel
from thorn.utils.log import get_logger
from thorn.utils.sse import encode_comment, encode_retry

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.django.models import StreamLease

__all__ = ["BATCH", "LAG", "MAX_AGE", "RETRY", "Cursor", "Feed"]

logger = get_logger(__name__)

#: A delivery recorded this long before another may still commit after it
#: (transactions of several processes): the cursor looks back that far.
LAG = timedelta(seconds=5)
#: Deliveries read by one query, at most.
BATCH = 100
#: Milliseconds a client waits before it reconnects (the ``retry:`` field).
RETRY = 1000
#: Seconds after which a stream ends, and its client reconnects with
#: ``Last-Event-ID``.  It bounds what a stream whose client left costs where
#: nobody tells it so (Django 4.2 under ASGI only notices when it writes, and
#: uvicorn drops what is written to a closed connection without an error).
MAX_AGE = 30 * 60.0


class Cursor:
    """Where a stream is in its subscription's deliveries, ordered by (``created_at``, id).

    Arguments:
        subscription: The subscription's uuid.
        floor: The newest ``created_at`` sent (or the start of the stream).
        seen: The ids sent that were recorded within :data:`LAG` of ``floor``.
    """

    def __init__(self, subscription: Any, floor: datetime, seen: dict[str, datetime]) -> None:
        self.subscription = subscription
        self.floor = floor
        self.seen = seen

    @classmethod
    def start(cls, subscription: Any, last_event_id: uuid.UUID | None = None) -> Cursor:
        """A cursor at now, or just after delivery ``last_event_id`` of the subscription.

        An id that is not one of the subscription's recorded deliveries (it
        was pruned, or never was) starts at now.
        """
        records = DeliveryRecord.objects.filter(subscription=subscription)
        if last_event_id is not None:
            last = records.filter(id=last_event_id).values_list("created_at", flat=True).first()
            if last is not None:
                # Everything up to the last one, in the stream's order, was sent.
                nearby = records.filter(created_at__gte=last - LAG, created_at__lte=last)
                seen = {
                    str(id): at
                    for id, at in nearby.values_list("id", "created_at")
                    if at < last or str(id) <= str(last_event_id)
                }
                return cls(subscription, last, seen)
        return cls(subscription, timezone.now(), {})

    def fetch(self, limit: int = BATCH) -> list[DeliveryRecord]:
        """The next deliveries to send (at most ``limit``), with their messages; marked sent."""
        records = (
            DeliveryRecord.objects.filter(
                subscription=self.subscription, created_at__gte=self.floor - LAG
            )
            .exclude(id__in=list(self.seen))
            .select_related("message")
            .order_by("created_at", "id")
        )
        found = list(records[:limit])
        for record in found:
            self.seen[str(record.id)] = record.created_at
            self.floor = max(self.floor, record.created_at)
        horizon = self.floor - LAG
        self.seen = {id: at for id, at in self.seen.items() if at >= horizon}
        return found


class Feed:
    """The Server-Sent Events of one stream of ``subscriber``, under ``lease``.

    :meth:`events` serves WSGI (it sleeps between polls), :meth:`aevents`
    ASGI.  Both give the lease back when the client goes away, and end
    when their lease is gone or after :data:`MAX_AGE`.
    """

    def __init__(self, subscriber: Any, cursor: Cursor, lease: StreamLease, app: Thorn) -> None:
        self.subscriber = subscriber
        self.cursor = cursor
        self.lease = lease
        self.app = app
        self.heartbeat = float(app.settings.THORN_STREAM_HEARTBEAT)
        self.poll_interval = float(app.settings.THORN_STREAM_POLL_INTERVAL)
        self.redis_url: str | None = app.settings.THORN_STREAM_REDIS_URL

    def opening(self) -> bytes:
        """The first bytes: how long to wait before reconnecting, and a comment."""
        return encode_retry(RETRY) + encode_comment("connected")

    def batch(self) -> list[bytes]:
        """The events of every delivery recorded since the last batch.

        A delivery whose body cannot be made again (its content type lost
        its codec) is logged and left out: it would end every stream at the
        same place.
        """
        events: list[bytes] = []
        while True:
            records = self.cursor.fetch()
            for record in records:
                try:
                    events.append(frame(record, self.subscriber, self.app))
                except Exception:
                    logger.exception("Delivery %s cannot be sent on its stream", record.id)
            if len(records) < BATCH:
                return events

    def beat(self) -> bytes | None:
        """Renew the lease; return the heartbeat comment, or ``None`` if the lease is gone.

        A stream whose lease is gone ends: its client may reconnect, with
        ``Last-Event-ID``, if it is still there.
        """
        if not leases.renew(self.lease, type(self.subscriber), self.app.settings):
            return None
        return encode_comment("heartbeat")

    def close(self) -> None:
        """Give the lease back.

        The database connection of the thread that read the records is
        Django's to close, when the response is closed (``request_finished``).
        """
        leases.release(self.lease, type(self.subscriber))

    def events(self) -> Iterator[bytes]:
        """The stream for a WSGI server: polls the records, holding its worker while open."""
        try:
            yield self.opening()
            next_beat = time.monotonic() + self.heartbeat
            end = time.monotonic() + MAX_AGE
            while time.monotonic() < end:
                yield from self.batch()
                if time.monotonic() >= next_beat:
                    beat = self.beat()
                    if beat is None:
                        return
                    yield beat
                    next_beat = time.monotonic() + self.heartbeat
                time.sleep(max(0.0, min(self.poll_interval, next_beat - time.monotonic())))
        finally:
            self.close()

    async def aevents(self) -> AsyncIterator[bytes]:
        """The stream for an ASGI server: waits without a thread between reads."""
        run = sync_to_async  # the ORM runs in the request's thread
        wakeups = None
        try:
            if self.redis_url:
                wakeups = await _Wakeups.open(self.redis_url, self.subscriber.uuid)
            yield self.opening()
            next_beat = time.monotonic() + self.heartbeat
            end = time.monotonic() + MAX_AGE
            while time.monotonic() < end:
                for event in await run(self.batch)():
                    yield event
                if time.monotonic() >= next_beat:
                    beat = await run(self.beat)()
                    if beat is None:
                        return
                    yield beat
                    next_beat = time.monotonic() + self.heartbeat
                wait = max(0.0, next_beat - time.monotonic())
                if wakeups is not None:
                    await wakeups.wait(wait)
                else:
                    await asyncio.sleep(min(self.poll_interval, wait))
        finally:
            if wakeups is not None:
                await wakeups.close()
            await run(self.close)()


class _Wakeups:
    """The Redis subscription of one stream: :meth:`wait` returns when it is woken up."""

    def __init__(self, client: Any, pubsub: Any) -> None:
        self.client = client
        self.pubsub = pubsub

    @classmethod
    async def open(cls, url: str, subscription: Any) -> _Wakeups:
        from redis import asyncio as aioredis

        client = aioredis.Redis.from_url(url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel(subscription))
        return cls(client, pubsub)

    async def wait(self, timeout: float) -> None:
        """Wait for a wake-up, ``timeout`` seconds at most; drain the others.

        Raises:
            redis.RedisError: if Redis went away (the stream ends; its client
                reconnects with ``Last-Event-ID``).
        """
        message = await self.pubsub.get_message(timeout=timeout)
        while message is not None:
            message = await self.pubsub.get_message(timeout=0)

    async def close(self) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()
