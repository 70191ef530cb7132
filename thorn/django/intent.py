"""Verification of intent (WebSub §5.3): the callback confirms that it wants the subscription.

With :setting:`THORN_VERIFY_INTENT`, thorn sends
``GET <url>?hub.mode=subscribe&hub.topic=<event>&hub.challenge=<random>&hub.lease_seconds=<n>``
when a subscription is made through the API, or its URL changes.  The
subscription is verified when the callback answers 2xx with the challenge
as its body (surrounding whitespace is ignored); until then it receives
nothing.  The request goes through the app's transport, with the recipient
validators, so the same SSRF rules apply as to deliveries, and it lasts at
most :setting:`THORN_VERIFY_TIMEOUT` seconds.

It is made synchronously, in the API request, after the subscription is
committed: the answer shows at once whether the subscription is verified,
and the request is held up by at most that short bound.  A failure is
recorded (``verification_error``, ``verification_attempted_at``) and can
be retried with ``POST /hooks/<uuid>/verify/``.

.. versionadded:: 2.0
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.utils import timezone

from thorn._state import app_or_default
from thorn.transport import HTTPRequest
from thorn.utils.log import get_logger
from thorn.utils.redact import redact_url

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.outcome import Outcome

__all__ = ["ERROR_MAX_LENGTH", "announce_unsubscribe", "challenge_url", "verify_intent"]

logger = get_logger(__name__)

#: Longest ``verification_error`` kept (the column's length).
ERROR_MAX_LENGTH = 255


def challenge_url(url: str, **params: Any) -> str:
    """``url`` with the ``hub.*`` query parameters ``params`` added to its own.

    Keyword names use ``_`` for the dot: ``challenge_url(url, mode="subscribe")``
    adds ``hub.mode=subscribe``; ``None`` values are left out.
    """
    parts = urlsplit(url)
    added = urlencode({f"hub.{name}": value for name, value in params.items() if value is not None})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _lease_seconds(subscription: Any) -> int | None:
    expires_at = getattr(subscription, "expires_at", None)
    if expires_at is None:
        return None
    return max(0, int((expires_at - timezone.now()).total_seconds()))


def _get(app: Thorn, url: str) -> Outcome:
    return app.transport.send(
        HTTPRequest(
            url=url,
            method="GET",
            headers={"User-Agent": app.user_agent},
            timeout=float(app.settings.THORN_VERIFY_TIMEOUT),
            recipient_validators=tuple(app.settings.THORN_RECIPIENT_VALIDATORS),
            keepalive=False,
        )
    )


def _echoed(outcome: Outcome, challenge: str) -> bool:
    body = b"" if outcome.response is None else outcome.response.content or b""
    return hmac.compare_digest(body.strip(), challenge.encode())


def verify_intent(subscription: Any, app: Thorn | None = None) -> bool:
    """Ask ``subscription``'s URL to confirm it; record and return whether it did.

    Saves ``verified``, ``verification_error`` (empty on success) and
    ``verification_attempted_at``.  A stream-only subscription has no URL
    to ask: it is verified as it is (``True``, nothing sent nor saved).
    """
    if not subscription.url:
        return True
    app = app_or_default(app)
    challenge = secrets.token_urlsafe(32)
    url = challenge_url(
        subscription.url,
        mode="subscribe",
        topic=subscription.event,
        challenge=challenge,
        lease_seconds=_lease_seconds(subscription),
    )
    outcome = _get(app, url)
    if not outcome.ok:
        error = str(outcome.error)
    elif not _echoed(outcome, challenge):
        error = f"{redact_url(subscription.url)} did not answer with the challenge"
    else:
        error = ""
    subscription.verified = not error
    subscription.verification_error = error[:ERROR_MAX_LENGTH]
    subscription.verification_attempted_at = timezone.now()
    subscription.save(update_fields=["verified", "verification_error", "verification_attempted_at"])
    if error:
        logger.info("Subscription %s is not verified: %s", subscription.uuid, error)
    return not error


def announce_unsubscribe(subscription: Any, app: Thorn | None = None) -> None:
    """Tell ``subscription``'s URL that it was unsubscribed (``hub.mode=unsubscribe``).

    Informational: the answer is not checked, and a failure is only logged.
    A stream-only subscription has no URL to tell.
    """
    if not subscription.url:
        return
    app = app_or_default(app)
    url = challenge_url(
        subscription.url,
        mode="unsubscribe",
        topic=subscription.event,
        challenge=secrets.token_urlsafe(32),
    )
    outcome = _get(app, url)
    if not outcome.ok:
        logger.info(
            "Unsubscribe notice to %s failed: %s", redact_url(subscription.url), outcome.error
        )
