"""Pinging a subscription: one ``thorn.ping`` delivery, made at once.

A ping names its subscription as its own subscriber (:func:`pinged`), so
that it can be redelivered whatever the subscription's event pattern.
``manage.py thorn ping``, ``POST /hooks/<uuid>/ping/`` and the portal's
"Send test event" use it.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from thorn._state import app_or_default, current_app
from thorn.dispatch.base import Dispatcher
from thorn.messages import PING_EVENT, Message, Options

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.request import Request

__all__ = ["PING", "attempt_ping", "ping", "ping_payload", "pinged", "plan_ping", "why_not_ping"]

#: The event of a ping (:data:`thorn.messages.PING_EVENT`).
PING = PING_EVENT


def why_not_ping(subscription: Any, app: Thorn | None = None) -> str | None:
    """Why ``subscription`` cannot be pinged, or ``None`` when it can.

    A disabled subscription, one whose lease has ended, and, with
    ``THORN_VERIFY_INTENT``, one whose URL has not confirmed it are not
    pinged: the last would make thorn post to a URL that never asked.
    """
    if getattr(subscription, "is_active", True) is False:
        return f"Subscription {subscription.uuid} is disabled: enable it first."
    expires_at = getattr(subscription, "expires_at", None)
    if expires_at is not None and expires_at <= timezone.now():
        return f"The lease of subscription {subscription.uuid} has ended: renew it first."
    verify = app_or_default(app).settings.THORN_VERIFY_INTENT
    if verify and getattr(subscription, "verified", True) is False:
        return f"Subscription {subscription.uuid} is not verified: verify it first."
    return None


def ping_payload(subscription: Any) -> dict[str, Any]:
    """The envelope of a ping of ``subscription``.

    ``{"event": "thorn.ping", "ref": null, "sender": null, "data":
    {"subscription": <uuid>, "event": <its pattern>, "timestamp": <ISO 8601>}}``.
    """
    return {
        "event": PING_EVENT,
        "ref": None,
        "sender": None,
        "data": {
            "subscription": str(subscription.uuid),
            "event": subscription.event,
            "timestamp": timezone.now().isoformat(),
        },
    }


def plan_ping(subscription: Any, app: Thorn | None = None, timeout: float | None = None) -> Request:
    """Record a ping of ``subscription``; return its request (see :func:`attempt_ping`).

    See :func:`ping`, which does both.
    """
    app = app_or_default(app)
    options = Options(
        retry=False,
        timeout=timeout,
        extra_subscribers=[pinged],
        context={"subscription": str(subscription.uuid)},
    )
    message = Message(PING_EVENT, ping_payload(subscription), options=options)
    requests = app.dispatcher_of(Dispatcher).plan(message, [subscription])
    return requests[0]


def attempt_ping(request: Request, app: Thorn | None = None) -> None:
    """Attempt a ping planned by :func:`plan_ping` once, and record how it went."""
    app_or_default(app).dispatcher_of(Dispatcher).deliver([request])


def ping(subscription: Any, app: Thorn | None = None, timeout: float | None = None) -> Request:
    """Deliver a ping to ``subscription`` now, in this process; return its request.

    The ping goes to that subscription only, whatever its pattern and
    filter, through the normal path: it is signed, recorded (it shows in the
    subscription's deliveries) and attempted once, without retries, by the
    in-process dispatcher whatever ``THORN_DISPATCHER`` is.  The request's
    ``outcome`` tells how the endpoint answered.

    Arguments:
        subscription: The subscription.
        app: The Thorn app (the current one by default).
        timeout: Seconds the attempt may take (``THORN_EVENT_TIMEOUT`` by default).
    """
    request = plan_ping(subscription, app, timeout)
    attempt_ping(request, app)
    return request


def pinged(event: str, sender: Any = None, subscription: str = "", **context: Any) -> list[Any]:
    """The subscription a ping is for: the ping's own subscriber, found by its uuid.

    A ping's subscription may not match ``thorn.ping``; this finds it again
    when the ping is redelivered.
    """
    model = current_app().env.Subscriber  # type: ignore[attr-defined]
    return list(model._default_manager.filter(uuid=subscription))
