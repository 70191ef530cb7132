"""Events: what subscribers subscribe to, and how an event is sent."""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.catalog import declare
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import pk_of
from thorn.generic.signals import signal_dispatcher
from thorn.utils.functional import Q
from thorn.utils.imports import import_string
from thorn.utils.log import get_logger
from thorn.validators import deserialize_validators

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.dispatch.base import Dispatcher
    from thorn.generic.models import AbstractSubscriber

__all__ = ["Event", "ModelEvent", "ModelMessage", "ModelWebhooks", "sender_name"]

logger = get_logger(__name__)

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
        description: What the event means, for subscribers: shown in the
            event catalog (``GET /hooks/events/``).

    Every event made is declared in the event catalog
    (:mod:`thorn.catalog`), while it exists.

    .. versionchanged:: 2.0
        Unknown keyword arguments raise :exc:`TypeError`
        (1.5 ignored them silently).  ``description`` is new.
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
        description: str = "",
    ) -> None:
        self.name = name
        self.description = description
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
        declare(self)

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
            The result of the dispatcher's ``send()``, which for the default
            dispatcher is the list of :class:`~thorn.request.Request` made
            (empty inside a transaction, see below).

        Raises:
            TypeError: if ``data`` cannot be encoded (nothing is sent).

        Inside a database transaction (``transaction.atomic()``), the event
        is written to the outbox with the transaction, and sent when it
        commits; if it rolls back, nothing is sent.  Outside one, it is
        written to the outbox and sent at once.  See
        :doc:`/userguide/delivery`.

        .. versionchanged:: 2.0
            Added ``context`` and ``headers``; an event sent inside a
            transaction waits for the commit.
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
        **dispatch: Any,
    ) -> Any:
        return self.dispatcher.send(
            name,
            self.prepare_payload(data),
            sender,
            **dispatch,
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


class ModelWebhooks:
    """What a model event asks of its model: payload, headers, ``reverse``, ``sender_field``.

    The base of :class:`~thorn.decorators.WebhookCapable` (``Model.webhooks``);
    a model without ``@webhook_model`` gets these defaults.
    """

    #: Default ``reverse(instance)`` for the ``ref``.
    reverse: Callable[..., Any] | None = None
    #: Default dotted path to the sender.
    sender_field: str | None = None
    #: Default serializer class of the ``data`` (a Django REST Framework serializer), or its path.
    serializer: Any = None

    def payload(self, instance: Any) -> Any:
        """The payload of ``instance``: ``instance.webhook_payload()`` if it has one."""
        return self.delegate_to_model(instance, "webhook_payload")

    def headers(self, instance: Any) -> Any:
        """Extra headers for ``instance``: ``instance.webhook_headers()`` if it has one."""
        return self.delegate_to_model(instance, "webhook_headers")

    def delegate_to_model(self, instance: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``instance.<method>(*args, **kwargs)`` if it exists, else return ``None``."""
        fun = getattr(instance, method, None)
        return fun(*args, **kwargs) if fun is not None else None


_NO_WEBHOOKS = ModelWebhooks()


#: Keyword arguments of :class:`Event`, which :class:`ModelEvent` passes on.
EVENT_ARGUMENTS = frozenset(inspect.signature(Event.__init__).parameters) - {"self", "name"}


class ModelEvent(Event):
    """An event sent when a model instance is created, changed or deleted.

    Its message is an envelope around the payload::

        {
            "event": "article.published",  # the formatted event name
            "ref": "https://example.com/article/1/",  # URL of the instance
            "sender": "alice",  # get_username() of the sender
            "data": {...},
        }  # the model's payload

    Arguments:
        name: Name of the event, formatted with the instance
            (``"user.{.username}"`` gives ``"user.alice"``).
        *args: :class:`~thorn.Q` objects (or Django ``Q`` objects) filtering
            the instances to send for; they are AND-ed.

    Keyword Arguments:
        reverse: A function that takes a model instance and returns its
            URL (the ``ref``), e.g. a :class:`~thorn.model_reverser`; it is
            given ``app=`` too when it takes it.  It wins over the model's
            ``reverse``; ``instance.get_absolute_url()`` is used otherwise.
        sender_field: Dotted path to the user who sends the event, e.g.
            ``"author.account.user"``.  It wins over the model's
            ``sender_field``.
        signal_honors_transaction: Send when the database transaction
            commits, and not at all if it rolls back
            (``THORN_SIGNAL_HONORS_TRANSACTION``, ``True`` by default).  The
            filter and the message are done when the signal fires (and the
            encoding, with ``propagate_errors``); only sending waits for
            the commit.
        propagate_errors: Raise errors of the signal handler (filter,
            ``ref``, payload, encoding, sending) into the code that saved
            the model, instead of logging them.  Failed deliveries are never
            raised: they are logged and reported to ``on_error``.
        signal_dispatcher: A :class:`~thorn.generic.signals.signal_dispatcher`
            class connecting the event to model signals, instead of one of
            the ``dispatches_on_*()`` methods.
        serializer: A Django REST Framework serializer class (or its import
            path) that builds the ``data`` of the envelope, as
            ``serializer(instance).data``
            (without a request in its context).  It wins over the model's
            ``serializer`` (in its ``webhooks``), which wins over the
            payload hooks (``webhooks.payload()``,
            ``instance.webhook_payload()``).  The event catalog shows the
            JSON Schema of its ``data``.
        field__op: Filters, as keyword arguments of :class:`~thorn.Q`
            (``state__eq="PUBLISHED"``, ``state__now_eq="PUBLISHED"``).

    Also takes the keyword arguments of :class:`Event`.

    Raises:
        ValueError: for a filter without an operator (``state="X"``) or
            with an unknown one, naming the key.

    .. versionchanged:: 2.0
        ``signal_honors_transaction`` is on by default; a per-event
        ``sender_field``/``reverse`` wins over the model's; ``now_*``
        filters work inside ``Q`` objects too; ``ref`` is made absolute
        with ``THORN_BASE_URL`` or the Sites framework; ``serializer`` is
        new.
    """

    def __init__(
        self,
        name: str,
        *args: Any,
        reverse: Callable[..., Any] | None = None,
        sender_field: str | None = None,
        signal_honors_transaction: bool | None = None,
        propagate_errors: bool = False,
        signal_dispatcher: type[signal_dispatcher] | None = None,
        serializer: Any = None,
        **kwargs: Any,
    ) -> None:
        self.serializer = serializer
        super().__init__(name, **{k: v for k, v in kwargs.items() if k in EVENT_ARGUMENTS})
        self.filter = Q(*args, **{k: v for k, v in kwargs.items() if k not in EVENT_ARGUMENTS})
        self.reverse = reverse
        self.sender_field = sender_field
        self._signal_honors_transaction = signal_honors_transaction
        self.propagate_errors = propagate_errors
        self._signal_dispatcher_cls = signal_dispatcher
        self._signal_dispatcher_name: str | None = None
        self._signal_dispatcher_kwargs: dict[str, Any] = {}
        self.models: weakref.WeakSet[type[Any]] = weakref.WeakSet()

    @property
    def use_transitions(self) -> bool:
        """True when a filter compares with the previous version (``now_*``)."""
        return self.filter.uses_transitions

    @property
    def signal_honors_transaction(self) -> bool:
        """Whether sending waits for the transaction to commit."""
        if self._signal_honors_transaction is None:
            return bool(app_or_default(self.app).settings.THORN_SIGNAL_HONORS_TRANSACTION)
        return self._signal_honors_transaction

    # -- connecting to model signals

    @property
    def dispatches(self) -> bool:
        """True when the event is connected to model signals when it is added to a model."""
        return self._signal_dispatcher_cls is not None or self._signal_dispatcher_name is not None

    @cached_property
    def signal_dispatcher(self) -> signal_dispatcher:
        """The :class:`~thorn.generic.signals.signal_dispatcher` of this event."""
        cls = self._signal_dispatcher_cls
        if cls is None:
            if self._signal_dispatcher_name is None:
                raise ImproperlyConfigured(f"{self!r} has no dispatches_on_*()")
            signals = app_or_default(self.app).env.signals
            cls = getattr(signals, self._signal_dispatcher_name)
        dispatcher = cls(
            self.on_signal, use_transitions=self.use_transitions, **self._signal_dispatcher_kwargs
        )
        dispatcher.gate = self.may_receive
        return dispatcher

    def _dispatches_on(self, name: str, **kwargs: Any) -> ModelEvent:
        # The first dispatches_on_*() (or signal_dispatcher=) wins.
        if not self.dispatches:
            self._signal_dispatcher_name = name
            self._signal_dispatcher_kwargs = kwargs
        return self

    def dispatches_on_create(self) -> ModelEvent:
        """Send when an instance is created."""
        return self._dispatches_on("dispatch_on_create")

    def dispatches_on_change(self) -> ModelEvent:
        """Send when an instance is changed (saved again)."""
        return self._dispatches_on("dispatch_on_change")

    def dispatches_on_delete(self) -> ModelEvent:
        """Send when an instance is deleted."""
        return self._dispatches_on("dispatch_on_delete")

    def dispatches_on_m2m_add(self, related_field: str) -> ModelEvent:
        """Send when objects are added to the many-to-many field ``related_field``."""
        return self._dispatches_on("dispatch_on_m2m_add", related_field=related_field)

    def dispatches_on_m2m_remove(self, related_field: str) -> ModelEvent:
        """Send when objects are removed from the many-to-many field ``related_field``."""
        return self._dispatches_on("dispatch_on_m2m_remove", related_field=related_field)

    def dispatches_on_m2m_clear(self, related_field: str) -> ModelEvent:
        """Send when the many-to-many field ``related_field`` is cleared."""
        return self._dispatches_on("dispatch_on_m2m_clear", related_field=related_field)

    def connect_model(self, model: type[Any]) -> None:
        """Send this event for ``model`` (done by :func:`~thorn.webhook_model`)."""
        self.models.add(model)
        if self.dispatches:
            self.signal_dispatcher.connect(sender=model)

    # -- from a signal to a message

    def may_receive(self, instance: Any) -> bool:
        """False when nobody can receive this event for ``instance`` (no query, no payload).

        Asked before the payload and the message are made, so an event
        nobody subscribes to costs its filter and a lookup in memory.
        """
        dispatcher = self.dispatcher
        return dispatcher.sends and dispatcher.may_receive(
            self._get_name(instance), self._subscribers
        )

    def should_dispatch(self, instance: Any, previous: Any = None, **kwargs: Any) -> bool:
        """Return true if the filters match ``instance`` (and its ``previous`` version)."""
        return self.filter(instance, previous)

    def on_signal(
        self,
        instance: Any,
        context: Mapping[str, Any] | None = None,
        previous: Any = None,
        using: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Handle a model signal: filter, build the message, send (maybe on commit).

        Errors are logged, or raised when ``propagate_errors`` is set.
        """
        try:
            if not self.may_receive(instance) or not self.should_dispatch(instance, previous):
                return
            message = self.prepare_message(instance, context)
            self.send_message(message, using=using, wait_for_commit=self.signal_honors_transaction)
        except Exception:
            if self.propagate_errors:
                raise
            logger.exception("Event %r dispatch raised", self.name)

    def send_message(self, message: ModelMessage, **kwargs: Any) -> Any:
        """Send a message made by :meth:`prepare_message`.

        Takes the keyword arguments of :meth:`Event.send` (``timeout``,
        callbacks).
        """
        return self._send(
            message.event,
            message.data,
            sender=message.sender,
            headers=message.headers,
            context=message.context,
            **kwargs,
        )

    def prepare_message(
        self, instance: Any, context: Mapping[str, Any] | None = None
    ) -> ModelMessage:
        """Return what :meth:`send_from_instance` would send for ``instance``."""
        sender = self.instance_sender(instance)
        return ModelMessage(
            event=self._get_name(instance),
            data=self.to_message(
                self.instance_data(instance),
                instance=instance,
                sender=sender,
                ref=self.get_absolute_url(instance),
            ),
            sender=sender,
            headers=self.instance_headers(instance),
            context=dict(context or {}),
        )

    def _get_name(self, instance: Any) -> str:
        return self.name.format(instance)

    def _webhooks(self, instance: Any) -> ModelWebhooks:
        webhooks = getattr(type(instance), "webhooks", None)
        return webhooks if isinstance(webhooks, ModelWebhooks) else _NO_WEBHOOKS

    def serializer_for(self, model: type[Any]) -> Any:
        """The serializer class of ``model``'s ``data``: the event's, else the model's, or ``None``.

        An import path is imported (on first use: a serializer module
        usually imports the models).

        .. versionadded:: 2.0
        """
        serializer = self.serializer
        if serializer is None:
            webhooks = getattr(model, "webhooks", None)
            serializer = webhooks.serializer if isinstance(webhooks, ModelWebhooks) else None
        if isinstance(serializer, str):
            serializer = import_string(serializer, f"the serializer of {self.name!r}")
        return serializer

    def instance_data(self, instance: Any) -> Any:
        """The payload of ``instance``: by the serializer, else ``webhooks.payload(instance)``.

        .. versionchanged:: 2.0
            A serializer (see ``serializer``) builds it when there is one.
        """
        serializer = self.serializer_for(type(instance))
        if serializer is not None:
            return serializer(instance).data
        return self._webhooks(instance).payload(instance)

    def instance_headers(self, instance: Any) -> Mapping[str, str] | None:
        """Extra headers for ``instance``: ``webhooks.headers(instance)``."""
        headers: Mapping[str, str] | None = self._webhooks(instance).headers(instance)
        return headers

    def instance_sender(self, instance: Any) -> Any:
        """The sender of ``instance``: the object at ``sender_field``, or ``None``.

        A ``None`` on the way (``author`` is ``None`` in
        ``"author.account.user"``) means no sender.
        """
        field = self.sender_field or self._webhooks(instance).sender_field
        sender = instance if field else None
        for name in field.split(".") if field else ():
            if sender is None:
                break
            sender = getattr(sender, name)
        return sender

    def get_absolute_url(self, instance: Any) -> str | None:
        """The ``ref`` of ``instance``.

        The event's ``reverse``, else the model's, else
        ``instance.get_absolute_url()``; a path is made absolute with
        ``THORN_BASE_URL`` (or the current ``Site`` when
        ``django.contrib.sites`` is installed).  A ``reverse`` is called
        as ``reverse(instance)``, with ``app=`` too when it takes it (as a
        :class:`~thorn.model_reverser` does).
        """
        app = app_or_default(self.app)
        reverse = self.reverse or self._webhooks(instance).reverse
        url = None
        if reverse is not None:
            url = reverse(instance, app=app) if takes_app(reverse) else reverse(instance)
        if not url and hasattr(instance, "get_absolute_url"):
            url = instance.get_absolute_url()
        return app.absolute_url(str(url)) if url else None

    def to_message(
        self, data: Any, instance: Any = None, sender: Any = None, ref: str | None = None
    ) -> dict[str, Any]:
        """Return the envelope: ``{"event", "ref", "sender", "data"}``."""
        return {
            "event": self._get_name(instance) if instance is not None else self.name,
            "ref": ref,
            "sender": sender_name(sender),
            "data": data or {},
        }

    # -- sending by hand

    def send(self, instance: Any, data: Any = None, sender: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Send the event for ``instance`` now, with ``data`` as the payload.

        Keyword Arguments:
            data: The payload (the envelope's ``data``).
            sender: The sender (a user), or ``None``.
            **kwargs: The keyword arguments of :meth:`Event.send`
                (``headers``, ``context``, ``timeout``, callbacks).
        """
        name = self._get_name(instance)
        message = self.to_message(
            data, instance=instance, sender=sender, ref=self.get_absolute_url(instance)
        )
        return self._send(name, message, sender=sender, **kwargs)

    def send_from_instance(
        self, instance: Any, context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Send the event for ``instance`` now, as its signal would (without the filter)."""
        return self.send_message(self.prepare_message(instance, context), **kwargs)


@functools.lru_cache(maxsize=256)
def takes_app(fun: Callable[..., Any]) -> bool:
    """Tell whether ``fun`` takes an ``app`` keyword argument (or any keyword argument)."""
    try:
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(
        parameter.name == "app" or parameter.kind is inspect.Parameter.VAR_KEYWORD
        for parameter in parameters
    )


def sender_name(sender: Any) -> Any:
    """How the envelope names a sender: ``get_username()``, or its primary key."""
    if sender is None:
        return None
    get_username = getattr(sender, "get_username", None)
    if get_username is not None:
        return get_username()
    return pk_of(sender)


@dataclass(frozen=True)
class ModelMessage:
    """A model event ready to send: built when the signal fires."""

    event: str
    data: dict[str, Any]
    sender: Any = None
    headers: Mapping[str, str] | None = None
    context: dict[str, Any] = field(default_factory=dict)
