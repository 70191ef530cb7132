"""Events: what subscribers subscribe to, and how an event is sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.validators import deserialize_validators

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.dispatch.base import Dispatcher
    from thorn.generic.models import AbstractSubscriber

__all__ = ["Event"]

Callback = Callable[..., Any]


class Event:
    """A webhook event.

    Arguments:
        name: Name of the event.  Namespaces are dot-separated, and
            subscribers can match parts of it, e.g. ``"order.*"``.

    Keyword Arguments:
        timeout: Default delivery timeout of this event, in seconds
            (``THORN_EVENT_TIMEOUT`` by default).
        dispatcher: A dispatcher instance for this event only.
        retry: Retry failed deliveries (``THORN_RETRY``).
        retry_max: Retries at most (``THORN_RETRY_MAX``).
        retry_delay: Seconds between retries (``THORN_RETRY_DELAY``).
        app: The Thorn app.
        recipient_validators: Validators of recipient URLs for this event
            (``THORN_RECIPIENT_VALIDATORS`` by default).
        subscribers: More subscribers of this event: URLs, dicts,
            subscriber objects, or callables returning these.
        request_data: A mapping merged into every payload (top-level keys
            of the payload win).
        allow_keepalive: Set to ``False`` to close the connection after
            each delivery of this event.

    .. versionchanged:: 2.0
        Unknown keyword arguments raise :exc:`TypeError`
        (1.5 ignored them silently).
    """

    app: Thorn | None = None
    allow_keepalive = True
    recipient_validators: Sequence[Any] | None = None

    def __init__(
        self,
        name: str,
        timeout: float | None = None,
        dispatcher: Dispatcher | None = None,
        retry: bool | None = None,
        retry_max: int | None = None,
        retry_delay: float | None = None,
        app: Thorn | None = None,
        recipient_validators: Sequence[Any] | None = None,
        subscribers: Any = None,
        request_data: Mapping[str, Any] | None = None,
        allow_keepalive: bool | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._dispatcher = dispatcher
        self.retry = retry
        self.retry_max = retry_max
        self.retry_delay = retry_delay
        if app is not None:
            self.app = app
        if recipient_validators is not None:
            self.recipient_validators = recipient_validators
        self._subscribers = subscribers
        self.request_data = request_data
        if allow_keepalive is not None:
            self.allow_keepalive = allow_keepalive

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name} (0x{id(self):x})>"

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher given to the event, else the app's."""
        if self._dispatcher is not None:
            return self._dispatcher
        return app_or_default(self.app).dispatcher

    @property
    def subscribers(self) -> list[AbstractSubscriber]:
        """The subscribers of this event, and the event's own ones."""
        return self.dispatcher.subscribers_for_event(self.name, extra_subscribers=self._subscribers)

    @subscribers.setter
    def subscribers(self, subscribers: Any) -> None:
        self._subscribers = subscribers

    def prepare_payload(self, data: Any) -> Any:
        """Return ``data`` merged over ``request_data``, if there is any."""
        if self.request_data:
            return {**self.request_data, **data}
        return data

    def prepare_recipient_validators(self, validators: Sequence[Any]) -> list[Callable[..., None]]:
        """Return the validators to use; subclasses can change them."""
        return deserialize_validators(validators, setting="recipient_validators")

    @cached_property
    def prepared_recipient_validators(self) -> list[Callable[..., None]] | None:
        """This event's validators, or ``None`` to use the setting (cached)."""
        if self.recipient_validators is None:
            return None
        return self.prepare_recipient_validators(self.recipient_validators)

    def send(
        self,
        data: Any,
        sender: Any = None,
        on_success: Callback | None = None,
        on_error: Callback | None = None,
        timeout: float | None = None,
        on_timeout: Callback | None = None,
        context: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send the event to every subscriber.

        Arguments:
            data: The payload; it must be serializable by the codecs
                (JSON and form by default).

        Keyword Arguments:
            sender: The user sending the event; subscriptions owned by
                another user do not receive it.
            on_success: Called as ``on_success(request)`` for each
                successful delivery.
            on_error: Called as ``on_error(request, exc)`` for each
                failed delivery.
            timeout: Delivery timeout for this send.
            on_timeout: Called as ``on_timeout(request, exc)`` when a
                delivery times out (``on_error`` is called otherwise).
            context: Extra keyword arguments for subscriber callbacks.
            headers: Extra HTTP headers.

        Returns:
            What the dispatcher returns: the list of
            :class:`~thorn.request.Request` for the default dispatcher.

        Raises:
            TypeError: if ``data`` cannot be encoded (nothing is sent).

        .. versionchanged:: 2.0
            Added ``context`` and ``headers``.
        """
        return self._send(
            self.name,
            data,
            sender=sender,
            on_success=on_success,
            on_error=on_error,
            timeout=timeout,
            on_timeout=on_timeout,
            context=context,
            headers=headers,
        )

    def _send(
        self,
        name: str,
        data: Any,
        sender: Any = None,
        on_success: Callback | None = None,
        on_error: Callback | None = None,
        timeout: float | None = None,
        on_timeout: Callback | None = None,
        context: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return self.dispatcher.send(
            name,
            self.prepare_payload(data),
            sender,
            timeout=self.timeout if timeout is None else timeout,
            context=context,
            headers=headers,
            on_success=on_success,
            on_error=on_error,
            on_timeout=on_timeout,
            retry=self.retry,
            retry_max=self.retry_max,
            retry_delay=self.retry_delay,
            recipient_validators=self.prepared_recipient_validators,
            extra_subscribers=self._subscribers,
            allow_keepalive=self.allow_keepalive,
        )
