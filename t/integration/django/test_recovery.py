"""Redelivery and recovery through the engine: the same ids, recorded attempts, the relay.

Over the wire to the loopback receiver, with the default dispatcher (the
relay runs in this process).  The REST API, the admin and the commands are
tested on top of these in their own files.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from thorn._state import current_app
from thorn.django.models import AttemptRecord, DeliveryRecord
from thorn.recovery import RECOVER_LIMIT, recover, redeliver
from thorn.relay import relay_once
from thorn.store import Backlog, Recovered

from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_retries(settings):
    """Failed deliveries fail at once: no retry to wait for."""
    settings.THORN_RETRY_SCHEDULE = []
    return settings


def failed_delivery(receiver, subscriber, title: str = "Failed") -> DeliveryRecord:
    """An article.created delivery to ``subscriber`` that failed (the receiver answered 500)."""
    path = subscriber.url.removeprefix(receiver.url(""))
    receiver.answer("/" + path.lstrip("/"), 500)
    Article.objects.create(title=title)
    record = DeliveryRecord.objects.filter(subscription=subscriber.uuid).latest("created_at")
    assert "failed" == record.state
    return record


def test_a_failed_delivery_is_attempted_again_with_the_same_id(receiver, subscribe, no_retries):
    """redeliver(), then hand_over(): the same Hook-Delivery again, recorded as attempt 2."""
    subscriber = subscribe("article.created", "/again")
    record = failed_delivery(receiver, subscriber)
    receiver.answer("/again", 200)

    redelivery = redeliver(current_app(), [str(record.id)])
    record.refresh_from_db()
    assert ([str(record.id)], "retrying") == (redelivery.ids, record.state)
    assert [] == receiver.for_path("/again")[1:]  # nothing sent before hand_over()

    assert (1, 0) == redelivery.hand_over()

    first, second = receiver.for_path("/again")
    assert str(record.id) == first.header("Hook-Delivery") == second.header("Hook-Delivery")
    assert first.header("webhook-id") == second.header("webhook-id")
    record.refresh_from_db()
    assert ("succeeded", 2, 200) == (record.state, record.attempts, record.last_status_code)
    assert record.completed_at is not None and record.locked_until is None
    assert [(1, 500), (2, 200)] == list(
        AttemptRecord.objects.filter(delivery=record).values_list("number", "status_code")
    )


def test_a_succeeded_delivery_can_be_redelivered(receiver, subscribe):
    """A delivery that succeeded is sent again when asked (the receiver dedupes by its id)."""
    subscriber = subscribe("article.created", "/twice")
    Article.objects.create(title="Twice")
    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)

    assert (1, 0) == redeliver(current_app(), [str(record.id)]).hand_over()

    assert 2 == len(receiver.for_path("/twice"))
    record.refresh_from_db()
    assert ("succeeded", 2) == (record.state, record.attempts)


def test_a_delivery_being_attempted_is_not_taken(receiver, subscribe, no_retries):
    """A delivery an executor holds (its lease runs) is left to it: nothing is taken."""
    subscriber = subscribe("article.created", "/held")
    record = failed_delivery(receiver, subscriber)
    DeliveryRecord.objects.filter(pk=record.pk).update(
        state="retrying", locked_until=timezone.now() + timedelta(minutes=1), lease="someone"
    )

    redelivery = redeliver(current_app(), [str(record.id)])

    assert ([], (0, 0)) == (redelivery.ids, redelivery.hand_over())
    record.refresh_from_db()
    assert ("retrying", "someone") == (record.state, record.lease)


def test_a_redelivery_never_handed_over_is_the_relays_once_its_lease_ran_out(
    receiver, subscribe, no_retries, settings
):
    """The lease keeps the relay off a redelivery until it runs out; then the relay sends it."""
    settings.THORN_DELIVERY_LEASE = 0.5
    subscriber = subscribe("article.created", "/orphan")
    record = failed_delivery(receiver, subscriber)
    receiver.answer("/orphan", 200)

    redeliver(current_app(), [str(record.id)])  # and the process "dies": no hand_over()
    assert 0 == relay_once(current_app()).deliveries
    time.sleep(0.6)
    assert 1 == relay_once(current_app()).deliveries

    assert 2 == len(receiver.for_path("/orphan"))
    record.refresh_from_db()
    assert "succeeded" == record.state


def test_redelivering_to_a_disabled_subscription_cancels_it(receiver, subscribe, no_retries):
    """A disabled subscription receives nothing: the redelivery is cancelled, not sent."""
    subscriber = subscribe("article.created", "/off")
    record = failed_delivery(receiver, subscriber)
    type(subscriber).objects.filter(pk=subscriber.pk).update(is_active=False)

    assert (0, 1) == redeliver(current_app(), [str(record.id)]).hand_over()

    assert 1 == len(receiver.for_path("/off"))
    record.refresh_from_db()
    assert "cancelled" == record.state


def test_without_records_of_successes_only_failures_can_be_redelivered(
    receiver, subscribe, settings, no_retries
):
    """THORN_DELIVERY_RECORDS = "failed": a first-attempt success has no record to redeliver."""
    settings.THORN_DELIVERY_RECORDS = "failed"
    subscriber = subscribe("article.created", "/lean")
    Article.objects.create(title="Delivered")
    assert not DeliveryRecord.objects.filter(subscription=subscriber.uuid).exists()

    record = failed_delivery(receiver, subscriber, "Refused")
    receiver.answer("/lean", 200)
    assert (1, 0) == redeliver(current_app(), [str(record.id)]).hand_over()

    record.refresh_from_db()
    assert ("succeeded", 2) == (record.state, record.attempts)


def test_recover_makes_failed_and_cancelled_deliveries_since_a_time_due(
    receiver, subscribe, no_retries
):
    """Failed and cancelled deliveries made since ``since`` go to the relay; older and
    succeeded ones, and other subscriptions', do not."""
    subscriber = subscribe("article.created", "/recover")
    other = subscribe("article.created", "/other")
    receiver.answer("/other", 500)
    old = failed_delivery(receiver, subscriber, "Old")
    DeliveryRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    since = timezone.now() - timedelta(hours=1)
    failed = failed_delivery(receiver, subscriber, "Failed")
    cancelled = failed_delivery(receiver, subscriber, "Cancelled")
    DeliveryRecord.objects.filter(pk=cancelled.pk).update(state="cancelled")
    receiver.answer("/recover", 200)
    Article.objects.create(title="Succeeded")

    assert Recovered(count=2, more=False) == recover(current_app(), subscriber.uuid, since)

    mine = [old.pk, failed.pk, cancelled.pk]
    states = dict(DeliveryRecord.objects.filter(pk__in=mine).values_list("id", "state"))
    assert {old.pk: "failed", failed.pk: "retrying", cancelled.pk: "retrying"} == states
    assert 2 == relay_once(current_app()).deliveries
    assert {str(failed.id), str(cancelled.id)} == {
        r.header("Hook-Delivery") for r in receiver.for_path("/recover")[-2:]
    }
    assert {"failed"} == set(
        DeliveryRecord.objects.filter(subscription=other.uuid).values_list("state", flat=True)
    )


