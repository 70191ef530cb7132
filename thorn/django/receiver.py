"""Receiving thorn webhooks in a Django site: check their signatures.

For the sites that *consume* webhooks.  :func:`verify_webhook` decorates a
view so that it only runs for correctly signed requests; the others are
answered with ``403 Forbidden``.  :func:`is_valid_webhook` is the same
check as a function.  Both schemes a thorn site sends are verified:

- the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``), whose timestamp must be within ``tolerance``
  seconds of the receiver's clock, so a replayed request is refused;
- ``Hook-HMAC``, the signature of the body alone (Thorn 1.5).

When a request carries the Standard Webhooks headers (and ``"standard"``
is accepted), they decide: ``Hook-HMAC`` is then not needed, which lets a
receiver that still holds the old secret of a rotation verify (the sender
signs ``Hook-HMAC`` with the new secret only).  Otherwise ``Hook-HMAC``
must verify.  Any of several secrets may match, for the receiving side of
a rotation.

For a subscription that signs with Ed25519 (``signing_algorithm`` is
``"ed25519"``), give its public key, ``signing_public_key`` (``whpk_...``):
the ``v1a`` signatures of ``webhook-signature`` are then verified with it
(this needs ``pip install "thorn[ed25519]"``).  A public key verifies
nothing else: a request without the Standard Webhooks headers is refused.

.. code-block:: python

    from django.http import HttpResponse

    from thorn.django.receiver import verify_webhook


    @verify_webhook("the subscription's hmac_secret")
    def article_changed(request):
        return HttpResponse(status=204)

.. versionadded:: 2.0
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, TypeVar, cast

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseForbidden
from django.http.request import RawPostDataException

from thorn.exceptions import ImproperlyConfigured
from thorn.utils import ed25519
from thorn.utils.ed25519 import PUBLIC_KEY_PREFIX, asymmetric_verify, decode_key
from thorn.utils.hmac import (
    SIGNING_SECRET_PREFIX,
    compat_verify,
    get_digest,
    standard_verify,
    verify,
)
from thorn.utils.log import get_logger

__all__ = [
    "DEFAULT_TOLERANCE",
    "SCHEMES",
    "Secret",
    "Signer",
    "is_valid_webhook",
    "verify_webhook",
]

logger = get_logger(__name__)

#: One secret: the subscription's ``hmac_secret``, or its ``signing_secret``
#: (``whsec_...``), or its Ed25519 ``signing_public_key`` (``whpk_...``).
OneSecret = str | bytes

#: The receiver's copy of the subscription's secret, or several of them (a
#: list or tuple, any of which may match: during a rotation), or a function
#: ``secret(request)`` that returns one or several (``None`` if the request
#: names no known subscription), e.g. looked up by the ``Hook-Subscription``
#: header.
Secret = OneSecret | Sequence[OneSecret] | Callable[[HttpRequest], Any]

#: Name of the signer the sending site uses (its ``THORN_HMAC_SIGNER``):
#: ``"sign"`` for ``thorn.utils.hmac:sign`` (recommended), ``"compat"`` for
#: ``thorn.utils.hmac:compat_sign`` (the Thorn 1.5 compatible default).
Signer = Literal["sign", "compat"]

#: Every scheme a receiver can accept, ``"standard"`` (Standard Webhooks)
#: and ``"hook-hmac"``.
SCHEMES = ("standard", "hook-hmac")

#: Seconds a ``webhook-timestamp`` may be away from the receiver's clock,
#: either way: 5 minutes, as in the Standard Webhooks libraries.
DEFAULT_TOLERANCE = 300

_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

_VERIFIERS: dict[str, Callable[[str | bytes, str, str | bytes, str | bytes], bool]] = {
    "sign": verify,
    "compat": compat_verify,
}

_View = TypeVar("_View", bound=Callable[..., Any])


def _check_options(digest: str, signer: str, tolerance: float, schemes: Collection[str]) -> None:
    get_digest(digest)  # raises ValueError for an unsupported digest
    if signer not in _VERIFIERS:
        raise ValueError(f"unknown signer {signer!r}: use 'sign' or 'compat'")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ValueError(f"tolerance must be a number of seconds, not {tolerance!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a number of seconds of at least 0, not {tolerance!r}")
    if isinstance(schemes, str) or not schemes or not set(schemes) <= set(SCHEMES):
        raise ValueError(f"schemes must be a list of 'standard' and 'hook-hmac', not {schemes!r}")


def _keys(secret: Any) -> tuple[list[bytes], list[bytes]]:
    """The HMAC keys and the Ed25519 public keys ``secret`` (one or several) stands for.

    A ``whsec_`` secret is the base64 of the key (a ``signing_secret``); it
    may also be a chosen ``hmac_secret`` that starts so, so both are tried.
    A ``whpk_`` string is an Ed25519 public key, and only that: it is
    public, so it must never be taken as an HMAC key.  Empty secrets and
    malformed public keys are left out.
    """
    secrets = secret if isinstance(secret, list | tuple) else [secret]
    keys: list[bytes] = []
    public_keys: list[bytes] = []
    for each in secrets:
        if isinstance(each, bytes) and each:
            keys.append(each)
        elif isinstance(each, str) and each.startswith(PUBLIC_KEY_PREFIX):
            try:
                public_keys.append(decode_key(each, PUBLIC_KEY_PREFIX))
            except ValueError:
                continue
        elif isinstance(each, str) and each:
            keys.append(each.encode("utf-8"))
            if each.startswith(SIGNING_SECRET_PREFIX):
                encoded = each[len(SIGNING_SECRET_PREFIX) :]
                try:
                    decoded = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    continue
                if decoded:
                    keys.append(decoded)
    return keys, public_keys


def _check_public_keys(secrets: Sequence[Any]) -> None:
    """Refuse malformed ``whpk_`` keys, and public keys where ``cryptography`` is missing."""
    public = [
        each for each in secrets if isinstance(each, str) and each.startswith(PUBLIC_KEY_PREFIX)
    ]
    for each in public:
        decode_key(each, PUBLIC_KEY_PREFIX)  # raises ValueError
    if public and not ed25519.available():
        raise ImproperlyConfigured(
            f"verify_webhook: public keys (whpk_) need the cryptography package: "
            f"{ed25519.INSTALL_HINT}"
        )


def _standard_rejection(request: HttpRequest, tolerance: float) -> str | None:
    """Why the Standard Webhooks headers of ``request`` cannot be accepted (before the secret)."""
    missing = [name for name in _STANDARD_HEADERS if not request.headers.get(name)]
    if missing:
        return f"incomplete Standard Webhooks headers: no {', '.join(missing)}"
    stamp = request.headers["webhook-timestamp"]
    if not (stamp.isascii() and stamp.isdigit()):
        return f"the webhook-timestamp is not a Unix time: {stamp[:20]!r}"
    age = time.time() - int(stamp)
    if age > tolerance:
        return f"the webhook-timestamp is {age:.0f}s old, more than the {tolerance:g}s tolerance"
    if -age > tolerance:
        return (
            f"the webhook-timestamp is {-age:.0f}s in the future, "
            f"more than the {tolerance:g}s tolerance"
        )
    return None


def _rejection(
    request: HttpRequest,
    secret: Secret,
    digest: str,
    signer: str,
    tolerance: float = DEFAULT_TOLERANCE,
    schemes: Collection[str] = SCHEMES,
) -> str | None:
    """Return why ``request`` is not a valid webhook, or ``None`` if it is."""
    hook_hmac = request.headers.get("Hook-HMAC") if "hook-hmac" in schemes else None
    standard = "standard" in schemes and any(
        request.headers.get(name) for name in _STANDARD_HEADERS
    )
    if not hook_hmac and not standard:
        if set(schemes) == {"hook-hmac"}:
            return "no Hook-HMAC header"
        if set(schemes) == {"standard"}:
            return "no Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)"
        return "no signature header (Hook-HMAC or webhook-signature)"
    if standard:
        # Before the secret: a replay costs no lookup.
        reason = _standard_rejection(request, tolerance)
        if reason is not None:
            return reason
    keys, public_keys = _keys(secret(request) if callable(secret) else secret)
    if not keys and not public_keys:
        return "no secret for this request"
    if not standard and not keys:
        return "no Standard Webhooks headers: a public key (whpk_) verifies only webhook-signature"
    try:
        body = request.body
    except RawPostDataException:
        return "the raw body was already read"
    if standard:
        ident = request.headers["webhook-id"]
        stamp = request.headers["webhook-timestamp"]
        signatures = request.headers["webhook-signature"]
        if not any(
            standard_verify(signatures, key, ident, stamp, body) for key in keys
        ) and not any(
            asymmetric_verify(signatures, key, ident, stamp, body) for key in public_keys
        ):
            return "the webhook-signature does not match"
    elif not any(_VERIFIERS[signer](hook_hmac or "", digest, key, body) for key in keys):
        return "the Hook-HMAC signature does not match"
    return None


def is_valid_webhook(
    request: HttpRequest,
    secret: Secret,
    digest: str = "sha256",
    signer: Signer = "sign",
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    schemes: Collection[str] = SCHEMES,
) -> bool:
    """Tell whether ``request`` is a correctly signed webhook.

    Every signature is checked over the raw body (``request.body``),
    whatever the method, and compared in constant time:

    - when the request has a ``webhook-*`` header and ``schemes`` has
      ``"standard"``, ``webhook-id``, ``webhook-timestamp`` and
      ``webhook-signature`` must all be there, the timestamp within
      ``tolerance`` seconds of now, and one of the ``v1`` signatures the
      signature of the request with one of the secrets, or one of the
      ``v1a`` signatures that of one of the public keys (``whpk_...``);
      ``Hook-HMAC`` is not checked then;
    - otherwise, when ``schemes`` has ``"hook-hmac"``, ``Hook-HMAC`` must
      be the signature of the body with one of the secrets, ``digest`` and
      ``signer``.

    .. versionchanged:: 2.0
        Standard Webhooks headers, several secrets, Ed25519 public keys,
        ``tolerance`` and ``schemes``.

    Arguments:
        request: The incoming request.
        secret: The subscription's ``hmac_secret`` or ``signing_secret``
            (:class:`str` or :class:`bytes`), or its ``signing_public_key``
            (``whpk_...``, for an ``ed25519`` subscription), or a list of secrets any of
            which may match (during a rotation), or a function
            ``secret(request)`` that returns one or a list, or ``None`` to
            reject the request.  The function is only called for a request
            with signature headers whose timestamp is within the tolerance.
            Empty secrets never match.
        digest: The subscription's ``hmac_digest``, for ``Hook-HMAC``:
            ``sha1``, ``sha256`` or ``sha512`` (``sha224`` and ``sha384``
            also work).
        signer: ``"sign"`` if the sending site sets
            ``THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"``, ``"compat"``
            for Thorn 1.5's default signer
            (``"thorn.utils.hmac:compat_sign"``), for ``Hook-HMAC``.
        tolerance: Seconds the ``webhook-timestamp`` may be away from now,
            in either direction (5 minutes by default).
        schemes: The schemes accepted: ``"standard"``, ``"hook-hmac"``, or
            both (the default, for senders that send either).
            ``["standard"]`` refuses requests without the Standard Webhooks
            headers, so that a replayed request cannot drop them and pass
            with ``Hook-HMAC`` alone, which signs the body only.

    Returns:
        ``False`` when no accepted scheme's headers are there, when the
        Standard Webhooks headers are incomplete, when the timestamp is out of the tolerance, when
        there is no secret, when the body was already consumed as a stream
        (e.g. by reading ``request.POST`` of a multipart request), or when a
        signature does not match.

    Raises:
        ValueError: if ``digest``, ``signer``, ``tolerance`` or ``schemes``
            is not supported, or a ``whpk_`` public key is malformed.
        ImproperlyConfigured: if a public key is given and ``cryptography``
            is not installed.
    """
    _check_options(digest, signer, tolerance, schemes)
    if not callable(secret):
        _check_public_keys(secret if isinstance(secret, list | tuple) else [secret])
    return _rejection(request, secret, digest, signer, tolerance, schemes) is None


def _forbidden(request: HttpRequest, reason: str) -> HttpResponseForbidden:
    logger.warning(
        "Rejected webhook %s %s (delivery %s): %s",
        request.method,
        request.path,
        request.headers.get("Hook-Delivery") or request.headers.get("webhook-id") or "-",
        reason,
    )
    return HttpResponseForbidden("Invalid webhook signature.", content_type="text/plain")


def _csrf_exempt(view: Callable[..., Any]) -> Any:
    # What csrf_exempt() does, without its wrapper: Django 4.2's would make an
    # async view look synchronous.
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def verify_webhook(
    secret: Secret,
    digest: str = "sha256",
    signer: Signer = "sign",
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    schemes: Collection[str] = SCHEMES,
) -> Callable[[_View], _View]:
    """Decorate a view so that it only runs for correctly signed webhooks.

    Requests that :func:`is_valid_webhook` refuses (no signature headers,
    a timestamp out of the tolerance, a signature that does not match the
    raw body with any of the secrets) are answered with
    :class:`~django.http.HttpResponseForbidden` (``403``), the reason is
    logged as a warning, and the view is not called.  The check is made
    for every HTTP method (combine with
    :func:`~django.views.decorators.http.require_POST` to allow only
    ``POST``).

    The decorated view is exempt from Django's CSRF protection
    (:func:`~django.views.decorators.csrf.csrf_exempt`): webhooks are posted
    by another site, without a CSRF token; the signature replaces it.

    Asynchronous views are supported; the check (and a ``secret``
    function) then runs in a thread (:func:`asgiref.sync.sync_to_async`),
    so the function may use the ORM.  For class-based views use
    ``method_decorator(verify_webhook(...), name="dispatch")``; when their
    handlers are ``async def``, decorate the view ``as_view()`` returns
    instead (or, from Django 5.0, the handler, ``name="post"``, with
    ``dispatch`` decorated by :func:`~django.views.decorators.csrf.csrf_exempt`).

    .. versionchanged:: 2.0
        Standard Webhooks headers, several secrets, Ed25519 public keys,
        ``tolerance`` and ``schemes``.

    Arguments:
        secret: The subscription's ``hmac_secret`` or ``signing_secret``,
            or its ``signing_public_key`` (``whpk_...``), a list of
            secrets (any may match), or a function ``secret(request)``
            returning one or a list (``None`` rejects the request).
        digest: The subscription's ``hmac_digest`` (``sha256`` by default).
        signer: ``"sign"`` (recommended) or ``"compat"``, after the
            sending site's ``THORN_HMAC_SIGNER``.
        tolerance: Seconds the ``webhook-timestamp`` may be away from now
            (5 minutes by default).
        schemes: ``"standard"``, ``"hook-hmac"``, or both (the default).

    Raises:
        ValueError: when decorating, if ``digest``, ``signer``,
            ``tolerance`` or ``schemes`` is not supported, or ``secret`` is
            empty (or a list with an empty secret), or a ``whpk_`` public
            key is malformed.
        ImproperlyConfigured: when decorating, if a public key is given and
            ``cryptography`` is not installed.
    """
    _check_options(digest, signer, tolerance, schemes)
    if not callable(secret):
        secrets = secret if isinstance(secret, list | tuple) else [secret]
        if not secrets or not all(secrets):
            raise ValueError("verify_webhook needs a secret: it is empty")
        _check_public_keys(secrets)

    def decorator(view: _View) -> _View:
        if iscoroutinefunction(view):
            check = sync_to_async(_rejection)

            @functools.wraps(view)
            async def async_wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                reason = await check(request, secret, digest, signer, tolerance, schemes)
                if reason is not None:
                    return _forbidden(request, reason)
                return await view(request, *args, **kwargs)

            return cast(_View, _csrf_exempt(async_wrapped))

        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            reason = _rejection(request, secret, digest, signer, tolerance, schemes)
            if reason is not None:
                return _forbidden(request, reason)
            return view(request, *args, **kwargs)

        return cast(_View, _csrf_exempt(wrapped))

    return decorator
