"""Signing: the headers of a delivery, and the signatures that let receivers verify it.

One function, :func:`signature_headers`, turns (subscriber, body, delivery
id, timestamp) into the signature headers of both schemes:

- ``Hook-HMAC`` (Thorn 1.5): the body signed by ``THORN_HMAC_SIGNER`` with
  the subscription's ``hmac_secret``;
- Standard Webhooks 1.0.0: ``webhook-id`` (the delivery id),
  ``webhook-timestamp`` (the attempt's Unix time) and ``webhook-signature``,
  one ``v1`` signature per secret that is valid at that time (the
  subscription's secret, and the one it replaced during its grace period),
  or, for a subscription that signs with Ed25519, one ``v1a`` signature per
  private key valid then (the same grace period).

``THORN_SIGNATURE_HEADERS`` chooses the schemes.

``Hook-HMAC`` is always signed with the HMAC secret, whatever signs
``webhook-signature``: it is Thorn 1.5's header, and 1.5 receivers check it
with the secret.

.. versionchanged:: 2.0
    Standard Webhooks headers, next to ``Hook-HMAC``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from thorn.generic.models import AbstractSubscriber
from thorn.utils.ed25519 import asymmetric_sign
from thorn.utils.hmac import standard_sign

__all__ = [
    "HOOK_HMAC",
    "SCHEMES",
    "STANDARD",
    "delivery_headers",
    "signature_headers",
    "signing_keys",
    "signing_secrets",
]

#: ``signer(digest, secret, body)``: ``THORN_HMAC_SIGNER``.
Signer = Callable[[str, str, bytes], "str | bytes"]

#: The ``Hook-HMAC`` scheme (Thorn 1.5).
HOOK_HMAC = "hook-hmac"
#: The Standard Webhooks scheme (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).
STANDARD = "standard"
#: Every scheme, in the order their headers are added.
SCHEMES = (HOOK_HMAC, STANDARD)

#: Headers that extra headers never replace (compared in lower case).
_PROTECTED = frozenset(
    {"hook-hmac", "hook-subscription", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def signing_secrets(subscriber: AbstractSubscriber, timestamp: float) -> tuple[str, ...]:
    """Return the secrets of ``subscriber`` that sign at ``timestamp`` (Unix time), newest first.

    The first is always ``hmac_secret``.  Subscribers that have a
    ``signing_secrets(timestamp)`` method (stored and static subscribers)
    add their previous secrets that are still valid then.
    """
    method = getattr(subscriber, "signing_secrets", None)
    if method is None:
        return (subscriber.hmac_secret,)
    secrets: tuple[str, ...] = tuple(method(timestamp))
    return secrets


def signing_keys(subscriber: AbstractSubscriber, timestamp: float) -> tuple[str, ...]:
    """Return the Ed25519 private keys (``whsk_...``) of ``subscriber`` that sign at ``timestamp``.

    Empty for a subscriber that signs ``webhook-signature`` with HMAC (every
    subscriber without a ``signing_keys(timestamp)`` method); newest first.
    """
    method = getattr(subscriber, "signing_keys", None)
    if method is None:
        return ()
    keys: tuple[str, ...] = tuple(method(timestamp))
    return keys


def signature_headers(
    subscriber: AbstractSubscriber,
    body: bytes,
    delivery_id: str,
    timestamp: int,
    *,
    signer: Signer,
    schemes: Collection[str] = SCHEMES,
) -> dict[str, str]:
    """Return the headers that let ``subscriber`` verify a delivery of ``body``.

    Arguments:
        subscriber: The subscriber; its secrets are the keys.
        body: The body, exactly as sent.
        delivery_id: The delivery id (``webhook-id``), the same on every attempt.
        timestamp: The attempt's Unix time (``webhook-timestamp``); it also
            decides whether a previous secret (or private key) is still in
            its grace period.
        signer: The ``Hook-HMAC`` signer (``THORN_HMAC_SIGNER``).
        schemes: :data:`HOOK_HMAC`, :data:`STANDARD` or both
            (``THORN_SIGNATURE_HEADERS``).

    Raises:
        ImproperlyConfigured: for a subscriber that signs with Ed25519, if
            ``cryptography`` is not installed.  A delivery attempt records it
            as its error, and is retried like a failed attempt.
    """
    headers: dict[str, str] = {}
    if HOOK_HMAC in schemes:
        signature = signer(subscriber.hmac_digest, subscriber.hmac_secret, body)
        if isinstance(signature, bytes):
            signature = signature.decode("ascii")
        headers["Hook-HMAC"] = signature
    if STANDARD in schemes:
        # dict.fromkeys: a secret given twice signs once, in order.
        keys = dict.fromkeys(signing_keys(subscriber, timestamp))
        if keys:
            signatures = [asymmetric_sign(key, delivery_id, timestamp, body) for key in keys]
        else:
            secrets = dict.fromkeys(signing_secrets(subscriber, timestamp))
            signatures = [standard_sign(secret, delivery_id, timestamp, body) for secret in secrets]
        headers["webhook-id"] = delivery_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = " ".join(signatures)
    return headers


def delivery_headers(
    *,
    signer: Signer,
    subscriber: AbstractSubscriber,
    body: bytes,
    event: str,
    delivery_id: str,
    timestamp: int,
    user_agent: str,
    extra: Mapping[str, Any],
    schemes: Collection[str] = SCHEMES,
) -> dict[str, str]:
    """Return every header of a delivery of ``body`` to ``subscriber``.

    ``extra`` headers may replace the defaults (``User-Agent``,
    ``Content-Type``...), but never a signature header or
    ``Hook-Subscription``, in any case.
    """
    headers = {
        "Content-Type": subscriber.content_type,
        "User-Agent": user_agent,
        "Hook-Event": event,
        "Hook-Delivery": delivery_id,
        **{name: value for name, value in extra.items() if name.lower() not in _PROTECTED},
    }
    headers.update(
        signature_headers(subscriber, body, delivery_id, timestamp, signer=signer, schemes=schemes)
    )
    headers["Hook-Subscription"] = str(subscriber.uuid)
    return headers
