"""Django system checks for the ``THORN_*`` settings (``manage.py check``).

==============  ==========================================================
``thorn.W001``  ``THORN_HMAC_SIGNER`` is the compat signer.
``thorn.W002``  A model event is never sent: it has no ``dispatches_on_*``.
``thorn.E001``  ``THORN_DISPATCHER`` is not a dispatcher.
``thorn.E002``  ``THORN_SUBSCRIBERS`` has invalid entries.
``thorn.E003``  ``THORN_SUBSCRIBER_MODEL`` cannot be used.
``thorn.E004``  Another ``THORN_*`` setting cannot be used.
==============  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import models

from thorn._state import current_app
from thorn.app import Thorn
from thorn.conf import event_choices
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import AbstractSubscriber, SubscriberModelMixin
from thorn.generic.subscriber import static_subscriber_errors
from thorn.utils.hmac import compat_sign

__all__ = ["register"]

TAG = "thorn"


def register() -> None:
    """Register thorn's checks with Django (done by the app's ``ready()``)."""
    for check in (
        check_signer,
        check_dispatcher,
        check_subscribers,
        check_subscriber_model,
        check_settings,
        check_model_events,
    ):
        checks.register(check, TAG)


def _app() -> Thorn:
    return current_app()


def check_signer(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when deliveries are signed with the compat signer (the default)."""
    try:
        signer = _app().settings.THORN_HMAC_SIGNER
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="thorn.E004")]
    if signer is not compat_sign:
        return []
    return [
        checks.Warning(
            "THORN_HMAC_SIGNER is the compat signer (thorn.utils.hmac:compat_sign), "
            "whose signatures are hard to verify outside Python.",
            hint="Set THORN_HMAC_SIGNER = 'thorn.utils.hmac:sign' once your subscribers "
            "verify the standard HMAC (see the Security guide).",
            id="thorn.W001",
        )
    ]


def check_dispatcher(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse a ``THORN_DISPATCHER`` that is not an alias, path or class."""
    try:
        _app().Dispatcher  # noqa: B018 -- resolving it is the check
    except ImproperlyConfigured as exc:
        hint = f"Use one of {sorted(Thorn.dispatchers)} or a 'module:Class' path."
        return [checks.Error(str(exc), hint=hint, id="thorn.E001")]
    return []


def check_subscribers(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse invalid ``THORN_SUBSCRIBERS`` entries."""
    return [checks.Error(message, id="thorn.E002") for message in static_subscriber_errors(_app())]


def check_subscriber_model(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse a ``THORN_SUBSCRIBER_MODEL`` that is not a subscriber model."""
    try:
        model = _app().env.Subscriber  # type: ignore[attr-defined]
    except (ImproperlyConfigured, AttributeError) as exc:
        return [checks.Error(str(exc), id="thorn.E003")]
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        message = f"THORN_SUBSCRIBER_MODEL: {model!r} is not a Django model"
    elif not issubclass(model, (AbstractSubscriber, SubscriberModelMixin)):
        message = (
            f"THORN_SUBSCRIBER_MODEL: {model.__name__} does not implement "
            "thorn.generic.models.AbstractSubscriber"
        )
    else:
        return []
    hint = (
        "Inherit from thorn.generic.models.SubscriberModelMixin, or implement "
        "AbstractSubscriber and register the model with AbstractSubscriber.register()."
    )
    return [checks.Error(message, hint=hint, obj=model, id="thorn.E003")]


def _problem(read: Callable[[], object]) -> str | None:
    try:
        read()
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse codecs, validators, event choices and API permissions that cannot be used."""
    settings = _app().settings
    readers: list[Callable[[], object]] = [
        lambda: settings.THORN_CODECS,
        lambda: settings.THORN_RECIPIENT_VALIDATORS,
        lambda: event_choices(settings),
    ]
    if find_spec("rest_framework") is not None:
        from thorn.django.rest_framework.views import permission_classes

        readers.append(permission_classes)
    problems = (_problem(read) for read in readers)
    return [checks.Error(problem, id="thorn.E004") for problem in problems if problem]


def check_model_events(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about model events that nothing sends (custom ``on_*`` events)."""
    from thorn.decorators import WebhookCapable

    configs = apps.get_app_configs() if app_configs is None else app_configs
    messages: list[checks.CheckMessage] = []
    for model in (model for config in configs for model in config.get_models()):
        webhooks = model.__dict__.get("webhooks")
        if not isinstance(webhooks, WebhookCapable):
            continue
        for slot, event in webhooks.events.items():
            if event is not None and not event.dispatches:
                messages.append(
                    checks.Warning(
                        f"{model.__name__}.webhooks.{slot} ({event.name!r}) is never sent: "
                        "it has no dispatches_on_*() and no signal_dispatcher.",
                        hint="Add .dispatches_on_change() (or another dispatches_on_*()), "
                        "or send it yourself and silence this warning.",
                        obj=model,
                        id="thorn.W002",
                    )
                )
    return messages
