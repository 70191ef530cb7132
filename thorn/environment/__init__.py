"""Framework integration: what thorn needs from the web framework it runs in."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from thorn.exceptions import ImproperlyConfigured
from thorn.store import Store

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.generic.models import AbstractSubscriber

__all__ = ["Environment", "envs"]

#: Environments tried in order by :meth:`thorn.Thorn.autodetect_env`.
envs = ["thorn.environment.django:DjangoEnv"]


class Environment:
    """No web framework: settings from a mapping, no stored subscribers.

    This is what thorn uses when no framework is detected, or when an app is
    created with ``Thorn(config={...})``.  Framework environments subclass it.

    Arguments:
        config: Settings as a mapping or an object with attributes.
    """

    #: Secret of the site, used to derive stable secrets for static
    #: subscribers given as a bare URL.
    secret_key: str | None = None

    def __init__(self, config: Any = None) -> None:
        self.config = config

    @staticmethod
    def autodetect() -> bool:
        """Return true if this environment should be used."""
        return False

    def stored_subscribers(
        self, event: str, sender: Any = None, uuids: Collection[str] | None = None
    ) -> Iterable[AbstractSubscriber]:
        """Return stored subscribers matching ``event`` (and ``sender``; only ``uuids``)."""
        return ()

    def may_receive(self, event: str) -> bool:
        """False when no stored subscription can receive ``event`` (none are stored, here)."""
        return False

    @property
    def signals(self) -> Any:
        """The module of signal dispatchers (``dispatches_on_*`` of model events)."""
        raise ImproperlyConfigured("model events need a web framework environment (Django)")

    def site_url(self) -> str | None:
        """The site's base URL, used to make ``ref`` paths absolute (none here)."""
        return None

    def on_commit(
        self, fun: Callable[..., Any], *args: Any, using: str | None = None, **kwargs: Any
    ) -> None:
        """Call ``fun`` when the transaction of database ``using`` commits (now, here)."""
        fun(*args, **kwargs)

    def in_transaction(self, using: str | None = None) -> bool:
        """Tell whether code runs inside a transaction of database ``using`` (never, here)."""
        return False

    def make_settings(self) -> Settings:
        """The ``THORN_*`` settings of ``config``, read live."""
        from thorn.conf import Settings

        return Settings(self.config)

    def release_connections(self) -> None:
        """Let go of this thread's database connections after a background job (none, here)."""

    def make_store(self, settings: Settings) -> Store:
        """The :class:`~thorn.store.Store` of an app with these settings: one that keeps nothing."""
        return Store()

    def reverse(self, view_name: str, *args: Any, **kwargs: Any) -> str:
        """Reverse a URL by view name."""
        raise ImproperlyConfigured("reversing URLs needs a web framework environment")
