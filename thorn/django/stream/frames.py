"""A recorded delivery as a message of the live stream: the body and headers of its POST.

The record keeps the message (its payload and options), not the bytes sent:
the body is encoded again for the subscription's content type, exactly as
the delivery encodes it, and signed now with the subscription's secrets
(the signatures cover the body, the delivery id and the time of signing).
So a receiver that verifies a ``POST`` verifies a forwarded stream message
unchanged, with :func:`~thorn.django.receiver.verify_webhook` or any
Standard Webhooks library: only ``webhook-timestamp`` is the time the stream
sent it.

.. versionadded:: 2.0
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from thorn.delivery.plan import plan_deliveries
from thorn.messages import decode_message
from thorn.utils.sse import encode_event

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.django.models import DeliveryRecord
    from thorn.generic.models import AbstractSubscriber

__all__ = ["frame", "stream_message"]


def stream_message(
    record: DeliveryRecord, subscriber: AbstractSubscriber, app: Thorn
) -> dict[str, Any]:
    """The ``data`` of a delivery's event: ``{"body": ..., "headers": {...}}``.

    ``body`` is the body as text (UTF-8), ``headers`` every header of the
    ``POST`` (``Content-Type``, ``User-Agent``, the ``Hook-*`` headers and
    the Standard Webhooks ones, as ``THORN_SIGNATURE_HEADERS`` chooses).

    Raises:
        ImproperlyConfigured: if no codec handles the subscription's content type.
    """
    message = decode_message(record.message.data)
    [delivery] = plan_deliveries(message, [subscriber], app.encode)
    request = app.request_class.for_delivery(replace(delivery, id=str(record.id)), app)
    body = request.body
    return {"body": body.decode("utf-8"), "headers": request.headers_for(body)}


def frame(record: DeliveryRecord, subscriber: AbstractSubscriber, app: Thorn) -> bytes:
    """The Server-Sent Event of a delivery: ``id`` the delivery id, ``event`` its event."""
    data = json.dumps(stream_message(record, subscriber, app), separators=(",", ":"))
    return encode_event(str(record.id), record.event, data)
