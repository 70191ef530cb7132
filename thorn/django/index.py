"""The subscription index: which subscriptions receive an event, answered in memory.

Each process keeps the set of event patterns that active subscriptions use
and, loaded on first use, the subscriptions of each pattern.  An event
nobody subscribes to is then answered without a query, and one with
subscribers from memory.

It stays fresh this way:

* a change made through the ORM (``save()``, ``delete()``: the admin, the
  REST API, code), and thorn's own updates (health, secret rotation), are
  seen at once by the process that made them; inside a transaction that
  process reads subscriptions from the database until the transaction
  ends;
* when such a change commits, a counter row (``webhooks_subscriptions_version``)
  is bumped; every process compares it with its own, at most once a second,
  so other processes see the change within a second;
* changes that bypass the ORM's signals (``QuerySet.update()``, raw SQL, a
  restore) are seen when the index is reloaded anyway, every
  ``THORN_INDEX_MAX_AGE`` seconds (60 by default), or at once after
  :func:`subscriptions_changed`.

.. versionadded:: 2.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from contextlib import suppress
from time import monotonic
from typing import Any

from django.core.signals import setting_changed
from django.db import models, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from thorn.django.managers import deliverable, matching
from thorn.django.utils import has_field
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import pk_of
from thorn.generic.subscriber import event_patterns
from thorn.utils.imports import import_string
from thorn.utils.log import get_logger

__all__ = [
    "CHECK_EVERY",
    "SubscriptionIndex",
    "SubscriptionsVersion",
    "connect",
    "index_of",
    "reset_indexes",
    "subscriptions_changed",
]

logger = get_logger(__name__)

#: Seconds between two checks of the version row, at most.
CHECK_EVERY = 1.0


class SubscriptionsVersion(models.Model):
    """A counter bumped on every change to subscriptions (one row).

    Processes compare it with the version of their subscription index
    (this module), at most once a second, to see changes made
    by other processes.

    .. versionadded:: 2.0
    """

    value = models.BigIntegerField(_("version"), default=0)

    class Meta:
        db_table = "webhooks_subscriptions_version"
        verbose_name = _("subscriptions version")

    def __str__(self) -> str:
        return str(self.value)


#: A version no database holds: the index must be loaded again.
_STALE = object()

#: The index of each subscription model, in this process.
_indexes: dict[type[models.Model], SubscriptionIndex] = {}
_indexes_lock = threading.Lock()


def index_of(model: type[models.Model], max_age: Callable[[], float]) -> SubscriptionIndex:
    """This process's index of ``model``'s subscriptions."""
    index = _indexes.get(model)
    if index is None:
        follow(model)  # a THORN_SUBSCRIBER_MODEL that is no AbstractSubscriber
        with _indexes_lock:
            index = _indexes.setdefault(model, SubscriptionIndex(model, max_age))
    return index


def subscriptions_changed(model: type[models.Model], using: str | None = None) -> None:
    """Tell every process that ``model``'s subscriptions changed.

    Called on ``save()`` and ``delete()`` of a subscription, and after
    thorn's own ``UPDATE`` of subscriptions; call it after changes of yours
    that bypass the ORM's signals (``QuerySet.update()``, raw SQL).
    """
    index = _indexes.get(model)
    if index is not None:
        index.changed(using)
    else:  # nothing cached here: tell the other processes
        _after_commit(using, _bump)


def _after_commit(using: str | None, fun: Callable[[], None]) -> None:
    transaction.on_commit(fun, using=using or router.db_for_write(SubscriptionsVersion))


def _bump() -> None:
    db = router.db_for_write(SubscriptionsVersion)
    counter = SubscriptionsVersion.objects.using(db)
    if not counter.filter(pk=1).update(value=F("value") + 1):
        counter.get_or_create(pk=1)  # the row was deleted (a flush): start again


def _read_version() -> int | None:
    db = router.db_for_write(SubscriptionsVersion)
    value: int | None = (
        SubscriptionsVersion.objects.using(db).filter(pk=1).values_list("value", flat=True).first()
    )
    return value


class SubscriptionIndex:
    """The active subscriptions of one model, by event pattern, in this process.

    Arguments:
        model: The subscription model (``THORN_SUBSCRIBER_MODEL``).
        max_age: Returns the seconds after which the index is loaded again
            whatever the version says (``THORN_INDEX_MAX_AGE``); ``0`` turns
            the index off (every lookup is a query).
    """

    def __init__(self, model: type[models.Model], max_age: Callable[[], float]) -> None:
        self.model = model
        self.max_age = max_age
        self._lock = threading.Lock()
        self._expires = has_field(model, "expires_at")
        self._version: object = _STALE
        self._checked_at = float("-inf")
        self._loaded_at = float("-inf")
        self._patterns: frozenset[str] = frozenset()
        self._rows: dict[str, tuple[Any, ...]] = {}
        #: ``may_receive`` answers, by event, for these patterns.
        self._answers: dict[str, bool] = {}
        #: Changes of this process that are not committed yet: while there
        #: are some, subscriptions are read from the database.
        self._uncommitted: list[_Change] = []

    # -- lookups

    def subscribers(
        self, event: str, sender: Any = None, uuids: Collection[str] | None = None
    ) -> list[Any]:
        """The active subscriptions that receive ``event`` sent by ``sender`` (of ``uuids``).

        Subscriptions without an owner receive every event; owned ones
        receive events without a sender and events of their owner.  Those
        whose lease has ended are left out, without a query: the index
        keeps ``expires_at`` and compares it with the time of the lookup.

        .. versionchanged:: 2.0
            Leases (``expires_at``).
        """
        if not self._fresh():
            return list(self._query_event(event, sender, uuids))
        owner = pk_of(sender)
        now = timezone.now() if self._expires else None
        found: list[Any] = []
        for pattern in event_patterns(event):
            if pattern not in self._patterns:
                continue
            rows = self._rows.get(pattern)
            if rows is None:
                rows = self._load(pattern)
            found.extend(
                row
                for row in rows
                if (sender is None or row.user_id in (None, owner))
                and (uuids is None or str(row.uuid) in uuids)
                and (now is None or row.expires_at is None or row.expires_at > now)
            )
        return found

    def may_receive(self, event: str) -> bool:
        """True unless no active subscription matches ``event`` (whoever sends it)."""
        if not self._fresh():
            return True
        answer = self._answers.get(event)
        if answer is None:
            patterns = self._patterns
            answer = any(pattern in patterns for pattern in event_patterns(event))
            self._answers[event] = answer
        return answer

    # -- freshness

    def changed(self, using: str | None = None) -> None:
        """A subscription changed in this process (see :func:`subscriptions_changed`)."""
        db = using or router.db_for_write(self.model)
        if transaction.get_connection(db).in_atomic_block:
            change = _Change(self)
            with self._lock:
                self._uncommitted.append(change)
            transaction.on_commit(change, using=db)
        else:
            self.committed()

    def committed(self, change: _Change | None = None) -> None:
        """A change of this process committed: tell the others, and read it again here."""
        try:
            _bump()
        except Exception:  # the others see it within THORN_INDEX_MAX_AGE
            logger.exception("Could not bump the subscriptions version")
        with self._lock:
            if change in self._uncommitted:
                self._uncommitted.remove(change)
        self.reset()  # this process knows its cache is out of date

    def reset(self) -> None:
        """Load everything again at the next lookup."""
        with self._lock:
            self._version = _STALE
            self._checked_at = float("-inf")

    def _fresh(self) -> bool:
        """True when the index can answer: it is on, and checked within the last second."""
        if not self._uncommitted and monotonic() - self._checked_at < CHECK_EVERY:
            return True
        if self._bypassed():
            return False
        self._refresh()
        return True

    def _bypassed(self) -> bool:
        """True while uncommitted changes of this process exist, or the index is off."""
        if self.max_age() <= 0:
            return True
        if not self._uncommitted:
            return False
        # A change whose transaction rolled back left Django's list of
        # callbacks to run on commit: it is forgotten.
        connection = transaction.get_connection(router.db_for_write(self.model))
        pending = {id(item[1]) for item in connection.run_on_commit}
        with self._lock:
            self._uncommitted = [m for m in self._uncommitted if id(m) in pending]
            return bool(self._uncommitted)

    def _refresh(self) -> None:
        now = monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return
        with self._lock:
            if now - self._checked_at < CHECK_EVERY:
                return
            version = _read_version()
            if version != self._version or now - self._loaded_at >= self.max_age():
                self._patterns = self._query_patterns()
                self._rows = {}
                self._answers = {}
                self._version = version
                self._loaded_at = now
            self._checked_at = now

    # -- queries

    def _active(self) -> Any:
        # Expiry is compared at each lookup, since rows stay loaded past it.
        return deliverable(
            self.model._default_manager.using(router.db_for_read(self.model)).order_by()
        )

    def _query_patterns(self) -> frozenset[str]:
        return frozenset(self._active().values_list("event", flat=True).distinct())

    def _load(self, pattern: str) -> tuple[Any, ...]:
        rows = tuple(self._active().filter(event=pattern))
        self._rows[pattern] = rows
        return rows

    def _query_event(self, event: str, sender: Any, uuids: Collection[str] | None) -> Any:
        queryset = matching(self.model, event, sender).order_by()
        return queryset if uuids is None else queryset.filter(uuid__in=list(uuids))


class _Change:
    """A change of this process, run by Django when its transaction commits."""

    def __init__(self, index: SubscriptionIndex) -> None:
        self.index = index

    def __call__(self) -> None:
        self.index.committed(self)


def reset_indexes(**kwargs: Any) -> None:
    """Read every index again at its next lookup (after ``flush``, ``migrate``, a new setting)."""
    for index in list(_indexes.values()):
        index.reset()


def _on_change(sender: type[models.Model], using: str | None = None, **kwargs: Any) -> None:
    """``post_save``/``post_delete`` of a subscription model."""
    subscriptions_changed(sender, using)


def follow(model: type[models.Model]) -> None:
    """Tell every process when a ``model`` subscription is saved or deleted."""
    uid = f"thorn.index.{model._meta.label}"
    models.signals.post_save.connect(_on_change, sender=model, dispatch_uid=uid)
    models.signals.post_delete.connect(_on_change, sender=model, dispatch_uid=uid)


def _is_subscription_model(model: type[models.Model]) -> bool:
    from thorn.generic.models import AbstractSubscriber

    return issubclass(model, AbstractSubscriber) and not model._meta.abstract


def connect() -> None:
    """Follow the changes to subscriptions (done by the app's ``ready()``).

    Only the saves and deletes of subscription models are followed: the
    other models' saves cost nothing more.
    """
    from django.apps import apps
    from django.conf import settings

    for model in apps.get_models():
        if _is_subscription_model(model):
            follow(model)
    configured = getattr(settings, "THORN_SUBSCRIBER_MODEL", None)
    if configured:
        with suppress(ImproperlyConfigured):  # reported by the checks (thorn.E003)
            model = import_string(configured, "THORN_SUBSCRIBER_MODEL")
            if isinstance(model, type) and issubclass(model, models.Model):
                follow(model)
    # flush (between TransactionTestCase tests) and migrate emit post_migrate.
    models.signals.post_migrate.connect(reset_indexes, dispatch_uid="thorn.index.reset")
    # THORN_INDEX_MAX_AGE = 0 (override_settings in tests) turns it off at once.
    setting_changed.connect(reset_indexes, dispatch_uid="thorn.index.settings")
