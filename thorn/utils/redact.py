"""Credentials out of sight: URLs as logs, errors and lists may show them.

A subscriber URL can carry credentials: ``https://user:password@host/``, or
``?token=...`` in its query.  Wherever thorn shows a URL to someone else than
its owner (log lines, exception messages, ``repr()``, the admin's list), it
shows :func:`redact_url` of it instead.

.. versionadded:: 2.0
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_WORDS", "is_secret_name", "redact_text", "redact_url"]

#: What replaces a secret.
MASK = "***"
#: A query parameter whose name contains one of these (in any case) is secret.
SECRET_WORDS = ("token", "key", "secret", "signature", "password", "passwd", "auth", "sig")


def is_secret_name(name: str) -> bool:
    """Tell whether a query parameter named ``name`` probably holds a secret."""
    lowered = unquote(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def _redact_pairs(text: str) -> str:
    pairs = []
    for pair in text.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value and is_secret_name(name) else pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """Return ``url`` with its userinfo and its secret-looking parameters masked.

    ``https://user:pass@example.com/hook?token=abc&page=2`` becomes
    ``https://***@example.com/hook?token=***&page=2``.  A URL with nothing to
    hide is returned as it is; one that cannot be parsed is masked whole.

    Examples:
        >>> from thorn.utils.redact import redact_url
        >>> redact_url("https://user:pass@example.com/hook?api_key=abc&page=2")
        'https://***@example.com/hook?api_key=***&page=2'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = _redact_pairs(parts.query) if parts.query else parts.query
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: str, url: str) -> str:
    """Return ``text`` (an error message) with the secrets of ``url`` masked in it.

    Libraries quote URLs in their messages in pieces: the whole URL, the
    path with its query (``url: /hook?token=abc``), the userinfo.
    """
    redacted = redact_url(url)
    if redacted == url:
        return text
    text = text.replace(url, redacted)
    try:
        raw, safe = urlsplit(url), urlsplit(redacted)
    except ValueError:
        return text
    if raw.query != safe.query:
        text = text.replace(raw.query, safe.query)
    if raw.fragment != safe.fragment:
        text = text.replace(raw.fragment, safe.fragment)
    userinfo = raw.netloc.rpartition("@")[0]
    if userinfo:
        text = text.replace(userinfo, MASK)
    return text
