"""Static subscribers, event patterns, and finding the subscribers of an event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid as uuid_module
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thorn.conf import MIME_JSON
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import AbstractSubscriber, SubscriberModelMixin, pk_of
from thorn.utils.ed25519 import SECRET_KEY_PREFIX, decode_key
from thorn.utils.imports import import_string
from thorn.utils.redact import redact_url

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = [
    "StaticSubscriber",
    "event_matches",
    "event_patterns",
    "is_event_pattern",
    "static_subscriber_errors",
    "subscribers_for_event",
]

#: Namespace of the stable uuids given to static subscribers.
STATIC_NAMESPACE = uuid_module.UUID("8a4e2f1c-6b1d-5c3e-9f70-1d2c3b4a5e6f")


def event_patterns(event: str) -> tuple[str, ...]:
    """Return the subscription patterns that match ``event``.

    An event ``"topic.rest"`` is matched by the patterns ``"topic.rest"``,
    ``"topic.*"``, ``"*.rest"`` and ``"*"`` (the name is split at its first
    dot), the same rule as Thorn 1.5's database query.
    """
    topic, dot, rest = event.partition(".")
    return (event, f"{topic}.*", f"*.{rest}" if dot else "*.", "*")


_WORD = r"[^\s.*]+"
_NAME = rf"{_WORD}(?:\.{_WORD})*"
_PATTERN = re.compile(rf"\*|{_WORD}\.\*|(?:\*\.)?{_NAME}")


def is_event_pattern(pattern: str) -> bool:
    """Return true if ``pattern`` is a subscription pattern that can match events.

    Valid patterns are an event name (dot-separated words, e.g.
    ``"article.created"``), ``"topic.*"``, ``"*.rest"`` and ``"*"``.
    Words contain no whitespace, dot or ``*``.
    """
    return _PATTERN.fullmatch(pattern) is not None


def event_matches(pattern: str, event: str) -> bool:
    """Return true if a subscription to ``pattern`` receives ``event``."""
    return pattern in event_patterns(event)


@dataclass(frozen=True)
class StaticSubscriber(SubscriberModelMixin, AbstractSubscriber):
    """A subscriber that is not stored: from ``THORN_SUBSCRIBERS`` or an event.

    ``hmac_secret`` may be a list of secrets, newest first, for the
    rotation of a secret: the first signs ``Hook-HMAC``, and every one signs
    ``webhook-signature`` (each gives one signature).  The first becomes
    ``hmac_secret`` and the others ``previous_hmac_secrets``.

    ``signing_key``, an Ed25519 private key (``whsk_...``) or a list of
    them, newest first, makes ``webhook-signature`` asymmetric: one ``v1a``
    signature per key, which receivers verify with the public keys
    (:func:`thorn.utils.ed25519.public_key_of`).  ``Hook-HMAC`` is still
    signed with ``hmac_secret``.

    .. versionchanged:: 2.0
        A subscriber given as a bare URL gets a stable uuid (derived from its
        pattern and URL) and a stable secret, not new random ones for every
        delivery.  ``hmac_secret`` may be a list of secrets.  ``signing_key``.
    """

    url: str
    event: str = "*"
    hmac_secret: str = field(default="", repr=False)
    #: The older secrets that still sign ``webhook-signature``, newest first.
    previous_hmac_secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Ed25519 private keys (``whsk_...``), newest first: when given, they
    #: sign ``webhook-signature`` (``v1a``, one signature each) instead of
    #: the secrets.  A string is one key.
    signing_key: tuple[str, ...] = field(default=(), repr=False)
    hmac_digest: str = "sha256"
    content_type: str = MIME_JSON
    user: Any = None
    uuid: uuid_module.UUID = field(default=None)  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Never the secret, and the URL without its credentials.
        url = redact_url(self.url)
        return f"StaticSubscriber(url={url!r}, event={self.event!r}, uuid={self.uuid!r})"

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ImproperlyConfigured(f"subscriber URL must be a non-empty string: {self.url!r}")
        object.__setattr__(self, "hmac_digest", self.hmac_digest.lower())
        secrets: Any = self.hmac_secret
        if isinstance(secrets, list | tuple):
            if not secrets or not all(isinstance(each, str) and each for each in secrets):
                raise ImproperlyConfigured(
                    f"the hmac_secret list of subscriber {redact_url(self.url)!r} "
                    "must hold non-empty strings, newest first"
                )
            object.__setattr__(self, "hmac_secret", secrets[0])
            object.__setattr__(
                self, "previous_hmac_secrets", (*secrets[1:], *self.previous_hmac_secrets)
            )
        object.__setattr__(self, "previous_hmac_secrets", tuple(self.previous_hmac_secrets))
        object.__setattr__(self, "signing_key", self._signing_keys(self.signing_key))
        if self.uuid is None:
            stable = uuid_module.uuid5(STATIC_NAMESPACE, f"{self.event} {self.url}")
            object.__setattr__(self, "uuid", stable)
        elif not isinstance(self.uuid, uuid_module.UUID):
            object.__setattr__(self, "uuid", uuid_module.UUID(str(self.uuid)))

    def _signing_keys(self, keys: Any) -> tuple[str, ...]:
        keys = (keys,) if isinstance(keys, str) else keys
        where = f"the signing_key of subscriber {redact_url(self.url)!r}"
        if not isinstance(keys, list | tuple):
            raise ImproperlyConfigured(f"{where} must be a whsk_ key or a list of them")
        for key in keys:
            try:
                decode_key(key, SECRET_KEY_PREFIX)
            except ValueError as exc:  # the message never repeats the key
                raise ImproperlyConfigured(f"{where}: {exc}") from None
        return tuple(keys)

    def signing_keys(self, at: float) -> tuple[str, ...]:
        """Return the Ed25519 private keys that sign ``webhook-signature``: ``signing_key``.

        .. versionadded:: 2.0
        """
        return self.signing_key

    def signing_secrets(self, at: float) -> tuple[str, ...]:
        """Return the secrets that sign ``webhook-signature``: every one, newest first.

        .. versionadded:: 2.0
        """
        return (self.hmac_secret, *self.previous_hmac_secrets)


def static_secret(app: Thorn, url: str) -> str:
    """Return the secret used for a static subscriber that did not give one.

    ``THORN_SUBSCRIBERS_SECRET`` if set, else a secret derived from the
    environment's secret key (Django's ``SECRET_KEY``) and the URL.
    """
    secret: str | None = app.settings.THORN_SUBSCRIBERS_SECRET
    if secret:
        return secret
    key = app.env.secret_key
    if not key:
        raise ImproperlyConfigured(
            f"static subscriber {url!r} has no hmac_secret: "
            "set THORN_SUBSCRIBERS_SECRET or give the subscriber a secret"
        )
    digest = hmac.new(key.encode(), f"thorn.static-subscriber:{url}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def _from_item(app: Thorn, item: Any, pattern: str) -> StaticSubscriber:
    fields = {"url": item} if isinstance(item, str) else dict(item)
    unknown = set(fields) - set(StaticSubscriber.__dataclass_fields__)
    if unknown:
        raise ImproperlyConfigured(f"unknown subscriber fields {sorted(unknown)} in {item!r}")
    if not fields.get("url"):
        raise ImproperlyConfigured(f"subscriber has no url: {item!r}")
    fields.setdefault("event", pattern)
    if not fields.get("hmac_secret"):
        fields["hmac_secret"] = static_secret(app, fields.get("url", ""))
    return StaticSubscriber(**fields)


def _traverse(
    app: Thorn, items: Any, pattern: str, event: str, sender: Any, context: Mapping[str, Any]
) -> Iterator[AbstractSubscriber]:
    if not items:
        return
    if isinstance(items, (str, Mapping, AbstractSubscriber)) or callable(items):
        items = [items]
    for item in items:
        if not item:
            continue
        if isinstance(item, str) and item.startswith("!"):
            item = import_string(item[1:], "THORN_SUBSCRIBERS")
        if isinstance(item, AbstractSubscriber):
            yield item
        elif isinstance(item, (str, Mapping)):
            yield _from_item(app, item, pattern)
        elif callable(item):
            yield from _traverse(
                app, item(event, sender=sender, **context), pattern, event, sender, context
            )
        elif isinstance(item, Iterable):
            yield from _traverse(app, item, pattern, event, sender, context)
        else:
            raise ImproperlyConfigured(f"not a subscriber: {item!r}")


def static_subscriber_errors(app: Thorn) -> list[str]:
    """Return what is wrong with ``THORN_SUBSCRIBERS`` (empty when it is valid).

    Keys must be event patterns; URLs, dicts and ``"!path"`` strings are
    checked as they would be at dispatch.  Callables are not called.
    """
    static = app.settings.raw("THORN_SUBSCRIBERS")
    if not isinstance(static, Mapping):
        return [f"THORN_SUBSCRIBERS must be a mapping of event pattern to subscribers: {static!r}"]
    errors = []
    for pattern, items in static.items():
        if isinstance(pattern, str) and is_event_pattern(pattern):
            errors.extend(_item_errors(app, items, pattern))
        else:
            errors.append(f"THORN_SUBSCRIBERS: {pattern!r} is not an event pattern")
    return errors


def _item_errors(app: Thorn, items: Any, pattern: str) -> list[str]:
    if isinstance(items, (str, Mapping, AbstractSubscriber)) or callable(items):
        items = [items]
    elif not isinstance(items, Iterable):
        return [f"THORN_SUBSCRIBERS[{pattern!r}]: not a subscriber: {items!r}"]
    errors = []
    for item in items:
        try:
            if not item or isinstance(item, AbstractSubscriber) or callable(item):
                continue
            if isinstance(item, str) and item.startswith("!"):
                import_string(item[1:], "THORN_SUBSCRIBERS")
            elif isinstance(item, (str, Mapping)):
                _from_item(app, item, pattern)
            elif isinstance(item, Iterable):
                errors.extend(_item_errors(app, item, pattern))
            else:
                errors.append(f"THORN_SUBSCRIBERS[{pattern!r}]: not a subscriber: {item!r}")
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            errors.append(f"THORN_SUBSCRIBERS[{pattern!r}]: {exc}")
    return errors


def _receives(subscriber: AbstractSubscriber, sender: Any) -> bool:
    # Ownerless subscriptions receive every event; owned ones receive events
    # without a sender and events sent by their owner.
    owner = subscriber.user_ident()
    return owner is None or sender is None or owner == pk_of(sender)


def subscribers_for_event(
    app: Thorn,
    event: str,
    sender: Any = None,
    context: Mapping[str, Any] | None = None,
    extra_subscribers: Any = None,
    uuids: Collection[str] | None = None,
) -> list[AbstractSubscriber]:
    """Return the subscribers of ``event``, each once.

    Sources, in order: ``THORN_SUBSCRIBERS`` (matched by the same patterns
    as stored subscriptions), the stored subscriptions of the environment,
    and ``extra_subscribers`` (an event's own).  Items can be URLs, dicts,
    subscriber objects, ``"!path.to:callable"`` strings, callables called
    as ``fn(event, sender=sender, **context)``, or lists of these.
    Duplicates (the same uuid) are dropped, and subscriptions owned by
    another user than ``sender`` are left out.  With ``uuids``, only those
    subscribers are returned (and only those are read from the database).
    """
    context = context or {}
    static = app.settings.THORN_SUBSCRIBERS
    if not isinstance(static, Mapping):
        raise ImproperlyConfigured(f"THORN_SUBSCRIBERS must be a mapping, not {static!r}")

    def sources() -> Iterator[AbstractSubscriber]:
        for pattern, items in static.items():
            if event_matches(pattern, event):
                yield from _traverse(app, items, pattern, event, sender, context)
        yield from app.env.stored_subscribers(event, sender, uuids)
        yield from _traverse(app, extra_subscribers, event, event, sender, context)

    seen: set[str] = set()
    found = []
    for subscriber in sources():
        key = str(subscriber.uuid)
        if uuids is not None and key not in uuids:
            continue
        if key not in seen and _receives(subscriber, sender):
            seen.add(key)
            found.append(subscriber)
    return found
