"""Signing: the headers of a delivery, and the signature that lets receivers verify it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from thorn.generic.models import AbstractSubscriber

__all__ = ["delivery_headers", "signature_headers"]

#: ``signer(digest, secret, body)``: ``THORN_HMAC_SIGNER``.
Signer = Callable[[str, str, bytes], "str | bytes"]


def signature_headers(
    signer: Signer, subscriber: AbstractSubscriber, body: bytes
) -> dict[str, str]:
    """Return the headers that let ``subscriber`` verify ``body``: ``Hook-HMAC``."""
    signature = signer(subscriber.hmac_digest, subscriber.hmac_secret, body)
    if isinstance(signature, bytes):
        signature = signature.decode("ascii")
    return {"Hook-HMAC": signature}


def delivery_headers(
    *,
    signer: Signer,
    subscriber: AbstractSubscriber,
    body: bytes,
    event: str,
    delivery_id: str,
    user_agent: str,
    extra: Mapping[str, Any],
) -> dict[str, str]:
    """Return every header of a delivery of ``body`` to ``subscriber``.

    ``extra`` headers may replace the defaults (``User-Agent``,
    ``Content-Type``...), but never the signature or ``Hook-Subscription``.
    """
    headers = {
        "Content-Type": subscriber.content_type,
        "User-Agent": user_agent,
        "Hook-Event": event,
        "Hook-Delivery": delivery_id,
        **extra,
    }
    headers.update(signature_headers(signer, subscriber, body))
    headers["Hook-Subscription"] = str(subscriber.uuid)
    return headers
