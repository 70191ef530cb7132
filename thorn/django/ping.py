"""Ping a subscription: send it one ``thorn.ping`` event now, through the delivery engine.

The ping is delivered in this process, whatever the dispatcher, once and
without retries, signed like any delivery and recorded (it shows in the
subscription's deliveries).  Its body is the envelope ``{"event":
"thorn.ping", "ref": null, "sender": null, "data": {"subscription": ...}}``.
``manage.py thorn ping`` and the portal's "Send test event" use it.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thorn._state import current_app
from thorn.dispatch.base import Dispatcher
from thorn.messages import Message, Options

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.request import Request

__all__ = ["PING", "ping"]

#: The event of a ping.
PING = "thorn.ping"


def ping(subscription: Any, app: Thorn | None = None) -> Request:
    """Deliver a ``thorn.ping`` event to ``subscription`` now; return its request.

    The request's ``id`` is the delivery's (``Hook-Delivery``) and its
    ``outcome`` tells how the receiver answered.  The caller checks that the
    subscription is active: a disabled one is pinged all the same.

    Arguments:
        subscription: A stored subscription (``THORN_SUBSCRIBER_MODEL``).
        app: The Thorn app; the current one by default.
    """
    app = app or current_app()
    payload = {
        "event": PING,
        "ref": None,
        "sender": None,
        "data": {"subscription": str(subscription.uuid)},
    }
    message = Message(PING, payload, options=Options(retry=False))
    requests: list[Request] = app.dispatcher_of(Dispatcher).hand_over(message, [subscription])
    return requests[0]
