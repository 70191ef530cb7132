"""Django system checks for the ``THORN_*`` settings (``manage.py check``).

Every setting has a type and range check with an id of its own
(:data:`thorn.conf.CHECKS`), and deeper checks where a value must import
or be a subscriber model; each error's hint names the setting and the
value received.  A Celery worker runs the same checks when it starts
(:mod:`thorn.tasks`).

Each id, and what it reports, is listed in :doc:`/userguide/checks`.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import DatabaseError, models

from thorn._state import current_app
from thorn.app import Thorn
from thorn.conf import CHECKS, SettingProblem, setting_problem, setting_problems
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import AbstractSubscriber, SubscriberModelMixin
from thorn.generic.subscriber import static_subscriber_errors
from thorn.utils import ed25519
from thorn.utils.hmac import compat_sign

__all__ = ["register", "serious_messages"]

TAG = "thorn"


def register() -> None:
    """Register thorn's checks with Django (done by the app's ``ready()``)."""
    for check in (
        check_settings,
        check_signer,
        check_lease,
        check_stream_redis,
        check_dispatcher,
        check_tasks,
        check_subscribers,
        check_subscriber_model,
        check_model_events,
    ):
        checks.register(check, TAG)
    checks.register(check_ed25519, TAG, checks.Tags.database)


def serious_messages() -> list[checks.CheckMessage]:
    """Run thorn's checks; return the errors that are not silenced.

    What a Celery worker runs when it starts (see :mod:`thorn.tasks`).

    .. versionadded:: 2.0
    """
    return [
        message
        for message in checks.run_checks(tags=[TAG])
        if message.is_serious() and not message.is_silenced()
    ]


def _app() -> Thorn:
    return current_app()


def _error(problem: SettingProblem) -> checks.Error:
    return checks.Error(problem.message, hint=problem.hint, id=problem.id)


def _deep_error(name: str, message: str, advice: str = "", obj: Any = None) -> checks.Error:
    """An error of a deeper check of ``name``, with the id and hint of its CHECKS entry."""
    problem = SettingProblem(name, _app().settings.raw(name), CHECKS[name].id, message)
    hint = f"{problem.hint} {advice}" if advice else problem.hint
    return checks.Error(message, hint=hint, obj=obj, id=problem.id)


def _checked(name: str) -> bool:
    """Tell whether ``name`` passed :func:`check_settings` (deeper checks need a sound type)."""
    return setting_problem(_app().settings, name) is None


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse settings of the wrong type or out of range, and resolvers that fail (one id each)."""
    messages: list[checks.CheckMessage] = [
        _error(problem) for problem in setting_problems(_app().settings)
    ]
    name = "THORN_DRF_PERMISSION_CLASSES"
    if find_spec("rest_framework") is not None and _checked(name):
        from thorn.django.rest_framework.views import permission_classes

        try:
            permission_classes()
        except ImproperlyConfigured as exc:
            messages.append(_deep_error(name, str(exc)))
    return messages


