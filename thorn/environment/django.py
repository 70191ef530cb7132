"""Django environment: settings, stored subscribers, transactions and URLs."""

from __future__ import annotations

import os
import sys
import weakref
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

_UNKNOWN = object()


class DjangoEnv(Environment):
    """Thorn's Django environment, selected when ``DJANGO_SETTINGS_MODULE`` is set.

    Django is imported lazily, so importing thorn does not import Django.
    """

    def __init__(self, config: Any = None) -> None:
        from django.conf import settings
        from django.core.signals import setting_changed

        super().__init__(settings if config is None else config)
        self._made: weakref.WeakSet[Settings] = weakref.WeakSet()
        self._found_index: Any = _UNKNOWN
        # Django sends it for override_settings() and pytest-django's settings.
        setting_changed.connect(self._setting_changed)

    def _setting_changed(self, **kwargs: Any) -> None:
        """Read the settings again, and find the subscription index again."""
        for settings in list(self._made):
            settings.forget()
        self._found_index = _UNKNOWN

    def make_settings(self) -> Settings:
        """The ``THORN_*`` settings, read once until Django says a setting changed."""
        settings = Settings(self.config, cached=True)
        self._made.add(settings)
        return settings

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
        found: Iterable[AbstractSubscriber] = index.subscribers(event, sender, uuids)
        return found

    def may_receive(self, event: str) -> bool:
        """False when no stored subscription matches ``event`` (no query: see the index)."""
        index = self._index()
        return index is not None and index.may_receive(event)

    def _index(self) -> Any:
        """The subscription index of the subscriber model (:mod:`thorn.django.index`)."""
        found = self._found_index
        if found is _UNKNOWN:
            from django.apps import apps

            custom = getattr(self.config, "THORN_SUBSCRIBER_MODEL", None)
            if not custom and not apps.is_installed("thorn.django"):
                found = None
            else:
                from thorn.django.index import index_of

                found = index_of(self.Subscriber, self._index_max_age)
            self._found_index = found
        return found

    def _index_max_age(self) -> float:
        return float(self._settings.THORN_INDEX_MAX_AGE)

    @cached_property
    def _settings(self) -> Settings:
        return self.make_settings()

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

    def release_connections(self) -> None:
        """Close this thread's database connections that are broken or past ``CONN_MAX_AGE``.

        Django does this at the end of each web request; a background
        thread does it at the end of each job.
        """
        from django.db import close_old_connections

        close_old_connections()

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
