"""Planning: a message and its subscribers become deliveries, ordered by host."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import AbstractSubscriber
from thorn.messages import PING_EVENT, Delivery, Message, delivery_id
from thorn.validators.addresses import DEFAULT_PORTS

__all__ = ["plan_deliveries", "urlident"]


def urlident(url: str) -> tuple[str, str, int]:
    """Return ``(scheme, host, port)`` of ``url``, used to order deliveries.

    Deliveries to the same host are sent one after another, so one
    kept-alive connection serves them all.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or ""), port or DEFAULT_PORTS.get(scheme, 0)


def plan_deliveries(
    message: Message,
    subscribers: Iterable[AbstractSubscriber],
    encode: Callable[[Any, str], str],
) -> list[Delivery]:
    """Return one :class:`~thorn.messages.Delivery` per subscriber, ordered by host.

    A subscriber whose filter refuses the payload (its ``accepts(payload)``
    is false: see :mod:`thorn.generic.filters`) gets no delivery, so
    nothing is recorded for it; a ping (:data:`~thorn.messages.PING_EVENT`)
    is not filtered.

    Each delivery's id comes from the message id and the subscription's
    uuid (see :func:`~thorn.messages.delivery_id`).
    The payload is encoded once per content type, with ``encode(payload,
    content_type)``.  A content type without a codec gets the payload as it
    is: that subscriber's delivery fails when it is sent, and only that one.

    .. versionchanged:: 2.0
        Subscriber-side filters.

    Raises:
        TypeError: if the payload cannot be encoded (no delivery is made).
    """
    bodies: dict[str, Any] = {}
    deliveries = []
    filtered = message.event != PING_EVENT
    for subscriber in subscribers:
        # Subscriber classes registered with AbstractSubscriber may have no filter.
        accepts = getattr(subscriber, "accepts", None) if filtered else None
        if accepts is not None and not accepts(message.payload):
            continue
        content_type = subscriber.content_type
        if content_type not in bodies:
            try:
                bodies[content_type] = encode(message.payload, content_type)
            except ImproperlyConfigured:
                bodies[content_type] = message.payload
        deliveries.append(
            Delivery(
                event=message.event,
                data=bodies[content_type],
                subscriber=subscriber,
                sender=message.sender,
                options=message.options,
                id=delivery_id(message.id, subscriber.uuid),
                message_id=message.id,
            )
        )
    deliveries.sort(key=lambda delivery: urlident(delivery.subscriber.url))
    return deliveries
