"""Ping a subscription: send it one ``thorn.ping`` event now, through the delivery engine.

The ping is delivered in this process, whatever the dispatcher, once and
without retries, signed like any delivery and recorded (it shows in the
subscription's deliveries).  Its body is the envelope ``{"event":
"thorn.ping", "ref": null, "sender": null, "data": {"subscription": ...}}``.
It names its subscription as its own subscriber (:func:`pinged`), so that
it can be redelivered whatever the subscription's event pattern.
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

__all__ = ["PING", "ping", "pinged"]

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
    options = Options(
        retry=False, extra_subscribers=[pinged], context={"subscription": str(subscription.uuid)}
    )
    message = Message(PING, payload, options=options)
    requests: list[Request] = app.dispatcher_of(Dispatcher).hand_over(message, [subscription])
    return requests[0]


def pinged(event: str, sender: Any = None, subscription: str = "", **context: Any) -> list[Any]:
    """The subscription a ping is for: the ping's own subscriber, found by its uuid.

    A ping's subscription may not match ``thorn.ping``; this finds it again
    when the ping is redelivered.
    """
    model = current_app().env.Subscriber  # type: ignore[attr-defined]
    return list(model._default_manager.filter(uuid=subscription))
