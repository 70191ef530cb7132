"""Receiving thorn webhooks in a Django site: check the ``Hook-HMAC`` signature.

For the sites that *consume* webhooks.  :func:`verify_webhook` decorates a
view so that it only runs for requests whose ``Hook-HMAC`` header is the
signature of their exact body; the others are answered with
``403 Forbidden``.  :func:`is_valid_webhook` is the same check as a function.

.. code-block:: python

    from django.http import HttpResponse

    from thorn.django.receiver import verify_webhook


    @verify_webhook("the subscription's hmac_secret")
    def article_changed(request):
        return HttpResponse(status=204)

.. versionadded:: 2.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseForbidden
from django.http.request import RawPostDataException

from thorn.utils.hmac import compat_verify, get_digest, verify
from thorn.utils.log import get_logger

__all__ = ["Secret", "Signer", "is_valid_webhook", "verify_webhook"]

logger = get_logger(__name__)

#: The receiver's copy of the subscription's ``hmac_secret``, or a function
#: ``secret(request)`` that returns it (``None`` if the request names no
#: known subscription), e.g. looked up by the ``Hook-Subscription`` header.
Secret = str | bytes | Callable[[HttpRequest], str | bytes | None]

#: Name of the signer the sending site uses (its ``THORN_HMAC_SIGNER``):
#: ``"sign"`` for ``thorn.utils.hmac:sign`` (recommended), ``"compat"`` for
#: ``thorn.utils.hmac:compat_sign`` (the Thorn 1.5 compatible default).
Signer = Literal["sign", "compat"]

_VERIFIERS: dict[str, Callable[[str | bytes, str, str | bytes, str | bytes], bool]] = {
    "sign": verify,
    "compat": compat_verify,
}

_View = TypeVar("_View", bound=Callable[..., Any])


def _check_options(digest: str, signer: str) -> None:
    get_digest(digest)  # raises ValueError for an unsupported digest
    if signer not in _VERIFIERS:
        raise ValueError(f"unknown signer {signer!r}: use 'sign' or 'compat'")


def _rejection(request: HttpRequest, secret: Secret, digest: str, signer: str) -> str | None:
    """Return why ``request`` is not a valid webhook, or ``None`` if it is."""
    signature = request.headers.get("Hook-HMAC")
    if not signature:
        return "no Hook-HMAC header"
    key = secret(request) if callable(secret) else secret
    if not key:
        return "no secret for this request"
    try:
        body = request.body
    except RawPostDataException:
        return "the raw body was already read"
    if not _VERIFIERS[signer](signature, digest, key, body):
        return "the Hook-HMAC signature does not match"
    return None


def is_valid_webhook(
    request: HttpRequest, secret: Secret, digest: str = "sha256", signer: Signer = "sign"
) -> bool:
    """Tell whether ``request`` carries a valid ``Hook-HMAC`` signature.

    The signature is checked over the raw body (``request.body``), whatever
    the method, and compared in constant time.

    Arguments:
        request: The incoming request.
        secret: The subscription's ``hmac_secret`` (:class:`str` or
            :class:`bytes`), or a function ``secret(request)`` that returns
            it, or ``None`` to reject the request.  The function is only
            called when the request has a ``Hook-HMAC`` header.  An empty
            secret never matches.
        digest: The subscription's ``hmac_digest``: ``sha1``, ``sha256``
            or ``sha512`` (``sha224`` and ``sha384`` also work).
        signer: ``"sign"`` if the sending site sets
            ``THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"``, ``"compat"``
            for Thorn 1.5's default signer
            (``"thorn.utils.hmac:compat_sign"``).

    Returns:
        ``False`` when the header is missing or empty, when there is no
        secret, when the body was already consumed as a stream (e.g. by
        reading ``request.POST`` of a multipart request), or when the
        signature does not match.

    Raises:
        ValueError: if ``digest`` or ``signer`` is not supported.
    """
    _check_options(digest, signer)
    return _rejection(request, secret, digest, signer) is None


def _forbidden(request: HttpRequest, reason: str) -> HttpResponseForbidden:
    logger.warning(
        "Rejected webhook %s %s (delivery %s): %s",
        request.method,
        request.path,
        request.headers.get("Hook-Delivery", "-"),
        reason,
    )
    return HttpResponseForbidden("Invalid webhook signature.", content_type="text/plain")


def _csrf_exempt(view: Callable[..., Any]) -> Any:
    # What csrf_exempt() does, without its wrapper: Django 4.2's would make an
    # async view look synchronous.
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def verify_webhook(
    secret: Secret, digest: str = "sha256", signer: Signer = "sign"
) -> Callable[[_View], _View]:
    """Decorate a view so that it only runs for correctly signed webhooks.

    Requests without a ``Hook-HMAC`` header, or whose header is not the
    signature of the raw body with ``secret`` and ``digest``, are answered
    with :class:`~django.http.HttpResponseForbidden` (``403``) and the view
    is not called.  The check is the one of :func:`is_valid_webhook`; it is
    made for every HTTP method (combine with
    :func:`~django.views.decorators.http.require_POST` to allow only
    ``POST``).

    The decorated view is exempt from Django's CSRF protection
    (:func:`~django.views.decorators.csrf.csrf_exempt`): webhooks are posted
    by another site, without a CSRF token; the signature replaces it.

    Asynchronous views are supported; the check (and a ``secret``
    function) then runs in a thread (:func:`asgiref.sync.sync_to_async`),
    so the function may use the ORM.  For class-based views use
    ``method_decorator(verify_webhook(...), name="dispatch")``; when their
    handlers are ``async def``, decorate the handler (``name="post"``)
    instead, and ``dispatch`` with
    :func:`~django.views.decorators.csrf.csrf_exempt`.

    Arguments:
        secret: The subscription's ``hmac_secret``, or a function
            ``secret(request)`` returning it (``None`` rejects the request).
        digest: The subscription's ``hmac_digest`` (``sha256`` by default).
        signer: ``"sign"`` (recommended) or ``"compat"``, after the
            sending site's ``THORN_HMAC_SIGNER``.

    Raises:
        ValueError: when decorating, if ``digest`` or ``signer`` is not
            supported, or ``secret`` is an empty string.
    """
    _check_options(digest, signer)
    if not callable(secret) and not secret:
        raise ValueError("verify_webhook needs a secret: it is empty")

    def decorator(view: _View) -> _View:
        if iscoroutinefunction(view):
            check = sync_to_async(_rejection)

            @functools.wraps(view)
            async def async_wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                reason = await check(request, secret, digest, signer)
                if reason is not None:
                    return _forbidden(request, reason)
                return await view(request, *args, **kwargs)

            return cast(_View, _csrf_exempt(async_wrapped))

        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            reason = _rejection(request, secret, digest, signer)
            if reason is not None:
                return _forbidden(request, reason)
            return view(request, *args, **kwargs)

        return cast(_View, _csrf_exempt(wrapped))

    return decorator
