"""The subscriber interface, and a mixin that implements it."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

__all__ = ["AbstractSubscriber", "SubscriberModelMixin", "pk_of"]


def pk_of(obj: Any) -> Any:
    """The primary key of a model instance (a user), or ``obj`` itself if it has none.

    Senders and owners are given as users or as their keys; this is how
    they are compared and sent to workers.
    """
    return getattr(obj, "pk", obj)


class AbstractSubscriber(abc.ABC):
    """What every subscriber provides (use it in :func:`isinstance` checks).

    A subscriber has ``uuid``, ``event`` (a pattern like ``"article.*"``),
    ``url``, ``user`` (the owner, or ``None``), ``hmac_secret``,
    ``hmac_digest`` and ``content_type`` attributes.
    Classes that do not inherit from it can be registered with
    ``AbstractSubscriber.register``, which also works as a class decorator.
    """

    uuid: Any
    event: str
    url: str
    user: Any
    hmac_secret: str
    hmac_digest: str
    content_type: str

    @abc.abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """Return a dictionary representation of the subscriber."""

    @abc.abstractmethod
    def user_ident(self) -> Any:
        """Return the owner's identity (a primary key), or ``None``."""


class SubscriberModelMixin:
    """Implements :class:`AbstractSubscriber`'s methods from the attributes."""

    uuid: Any
    event: str
    url: str
    user: Any
    hmac_secret: str
    hmac_digest: str
    content_type: str

    def user_ident(self) -> Any:
        """Return the owner's primary key, or ``None``."""
        return pk_of(self.user)

    def accepts(self, payload: Any) -> bool:
        """Return whether the subscriber receives ``payload``: always, without a filter.

        Stored subscriptions override it with their ``filter`` (see
        :mod:`thorn.generic.filters`).

        .. versionadded:: 2.0
        """
        return True

    def as_dict(self) -> dict[str, Any]:
        """Return the subscriber as a dictionary (it includes the secret)."""
        return {
            "uuid": str(self.uuid),
            "event": self.event,
            "user": self.user_ident(),
            "url": self.url,
            "hmac_secret": self.hmac_secret,
            "hmac_digest": self.hmac_digest,
            "content_type": self.content_type,
        }

    @classmethod
    def from_dict(cls, *args: Any, **kwargs: Any) -> Any:
        """Create a subscriber from a URL or the same arguments as :class:`dict`."""
        if args and isinstance(args[0], str):
            args = ({"url": args[0]}, *args[1:])
        fields: Mapping[str, Any] = dict(*args, **kwargs)
        return cls(**fields)
