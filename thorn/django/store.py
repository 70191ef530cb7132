"""DjangoStore: the outbox, the delivery records and the leases, in the database.

See :mod:`thorn.store` for what a store does, and
``thorn.django.models.records`` for the tables.  Records are written in
bulk: one query per message when its deliveries are planned, a few per batch
of attempts.  Leases let executors and relays share the work: whoever takes
a delivery holds it for ``THORN_DELIVERY_LEASE`` seconds under a token, an
attempt is made only while its token holds, and a delivery still held after
its lease (its worker died) is taken over by the relay.

The deliveries of a stream-only subscription are recorded in the
``streamed`` state when they are planned, whatever
``THORN_DELIVERY_RECORDS`` says, and never attempted: they are read from
the subscription's live stream (:mod:`thorn.django.stream`).  Each new record
wakes up the streams of its subscription (:mod:`thorn.django.stream.notify`).

.. versionadded:: 2.0
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from thorn import instrument
from thorn.django.bulk import insert
from thorn.django.delivery_signals import send_outcomes, subscription_disabled
from thorn.django.index import subscriptions_changed
from thorn.django.models.records import (
    ACTIVE,
    AttemptRecord,
    DeliveryRecord,
    MessageRecord,
    State,
)
from thorn.django.stream.notify import notify_after_commit
from thorn.django.transactions import write_transaction
from thorn.messages import Delivery, Message, decode_message, encode_message
from thorn.store import Backlog, DueDelivery, Recovered, Result, Store
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.outcome import Outcome

__all__ = ["RECOVERABLE", "DjangoStore", "new_lease", "streams_only"]

logger = get_logger(__name__)

#: Fields a record of an attempt changes on its delivery.
_OUTCOME_FIELDS = [
    "state",
    "attempts",
    "next_attempt_at",
    "locked_until",
    "lease",
    "last_status_code",
    "last_error",
    "last_latency",
    "last_attempt_at",
    "completed_at",
]


def new_lease() -> str:
    """A new lease token."""
    return uuid.uuid4().hex


#: States of a delivery that recovery makes due again.
RECOVERABLE = (State.FAILED, State.CANCELLED)


def _due_again(now: datetime) -> dict[str, Any]:
    """The fields of a delivery made due at ``now`` (redelivered or recovered)."""
    return {
        "state": Case(When(attempts=0, then=Value(State.PENDING)), default=Value(State.RETRYING)),
        "next_attempt_at": now,
        "completed_at": None,
    }


def streams_only(delivery: Delivery) -> bool:
    """True when ``delivery`` is for a stream-only subscription (never POSTed)."""
    return bool(getattr(delivery.subscriber, "streams_only", False))


def _free(now: datetime) -> Q:
    """Deliveries that nobody holds at ``now``."""
    return Q(locked_until__isnull=True) | Q(locked_until__lt=now)


class DjangoStore(Store):
    """Keeps the outbox and the delivery records in thorn's tables.

    Arguments:
        settings: The app's settings, read live (``THORN_DELIVERY_LEASE``,
            ``THORN_RELAY_AFTER``, ``THORN_DELIVERY_RECORDS``,
            ``THORN_ATTEMPT_RESPONSE_BYTES``, ``THORN_DISABLE_AFTER``).
        subscriber_model: The subscription model, whose ``is_active``,
            ``disabled_reason``, ``disabled_at`` and ``failing_since`` keep
            the health of endpoints (a model without them has none).
    """

    durable = True

    def __init__(self, settings: Settings, subscriber_model: type[Any]) -> None:
        self.settings = settings
        self.subscriber_model = subscriber_model
        fields = {field.name for field in subscriber_model._meta.get_fields()}
        self.tracks_health = {"is_active", "failing_since", "disabled_at"} <= fields

    # -- settings

    @property
    def db(self) -> str:
        """The database of thorn's records."""
        return router.db_for_write(MessageRecord)

    def _lease_period(self) -> timedelta:
        return timedelta(seconds=float(self.settings.THORN_DELIVERY_LEASE))

    @property
    def records_everything(self) -> bool:
        """``THORN_DELIVERY_RECORDS = "all"``: successes are recorded too."""
        mode: str = self.settings.THORN_DELIVERY_RECORDS
        return mode == "all"

    def _skip_locked(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # PostgreSQL: relays running at once take different rows instead of
        # waiting for each other.  SQLite serializes the writers: each claim
        # is a write_transaction, which holds the write lock from the start.
        if connections[self.db].features.has_select_for_update_skip_locked:
            locked: QuerySet[Any] = queryset.select_for_update(skip_locked=True)
            return locked
        return queryset

    # -- the outbox

    def add(self, message: Message, using: str | None = None) -> None:
        """Write ``message`` to the outbox, in the current transaction.

        The row is written to thorn's database: the outbox is atomic with a
        change made on that same database.
        """
        insert(MessageRecord, [self._message_row(message, timezone.now())], using=self.db)

    def plan(self, message: Message, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Record the deliveries of ``message`` (once) and take those not taken yet.

        Three queries in one transaction: the message (written to the
        outbox now, if it was not), its deliveries (those recorded by an
        earlier planning are left as they are), and which of them are ours.
        The deliveries of stream-only subscriptions are recorded as
        ``streamed`` (one more query) and never taken.
        """
        if not deliveries:
            return []
        now = timezone.now()
        lease = new_lease()
        streamed = [delivery for delivery in deliveries if streams_only(delivery)]
        posted = [delivery for delivery in deliveries if not streams_only(delivery)]
        with transaction.atomic(using=self.db):
            insert(
                MessageRecord,
                [self._message_row(message, now, planned_at=now)],
                using=self.db,
                on_conflict="update",
                update=["planned_at"],
            )
            if streamed:
                rows = [
                    self._planned_row(message, delivery, now, State.STREAMED, completed_at=now)
                    for delivery in streamed
                ]
                insert(DeliveryRecord, rows, using=self.db, on_conflict="ignore")
            recorded = streamed if not self.records_everything else deliveries
            notify_after_commit(self.settings, {d.subscriber.uuid for d in recorded}, self.db)
            if not posted or not self.records_everything:
                return posted  # recorded when they fail
            locked_until = now + self._lease_period()
            rows = [
                self._planned_row(
                    message,
                    delivery,
                    now,
                    State.PENDING,
                    next_attempt_at=now,
                    locked_until=locked_until,
                    lease=lease,
                )
                for delivery in posted
            ]
            # The rows inserted now are ours; those recorded before are not.
            taken = insert(
                DeliveryRecord, rows, using=self.db, on_conflict="ignore", returning=True
            )
            if taken is None:
                ids = [delivery.id for delivery in posted]
                records = DeliveryRecord.objects.using(self.db)
                found = records.filter(id__in=ids, lease=lease).values_list("id", flat=True)
                taken = [str(i) for i in found]
        mine = set(taken)
        return [replace(d, lease=lease) for d in posted if d.id in mine]

    def _planned_row(
        self, message: Message, delivery: Delivery, now: datetime, state: str, **fields: Any
    ) -> dict[str, Any]:
        return {
            "id": delivery.id,
            "message_id": message.id,
            "subscription": delivery.subscriber.uuid,
            "event": delivery.event,
            "url": delivery.subscriber.url,
            "state": state,
            "created_at": now,
            **fields,
        }

    def _message_row(self, message: Message, now: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "id": message.id,
            "event": message.event,
            "data": encode_message(message, stored=True),
            "created_at": now,
            **fields,
        }

    # -- attempts

    def take(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Keep the deliveries whose lease still holds, and hold them another lease period."""
        held = sorted((d for d in deliveries if d.lease), key=lambda d: str(d.lease))
        kept = {d.id for d in deliveries if not d.lease}
        now = timezone.now()
        records = DeliveryRecord.objects.using(self.db)
        for lease, group in groupby(held, key=lambda d: str(d.lease)):
            ids = [d.id for d in group]
            mine = records.filter(id__in=ids, lease=lease, state__in=ACTIVE)
            if mine.update(locked_until=now + self._lease_period()) == len(ids):
                kept.update(ids)
            else:
                kept.update(str(i) for i in mine.values_list("id", flat=True))
        return [d for d in deliveries if d.id in kept]

    def record(self, results: Sequence[Result]) -> None:
        """Record the attempts and the new state of each delivery, then the health of endpoints.

        Each outcome is sent as a ``delivery_*`` signal once it is recorded
        (see :mod:`thorn.django.delivery_signals`), before the health of
        its endpoint is: a ``410 Gone`` sends ``delivery_failed``, then
        ``subscription_disabled``.
        """
        now = timezone.now()
        recorded = [
            result
            for result in results
            if result.request.delivery.message_id is not None
            and (
                self.records_everything
                or not result.outcome.ok
                or result.request.delivery.attempt > 1
            )
        ]
        if recorded:
            with transaction.atomic(using=self.db):
                if not self.records_everything:  # the first record of a failure
                    subscriptions = {result.request.subscriber.uuid for result in recorded}
                    notify_after_commit(self.settings, subscriptions, self.db)
                insert(
                    DeliveryRecord,
                    [self._delivery_row(result, now) for result in recorded],
                    using=self.db,
                    on_conflict="update",
                    update=_OUTCOME_FIELDS,
                )
                insert(
                    AttemptRecord,
                    [self._attempt_row(result, now) for result in recorded],
                    using=self.db,
                )
        send_outcomes(results)
        if self.tracks_health:
            self._record_health(results, now)

    def _delivery_row(self, result: Result, now: datetime) -> dict[str, Any]:
        delivery, outcome, verdict = result.request.delivery, result.outcome, result.verdict
        if outcome.ok:
            state = State.SUCCEEDED
        elif verdict.retry_in is not None:
            state = State.RETRYING
        else:
            state = State.FAILED
        next_attempt = (
            None if verdict.retry_in is None else now + timedelta(seconds=verdict.retry_in)
        )
        locked_until = None
        if result.scheduled and next_attempt is not None:
            # A Celery countdown makes the next attempt: the lease covers it.
            locked_until = next_attempt + self._lease_period()
        return {
            "id": delivery.id,
            "message_id": delivery.message_id,
            "subscription": delivery.subscriber.uuid,
            "event": delivery.event,
            "url": delivery.subscriber.url,
            "state": state,
            "attempts": delivery.attempt,
            "next_attempt_at": next_attempt,
            "locked_until": locked_until,
            "lease": str(delivery.lease or "") if locked_until else "",
            "last_status_code": outcome.status,
            "last_error": "" if outcome.error is None else str(outcome.error),
            "last_latency": outcome.latency,
            "last_attempt_at": now,
            "created_at": now,
            "completed_at": None if state in ACTIVE else now,
        }

    def _attempt_row(self, result: Result, now: datetime) -> dict[str, Any]:
        outcome, response = result.outcome, result.outcome.response
        size = int(self.settings.THORN_ATTEMPT_RESPONSE_BYTES)
        return {
            "delivery_id": result.request.delivery.id,
            "number": result.request.delivery.attempt,
            "started_at": now - timedelta(seconds=outcome.latency),
            "duration": outcome.latency,
            "status_code": outcome.status,
            "error_class": outcome.error_class or "",
            "error": "" if outcome.error is None else str(outcome.error),
            "response_headers": {} if response is None else dict(response.headers),
            "response_body": ""
            if response is None
            else response.content[:size].decode("utf-8", errors="replace"),
        }

    # -- the health of endpoints

    def _record_health(self, results: Iterable[Result], now: datetime) -> None:
        """Clear, start or act on ``failing_since``; disable gone or long-failing endpoints."""
        disable_after = timedelta(seconds=float(self.settings.THORN_DISABLE_AFTER))
        recovered, failing = set(), set()
        disabled: dict[Any, tuple[str, Outcome]] = {}
        for result in results:
            subscriber = result.request.subscriber
            if not isinstance(subscriber, self.subscriber_model):
                continue  # static subscribers are never disabled
            since = subscriber.failing_since
            if result.outcome.ok:
                if since is not None:
                    recovered.add(subscriber.uuid)
            elif result.outcome.gone:
                disabled[subscriber.uuid] = ("the URL answered 410 Gone", result.outcome)
            elif since is None:
                failing.add(subscriber.uuid)
            elif now - since >= disable_after:
                disabled[subscriber.uuid] = (
                    f"every delivery failed since {since:%Y-%m-%d %H:%M} UTC "
                    f"(THORN_DISABLE_AFTER is {disable_after})",
                    result.outcome,
                )
        subscribers = self.subscriber_model._default_manager.using(self.db)
        if recovered:
            subscribers.filter(uuid__in=recovered).update(failing_since=None)
        if failing:
            subscribers.filter(uuid__in=failing, failing_since__isnull=True).update(
                failing_since=now
            )
        if recovered or failing:
            subscriptions_changed(self.subscriber_model, self.db)
        for subscription, (reason, outcome) in disabled.items():
            self.disable(subscription, reason, now, outcome=outcome)

    def disable(
        self,
        subscription: Any,
        reason: str,
        now: datetime | None = None,
        *,
        outcome: Outcome | None = None,
    ) -> bool:
        """Disable a subscription and cancel its pending deliveries; false if it was not active.

        Sends :data:`~thorn.django.delivery_signals.subscription_disabled`
        with the ``outcome`` that disabled it.
        """
        now = now or timezone.now()
        subscribers = self.subscriber_model._default_manager.using(self.db)
        changed = subscribers.filter(uuid=subscription, is_active=True).update(
            is_active=False, disabled_reason=reason[:255], disabled_at=now
        )
        if changed:
            subscriptions_changed(self.subscriber_model, self.db)
            logger.warning("Disabled subscription %s: %s", subscription, reason)
            self._cancel(
                DeliveryRecord.objects.using(self.db).filter(
                    subscription=subscription, state__in=ACTIVE
                ),
                f"the subscription was disabled: {reason}",
                now,
            )
            cause = "manual" if outcome is None else "gone" if outcome.gone else "failing"
            instrument.subscription_disabled(cause)
            instance = subscribers.filter(uuid=subscription).first()
            if instance is not None:
                subscription_disabled.send_robust(
                    type(instance),
                    subscription=instance,
                    reason=instance.disabled_reason,
                    outcome=outcome,
                )
        return bool(changed)

    def _cancel(self, deliveries: QuerySet[Any], reason: str, now: datetime) -> int:
        return deliveries.update(
            state=State.CANCELLED,
            completed_at=now,
            next_attempt_at=None,
            locked_until=None,
            lease="",
            last_error=reason,
        )

    def cancel(self, ids: Sequence[str], reason: str) -> None:
        """Give up deliveries ``ids`` that are still active."""
        records = DeliveryRecord.objects.using(self.db)
        self._cancel(records.filter(id__in=ids, state__in=ACTIVE), reason, timezone.now())

    # -- the relay

    def due_messages(self, limit: int) -> list[Message]:
        """Take messages never planned ``THORN_RELAY_AFTER`` after they were made (oldest first).

        A message taken is not taken again for ``THORN_RELAY_AFTER``.
        """
        now = timezone.now()
        cutoff = now - timedelta(seconds=float(self.settings.THORN_RELAY_AFTER))
        due = Q(planned_at__isnull=True, created_at__lte=cutoff) & (
            Q(relayed_at__isnull=True) | Q(relayed_at__lte=cutoff)
        )
        records = MessageRecord.objects.using(self.db)
        with write_transaction(MessageRecord, self.db):
            ids = list(
                self._skip_locked(records.filter(due).order_by("created_at")).values_list(
                    "id", flat=True
                )[:limit]
            )
            records.filter(due, id__in=ids).update(relayed_at=now)
            data = list(
                records.filter(id__in=ids).order_by("created_at").values_list("data", flat=True)
            )
        return [decode_message(item) for item in data]

    def due_deliveries(self, limit: int) -> list[DueDelivery]:
        """Take deliveries due now that nobody holds, under a new lease (soonest first)."""
        now = timezone.now()
        lease = new_lease()
        due = Q(state__in=ACTIVE, next_attempt_at__lte=now) & _free(now)
        records = DeliveryRecord.objects.using(self.db)
        with write_transaction(DeliveryRecord, self.db):
            ids = list(
                self._skip_locked(records.filter(due).order_by("next_attempt_at")).values_list(
                    "id", flat=True
                )[:limit]
            )
            records.filter(due, id__in=ids).update(
                lease=lease, locked_until=now + self._lease_period()
            )
        return self._taken(ids, lease)

    def _taken(self, ids: Sequence[Any], lease: str) -> list[DueDelivery]:
        """The deliveries of ``ids`` held under ``lease``, with their messages (soonest first)."""
        records = DeliveryRecord.objects.using(self.db)
        rows = records.filter(id__in=ids, lease=lease).select_related("message")
        messages: dict[Any, Message] = {}
        taken = []
        for row in rows.order_by("next_attempt_at"):
            message = messages.get(row.message_id)
            if message is None:
                message = messages[row.message_id] = decode_message(row.message.data)
            taken.append(
                DueDelivery(message, str(row.id), str(row.subscription), row.attempts + 1, lease)
            )
        return taken

    def backlog(self) -> Backlog:
        """Count what the relay would take now: two ``COUNT`` queries on partial indexes."""
        now = timezone.now()
        cutoff = now - timedelta(seconds=float(self.settings.THORN_RELAY_AFTER))
        messages = MessageRecord.objects.using(self.db).filter(
            Q(planned_at__isnull=True, created_at__lte=cutoff)
            & (Q(relayed_at__isnull=True) | Q(relayed_at__lte=cutoff))
        )
        deliveries = DeliveryRecord.objects.using(self.db).filter(
            Q(state__in=ACTIVE, next_attempt_at__lte=now) & _free(now)
        )
        return Backlog(messages=messages.count(), deliveries=deliveries.count())

    # -- redelivery and recovery

    def redeliver(self, ids: Sequence[str]) -> list[DueDelivery]:
        """Make deliveries ``ids`` due now and take them under a new lease.

        Their state becomes ``retrying`` (``pending`` if never attempted)
        until the attempt is recorded; the lease keeps the relay off them
        while the caller hands them over, and gives them to the relay if it
        never does.  ``streamed`` deliveries are never POSTed: they are left
        as they are.
        """
        now = timezone.now()
        lease = new_lease()
        takeable = (
            Q(id__in=list(ids)) & ~Q(state=State.STREAMED) & (~Q(state__in=ACTIVE) | _free(now))
        )
        records = DeliveryRecord.objects.using(self.db)
        with write_transaction(DeliveryRecord, self.db):
            taken = list(self._skip_locked(records.filter(takeable)).values_list("id", flat=True))
            records.filter(takeable, id__in=taken).update(
                **_due_again(now), lease=lease, locked_until=now + self._lease_period()
            )
        return self._taken(taken, lease)

    def recover(self, subscription: Any, since: datetime, limit: int) -> Recovered:
        """Make the failed and cancelled deliveries of ``subscription`` since ``since`` due now.

        The oldest ``limit`` of them, in one transaction; nobody holds them,
        so the relay hands them over on its next passes.
        """
        now = timezone.now()
        records = DeliveryRecord.objects.using(self.db)
        lost = Q(subscription=subscription, state__in=RECOVERABLE, created_at__gte=since)
        with write_transaction(DeliveryRecord, self.db):
            ids = list(
                self._skip_locked(records.filter(lost).order_by("created_at")).values_list(
                    "id", flat=True
                )[: limit + 1]
            )
            count = records.filter(lost, id__in=ids[:limit]).update(
                **_due_again(now), lease="", locked_until=None
            )
        return Recovered(count=count, more=len(ids) > limit)

    def prune(self, before: datetime, batch: int = 1000) -> int:
        """Delete deliveries (with their attempts) and messages made before ``before``.

        Deliveries with attempts still to make are kept, and so are their
        messages.  Rows go in batches of ``batch``.
        """
        deleted = 0
        deliveries = DeliveryRecord.objects.using(self.db)
        while ids := list(
            deliveries.filter(created_at__lt=before)
            .exclude(state__in=ACTIVE)
            .values_list("id", flat=True)[:batch]
        ):
            deleted += AttemptRecord.objects.using(self.db).filter(delivery_id__in=ids).delete()[0]
            deleted += deliveries.filter(id__in=ids).delete()[0]
        messages = MessageRecord.objects.using(self.db)
        orphans = messages.filter(created_at__lt=before).exclude(
            Exists(deliveries.filter(message=OuterRef("pk")))
        )
        while ids := list(orphans.values_list("id", flat=True)[:batch]):
            deleted += messages.filter(id__in=ids).delete()[0]
        return deleted
