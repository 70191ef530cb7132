"""Finding the subscriptions that receive an event."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from thorn._state import current_app
from thorn.django.utils import has_field
from thorn.generic.models import pk_of
from thorn.generic.subscriber import event_patterns

__all__ = ["SubscriberManager", "SubscriberQuerySet", "deliverable", "matching", "receiving"]


def _by_event(queryset: Any, event: str) -> Any:
    return receiving(queryset.filter(event__in=event_patterns(event)))


def receiving(queryset: Any) -> Any:
    """The subscriptions of ``queryset`` that may receive deliveries now.

    Active ones (``is_active``), whose lease has not ended (``expires_at``)
    and, with ``THORN_VERIFY_INTENT``, verified (``verified``): each test
    only when the model has the field.

    .. versionadded:: 2.0
    """
    queryset = deliverable(queryset)
    if has_field(queryset.model, "expires_at"):
        queryset = queryset.filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )
    return queryset


def deliverable(queryset: Any) -> Any:
    """Active subscriptions (and, with ``THORN_VERIFY_INTENT``, verified), whatever their lease.

    The subscription index loads these, and compares ``expires_at`` at each
    lookup, since its rows stay loaded past their expiry.

    .. versionadded:: 2.0
    """
    if has_field(queryset.model, "is_active"):
        queryset = queryset.filter(is_active=True)  # disabled subscriptions receive nothing
    if has_field(queryset.model, "verified") and current_app().settings.THORN_VERIFY_INTENT:
        queryset = queryset.filter(verified=True)
    return queryset


def _by_owner(queryset: Any, user: Any) -> Any:
    if user is None:
        return queryset
    return queryset.filter(models.Q(user__isnull=True) | models.Q(user=pk_of(user)))


class SubscriberQuerySet(models.QuerySet[Any]):
    """Subscriptions matched by event pattern and owner.

    Each method is one indexed query: ``event IN (patterns)`` and, with a
    user, ``user IS NULL OR user = <user>``.  Disabled subscriptions
    (``is_active`` false), expired ones and, with ``THORN_VERIFY_INTENT``,
    unverified ones match nothing.
    """

    def matching(self, event: str, user: Any = None) -> SubscriberQuerySet:
        """Subscriptions that receive ``event`` sent by ``user``.

        An event ``"topic.rest"`` is received by subscriptions to
        ``"topic.rest"``, ``"topic.*"``, ``"*.rest"`` and ``"*"``.
        Subscriptions without an owner receive every event; owned ones
        receive events without a sender and events sent by their owner.

        Arguments:
            event: The (formatted) event name.
            user: The sender: a user or its primary key, or ``None``.
        """
        return self.matching_event(event).matching_user_or_all(user)

    def matching_event(self, event: str) -> SubscriberQuerySet:
        """Active subscriptions whose pattern matches ``event``.

        .. versionchanged:: 2.0
            Disabled, expired and unverified subscriptions are left out.
        """
        return _by_event(self, event)  # type: ignore[no-any-return]

    def matching_user_or_all(self, user: Any = None) -> SubscriberQuerySet:
        """Subscriptions owned by ``user`` or by nobody (all when ``user`` is ``None``).

        .. versionchanged:: 2.0
            Subscriptions without an owner are included (Thorn 1.5 left
            them out of every event that had a sender).
        """
        return _by_owner(self, user)  # type: ignore[no-any-return]


#: The manager of :class:`~thorn.django.models.Subscriber`.
SubscriberManager = models.Manager.from_queryset(SubscriberQuerySet)


def matching(model: type[models.Model], event: str, user: Any = None) -> Any:
    """Return ``model``'s subscriptions receiving ``event`` sent by ``user``.

    Uses the default manager's ``matching()`` when it has one (a
    :class:`SubscriberQuerySet`), else the same filter on the default
    manager, so any model with ``event`` and ``user`` fields can be
    ``THORN_SUBSCRIBER_MODEL``.
    """
    manager: Any = model._default_manager
    if hasattr(manager, "matching"):
        return manager.matching(event, user)
    return _by_owner(_by_event(manager.all(), event), user)
