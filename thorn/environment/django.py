"""Django environment: settings, stored subscribers, transactions and URLs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Iterable
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from thorn.conf import Settings
from thorn.environment import Environment
from thorn.utils.imports import import_string

if TYPE_CHECKING:
    from thorn.generic.models import AbstractSubscriber
    from thorn.store import Store

__all__ = ["DjangoEnv"]

#: Default of ``THORN_SUBSCRIBER_MODEL``.
DEFAULT_SUBSCRIBER_MODEL = "thorn.django.models:Subscriber"


class DjangoEnv(Environment):
    """Thorn's Django environment, selected when ``DJANGO_SETTINGS_MODULE`` is set.

    Django is imported lazily, so importing thorn does not import Django.
    """

    def __init__(self, config: Any = None) -> None:
        from django.conf import settings

        super().__init__(settings if config is None else config)

    @staticmethod
    def autodetect(env: str = "DJANGO_SETTINGS_MODULE") -> bool:
        """Return true if Django is configured.

        That is, ``DJANGO_SETTINGS_MODULE`` is set, or Django is already
        imported and configured with ``settings.configure()``.
        """
        if os.environ.get(env):
            return True
        conf = sys.modules.get("django.conf")
        return conf is not None and bool(conf.settings.configured)

    @property
    def secret_key(self) -> str | None:  # type: ignore[override]
        """Django's ``SECRET_KEY``."""
        return getattr(self.config, "SECRET_KEY", None) or None

    @property
    def Subscriber(self) -> type[Any]:
        """The subscriber model named by ``THORN_SUBSCRIBER_MODEL``."""
        path = getattr(self.config, "THORN_SUBSCRIBER_MODEL", None) or DEFAULT_SUBSCRIBER_MODEL
        model: type[Any] = import_string(path, "THORN_SUBSCRIBER_MODEL")
        return model

    def stored_subscribers(
        self, event: str, sender: Any = None, uuids: Collection[str] | None = None
    ) -> Iterable[AbstractSubscriber]:
        """Return the subscriptions stored in the database that match ``event``.

        Answered by the subscription index (:mod:`thorn.django.index`).
        With ``uuids``, only those subscriptions are returned (the worker
        loading the subscribers of one chunk).  Empty when neither the
        ``thorn.django`` app is installed nor ``THORN_SUBSCRIBER_MODEL`` is set.
        """
        index = self._index()
        if index is None:
            return ()
        subscribers = index.subscribers(event, sender)
        if uuids is not None:
            return [s for s in subscribers if str(s.uuid) in uuids]
        found: Iterable[AbstractSubscriber] = subscribers
        return found

    def may_receive(self, event: str) -> bool:
        """False when no stored subscription matches ``event`` (no query: see the index)."""
        index = self._index()
        return index is not None and index.may_receive(event)

    def _index(self) -> Any:
        """The subscription index of the subscriber model (:mod:`thorn.django.index`)."""
        from django.apps import apps

        custom = getattr(self.config, "THORN_SUBSCRIBER_MODEL", None)
        if not custom and not apps.is_installed("thorn.django"):
            return None
        from thorn.django.index import index_of

        return index_of(self.Subscriber, self._index_max_age)

    def _index_max_age(self) -> float:
        return float(self._settings.THORN_INDEX_MAX_AGE)

    @cached_property
    def _settings(self) -> Settings:
        return Settings(self.config)

    @property
    def signals(self) -> Any:
        """:mod:`thorn.django.signals`."""
        from thorn.django import signals

        return signals

    def site_url(self) -> str | None:
        """``https://<domain>`` of the current ``Site``, if ``django.contrib.sites`` is installed.

        ``None`` when the Sites framework is not installed or ``SITE_ID`` is
        not set.
        """
        from django.apps import apps

        if not apps.is_installed("django.contrib.sites") or not getattr(
            self.config, "SITE_ID", None
        ):
            return None
        from django.contrib.sites.models import Site

        return f"https://{Site.objects.get_current().domain}"

    def on_commit(
        self, fun: Callable[..., Any], *args: Any, using: str | None = None, **kwargs: Any
    ) -> None:
        """Call ``fun`` when the transaction of database ``using`` commits.

        Outside a transaction (autocommit) Django calls it immediately; if
        the transaction rolls back it is never called.
        """
        from django.db import transaction

        transaction.on_commit(partial(fun, *args, **kwargs), using=using)

    def in_transaction(self, using: str | None = None) -> bool:
        """Tell whether code runs inside ``transaction.atomic()`` on database ``using``."""
        from django.db import transaction

        return bool(transaction.get_connection(using).in_atomic_block)

    def make_store(self, settings: Settings) -> Store:
        """A :class:`~thorn.django.store.DjangoStore` when the ``thorn.django`` app is installed.

        Without it there are no tables to keep records in: the store keeps
        nothing.
        """
        from django.apps import apps

        if not apps.is_installed("thorn.django"):
            return super().make_store(settings)
        from thorn.django.store import DjangoStore

        return DjangoStore(settings, self.Subscriber)

    def reverse(self, view_name: str, *args: Any, **kwargs: Any) -> str:
        """Reverse a URL with :func:`django.urls.reverse`."""
        from django.urls import reverse

        return reverse(view_name, *args, **kwargs)
