"""Messages and deliveries as values, and the one JSON codec that carries them.

A :class:`Message` is an event to send: its name, its payload (the envelope
of a model event), a reference to its sender and its :class:`Options`.
A :class:`Delivery` is a message for one subscriber, with the id sent as
``Hook-Delivery`` (the same on every attempt) and the number of the attempt.
Both are frozen: they can be stored, sent to a worker and replayed.

:func:`encode_message`/:func:`decode_message` and
:func:`encode_delivery`/:func:`decode_delivery` turn them into JSON-safe
dicts and back, for Celery messages (and any other queue).  In JSON, senders
are primary keys, callbacks and subscriber functions are import paths,
validators are in their serialized form, and subscribers are references
(uuid and URL): secrets never travel.

.. versionadded:: 2.0
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from thorn.generic.models import AbstractSubscriber, pk_of
from thorn.utils import json as thorn_json
from thorn.utils.imports import callable_path, import_string
from thorn.validators import deserialize_validators, serialize_validators

__all__ = [
    "CALLBACKS",
    "PING_EVENT",
    "STORED_PAYLOAD",
    "Delivery",
    "Message",
    "Options",
    "decode_delivery",
    "decode_message",
    "decode_options",
    "delivery_id",
    "encode_delivery",
    "encode_message",
    "encode_options",
    "new_id",
]

Callback = Callable[..., Any]

#: The key of a stored message's payload as JSON text, in the order of its keys.
STORED_PAYLOAD = "payload_json"

#: The callbacks of :class:`Options`, by name.
CALLBACKS = ("on_success", "on_error", "on_timeout")


#: Namespace of the delivery ids made from a message id and a subscription uuid.
DELIVERY_NAMESPACE = uuid.UUID("1b0e8e52-9a6c-5d4f-8b1e-2f6c7a9d3e10")


#: The event of a ping (``POST /hooks/<uuid>/ping/``, ``manage.py thorn ping``):
#: sent to one subscription, whatever its pattern and filter.
PING_EVENT = "thorn.ping"


def new_id() -> str:
    """Return a new message or delivery id: a random uuid4, as a string."""
    return str(uuid.uuid4())


def delivery_id(message_id: str, subscription: Any) -> str:
    """The id of the delivery of a message to a subscription (``Hook-Delivery``).

    The same message and subscription always give the same id, so planning a
    message twice (after a crash) cannot make two deliveries of it.
    """
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{message_id}:{subscription}"))


@dataclass(frozen=True)
class Options:
    """How a message is delivered.

    ``None`` means "the setting", read where the delivery is made (in the
    worker, for the celery dispatcher).

    Arguments:
        timeout: Seconds a delivery may take (``THORN_EVENT_TIMEOUT``).
        retry: Retry failed deliveries (``THORN_RETRY``).
        retry_max: Retries at most (``THORN_RETRY_MAX``).
        retry_delay: Seconds between retries (``THORN_RETRY_DELAY``).
        headers: Extra HTTP headers.
        user_agent: The ``User-Agent`` (``THORN_USER_AGENT``).
        recipient_validators: Validators of the recipient URL
            (``THORN_RECIPIENT_VALIDATORS``); an empty tuple checks nothing.
        allow_keepalive: Reuse connections.
        on_success: Called as ``on_success(request)`` after a 2xx answer.
        on_error: Called as ``on_error(request, exc)`` when a delivery fails
            for good.
        on_timeout: Called as ``on_timeout(request, exc)`` instead of
            ``on_error`` when it failed by timing out.
        extra_subscribers: The event's own subscribers (URLs, dicts,
            subscribers, callables).
        context: Keyword arguments for subscriber callables.
    """

    timeout: float | None = None
    retry: bool | None = None
    retry_max: int | None = None
    retry_delay: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    user_agent: str | None = None
    recipient_validators: tuple[Callable[..., None], ...] | None = None
    allow_keepalive: bool = True
    on_success: Callback | None = None
    on_error: Callback | None = None
    on_timeout: Callback | None = None
    extra_subscribers: Any = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Lists given by callers become tuples; None means "empty" for mappings.
        if self.recipient_validators is not None:
            object.__setattr__(self, "recipient_validators", tuple(self.recipient_validators))
        object.__setattr__(self, "headers", dict(self.headers or {}))
        object.__setattr__(self, "context", dict(self.context or {}))


@dataclass(frozen=True)
class Message:
    """An event to send to every subscriber.

    Arguments:
        event: The event name (the ``Hook-Event`` header).
        payload: What is encoded for each subscriber: the envelope
            ``{"event", "ref", "sender", "data"}`` of a model event.
        sender: The sender (a user or its primary key), or ``None``.
        options: How it is delivered.
        id: The message id: its row in the outbox, and the root of the ids
            of its deliveries.
    """

    event: str
    payload: Any
    sender: Any = None
    options: Options = field(default_factory=Options)
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Delivery:
    """A message for one subscriber.

    Arguments:
        event: The event name.
        data: The body: text (or bytes) already encoded for the
            subscriber's content type, or a payload encoded when sent.
        subscriber: The :class:`~thorn.generic.models.AbstractSubscriber`.
        sender: The sender, or ``None``.
        options: How it is delivered.
        id: The delivery id, sent as ``Hook-Delivery``: the same on every
            attempt, so receivers can drop duplicates.
        attempt: The number of the attempt about to be made (1 first).
        message_id: The id of its message, when it has one.
        lease: The lease under which this attempt is made, when deliveries
            are recorded: an attempt whose lease was taken over (by the
            relay, after a crash) is not made.
    """

    event: str
    data: Any
    subscriber: AbstractSubscriber
    sender: Any = None
    options: Options = field(default_factory=Options)
    id: str = field(default_factory=new_id)
    attempt: int = 1
    message_id: str | None = None
    lease: str | None = None

    def next_attempt(self) -> Delivery:
        """The same delivery, for its next attempt."""
        return replace(self, attempt=self.attempt + 1)


# -- the JSON codec --------------------------------------------------------------------


def _encode_subscribers(items: Any, stored: bool) -> list[Any] | None:
    """An event's own subscribers as JSON: URLs, dicts and ``"!path"`` callables.

    ``stored`` (for the outbox) also writes subscriber objects, as their dict
    with their secret: secrets may live in the database, not in a broker.
    """
    if not items:
        return None
    if isinstance(items, (str, Mapping, AbstractSubscriber)) or callable(items):
        items = [items]
    encoded: list[Any] = []
    for item in items:
        if isinstance(item, (str, Mapping)):
            encoded.append(item)
        elif stored and isinstance(item, AbstractSubscriber):
            encoded.append(item.as_dict())
        elif callable(item):
            encoded.append("!" + callable_path(item, "subscriber callback"))
        else:
            raise TypeError(
                f"the celery dispatcher sends subscribers as URLs, dicts or callables, not {item!r}"
            )
    return encoded


def _decode_subscribers(items: Any) -> list[Any] | None:
    if not items:
        return None
    return [
        import_string(item[1:], "extra_subscribers")
        if isinstance(item, str) and item.startswith("!")
        else item
        for item in items
    ]


def _callback_path(callback: Callback, name: str, stored: bool) -> str | None:
    try:
        return callable_path(callback, name)
    except TypeError:
        if stored:
            return None  # only attempts in this process can call it
        raise


def encode_options(options: Options, *, stored: bool = False) -> dict[str, Any]:
    """Return ``options`` as JSON-safe data.

    ``timeout`` and ``context`` are always there; other options are left
    out when they are ``None`` (or empty), which means "the setting".

    Arguments:
        options: The options.
        stored: For the outbox rather than a broker: callbacks that cannot
            be imported (lambdas, nested functions) are left out, and
            subscriber objects are written with their secret.

    Raises:
        TypeError: if a callback, validator or subscriber cannot be sent
            (a lambda, a nested function, a subscriber object).
    """
    data: dict[str, Any] = {"timeout": options.timeout, "context": dict(options.context)}
    for name in OPTION_NAMES:
        value = getattr(options, name)
        if name in data or value is None:
            continue
        if name in CALLBACKS:
            value = _callback_path(value, name, stored)
        elif name == "recipient_validators":
            value = serialize_validators(value)
        elif name == "extra_subscribers":
            value = _encode_subscribers(value, stored)
        elif name == "headers":
            value = dict(value) or None
        if value is not None:
            data[name] = value
    return data


def decode_options(data: Mapping[str, Any]) -> Options:
    """Rebuild :class:`Options` from :func:`encode_options` output (other keys are ignored).

    Raises:
        ImproperlyConfigured: if a callback or validator does not import.
    """
    values = {name: data[name] for name in OPTION_NAMES if data.get(name) is not None}
    for name in CALLBACKS:
        if name in values:
            values[name] = import_string(values[name], name)
    if "recipient_validators" in values:
        values["recipient_validators"] = deserialize_validators(
            values["recipient_validators"], "recipient_validators"
        )
    if "extra_subscribers" in values:
        values["extra_subscribers"] = _decode_subscribers(values["extra_subscribers"])
    return Options(**values)


def _jsonable(payload: Any) -> Any:
    # Through thorn's encoder: dates, decimals and UUIDs become the strings
    # subscribers receive, before the message is published.
    return json.loads(thorn_json.dumps(payload))


def encode_message(message: Message, *, stored: bool = False) -> dict[str, Any]:
    """Return ``message`` as JSON-safe data: the keyword arguments of ``send_event``.

    With ``stored``, for the outbox (see :func:`encode_options`); the
    payload is also kept as its JSON text (:data:`STORED_PAYLOAD`).

    Raises:
        TypeError: if the payload or an option cannot be sent as JSON.
    """
    text = thorn_json.dumps(message.payload)
    data = {
        "id": message.id,
        "event": message.event,
        "payload": json.loads(text),
        "sender": pk_of(message.sender),
        **encode_options(message.options, stored=stored),
    }
    if stored:
        # The payload as text too: PostgreSQL's jsonb (and MySQL) reorder the
        # keys of what they store, and a retry or a live stream must send the
        # bytes of the first attempt.
        data[STORED_PAYLOAD] = text
    return data


def decode_message(data: Mapping[str, Any]) -> Message:
    """Rebuild a :class:`Message` from :func:`encode_message` output.

    A stored message's payload keeps the order of its keys.
    """
    text = data.get(STORED_PAYLOAD)
    return Message(
        event=data["event"],
        payload=data.get("payload") if text is None else json.loads(text),
        sender=data.get("sender"),
        options=decode_options(data),
        id=data.get("id") or new_id(),
    )


def encode_delivery(delivery: Delivery) -> dict[str, Any]:
    """Return ``delivery`` as JSON-safe data: the keyword arguments of ``dispatch_request``.

    The subscriber is a reference, ``{"uuid", "url"}``; its secret stays
    where it is stored (see :func:`decode_delivery`).

    Raises:
        TypeError: if the data or an option cannot be sent as JSON.
    """
    data = delivery.data
    return {
        "id": delivery.id,
        "event": delivery.event,
        "data": data.decode() if isinstance(data, bytes) else _jsonable(data),
        "sender": pk_of(delivery.sender),
        "subscriber": {"uuid": str(delivery.subscriber.uuid), "url": delivery.subscriber.url},
        "attempt": delivery.attempt,
        "message_id": delivery.message_id,
        "lease": delivery.lease,
        **encode_options(delivery.options),
    }


def decode_delivery(data: Mapping[str, Any], subscriber: AbstractSubscriber) -> Delivery:
    """Rebuild a :class:`Delivery` from :func:`encode_delivery` output.

    Arguments:
        data: The encoded delivery.
        subscriber: The subscriber it refers to, loaded again (with its
            secret) by the receiving side.
    """
    return Delivery(
        event=data["event"],
        data=data.get("data"),
        subscriber=subscriber,
        sender=data.get("sender"),
        options=decode_options(data),
        id=data["id"],
        attempt=int(data.get("attempt") or 1),
        message_id=data.get("message_id"),
        lease=data.get("lease"),
    )


#: Every option of :class:`Options`, in order.
OPTION_NAMES = tuple(f.name for f in fields(Options))
