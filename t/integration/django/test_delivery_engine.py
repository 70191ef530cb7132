"""The delivery engine with the default dispatcher: outbox, records, retries, relay, health.

Everything goes over the wire to the loopback receiver; the relay runs in
this process (``relay_once`` or ``manage.py thorn relay --once``), as it
would in its own.  Runs on SQLite, and on PostgreSQL in the PostgreSQL run.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError, transaction
from django.utils import timezone

from thorn import Event
from thorn._state import current_app
from thorn.django.models import AttemptRecord, DeliveryRecord, MessageRecord
from thorn.relay import prune_records, relay_once

from t.proj.blog.models import Article
from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

#: Seconds to wait, at most, for a retry to come due.
DEADLINE = 10.0


def relay_until(receiver: Receiver, path: str, count: int) -> list[Any]:
    """Run relay passes until ``count`` requests reached ``path`` (bounded by DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while len(receiver.for_path(path)) < count:
        assert time.monotonic() < deadline, f"{path} got {len(receiver.for_path(path))}"
        relay_once(current_app())
        time.sleep(0.05)
    return receiver.for_path(path)


def test_nobody_subscribed_writes_nothing(receiver, sentinel):
    """An event nobody subscribes to writes no outbox row and no record."""
    sentinel()
    before = MessageRecord.objects.count()

    Article.objects.create(title="Unheard")

    assert before == MessageRecord.objects.count()
    assert not DeliveryRecord.objects.filter(event="article.created").exists()


def test_a_rollback_sends_nothing_and_writes_nothing(receiver, subscribe, sentinel):
    """Rolled back with its transaction: no outbox row, no record, no request."""
    subscribe("article.created")

    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.create(title="Never")
        assert 1 == MessageRecord.objects.filter(event="article.created").count()
        raise RuntimeError("roll back")

    sentinel()
    assert not MessageRecord.objects.filter(event="article.created").exists()
    assert not DeliveryRecord.objects.filter(event="article.created").exists()
    assert [] == receiver.for_path("/hook")


def test_one_record_per_message_and_subscriber(receiver, subscribe, settings):
    """One outbox row; one delivery per subscriber, whose id is Hook-Delivery; one attempt each."""
    settings.THORN_ATTEMPT_RESPONSE_BYTES = 5
    receiver.answer("/a", Answer(status=201, body=b"created!", headers={"X-Seen": "yes"}))
    first, second = subscribe("article.created", "/a"), subscribe("article.created", "/b")

    Article.objects.create(title="Recorded")

    [message] = MessageRecord.objects.filter(event="article.created")
    assert message.planned_at is not None
    assert "Recorded" == message.data["payload"]["data"]["title"]
    deliveries = {d.subscription: d for d in DeliveryRecord.objects.filter(message=message)}
    assert {first.uuid, second.uuid} == set(deliveries)
    for subscriber, path in ((first, "/a"), (second, "/b")):
        [received] = receiver.for_path(path)
        record = deliveries[subscriber.uuid]
        assert str(record.id) == received.header("Hook-Delivery")
        assert ("succeeded", 1, subscriber.url) == (record.state, record.attempts, record.url)
        assert record.completed_at is not None and record.locked_until is None
    [attempt] = AttemptRecord.objects.filter(delivery=deliveries[first.uuid])
    assert (1, 201, "", "creat") == (
        attempt.number,
        attempt.status_code,
        attempt.error_class,
        attempt.response_body,
    )
    assert "yes" == attempt.response_headers["X-Seen"]
    assert 0 <= attempt.duration < 3


def test_503_503_200_is_delivered_on_the_third_attempt(receiver, subscribe, settings):
    """With THORN_RETRY_SCHEDULE = [1, 1] the relay retries: three attempts, one Hook-Delivery."""
    settings.THORN_RETRY_SCHEDULE = [1, 1]
    receiver.answer("/flaky", 503, 503, 200)
    subscriber = subscribe("article.created", "/flaky")

    Article.objects.create(title="Flaky")

    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert ("retrying", 1) == (record.state, record.attempts)
    assert timedelta(seconds=0.7) < record.next_attempt_at - record.last_attempt_at
    assert record.next_attempt_at - record.last_attempt_at < timedelta(seconds=1.3)
    received = relay_until(receiver, "/flaky", 3)
    assert 1 == len({r.header("Hook-Delivery") for r in received})
    record.refresh_from_db()
    assert ("succeeded", 3, 200) == (record.state, record.attempts, record.last_status_code)
    assert [503, 503, 200] == [a.status_code for a in AttemptRecord.objects.filter(delivery=record)]


def test_the_schedule_runs_out(receiver, subscribe, settings, caplog):
    """Always 500: one attempt per delay of the schedule, then failed, and on_error's log line."""
    settings.THORN_RETRY_SCHEDULE = [0.2]
    receiver.answer("/dead", 500)
    subscriber = subscribe("article.created", "/dead")

    Article.objects.create(title="Dead")
    relay_until(receiver, "/dead", 2)

    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert ("failed", 2) == (record.state, record.attempts)
    assert relay_once(current_app()).deliveries == 0  # nothing left to do
    assert any("Gave up delivering article.created" in r.getMessage() for r in caplog.records)


def test_retry_after_is_honoured(receiver, subscribe):
    """A 503 with Retry-After: 120 is not retried before two minutes (the schedule says 5 s)."""
    receiver.answer("/busy", Answer(status=503, headers={"Retry-After": "120"}))
    subscriber = subscribe("article.created", "/busy")

    Article.objects.create(title="Busy")

    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    wait = record.next_attempt_at - record.last_attempt_at
    assert timedelta(seconds=119) < wait < timedelta(seconds=121)


def test_410_disables_the_subscription(receiver, subscribe, sentinel):
    """410 Gone: the subscription is disabled at once, its delivery failed, and it gets no more."""
    receiver.answer("/gone", 410)
    subscriber = subscribe("article.created", "/gone")

    Article.objects.create(title="First")
    Article.objects.create(title="Second")

    sentinel()
    assert 1 == len(receiver.for_path("/gone"))
    subscriber.refresh_from_db()
    assert not subscriber.is_active
    assert "410 Gone" in subscriber.disabled_reason
    assert subscriber.disabled_at is not None
    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert "failed" == record.state


def test_sustained_failure_disables_the_subscription(receiver, subscribe, settings):
    """Failing for THORN_DISABLE_AFTER: disabled, and its pending retries cancelled."""
    settings.THORN_RETRY_SCHEDULE = [60] * 10
    receiver.answer("/down", 500)
    subscriber = subscribe("article.created", "/down")
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        Article.objects.create(title="One")
        subscriber.refresh_from_db()
        started = subscriber.failing_since
        assert started is not None and subscriber.is_active

        traveller.shift(timedelta(days=3))
        Article.objects.create(title="Two")  # fails again: not long enough
        subscriber.refresh_from_db()
        assert (started, True) == (subscriber.failing_since, subscriber.is_active)

        traveller.shift(timedelta(days=2, minutes=1))
        Article.objects.create(title="Three")

    subscriber.refresh_from_db()
    assert not subscriber.is_active
    assert "every delivery failed since" in subscriber.disabled_reason
    states = set(
        DeliveryRecord.objects.filter(subscription=subscriber.uuid).values_list("state", flat=True)
    )
    assert {"cancelled"} == states  # the retries of One, Two and Three
    assert 3 == len(receiver.for_path("/down"))


def test_a_success_clears_failing_since(receiver, subscribe, settings):
    """One 2xx after failures: the endpoint is healthy again."""
    settings.THORN_RETRY_SCHEDULE = [0.2]
    receiver.answer("/hiccup", 500, 200)
    subscriber = subscribe("article.created", "/hiccup")

    Article.objects.create(title="Hiccup")
    subscriber.refresh_from_db()
    assert subscriber.failing_since is not None
    relay_until(receiver, "/hiccup", 2)

    subscriber.refresh_from_db()
    assert subscriber.failing_since is None


def test_enabling_a_subscription_again_starts_afresh(receiver, subscribe, sentinel):
    """is_active = True again: the reason, the time and failing_since are cleared; it receives."""
    receiver.answer("/gone", 410, 200)
    subscriber = subscribe("article.created", "/gone")
    Article.objects.create(title="Gone")
    subscriber.refresh_from_db()
    assert not subscriber.is_active

    subscriber.is_active = True
    subscriber.save(update_fields=["is_active"])
    Article.objects.create(title="Back")

    subscriber.refresh_from_db()
    assert (True, "", None, None) == (
        subscriber.is_active,
        subscriber.disabled_reason,
        subscriber.disabled_at,
        subscriber.failing_since,
    )
    sentinel()
    assert [410, 200] == [
        a.status_code
        for a in AttemptRecord.objects.filter(delivery__subscription=subscriber.uuid).order_by(
            "started_at"
        )
    ]


def test_static_subscribers_are_never_disabled(receiver, settings, sentinel):
    """A THORN_SUBSCRIBERS URL answering 410 keeps receiving: only its failures are recorded."""
    settings.THORN_SUBSCRIBERS = {"article.created": [receiver.url("/static-gone")]}
    receiver.answer("/static-gone", 410)

    Article.objects.create(title="One")
    Article.objects.create(title="Two")

    sentinel()
    assert 2 == len(receiver.for_path("/static-gone"))
    assert {"failed"} == set(
        DeliveryRecord.objects.filter(url=receiver.url("/static-gone")).values_list(
            "state", flat=True
        )
    )


def test_event_send_waits_for_the_commit(receiver, subscribe, sentinel):
    """Event.send() inside atomic(): in the outbox with the transaction, sent when it commits."""
    subscribe("order.placed", "/orders")
    event = Event("order.placed")

    with transaction.atomic():
        assert [] == event.send({"id": 1})
        assert [] == receiver.for_path("/orders")
    with pytest.raises(RuntimeError), transaction.atomic():
        event.send({"id": 2})
        raise RuntimeError("roll back")
    [request] = event.send({"id": 3})  # outside a transaction: at once

    sentinel()
    assert [{"id": 1}, {"id": 3}] == [r.json() for r in receiver.for_path("/orders")]
    assert request.outcome.ok


def test_only_failed_deliveries_are_recorded_when_asked(receiver, subscribe, settings):
    """THORN_DELIVERY_RECORDS = "failed": a success leaves no delivery record, a failure does."""
    settings.THORN_DELIVERY_RECORDS = "failed"
    receiver.answer("/bad", 500)
    good, bad = subscribe("article.created", "/good"), subscribe("article.created", "/bad")

    Article.objects.create(title="Some fail")

    assert not DeliveryRecord.objects.filter(subscription=good.uuid).exists()
    [record] = DeliveryRecord.objects.filter(subscription=bad.uuid)
    assert ("retrying", 1) == (record.state, record.attempts)
    assert [500] == [a.status_code for a in record.history.all()]


def test_deliveries_of_a_removed_subscription_are_cancelled(receiver, subscribe, settings):
    """A delivery whose subscription is deleted before its retry is cancelled by the relay."""
    settings.THORN_RETRY_SCHEDULE = [0.1]
    receiver.answer("/soon-gone", 500)
    subscriber = subscribe("article.created", "/soon-gone")
    Article.objects.create(title="Orphan")
    uuid = subscriber.uuid
    subscriber.delete()
    time.sleep(0.2)

    relayed = relay_once(current_app())

    assert 1 == relayed.cancelled
    assert "cancelled" == DeliveryRecord.objects.get(subscription=uuid).state
    assert 1 == len(receiver.for_path("/soon-gone"))


def test_relay_command(receiver, subscribe, settings):
    """manage.py thorn relay --once --json: one pass, its counts as JSON."""
    settings.THORN_RETRY_SCHEDULE = [0.1]
    receiver.answer("/cmd", 500, 200)
    subscribe("article.created", "/cmd")
    Article.objects.create(title="Command")
    time.sleep(0.2)
    out = StringIO()

    call_command("thorn", "relay", "--once", "--json", stdout=out)

    assert {"messages": 0, "deliveries": 1, "cancelled": 0} == json.loads(out.getvalue())
    assert 2 == len(receiver.for_path("/cmd"))


def _database_gone(app: Any, limit: int) -> Any:
    raise OperationalError("server closed the connection unexpectedly")


class _Stop:
    """The relay's stop event, which records each wait and stops after ``passes`` of them."""

    def __init__(self, passes: int) -> None:
        self.passes = passes
        self.waits: list[float] = []

    def __call__(self) -> _Stop:
        return self

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return len(self.waits) >= self.passes


@pytest.mark.parametrize(
    ("interval", "waits"),
    [
        ("1", [1, 2, 4, 8, 16, 32, 60, 60]),  # doubled, up to a minute
        ("300", [300, 300]),  # an interval above a minute is kept
    ],
)
def test_the_relay_backs_off_while_the_database_fails(monkeypatch, interval, waits):
    """Each failed pass is logged; the wait doubles, up to MAX_BACKOFF, and the relay goes on."""
    from thorn.django.management.subcommands import relay

    stop = _Stop(len(waits))
    monkeypatch.setattr(relay, "relay_once", _database_gone)
    monkeypatch.setattr(relay, "Event", stop)
    monkeypatch.setattr(relay.signal, "signal", lambda *args: None)

    call_command("thorn", "relay", "--interval", interval)

    assert waits == stop.waits


def test_the_relay_once_raises_a_database_error(monkeypatch):
    """With --once, for cron: the error ends the command."""
    from thorn.django.management.subcommands import relay

    monkeypatch.setattr(relay, "relay_once", _database_gone)

    with pytest.raises(OperationalError):
        call_command("thorn", "relay", "--once")


def test_prune_deletes_old_records_and_keeps_active_ones(receiver, subscribe, settings):
    """Older than THORN_DELIVERY_RETENTION: gone, attempts and message too; active ones stay."""
    settings.THORN_RETRY_SCHEDULE = [3600]
    receiver.answer("/bad", 500)
    subscribe("article.created", "/ok")
    subscribe("article.created", "/bad")
    Article.objects.create(title="Old")
    assert 2 == DeliveryRecord.objects.count()

    with time_machine.travel(timezone.now() + timedelta(days=31)):
        deleted = prune_records(current_app())
        out = StringIO()
        call_command("thorn", "prune", "--json", stdout=out)

    assert 2 == deleted  # the succeeded delivery and its attempt
    assert ["retrying"] == list(DeliveryRecord.objects.values_list("state", flat=True))
    assert 1 == AttemptRecord.objects.count()
    assert 1 == MessageRecord.objects.count()  # still has an active delivery
    assert 0 == json.loads(out.getvalue())["deleted"]