def test_recover_is_bounded(receiver, subscribe, no_retries):
    """At most ``limit`` deliveries per call, oldest first; ``more`` says to call again."""
    subscriber = subscribe("article.created", "/many")
    first = failed_delivery(receiver, subscriber, "First")
    failed_delivery(receiver, subscriber, "Second")
    since = timezone.now() - timedelta(minutes=1)

    assert Recovered(count=1, more=True) == recover(current_app(), subscriber.uuid, since, limit=1)
    first.refresh_from_db()
    assert "retrying" == first.state
    assert Recovered(count=1, more=False) == recover(current_app(), subscriber.uuid, since, limit=1)
    assert Recovered(count=0, more=False) == recover(current_app(), subscriber.uuid, since)
    assert 10_000 == RECOVER_LIMIT


def test_recover_refuses_a_limit_below_1(subscribe):
    with pytest.raises(ValueError, match="at least 1"):
        recover(current_app(), subscribe("article.created").uuid, timezone.now(), limit=0)


def test_backlog_counts_what_the_relay_would_take(receiver, subscribe, settings):
    """Due deliveries nobody holds count; a retry that is not due yet does not."""
    settings.THORN_RETRY_SCHEDULE = [3600]
    subscriber = subscribe("article.created", "/backlog")
    receiver.answer("/backlog", 500)
    Article.objects.create(title="Later")
    store = current_app().store
    assert Backlog(messages=0, deliveries=0) == store.backlog()

    DeliveryRecord.objects.filter(subscription=subscriber.uuid).update(
        next_attempt_at=timezone.now()
    )

    assert Backlog(messages=0, deliveries=1) == store.backlog()


def test_a_store_that_keeps_nothing_redelivers_nothing(app):
    """A framework-free app keeps no record: nothing to redeliver, recover or count."""
    assert [] == redeliver(app, ["0b4a1f9e-0000-4000-8000-000000000000"]).ids
    assert Recovered() == recover(app, "some-uuid", timezone.now())
    assert app.store.backlog() is None
