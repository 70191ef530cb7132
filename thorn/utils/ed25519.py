"""Ed25519 keys and Standard Webhooks ``v1a`` (asymmetric) signatures.

A subscription that signs with Ed25519 has a key pair: the private key
(``whsk_`` + base64 of its 32 raw bytes) stays with the sender, and the
receiver verifies with the public key (``whpk_`` + base64 of its 32 raw
bytes).  A ``v1a`` signature is ``"v1a,"`` and the standard base64 of the
Ed25519 signature of ``f"{msg_id}.{timestamp}.{body}"``, the same signed
content as ``v1`` (Standard Webhooks 1.0.0).

The keys and signatures are made by the ``cryptography`` package, which is
optional: ``pip install "thorn[ed25519]"``.  It is imported when a key is
first used, never at import time, so that thorn imports without it; using a
key without it raises :exc:`~thorn.exceptions.ImproperlyConfigured`, whose
message says what to install.

.. versionadded:: 2.0
"""

from __future__ import annotations

import base64
import binascii
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from thorn.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519 as _ed25519

__all__ = [
    "INSTALL_HINT",
    "PUBLIC_KEY_PREFIX",
    "SECRET_KEY_PREFIX",
    "asymmetric_sign",
    "asymmetric_verify",
    "available",
    "decode_key",
    "generate_secret_key",
    "public_key_of",
]

#: Prefix of an Ed25519 public key in the Standard Webhooks format.
PUBLIC_KEY_PREFIX = "whpk_"
#: Prefix of an Ed25519 private key in the Standard Webhooks format.
SECRET_KEY_PREFIX = "whsk_"  # noqa: S105 (a format prefix, not a secret)
#: What to install for Ed25519 signatures (in the errors that need it).
INSTALL_HINT = 'pip install "thorn[ed25519]" (the cryptography package)'

_KEY_SIZE = 32


def available() -> bool:
    """Tell whether Ed25519 signatures can be made here (``cryptography`` is installed)."""
    try:
        return find_spec("cryptography") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return False


def _module() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Ed25519 signatures need the cryptography package: {INSTALL_HINT}"
        ) from exc
    return ed25519


def decode_key(value: str, prefix: str) -> bytes:
    """Return the 32 raw bytes of a ``whsk_`` or ``whpk_`` key (``prefix`` says which).

    Raises:
        ValueError: if ``value`` does not start with ``prefix``, or is not
            the base64 of 32 bytes.  The message never repeats the value.
    """
    if not isinstance(value, str) or not value.startswith(prefix):
        raise ValueError(f"not a {prefix} key")
    try:
        raw = base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a {prefix} key must be the base64 of 32 bytes") from None
    if len(raw) != _KEY_SIZE:
        raise ValueError(f"a {prefix} key must be the base64 of 32 bytes, not {len(raw)}")
    return raw


def _encode(prefix: str, raw: bytes) -> str:
    return prefix + base64.b64encode(raw).decode("ascii")


def _private(secret_key: str) -> _ed25519.Ed25519PrivateKey:
    key: _ed25519.Ed25519PrivateKey = _module().Ed25519PrivateKey.from_private_bytes(
        decode_key(secret_key, SECRET_KEY_PREFIX)
    )
    return key


def generate_secret_key() -> str:
    """Return a new random Ed25519 private key, as ``whsk_`` + base64.

    Raises:
        ImproperlyConfigured: if ``cryptography`` is not installed.
    """
    key = _module().Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return _encode(SECRET_KEY_PREFIX, raw)


def public_key_of(secret_key: str) -> str:
    """Return the public key (``whpk_`` + base64) of a ``whsk_`` private key.

    Raises:
        ImproperlyConfigured: if ``cryptography`` is not installed.
        ValueError: if ``secret_key`` is not a ``whsk_`` key.
    """
    private = _private(secret_key)
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _encode(PUBLIC_KEY_PREFIX, raw)


def _signed_content(msg_id: str, timestamp: int | str, body: str | bytes) -> bytes:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return f"{msg_id}.{timestamp}.".encode() + data


def asymmetric_sign(secret_key: str, msg_id: str, timestamp: int | str, body: str | bytes) -> str:
    """Return the Standard Webhooks ``v1a`` signature of a delivery (a ``webhook-signature`` entry).

    Arguments:
        secret_key: The subscription's private key (``whsk_...``).
        msg_id: The delivery id (``webhook-id``).
        timestamp: The Unix time of the attempt (``webhook-timestamp``).
        body: The exact request body; :class:`str` is encoded as UTF-8.

    Raises:
        ImproperlyConfigured: if ``cryptography`` is not installed.
        ValueError: if ``secret_key`` is not a ``whsk_`` key.
    """
    signature = _private(secret_key).sign(_signed_content(msg_id, timestamp, body))
    return "v1a," + base64.b64encode(signature).decode("ascii")


def asymmetric_verify(
    signatures: str, public_key: str | bytes, msg_id: str, timestamp: int | str, body: str | bytes
) -> bool:
    """Tell whether one of ``signatures`` is a ``v1a`` signature of a delivery by ``public_key``.

    ``signatures`` is the ``webhook-signature`` header: space-separated
    ``<version>,<base64>`` entries.  Entries of other versions (``v1``),
    malformed entries and signatures that are not 64 bytes are skipped.
    The timestamp is not checked against the clock: that is the receiver's
    tolerance (see :mod:`thorn.django.receiver`).

    Arguments:
        signatures: The ``webhook-signature`` header.
        public_key: The subscription's public key, ``whpk_...`` or its 32 raw bytes.
        msg_id: The ``webhook-id`` header.
        timestamp: The ``webhook-timestamp`` header, as sent.
        body: The exact request body.

    Raises:
        ImproperlyConfigured: if ``cryptography`` is not installed.
        ValueError: if ``public_key`` is not a ``whpk_`` key (or 32 bytes).
    """
    module = _module()
    from cryptography.exceptions import InvalidSignature

    raw = public_key if isinstance(public_key, bytes) else decode_key(public_key, PUBLIC_KEY_PREFIX)
    if len(raw) != _KEY_SIZE:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    key = module.Ed25519PublicKey.from_public_bytes(raw)
    content = _signed_content(msg_id, timestamp, body)
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1a" or not encoded:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(signature) != 64:
            continue
        try:
            key.verify(signature, content)
        except InvalidSignature:
            continue
        return True
    return False
