"""The background dispatcher in one process: save() returns at once, threads deliver.

Everything goes over the wire to the loopback receiver.  The tests in
``t/integration/celery/test_background_processes.py`` kill, fork and exit
real processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from thorn import Event
from thorn._state import current_app
from thorn.dispatch import background
from thorn.dispatch.background import BackgroundPool
from thorn.django.models import DeliveryRecord, MessageRecord
from thorn.relay import relay_once

from t.proj.blog.models import Article
from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

#: Seconds a test waits for the pool, at most.
DEADLINE = 10.0


@pytest.fixture(autouse=True)
def background_dispatcher(thorn_settings: Any) -> Iterator[None]:
    """THORN_DISPATCHER = "background"; the pool is drained after the test."""
    thorn_settings.THORN_DISPATCHER = "background"
    yield
    pool = background._pool
    if pool is not None:
        assert pool.drain(DEADLINE), "the background pool did not drain"


def drain() -> None:
    pool = background._pool
    assert pool is not None, "nothing was queued"
    assert pool.drain(DEADLINE)


def test_save_returns_before_the_delivery_is_made(receiver: Receiver, subscribe: Any) -> None:
    """A receiver answering after 1 s: save() takes far less, the delivery is made and recorded."""
    receiver.answer("/slow", Answer(delay=1.0))
    subscriber = subscribe("article.created", "/slow")

    started = time.monotonic()
    Article.objects.create(title="Quick")
    took = time.monotonic() - started

    assert took < 0.5, f"save() took {took:.3f}s"
    [received] = receiver.wait_for_path("/slow")
    assert "Quick" == received.json()["data"]["title"]
    drain()
    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert ("succeeded", str(record.id)) == (record.state, received.header("Hook-Delivery"))


def test_the_message_is_in_the_outbox_before_save_returns(
    receiver: Receiver, subscribe: Any
) -> None:
    """When save() returns, the message is in the outbox (the relay's, if all else fails)."""
    gate = threading.Event()
    receiver.answer("/gated", Answer(delay=0.5))
    subscribe("article.created", "/gated")
    pool = background.background_pool(4, 5.0)
    # Keep every thread busy: the message cannot be planned yet.
    for _ in range(pool.threads):
        assert pool.submit(gate.wait)

    Article.objects.create(title="Waiting")

    [message] = MessageRecord.objects.filter(event="article.created")
    assert message.planned_at is None
    gate.set()
    receiver.wait_for_path("/gated")


def test_inside_a_transaction_it_waits_for_the_commit(receiver: Receiver, subscribe: Any) -> None:
    """Queued when the transaction commits; nothing at all when it rolls back."""
    subscribe("article.created", "/tx")

    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.create(title="Rolled back")
        raise RuntimeError("roll back")
    with transaction.atomic():
        Article.objects.create(title="Committed")

    [received] = receiver.wait_for_path("/tx")
    drain()
    assert "Committed" == received.json()["data"]["title"]
    assert 1 == MessageRecord.objects.filter(event="article.created").count()


def test_a_full_queue_leaves_the_message_to_the_relay(
    receiver: Receiver, subscribe: Any, thorn_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One busy thread and a queue of one: the next save() is not queued; the relay delivers it."""
    thorn_settings.THORN_RELAY_AFTER = 0
    gate, started = threading.Event(), threading.Event()
    pool = BackgroundPool(threads=1, size=1)
    monkeypatch.setattr(background, "_pool", pool)
    assert pool.submit(lambda: started.set() or gate.wait())
    assert started.wait(DEADLINE)
    assert pool.submit(lambda: None)  # the queue is full
    subscribe("article.created", "/full")

    Article.objects.create(title="Overflow")

    assert 1 == relay_once(current_app()).messages
    [received] = receiver.wait_for_path("/full")
    assert "Overflow" == received.json()["data"]["title"]
    gate.set()
    assert pool.drain(DEADLINE)
    assert ["succeeded"] == [
        d.state for d in DeliveryRecord.objects.filter(event="article.created")
    ]


def test_the_relay_delivers_in_its_own_thread(receiver: Receiver, subscribe: Any) -> None:
    """The relay hands a due message over at once (nothing is queued by it)."""
    subscriber = subscribe("article.created", "/relayed")
    message = current_app().dispatcher.message("article.created", {"n": 1}, None)
    current_app().store.add(message)
    MessageRecord.objects.update(
        created_at=MessageRecord.objects.get().created_at.replace(year=2000)
    )

    relayed = relay_once(current_app())

    assert 1 == relayed.messages
    [received] = receiver.for_path("/relayed")  # already there: no wait
    assert str(subscriber.uuid) == received.header("Hook-Subscription")


def test_event_send_outside_a_transaction_returns_at_once(
    receiver: Receiver, subscribe: Any
) -> None:
    """Event.send() returns [] and the delivery is made by the pool."""
    receiver.answer("/sent", Answer(delay=0.5))
    subscribe("thing.happened", "/sent")

    assert [] == Event("thing.happened").send({"n": 1})

    [received] = receiver.wait_for_path("/sent")
    assert {"n": 1} == received.json()


def test_a_failing_delivery_is_recorded_for_the_relay(
    receiver: Receiver, subscribe: Any, thorn_settings: Any
) -> None:
    """A 503 from the pool's attempt is recorded as retrying, and the relay delivers it."""
    thorn_settings.THORN_RETRY_SCHEDULE = [0]
    receiver.answer("/flaky", 503, 200)
    subscriber = subscribe("article.created", "/flaky")

    Article.objects.create(title="Flaky")
    receiver.wait_for_path("/flaky")
    drain()

    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert ("retrying", 1) == (record.state, record.attempts)
    relay_once(current_app())
    record.refresh_from_db()
    assert ("succeeded", 2) == (record.state, record.attempts)


class TestBackgroundPool:
    """The pool on its own: bounded, drained, started again after a fork."""

    def test_a_full_queue_refuses(self) -> None:
        gate = threading.Event()
        pool = BackgroundPool(threads=1, size=1)
        started = threading.Event()
        assert pool.submit(lambda: started.set() or gate.wait())
        assert started.wait(DEADLINE)
        assert pool.submit(gate.wait)  # waits in the queue
        assert not pool.submit(gate.wait)
        gate.set()
        assert pool.drain(DEADLINE)
        assert 0 == pool.pending

    def test_drain_gives_up_after_its_timeout(self, caplog: pytest.LogCaptureFixture) -> None:
        gate = threading.Event()
        pool = BackgroundPool(threads=1)
        pool.submit(gate.wait)

        started = time.monotonic()
        assert not pool.drain(0.2)

        assert 0.15 < time.monotonic() - started < 2
        assert "1 webhook hand-overs were not done at exit" in caplog.text
        gate.set()
        assert pool.drain(DEADLINE)

    def test_a_job_that_raises_does_not_stop_its_thread(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        done = threading.Event()
        pool = BackgroundPool(threads=1)

        def boom() -> None:
            raise RuntimeError("boom")

        pool.submit(boom)
        pool.submit(done.set)

        assert done.wait(DEADLINE)
        assert "A background job raised" in caplog.text

    def test_threads_are_started_once_per_process(self) -> None:
        pool = BackgroundPool(threads=2)
        before = threading.active_count()
        for _ in range(5):
            pool.submit(lambda: None)
        assert pool.drain(DEADLINE)
        assert before + 2 == threading.active_count()
