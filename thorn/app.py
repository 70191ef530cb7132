"""The Thorn application: settings, dispatcher, environment and buffer."""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from thorn import _state
from thorn._version import __version__
from thorn.buffer import Buffers, EventBuffer
from thorn.conf import Settings
from thorn.environment import Environment, envs
from thorn.exceptions import ImproperlyConfigured
from thorn.transport import BaseTransport, Transport
from thorn.utils.imports import import_string

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from thorn.dispatch.base import Dispatcher as BaseDispatcher
    from thorn.events import Event, ModelEvent
    from thorn.request import Request
    from thorn.store import Store

__all__ = ["Thorn"]

_D = TypeVar("_D", bound="BaseDispatcher")


class Thorn:
    """The Thorn application.

    Most projects never create one: the default app is created on first use
    and reads its settings from the detected environment (Django's settings
    when ``DJANGO_SETTINGS_MODULE`` is set).

    Arguments:
        dispatcher: A dispatcher alias (``"default"``, ``"celery"``,
            ``"tasks"``, ``"disabled"``), a ``"module:Class"`` path, or a class;
            ``THORN_DISPATCHER`` by default.
        set_as_current: Make this the current app of this thread/context.
        config: Settings (a mapping or an object) for use without a web
            framework.  When given, no environment is autodetected.
        env: An :class:`~thorn.environment.Environment` to use.
        transport: The :class:`~thorn.transport.BaseTransport` that sends
            every delivery; by default a :class:`~thorn.transport.Transport`
            made from ``THORN_ALLOW_REDIRECTS`` and ``THORN_MAX_RESPONSE_SIZE``.

    .. versionchanged:: 2.0
        Added ``config``, ``env`` and ``transport``.
    """

    #: Dispatcher aliases accepted by ``THORN_DISPATCHER``.
    dispatchers = {
        "default": "thorn.dispatch.base:Dispatcher",
        "background": "thorn.dispatch.background:Dispatcher",
        "celery": "thorn.dispatch.celery:Dispatcher",
        "disabled": "thorn.dispatch.disabled:Dispatcher",
        "tasks": "thorn.dispatch.tasks:Dispatcher",
    }
    #: Environments tried in order by :meth:`autodetect_env`.
    environments = envs
    event_cls = "thorn.events:Event"
    model_event_cls = "thorn.events:ModelEvent"
    request_cls = "thorn.request:Request"

    def __init__(
        self,
        dispatcher: str | type[BaseDispatcher] | None = None,
        set_as_current: bool = True,
        *,
        config: Any = None,
        env: Environment | None = None,
        transport: BaseTransport | None = None,
    ) -> None:
        self._dispatcher_option = dispatcher
        self._config = config
        self._env = env
        self._transport = transport
        self._http_transport: tuple[tuple[Any, ...], Transport] | None = None
        self._dispatchers: dict[type[BaseDispatcher], BaseDispatcher] = {}
        self._dispatcher_classes: dict[str, type[BaseDispatcher]] = {}
        self._current_dispatcher: tuple[Any, BaseDispatcher] | None = None
        self._classes: dict[str, Any] = {}
        #: The event buffer of each thread/context (see :mod:`thorn.buffer`).
        self.buffers = Buffers(f"thorn_buffer_{id(self):x}")
        if set_as_current:
            self.set_current()

    def set_current(self) -> None:
        """Make this the current app of this thread/context."""
        _state.set_current_app(self)

    def set_default(self) -> None:
        """Make this the default app of the process."""
        _state.set_default_app(self)

    # -- environment and settings

    def autodetect_env(self) -> Environment | None:
        """Return the first environment whose ``autodetect()`` is true."""
        for path in self.environments:
            env_cls = import_string(path)
            if env_cls.autodetect():
                env: Environment = env_cls()
                return env
        return None

    @cached_property
    def env(self) -> Environment:
        """The framework environment (:class:`~thorn.environment.Environment`)."""
        if self._env is not None:
            return self._env
        if self._config is not None:
            return Environment(self._config)
        return self.autodetect_env() or Environment()

    @property
    def config(self) -> Any:
        """The environment's configuration object (Django's settings)."""
        return self.env.config

    @cached_property
    def settings(self) -> Settings:
        """``THORN_*`` settings, read live from :attr:`config`."""
        return self.env.make_settings()

    @cached_property
    def store(self) -> Store:
        """Where messages and deliveries are kept (:mod:`thorn.store`), from the environment."""
        return self.env.make_store(self.settings)

    # -- dispatch

    @property
    def Dispatcher(self) -> type[BaseDispatcher]:
        """The dispatcher class chosen by the constructor or ``THORN_DISPATCHER``."""
        option = self._dispatcher_option or self.settings.THORN_DISPATCHER
        if isinstance(option, type):
            return option
        setting = "dispatcher" if self._dispatcher_option else "THORN_DISPATCHER"
        if not isinstance(option, str):
            raise ImproperlyConfigured(f"{setting}={option!r} is not an alias, path or class")
        found = self._dispatcher_classes.get(option)
        if found is None:
            found = self._dispatcher_classes[option] = self._import_dispatcher(option, setting)
        return found

    def _import_dispatcher(self, option: str, setting: str) -> type[BaseDispatcher]:
        path = self.dispatchers.get(option, option)
        if ":" not in path and "." not in path:
            raise ImproperlyConfigured(
                f"{setting}={option!r} is not one of {sorted(self.dispatchers)} "
                "nor a 'module:Class' path"
            )
        dispatcher_cls: type[BaseDispatcher] = import_string(path, setting)
        if not (
            isinstance(dispatcher_cls, type) and callable(getattr(dispatcher_cls, "send", None))
        ):
            raise ImproperlyConfigured(
                f"{setting}={option!r} is not a dispatcher class (it has no send method)"
            )
        return dispatcher_cls

    @property
    def dispatcher(self) -> BaseDispatcher:
        """The dispatcher instance (one per dispatcher class)."""
        option = self._dispatcher_option or self.settings.THORN_DISPATCHER
        current = self._current_dispatcher
        if current is not None and current[0] is option:
            return current[1]
        dispatcher = self.dispatcher_of(self.Dispatcher)
        self._current_dispatcher = (option, dispatcher)
        return dispatcher

    def dispatcher_of(self, cls: type[_D]) -> _D:
        """This app's instance of dispatcher class ``cls`` (made on first use)."""
        dispatcher = self._dispatchers.get(cls)
        if dispatcher is None:
            dispatcher = self._dispatchers[cls] = cls(app=self)
        return dispatcher  # type: ignore[return-value]

    @property
    def transport(self) -> BaseTransport:
        """The :class:`~thorn.transport.BaseTransport` that sends every delivery.

        The one given to the app, else a :class:`~thorn.transport.Transport`
        made from ``THORN_ALLOW_REDIRECTS`` and ``THORN_MAX_RESPONSE_SIZE``
        (made again when they change).
        """
        if self._transport is not None:
            return self._transport
        key = (self.settings.THORN_ALLOW_REDIRECTS, self.settings.THORN_MAX_RESPONSE_SIZE)
        if self._http_transport is None or self._http_transport[0] != key:
            allow_redirects, max_response_size = key
            transport = Transport(
                allow_redirects=bool(allow_redirects), max_response_size=int(max_response_size)
            )
            self._http_transport = (key, transport)
        return self._http_transport[1]

    @transport.setter
    def transport(self, transport: BaseTransport | None) -> None:
        self._transport = transport

    @contextmanager
    def use_transport(self, transport: BaseTransport) -> Iterator[BaseTransport]:
        """Send this app's deliveries with ``transport`` inside the block.

        For tests: see :func:`thorn.testing.capture_webhooks`.  The previous
        transport is back when the block ends.
        """
        previous, self._transport = self._transport, transport
        try:
            yield transport
        finally:
            self._transport = previous

    @property
    def hmac_sign(self) -> Callable[..., Any]:
        """The signing function named by ``THORN_HMAC_SIGNER``."""
        signer: Callable[..., Any] = self.settings.THORN_HMAC_SIGNER
        return signer

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` of deliveries (``THORN_USER_AGENT``)."""
        configured: str | None = self.settings.THORN_USER_AGENT
        return configured or _default_user_agent()

    def encode(self, payload: Any, content_type: str) -> str:
        """Encode ``payload`` with the ``THORN_CODECS`` codec of ``content_type``.

        Raises:
            ImproperlyConfigured: if no codec handles ``content_type``.
        """
        codec = self.settings.THORN_CODECS.get(content_type)
        if codec is None:
            raise ImproperlyConfigured(
                f"no codec for content type {content_type!r} in THORN_CODECS"
            )
        encoded: str = codec(payload)
        return encoded

    def _class(self, path: str) -> Any:
        # Import paths of classes are resolved once per app, not per delivery.
        found = self._classes.get(path)
        if found is None:
            found = self._classes[path] = import_string(path)
        return found

    @property
    def request_class(self) -> type[Request]:
        """The :class:`~thorn.request.Request` class (``request_cls``)."""
        cls: type[Request] = self._class(self.request_cls)
        return cls

    def Event(self, *args: Any, **kwargs: Any) -> Event:
        """Create an :class:`~thorn.events.Event` bound to this app."""
        event: Event = self._class(self.event_cls)(*args, app=self, **kwargs)
        return event

    def ModelEvent(self, *args: Any, **kwargs: Any) -> ModelEvent:
        """Create a :class:`~thorn.events.ModelEvent` bound to this app."""
        event: ModelEvent = self._class(self.model_event_cls)(*args, app=self, **kwargs)
        return event

    def Request(self, *args: Any, **kwargs: Any) -> Request:
        """Create a :class:`~thorn.request.Request` bound to this app."""
        return self.request_class(*args, **{"app": self, **kwargs})

    # -- framework services

    def on_commit(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``fun`` when the current database transaction commits."""
        self.env.on_commit(fun, *args, **kwargs)

    def reverse(self, view_name: str, *args: Any, **kwargs: Any) -> str:
        """Reverse a URL through the environment (``django.urls.reverse``)."""
        return self.env.reverse(view_name, *args, **kwargs)

    def absolute_url(self, url: str) -> str:
        """Return ``url`` prefixed with the site's base URL if it is a path.

        The base is ``THORN_BASE_URL``, else the environment's site URL
        (the current ``Site`` with Django's Sites framework).  A full URL,
        or a path when there is no base, is returned as it is.
        """
        if not url.startswith("/") or url.startswith("//"):
            return url
        base: str | None = self.settings.THORN_BASE_URL or self.env.site_url()
        return base.rstrip("/") + url if base else url

    # -- buffering

    @property
    def active_buffer(self) -> EventBuffer | None:
        """The buffer of this thread/context, when buffering is on."""
        return self.buffers.active

    def enable_buffer(self, owner: object | None = None) -> None:
        """Buffer events sent in this thread/context instead of sending them.

        Does nothing when buffering is already on (the first owner stays).
        Flush with :meth:`flush_buffer`, e.g. at the end of a web request.
        """
        self.buffers.enable(owner)

    def disable_buffer(self, owner: object | None = None) -> None:
        """Turn buffering off (only the owner, or anyone when ``owner`` is None).

        Raises:
            BufferNotEmpty: if events are still buffered.
        """
        self.buffers.disable(owner)

    def flush_buffer(self, owner: object | None = None) -> None:
        """Send the buffered events (only the owner, or anyone when ``owner`` is None).

        Each dispatcher sends its events in its own way: the default
        dispatcher one by one, the celery dispatcher in chunks.
        Events sent while flushing (by a callback) are not buffered.
        Every event is attempted; failures are logged and the first error is
        raised once all were attempted.
        """
        self.buffers.flush(owner)


def _default_user_agent() -> str:
    return f"Mozilla/5.0 (compatible; thorn/{__version__}; python-requests/{requests.__version__})"


_state.set_default_factory(lambda: Thorn(set_as_current=False))
