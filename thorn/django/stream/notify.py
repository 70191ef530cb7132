"""Waking up live streams in other processes: Redis pub/sub (``THORN_STREAM_REDIS_URL``).

When deliveries are recorded, the ids of their subscriptions are published
on ``thorn:stream:<uuid>`` once the transaction commits; a stream of that
subscription, in any process, reads the records at once instead of at its
next poll.  The message only wakes streams up: the records stay the truth,
so a notification lost (Redis down, a stream reconnecting) delays an event
until the next poll, and never loses it.  Without the setting nothing is
published and streams poll the records (``THORN_STREAM_POLL_INTERVAL``).

The ``redis`` package is needed only when the setting is set.

.. versionadded:: 2.0
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction

from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.conf import Settings

__all__ = ["CHANNEL_PREFIX", "channel", "notify_after_commit", "publish"]

logger = get_logger(__name__)

#: Prefix of the channel of a subscription.
CHANNEL_PREFIX = "thorn:stream:"
#: Seconds a publish may take: a slow Redis must not hold up deliveries.
PUBLISH_TIMEOUT = 1.0

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def channel(subscription: Any) -> str:
    """The pub/sub channel of a subscription's stream."""
    return f"{CHANNEL_PREFIX}{subscription}"


def notify_after_commit(settings: Settings, subscriptions: Collection[Any], using: str) -> None:
    """Wake up the streams of ``subscriptions`` when the transaction of ``using`` commits.

    At once outside a transaction; nothing without ``THORN_STREAM_REDIS_URL``.
    """
    url = settings.THORN_STREAM_REDIS_URL
    if url and subscriptions:
        transaction.on_commit(partial(publish, url, sorted(map(str, subscriptions))), using=using)


def _client(url: str) -> Any:
    import redis

    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_timeout=PUBLISH_TIMEOUT, socket_connect_timeout=PUBLISH_TIMEOUT
            )
        return client


def publish(url: str, subscriptions: Collection[str]) -> None:
    """Publish one wake-up per subscription; a Redis error is logged, never raised."""
    try:
        pipeline = _client(url).pipeline(transaction=False)
        for subscription in subscriptions:
            pipeline.publish(channel(subscription), b"")
        pipeline.execute()
    except Exception as exc:  # the records stay: streams find them at their next poll
        logger.warning("Could not wake up live streams through Redis: %r", exc)
