"""Reading, then writing, while another process writes to the same SQLite file.

SQLite refuses at once ("database is locked", without waiting for its busy
timeout) a transaction that read first and then wants to write while
another connection holds the write lock.  thorn's transactions that read,
then write (the relay's claims, redelivery, recovery, the REST API's checks,
a stream's lease) therefore write first, so that SQLite waits for the other
writer instead.  Each test holds the write lock from a second connection,
as another process's relay, web request or stream heartbeat would; each
failed with ``OperationalError: database is locked`` before.

These run with ``THORN_TEST_DATABASE=sqlite-file`` (``make test`` does):
the in-memory database cannot be opened by a second connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from thorn._state import current_app
from thorn.django.models import DeliveryRecord, MessageRecord, StreamLease, Subscriber
from thorn.django.stream import leases
from thorn.recovery import recover, redeliver
from thorn.store import Recovered

from t.proj.blog.models import Article

_database = django_settings.DATABASES["default"]
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        _database["ENGINE"] != "django.db.backends.sqlite3" or _database["NAME"] == ":memory:",
        reason="SQLite's locking between connections: THORN_TEST_DATABASE=sqlite-file only",
    ),
]

#: How long the other process holds SQLite's write lock (seconds).
HELD = 0.5


@contextmanager
def another_process_writing() -> Iterator[None]:
    """Another connection holds SQLite's write lock for ``HELD`` seconds from now."""
    holding, done = threading.Event(), threading.Event()

    def other_writer() -> None:
        other = sqlite3.connect(_database["NAME"], isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock, as another process's UPDATE takes it
            holding.set()
            done.wait(HELD)
            other.execute("COMMIT")
        finally:
            other.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert holding.wait(5.0), "the other connection did not take the write lock"
        yield
    finally:
        done.set()
        thread.join(5.0)


@pytest.fixture
def failed(receiver: Any, subscribe: Any, settings: Any) -> DeliveryRecord:
    """A delivery that failed once and is retried in an hour."""
    settings.THORN_RETRY_SCHEDULE = [3600]
    subscriber = subscribe("article.created", "/failing")
    receiver.answer("/failing", 500)
    Article.objects.create(title="Failing")
    record: DeliveryRecord = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert "retrying" == record.state
    return record


def test_the_relay_takes_a_due_retry(failed: DeliveryRecord) -> None:
    DeliveryRecord.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())

    with another_process_writing():
        taken = current_app().store.due_deliveries(10)

    assert [str(failed.pk)] == [due.id for due in taken]


def test_the_relay_takes_a_lost_message(subscribe: Any) -> None:
    subscribe("article.created", "/relayed")
    message = current_app().dispatcher.message("article.created", {"n": 1}, None)
    current_app().store.add(message)
    MessageRecord.objects.update(created_at=timezone.now() - timedelta(hours=1))

    with another_process_writing():
        taken = current_app().store.due_messages(10)

    assert [message.id] == [m.id for m in taken]


def test_a_failed_delivery_is_redelivered(failed: DeliveryRecord) -> None:
    with another_process_writing():
        redelivery = redeliver(current_app(), [str(failed.pk)])

    assert [str(failed.pk)] == redelivery.ids


def test_failed_deliveries_are_recovered(failed: DeliveryRecord) -> None:
    DeliveryRecord.objects.filter(pk=failed.pk).update(state="failed", next_attempt_at=None)
    since = timezone.now() - timedelta(hours=1)

    with another_process_writing():
        recovered = recover(current_app(), failed.subscription, since)

    assert Recovered(count=1, more=False) == recovered


def test_the_api_creates_a_subscription(api: Any) -> None:
    with another_process_writing():
        response = api.post("/hooks/", {"event": "article.*", "url": "https://e.com/h"})

    assert 201 == response.status_code, response.content
    assert ["https://e.com/h"] == list(Subscriber.objects.values_list("url", flat=True))


def test_a_stream_takes_its_lease(django_user_model: Any) -> None:
    alice = django_user_model.objects.create_user("alice")
    subscriber = Subscriber.objects.create(
        event="article.*", user=alice, delivery_mode="stream", url=""
    )

    with another_process_writing():
        lease = leases.acquire(alice, subscriber, current_app().settings)

    assert lease is not None
    assert [lease.pk] == list(StreamLease.objects.values_list("pk", flat=True))