def check_signer(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when deliveries are signed with the compat signer (the default)."""
    if not _checked("THORN_HMAC_SIGNER"):
        return []  # reported by check_settings
    if _app().settings.THORN_HMAC_SIGNER is not compat_sign:
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


def check_lease(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when an attempt may last longer than the lease that covers it."""
    if not (_checked("THORN_EVENT_TIMEOUT") and _checked("THORN_DELIVERY_LEASE")):
        return []  # reported by check_settings
    settings = _app().settings
    timeout, lease = settings.THORN_EVENT_TIMEOUT, settings.THORN_DELIVERY_LEASE
    if timeout < lease:
        return []
    return [
        checks.Warning(
            f"THORN_EVENT_TIMEOUT ({timeout!r}) is not below THORN_DELIVERY_LEASE ({lease!r}): "
            "the relay may take over a delivery while its attempt is still running, "
            "and make it twice.",
            hint="Keep THORN_DELIVERY_LEASE well above THORN_EVENT_TIMEOUT (60 and 3 seconds "
            "by default).",
            id="thorn.W003",
        )
    ]


def check_stream_redis(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when ``THORN_STREAM_REDIS_URL`` is set but the ``redis`` package is missing.

    .. versionadded:: 2.0
    """
    if not _checked("THORN_STREAM_REDIS_URL") or not _app().settings.THORN_STREAM_REDIS_URL:
        return []
    if find_spec("redis") is not None:
        return []
    return [
        checks.Warning(
            "THORN_STREAM_REDIS_URL is set, but the redis package is not installed: "
            "live streams will fail to start.",
            hint="pip install redis (or 'thorn[stream]'), or unset THORN_STREAM_REDIS_URL "
            "to let streams poll the delivery records.",
            id="thorn.W070",
        )
    ]


def check_dispatcher(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse a ``THORN_DISPATCHER`` that is not an alias, path or class."""
    if not _checked("THORN_DISPATCHER"):
        return []  # reported by check_settings
    try:
        _app().Dispatcher  # noqa: B018 -- resolving it is the check
    except ImproperlyConfigured as exc:
        return [_deep_error("THORN_DISPATCHER", str(exc))]
    return []


def check_tasks(**kwargs: Any) -> list[checks.CheckMessage]:
    """With the tasks dispatcher, refuse a backend or queue the task framework refuses."""
    names = ("THORN_DISPATCHER", "THORN_TASKS_BACKEND", "THORN_TASKS_QUEUE")
    if not all(_checked(name) for name in names):
        return []  # reported by check_settings
    try:
        dispatcher = _app().Dispatcher
    except ImproperlyConfigured:
        return []  # reported by check_dispatcher
    # Loaded with the dispatcher: other dispatchers need no task framework.
    tasks = sys.modules.get("thorn.dispatch.tasks")
    if tasks is None or not issubclass(dispatcher, tasks.Dispatcher):
        return []
    errors: dict[str, str] = tasks.setting_errors(_app().settings)
    return [_deep_error(name, message) for name, message in errors.items()]


def check_subscribers(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse invalid ``THORN_SUBSCRIBERS`` entries."""
    if not _checked("THORN_SUBSCRIBERS"):
        return []  # reported by check_settings
    return [
        _deep_error("THORN_SUBSCRIBERS", message) for message in static_subscriber_errors(_app())
    ]


def check_subscriber_model(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse a ``THORN_SUBSCRIBER_MODEL`` that is not a subscriber model."""
    name = "THORN_SUBSCRIBER_MODEL"
    if not _checked(name):
        return []  # reported by check_settings
    try:
        model = _app().env.Subscriber  # type: ignore[attr-defined]
    except (ImproperlyConfigured, AttributeError) as exc:
        return [_deep_error(name, str(exc))]
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        message = f"{name}: {model!r} is not a Django model"
    elif not issubclass(model, (AbstractSubscriber, SubscriberModelMixin)):
        message = (
            f"{name}: {model.__name__} does not implement thorn.generic.models.AbstractSubscriber"
        )
    else:
        return []
    advice = (
        "Inherit from thorn.generic.models.SubscriberModelMixin, or implement "
        "AbstractSubscriber and register the model with AbstractSubscriber.register()."
    )
    return [_deep_error(name, message, advice, obj=model)]


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


def check_ed25519(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse stored ``ed25519`` subscriptions where ``cryptography`` is not installed.

    Their deliveries could not be signed: each attempt would fail (and be
    retried) until it is installed.  A database check: ``manage.py migrate``
    and ``manage.py check --database default`` run it, a plain
    ``manage.py check`` does not.

    .. versionadded:: 2.0
    """
    if not databases or ed25519.available():
        return []
    try:
        model = _app().env.Subscriber  # type: ignore[attr-defined]
    except (ImproperlyConfigured, AttributeError):
        return []  # reported by check_subscriber_model
    if not isinstance(model, type) or not issubclass(model, models.Model):
        return []
    if "signing_algorithm" not in {field.name for field in model._meta.get_fields()}:
        return []
    messages: list[checks.CheckMessage] = []
    for alias in databases:
        try:
            count = model._default_manager.using(alias).filter(signing_algorithm="ed25519").count()
        except DatabaseError:  # not migrated yet: nothing stored to sign
            continue
        if count:
            messages.append(
                checks.Error(
                    f"{count} subscription(s) in database {alias!r} sign with Ed25519 "
                    "(signing_algorithm='ed25519'), but the cryptography package is not "
                    "installed: their deliveries cannot be signed, and fail until it is.",
                    hint=f"{ed25519.INSTALL_HINT}, or make them signing_algorithm='hmac'.",
                    obj=model,
                    id="thorn.E090",
                )
            )
    return messages
