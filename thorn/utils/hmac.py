"""HMAC signing and verification of webhook bodies, and secret generation.

Two schemes: ``Hook-HMAC`` (Thorn 1.5's, a signature of the body alone:
:func:`sign`, :func:`compat_sign`) and Standard Webhooks ``v1`` (a
signature of the delivery id, the time of the attempt and the body:
:func:`standard_sign`, :func:`standard_verify`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from typing import TYPE_CHECKING

from itsdangerous import Signer

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "SIGNING_SECRET_PREFIX",
    "allowed_algorithms",
    "compat_sign",
    "compat_verify",
    "get_digest",
    "punctuation",
    "random_secret",
    "random_secret64",
    "sign",
    "signing_secret",
    "standard_sign",
    "standard_verify",
    "verify",
]

#: Digest names accepted by :func:`get_digest` (in any case).
allowed_algorithms: tuple[str, ...] = ("sha1", "sha224", "sha256", "sha384", "sha512")

#: ASCII punctuation without the quote characters, so a secret can be
#: pasted between quotes in any language.
punctuation = string.punctuation.replace('"', "").replace("'", "")

#: The 92-character alphabet of generated secrets (the same as Thorn 1.5).
_SECRET_CHARS = string.ascii_letters + string.digits + punctuation


def _digest_name(name: str) -> str:
    normalized = name.lower() if isinstance(name, str) else name
    if normalized not in allowed_algorithms:
        raise ValueError(
            f"unsupported digest method {name!r}: use one of {', '.join(allowed_algorithms)}"
        )
    return normalized


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def get_digest(name: str) -> Callable[..., _Hash]:
    """Return the :mod:`hashlib` constructor of the digest called ``name``.

    .. versionchanged:: 2.0
        An unsupported name raises :exc:`ValueError`; Thorn 1.5 used an
        ``assert``, which ``python -O`` removes.

    Arguments:
        name: One of :data:`allowed_algorithms`, in any case.

    Raises:
        ValueError: if ``name`` is not an allowed digest; the message lists
            the allowed names.

    Examples:
        >>> from thorn.utils.hmac import get_digest
        >>> get_digest("SHA256")().name
        'sha256'
    """
    constructor: Callable[..., _Hash] = getattr(hashlib, _digest_name(name))
    return constructor


def sign(digest_method: str, key: str | bytes, message: str | bytes) -> bytes:
    """Sign ``message`` with HMAC, as standard base64.

    This is the signer the documentation recommends
    (``THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"``); receivers can check it
    with any HMAC library.

    Arguments:
        digest_method: Digest name (see :data:`allowed_algorithms`).
        key: The subscriber's secret; :class:`str` is encoded as UTF-8.
        message: The exact request body; :class:`str` is encoded as UTF-8.

    Raises:
        ValueError: if ``digest_method`` is not allowed.

    Examples:
        >>> from thorn.utils.hmac import sign
        >>> sign("sha256", "secret", '{"event": "article.created"}')
        b'aSvd3zyRiyeBcJjzHhJFXvALfgpNrBq+Jl8RHP/6ln8='
    """
    mac = hmac.new(_to_bytes(key), _to_bytes(message), _digest_name(digest_method))
    return base64.b64encode(mac.digest())


def compat_sign(digest_method: str, key: str | bytes, message: str | bytes) -> bytes:
    """Sign ``message`` the way Thorn 1.5's default signer did.

    This is ``itsdangerous.Signer(key, digest_method=H).get_signature(message)``,
    as in Thorn 1.5: itsdangerous derives the HMAC key as
    ``H(b"itsdangerous.Signer" + b"signer" + key)`` (its default salt and its
    ``django-concat`` key derivation), and the signature is URL-safe base64
    without ``=`` padding.  Check it with :func:`compat_verify`.

    Arguments:
        digest_method: Digest name (see :data:`allowed_algorithms`); it is
            used both to derive the key and for the HMAC.
        key: The subscriber's secret; :class:`str` is encoded as UTF-8.
        message: The exact request body; :class:`str` is encoded as UTF-8.

    Raises:
        ValueError: if ``digest_method`` is not allowed.

    Examples:
        >>> from thorn.utils.hmac import compat_sign
        >>> compat_sign("sha256", "secret", '{"event": "article.created"}')
        b'8ulb__5cyeOhbKgWABx89VgVCeueOI8Yz5ZxZJ8E1Ow'
    """
    # A fresh Signer per call: the key and digest are the subscriber's own.
    signer = Signer(_to_bytes(key), digest_method=get_digest(digest_method))
    return signer.get_signature(_to_bytes(message))


def _matches(expected: bytes, digest: str | bytes) -> bool:
    return hmac.compare_digest(expected, _to_bytes(digest))


def verify(digest: str | bytes, digest_method: str, key: str | bytes, message: str | bytes) -> bool:
    """Tell whether ``digest`` is the :func:`sign` signature of ``message``.

    The comparison takes constant time (:func:`hmac.compare_digest`).

    Arguments:
        digest: The received signature (the ``Hook-HMAC`` header).
        digest_method: Digest name (see :data:`allowed_algorithms`).
        key: The subscriber's secret.
        message: The exact request body.

    Raises:
        ValueError: if ``digest_method`` is not allowed.

    Examples:
        >>> from thorn.utils.hmac import verify
        >>> verify(
        ...     "aSvd3zyRiyeBcJjzHhJFXvALfgpNrBq+Jl8RHP/6ln8=",
        ...     "sha256",
        ...     "secret",
        ...     '{"event": "article.created"}',
        ... )
        True
    """
    return _matches(sign(digest_method, key, message), digest)


def compat_verify(
    digest: str | bytes, digest_method: str, key: str | bytes, message: str | bytes
) -> bool:
    """Tell whether ``digest`` is the :func:`compat_sign` signature of ``message``.

    .. versionadded:: 2.0
        Thorn 1.5's :func:`verify` could not check its default signer.

    Arguments:
        digest: The received signature (the ``Hook-HMAC`` header).
        digest_method: Digest name (see :data:`allowed_algorithms`).
        key: The subscriber's secret.
        message: The exact request body.

    Raises:
        ValueError: if ``digest_method`` is not allowed.

    Examples:
        >>> from thorn.utils.hmac import compat_verify
        >>> compat_verify(
        ...     "8ulb__5cyeOhbKgWABx89VgVCeueOI8Yz5ZxZJ8E1Ow",
        ...     "sha256",
        ...     "secret",
        ...     '{"event": "article.created"}',
        ... )
        True
    """
    return _matches(compat_sign(digest_method, key, message), digest)


#: Prefix of a secret in the Standard Webhooks format (see :func:`signing_secret`).
SIGNING_SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)


def signing_secret(secret: str | bytes) -> str:
    """Return ``secret`` in the Standard Webhooks format: ``whsec_`` + base64 of its UTF-8 bytes.

    The key of the Standard Webhooks signatures of a subscription is its
    ``hmac_secret``, as UTF-8 bytes.  Standard Webhooks libraries take it in
    this form: ``standardwebhooks.Webhook(signing_secret(hmac_secret))``.

    .. versionadded:: 2.0

    Examples:
        >>> from thorn.utils.hmac import signing_secret
        >>> signing_secret("secret")
        'whsec_c2VjcmV0'
    """
    return SIGNING_SECRET_PREFIX + base64.b64encode(_to_bytes(secret)).decode("ascii")


def _signed_content(msg_id: str, timestamp: int | str, body: str | bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + _to_bytes(body)


def standard_sign(key: str | bytes, msg_id: str, timestamp: int | str, body: str | bytes) -> str:
    """Return the Standard Webhooks ``v1`` signature of a delivery (a ``webhook-signature`` entry).

    It is ``"v1,"`` followed by the standard base64 of the HMAC-SHA256 of
    ``f"{msg_id}.{timestamp}.{body}"`` (Standard Webhooks 1.0.0).

    .. versionadded:: 2.0

    Arguments:
        key: The signing key: the subscription's ``hmac_secret``
            (:class:`str` is encoded as UTF-8), not its ``whsec_`` form.
        msg_id: The delivery id (``webhook-id``).
        timestamp: The Unix time of the attempt (``webhook-timestamp``).
        body: The exact request body; :class:`str` is encoded as UTF-8.

    Examples:
        >>> import base64
        >>> from thorn.utils.hmac import standard_sign
        >>> key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        >>> standard_sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    mac = hmac.new(_to_bytes(key), _signed_content(msg_id, timestamp, body), "sha256")
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def standard_verify(
    signatures: str, key: str | bytes, msg_id: str, timestamp: int | str, body: str | bytes
) -> bool:
    """Tell whether one of ``signatures`` is the :func:`standard_sign` signature of a delivery.

    ``signatures`` is the ``webhook-signature`` header: space-separated
    ``<version>,<base64>`` entries.  Entries of other versions (``v1a``)
    and malformed entries are skipped; each ``v1`` entry is compared in
    constant time.  The timestamp is not checked against the clock: that is
    the receiver's tolerance (see :mod:`thorn.django.receiver`).

    .. versionadded:: 2.0

    Arguments:
        signatures: The ``webhook-signature`` header.
        key: The signing key (the subscription's ``hmac_secret``).
        msg_id: The ``webhook-id`` header.
        timestamp: The ``webhook-timestamp`` header, as sent.
        body: The exact request body.
    """
    expected = standard_sign(key, msg_id, timestamp, body).encode("ascii")
    found = False
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and signature:
            # Every entry is compared: the time taken does not tell which one matched.
            found |= _matches(expected, f"v1,{signature}")
    return found


def random_secret(length: int, chars: str = _SECRET_CHARS) -> str:
    """Return a random secret of ``length`` characters taken from ``chars``.

    .. versionchanged:: 2.0
        Uses the :mod:`secrets` module (a CSPRNG); Thorn 1.5 used
        :func:`random.choice`.

    Arguments:
        length: Number of characters.
        chars: Alphabet; by default the 92 ASCII letters, digits and
            punctuation characters other than ``"`` and ``'``.

    Raises:
        ValueError: if ``length`` is negative or ``chars`` is empty.

    Examples:
        >>> from thorn.utils.hmac import random_secret
        >>> len(random_secret(16))
        16
    """
    if length < 0:
        raise ValueError(f"secret length must not be negative, not {length!r}")
    if not chars:
        raise ValueError("the alphabet of a secret must not be empty")
    return "".join(secrets.choice(chars) for _ in range(length))


def random_secret64() -> str:
    """Return a random 64-character secret (the default subscriber secret).

    Examples:
        >>> from thorn.utils.hmac import random_secret64
        >>> len(random_secret64())
        64
    """
    return random_secret(64)
