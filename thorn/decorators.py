"""webhook_model: give a model its events."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from thorn.events import ModelEvent, ModelWebhooks

__all__ = ["WebhookCapable", "webhook_model"]

_Model = TypeVar("_Model", bound=type[Any])

#: Slots whose events are connected to model signals automatically.
DEFAULT_DISPATCHES = {
    "on_create": ModelEvent.dispatches_on_create,
    "on_change": ModelEvent.dispatches_on_change,
    "on_delete": ModelEvent.dispatches_on_delete,
}


class WebhookCapable(ModelWebhooks):
    """The webhooks of a model: ``Model.webhooks``.

    Holds the model's events by slot name (``on_create``, ``on_change``,
    ``on_delete`` and any other ``on_*``), the model-level ``reverse`` and
    ``sender_field``, the model-level ``serializer`` of the ``data`` (new
    in 2.0), and the ``payload``/``headers`` hooks.  A nested
    ``class webhooks:`` in a model becomes a subclass of this class, so its
    methods can override :meth:`~thorn.events.ModelWebhooks.payload` and
    :meth:`~thorn.events.ModelWebhooks.headers`.

    Events are found as ``Model.webhooks.events["on_create"]`` or
    ``Model.webhooks["on_create"]``.
    """

    def __init__(
        self,
        on_create: ModelEvent | None = None,
        on_change: ModelEvent | None = None,
        on_delete: ModelEvent | None = None,
        reverse: Callable[..., Any] | None = None,
        sender_field: str | None = None,
        serializer: Any = None,
        **events: ModelEvent | None,
    ) -> None:
        self.events: dict[str, ModelEvent | None] = {}
        self.update_events(
            {"on_create": on_create, "on_change": on_change, "on_delete": on_delete, **events}
        )
        if reverse is not None:
            self.reverse = reverse
        if sender_field is not None:
            self.sender_field = sender_field
        if serializer is not None:
            self.serializer = serializer

    def update_events(self, events: Mapping[str, ModelEvent | None]) -> None:
        """Add or replace events by slot name.

        Raises:
            TypeError: for a slot not named ``on_*`` or a value that is not
                a :class:`~thorn.ModelEvent`.
        """
        for slot, event in events.items():
            if not slot.startswith("on_"):
                raise TypeError(f"webhook_model: {slot!r} is not an event slot (on_*)")
            if event is not None and not isinstance(event, ModelEvent):
                raise TypeError(f"webhook_model: {slot}={event!r} is not a ModelEvent")
            self.events[slot] = event

    def contribute_to_model(self, model: type[Any]) -> None:
        """Install on ``model`` as ``webhooks`` (and ``webhook_events``) and connect the events."""
        model.webhooks = self
        model.webhook_events = self
        for slot, event in self.events.items():
            if event is not None:
                self.contribute_to_event(slot, event)
                event.connect_model(model)

    def contribute_to_event(self, slot: str, event: ModelEvent) -> None:
        """Give ``on_create``/``on_change``/``on_delete`` their default ``dispatches_on_*``."""
        default = DEFAULT_DISPATCHES.get(slot)
        if default is not None:
            default(event)

    def __getitem__(self, slot: str) -> ModelEvent | None:
        return self.events[slot]

    def __setitem__(self, slot: str, event: ModelEvent | None) -> None:
        self.update_events({slot: event})

    def __delitem__(self, slot: str) -> None:
        del self.events[slot]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {sorted(k for k, v in self.events.items() if v)}>"


def _capable_class(model: type[Any], nested: Any) -> type[WebhookCapable]:
    if nested is None:
        return WebhookCapable
    if not isinstance(nested, type):
        raise TypeError(f"{model.__name__}.webhooks must be a class, not {nested!r}")
    if issubclass(nested, WebhookCapable):
        return nested
    attrs = {
        name: staticmethod(value) if name == "reverse" and inspect.isfunction(value) else value
        for name, value in vars(nested).items()
        if not name.startswith("on_") and name not in ("__dict__", "__weakref__")
    }
    return type(f"{model.__name__}Webhooks", (WebhookCapable,), attrs)


def _augment(model: _Model, options: dict[str, Any]) -> _Model:
    nested = model.__dict__.get("webhooks")
    cls = _capable_class(model, nested)
    events = {
        name: value
        for name, value in (vars(nested).items() if isinstance(nested, type) else ())
        if name.startswith("on_")
    }
    cls(**{**events, **options}).contribute_to_model(model)
    return model


@overload
def webhook_model(model: _Model, /) -> _Model: ...
@overload
def webhook_model(**options: Any) -> Callable[[_Model], _Model]: ...
def webhook_model(*args: Any, **options: Any) -> Any:
    """Decorate a model with its webhook events.

    Use it bare (with a nested ``class webhooks:``) or with keyword
    arguments:

    .. code-block:: python

        @webhook_model
        class Article(models.Model):
            class webhooks:
                on_create = ModelEvent("article.created")
                on_publish = ModelEvent(
                    "article.published", state__now_eq="PUBLISHED"
                ).dispatches_on_change()

                def payload(self, article):
                    return {"title": article.title}


        @webhook_model(
            on_create=ModelEvent("comment.created"),
            sender_field="author",
        )
        class Comment(models.Model): ...

    ``on_create``, ``on_change`` and ``on_delete`` are sent when an instance
    is created, changed or deleted; any other ``on_*`` event needs a
    ``dispatches_on_*()`` (the ``thorn.W002`` check warns otherwise).

    Keyword Arguments:
        on_*: Events (keyword arguments win over the nested class).
        reverse: Default ``reverse(instance)`` for the ``ref`` (see :class:`~thorn.ModelEvent`).
        sender_field: Default dotted path to the sender.
        serializer: Default serializer class of the ``data`` (see :class:`~thorn.ModelEvent`).

    Raises:
        TypeError: for a positional argument that is not a class, more than
            one positional argument, or an unknown keyword argument.
    """
    if args:
        if len(args) > 1 or options:
            raise TypeError("webhook_model() takes one model class or keyword arguments")
        if not callable(args[0]):
            raise TypeError(f"webhook_model(): argument 1 must be a model class, not {args[0]!r}")
        return _augment(args[0], {})
    unknown = [name for name in options if not name.startswith("on_")]
    unknown = [name for name in unknown if name not in ("reverse", "sender_field", "serializer")]
    if unknown:
        raise TypeError(f"webhook_model() got unexpected keyword arguments: {unknown}")

    def decorate(model: _Model) -> _Model:
        return _augment(model, options)

    return decorate
