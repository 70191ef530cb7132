"""The celery dispatcher end to end: a real Redis, a real worker, the loopback receiver.

The test process publishes (``THORN_DISPATCHER = "celery"``); a worker
started for the test finds the subscribers in the shared PostgreSQL database
and delivers to the loopback receiver.  Whether the worker is done is read
from its log ("Task <name>[<id>] succeeded"), never guessed with a sleep:
every wait has a deadline.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from celery import Celery
from django.contrib.auth.models import User
from django.db import transaction
from kombu.exceptions import OperationalError

import thorn
from thorn import Event, _state
from thorn.decorators import WebhookCapable
from thorn.dispatch.celery import WorkerDispatcher
from thorn.django.models import MessageRecord, Subscriber
from thorn.generic.subscriber import StaticSubscriber, static_secret
from thorn.validators import ensure_port, ensure_protocol

from t.proj.blog.models import Account, Article, Author
from t.proj.celery import (
    broken_subscribers,
    on_delivered,
    on_failed,
    on_timed_out,
    raising_callback,
    subscribers_from_context,
)
from t.receiver import Answer, Received, Receiver
from t.services import CeleryWorker, RedisServer, WorkerFactory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

#: Settings of most workers here: small chunks, fast retries.
WORKER_SETTINGS = {"THORN_CHUNKSIZE": 10, "THORN_RETRY_DELAY": 0.2, "THORN_RETRY_MAX": 3}
#: Seconds to wait for the worker (a task to be done, a delivery to arrive).
DEADLINE = 15.0
ENVELOPE_KEYS = ["event", "ref", "sender", "data"]


# -- helpers -----------------------------------------------------------------


class StampedReceiver(Receiver):
    """A receiver that also notes when each request arrived (``time.monotonic()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = {}

    def record(self, received: Received) -> None:
        with self._lock:
            self.arrivals.setdefault(received.path.partition("?")[0], []).append(time.monotonic())
        super().record(received)


@pytest.fixture(autouse=True)
def celery_publisher(settings: Any, celery_app: Celery, celery_queue: str) -> Iterator[Celery]:
    """This process publishes through the celery dispatcher, to the test's queue."""
    settings.THORN_DISPATCHER = "celery"
    settings.THORN_CHUNKSIZE = 10
    # shared_task resolves its task on the current Celery app (per thread).
    celery_app.set_current()
    _state._current_app.set(None)
    yield celery_app


@pytest.fixture
def receivers() -> Iterator[Callable[[], StampedReceiver]]:
    """Start more loopback receivers (other ports: other hosts for thorn); stopped at the end."""
    started: list[StampedReceiver] = []

    def start() -> StampedReceiver:
        server = StampedReceiver()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def subscribe(receiver: Receiver, event: str, path: str = "/hook", **fields: Any) -> Subscriber:
    """Store a subscription of ``event`` to ``path`` of ``receiver`` (committed)."""
    subscriber: Subscriber = Subscriber.objects.create(
        event=event, url=receiver.url(path), **fields
    )
    return subscriber


def task_lines(worker: CeleryWorker, task: str, state: str) -> list[str]:
    """The worker's log lines ``Task <task>[<id>] <state>``."""
    pattern = re.compile(rf"Task {re.escape(task)}\[[0-9a-f-]+\] {state}\b")
    return [line for line in worker.log().splitlines() if pattern.search(line)]


def wait_log(
    worker: CeleryWorker,
    predicate: Callable[[str], bool],
    what: str,
    timeout: float = DEADLINE,
) -> None:
    """Wait (bounded) until ``predicate(worker.log())``; fail with the log's end."""
    deadline = time.monotonic() + timeout
    while not predicate(worker.log()):
        if time.monotonic() >= deadline or not worker.alive:
            pytest.fail(f"the worker never logged {what}:\n{worker.log_tail(60)}")
        time.sleep(0.05)


def wait_tasks(worker: CeleryWorker, task: str, count: int, timeout: float = DEADLINE) -> list[str]:
    """Wait (bounded) until ``count`` runs of ``task`` succeeded; return those lines."""
    wait_log(
        worker,
        lambda _log: len(task_lines(worker, task, "succeeded")) >= count,
        f"{count} x {task} succeeded",
        timeout,
    )
    return task_lines(worker, task, "succeeded")


def finished(worker: CeleryWorker, task: str, count: int = 1) -> None:
    """Wait (bounded) until ``count`` runs of ``task`` ended, whether they succeeded or raised."""
    wait_log(
        worker,
        lambda _log: len(task_lines(worker, task, "(succeeded|raised)")) >= count,
        f"{count} x {task} done",
    )


def received_count(worker: CeleryWorker, task: str) -> int:
    """How many ``task`` messages the worker received."""
    return len(task_lines(worker, task, "received"))


def runtimes(lines: list[str]) -> list[float]:
    """The run times of ``Task ...[...] succeeded in 1.23s`` lines."""
    return [float(re.search(r"succeeded in ([0-9.e-]+)s", line)[1]) for line in lines]  # type: ignore[index]


def by_subscription(received: list[Received]) -> dict[str | None, list[Received]]:
    found: dict[str | None, list[Received]] = {}
    for item in received:
        found.setdefault(item.header("Hook-Subscription"), []).append(item)
    return found


def author_for(user: User) -> Author:
    """An Author whose ``account.user`` is ``user`` (Article's sender_field)."""
    author: Author = Author.objects.create(
        account=Account.objects.create(user=user), name=user.username
    )
    return author


def closed_port() -> int:
    """A local TCP port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_article_created_once_each(
    article: Article, deliveries: list[Received], subscribers: list[Subscriber]
) -> None:
    """Exactly one signed ``article.created`` per subscriber, as the default dispatcher sends it."""
    found = by_subscription(deliveries)
    assert {str(s.uuid) for s in subscribers} == set(found)
    assert all(1 == len(items) for items in found.values()), found
    delivery_ids = set()
    for subscriber in subscribers:
        [received] = found[str(subscriber.uuid)]
        assert "POST" == received.method
        assert subscriber.url.endswith(received.path)
        assert "article.created" == received.header("Hook-Event")
        assert "application/json" == received.header("Content-Type")
        assert "PENDING" == received.header("X-Article-State")
        assert _state.current_app().user_agent == received.header("User-Agent")
        received.assert_signed_for(subscriber)
        delivery_ids.add(str(uuid.UUID(received.header("Hook-Delivery") or "")))
        body = received.json()
        assert ENVELOPE_KEYS == list(body)
        assert {
            "event": "article.created",
            "ref": f"/article/{article.uuid}/",
            "sender": None,
            "data": {"title": article.title, "state": "PENDING"},
        } == body
    assert len(subscribers) == len(delivery_ids)  # one delivery id per subscriber


# -- delivery through the worker ------------------------------------------------------


def test_model_event_is_delivered_once_per_subscriber(
    celery_worker_factory: WorkerFactory,
    receiver: Receiver,
    receivers: Callable[[], StampedReceiver],
) -> None:
    """Three subscribers on two hosts each get one signed envelope with the model's headers."""
    other = receivers()
    subscribers = [
        subscribe(receiver, "article.created", "/a"),
        subscribe(receiver, "article.*", "/a"),
        subscribe(other, "article.created", "/b"),
    ]
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    article = Article.objects.create(title="Hello", body="World")

    wait_tasks(worker, "thorn.tasks.send_event", 1)
    wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    assert 1 == received_count(worker, "thorn.tasks.send_event")
    assert 1 == received_count(worker, "thorn.tasks.dispatch_requests")
    assert 2 == len(receiver.received)
    assert 1 == len(other.received)
    assert_article_created_once_each(article, receiver.received + other.received, subscribers)
    assert 0 == received_count(worker, "thorn.tasks.dispatch_request")  # no retry


def test_sender_travels_as_pk_and_filters_owned_subscriptions(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """Only the sender's and the ownerless subscriptions get its event; the envelope names it."""
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    mine = subscribe(receiver, "article.created", "/alice", user=alice)
    subscribe(receiver, "article.created", "/bob", user=bob)
    everyone = subscribe(receiver, "article.created", "/everyone")
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    article = Article.objects.create(title="By Alice", author=author_for(alice))

    wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    assert [] == receiver.for_path("/bob")
    for path, subscriber in (("/alice", mine), ("/everyone", everyone)):
        [received] = receiver.for_path(path)
        received.assert_signed_for(subscriber)
        assert {
            "event": "article.created",
            "ref": f"/article/{article.uuid}/",
            "sender": "alice",
            "data": {"title": "By Alice", "state": "PENDING"},
        } == received.json()

    # Without a sender, every subscription gets it.
    Article.objects.create(title="Anonymous")

    wait_tasks(worker, "thorn.tasks.dispatch_requests", 2)
    assert [1, 2, 2] == [len(receiver.for_path(p)) for p in ("/bob", "/alice", "/everyone")]
    assert None is receiver.for_path("/bob")[0].json()["sender"]


def test_subscribers_are_delivered_in_chunks(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """25 subscribers and THORN_CHUNKSIZE=10: one send_event, three dispatch_requests."""
    subscribers = [subscribe(receiver, "article.created", f"/chunk/{i}") for i in range(25)]
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    Article.objects.create(title="Chunked")

    wait_tasks(worker, "thorn.tasks.send_event", 1)  # every chunk is published by now
    wait_tasks(worker, "thorn.tasks.dispatch_requests", 3)
    assert 1 == received_count(worker, "thorn.tasks.send_event")
    assert 3 == received_count(worker, "thorn.tasks.dispatch_requests")
    found = by_subscription(receiver.received)
    assert {str(s.uuid) for s in subscribers} == set(found)
    assert [1] * 25 == [len(items) for items in found.values()]
    assert {f"/chunk/{i}" for i in range(25)} == {r.path for r in receiver.received}


def test_chunk_delivers_every_host_concurrently_bounded_per_host(
    celery_worker_factory: WorkerFactory, receivers: Callable[[], StampedReceiver]
) -> None:
    """A chunk's deliveries all go at once: at most THORN_MAX_CONNECTIONS_PER_HOST to a host.

    Host A has 12 subscribers, host B one, each answering after 0.5s; at most
    10 at once to host A.  One after the other, the chunk would take 6.5s;
    concurrently, two rounds of 0.5s.
    """
    host_a, host_b = receivers(), receivers()
    host_a.answer("/slow", Answer(delay=0.5))
    host_b.answer("/slow", Answer(delay=0.5))
    for i in range(12):
        subscribe(host_a, "article.created", f"/slow?{i}")
    subscribe(host_b, "article.created", "/slow")
    worker = celery_worker_factory(settings={**WORKER_SETTINGS, "THORN_CHUNKSIZE": 20})

    Article.objects.create(title="Lanes")

    [chunk] = wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    assert (12, 1) == (len(host_a.received), len(host_b.received))
    assert 10 == host_a.most_in_flight
    # One kept-alive connection per lane.
    assert 10 == host_a.connections
    assert 1 == host_b.connections
    # Host B did not wait for host A.
    [slow_b] = host_b.arrivals["/slow"]
    assert slow_b - min(host_a.arrivals["/slow"]) < 0.4, "host B waited for host A"
    [seconds] = runtimes([chunk])
    assert 1.0 <= seconds < 2.0, f"the chunk took {seconds:.2f}s (6.5s when sequential)"


# -- retries --------------------------------------------------------------------------


def test_failed_delivery_is_retried_alone_until_it_succeeds(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """500, 500, 200 with retry_max 3: three attempts, one delivery id; the chunk is not resent."""
    receiver.answer("/flaky", 500, 500, 200)
    flaky = subscribe(receiver, "article.created", "/flaky")
    subscribe(receiver, "article.created", "/ok/1")
    subscribe(receiver, "article.created", "/ok/2")
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    Article.objects.create(title="Flaky")

    wait_tasks(worker, "thorn.tasks.dispatch_request", 1)  # the retry that succeeded
    attempts = receiver.for_path("/flaky")
    assert 3 == len(attempts)
    assert 1 == len({r.header("Hook-Delivery") for r in attempts})
    assert 1 == len({r.body for r in attempts})
    for received in attempts:
        received.assert_signed_for(flaky)
    assert 1 == len(receiver.for_path("/ok/1"))
    assert 1 == len(receiver.for_path("/ok/2"))
    assert 1 == received_count(worker, "thorn.tasks.dispatch_requests")
    # One retry task, received twice (its first run retried itself once).
    assert 2 == received_count(worker, "thorn.tasks.dispatch_request")
    log = worker.log()
    assert 2 == log.count(f"Delivery of article.created to {flaky.url} failed (will retry)")
    assert "Gave up delivering" not in log


def test_permanently_failing_delivery_stops_after_retry_max(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """Always 500 with retry_max 2: three attempts, then nothing more, and a log line."""
    receiver.answer("/dead", 500)
    dead = subscribe(receiver, "article.created", "/dead")
    subscribe(receiver, "article.created", "/fine")
    worker = celery_worker_factory(settings={**WORKER_SETTINGS, "THORN_RETRY_MAX": 2})

    Article.objects.create(title="Doomed")

    gave_up = f"Gave up delivering article.created to {dead.url} (subscription {dead.uuid})"
    wait_log(worker, lambda log: gave_up in log, "that it gave up")
    assert 3 == len(receiver.for_path("/dead"))
    # Well beyond the retry delay (0.2s), nothing more arrives.
    assert 3 == len(receiver.wait_for_path("/dead", 4, timeout=1.0))
    assert 1 == len(receiver.for_path("/fine"))
    [line] = [line for line in worker.log().splitlines() if gave_up in line]
    assert "after 3 attempts" in line
    assert f"{dead.url} answered 500" in line  # the reason
    assert "ERROR" in line


# -- buffering ------------------------------------------------------------------------


def test_buffer_flush_publishes_chunks_of_events(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """25 buffered events with THORN_CHUNKSIZE=10 are 3 send_events messages; unbuffered: 1 each."""
    subscribe(receiver, "article.created", "/buffered")
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    with thorn.buffer_events():
        for i in range(25):
            Article.objects.create(title=f"Buffered {i}")
        assert [] == receiver.received

    wait_tasks(worker, "thorn.tasks.send_events", 3)
    wait_tasks(worker, "thorn.tasks.dispatch_requests", 25)
    assert 3 == received_count(worker, "thorn.tasks.send_events")
    assert 0 == received_count(worker, "thorn.tasks.send_event")
    titles = [r.json()["data"]["title"] for r in receiver.for_path("/buffered")]
    assert sorted(f"Buffered {i}" for i in range(25)) == sorted(titles)

    Article.objects.create(title="Alone 1")
    Article.objects.create(title="Alone 2")

    wait_tasks(worker, "thorn.tasks.send_event", 2)
    wait_tasks(worker, "thorn.tasks.dispatch_requests", 27)
    assert 2 == received_count(worker, "thorn.tasks.send_event")
    assert 3 == received_count(worker, "thorn.tasks.send_events")
    assert 27 == len(receiver.for_path("/buffered"))


# -- the broker is down -----------------------------------------------------------------


@pytest.fixture
def broker_down(celery_app: Celery, celery_queue: str) -> Iterator[Celery]:
    """A publisher app whose broker is a closed port, current for the test only."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    app = Celery("thorn-broker-down", set_as_current=False)
    app.conf.update(
        broker_url=url,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=celery_queue,
    )
    app.set_current()
    try:
        yield app
    finally:
        celery_app.set_current()
        app.close()


def test_broker_outage_does_not_break_save(
    broker_down: Celery, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The row is saved, the message stays in the outbox for the relay, and save() is quick."""
    subscribe(receiver, "article.created")
    caplog.set_level(logging.WARNING, logger="thorn")

    started = time.monotonic()
    article = Article.objects.create(title="Offline")
    elapsed = time.monotonic() - started

    assert Article.objects.filter(pk=article.pk).exists()
    [record] = [r for r in caplog.records if r.name.startswith("thorn")]
    assert "WARNING" == record.levelname
    assert "Event article.created was not published" in record.getMessage()
    assert "the relay will publish it" in record.getMessage()
    assert 1 == MessageRecord.objects.filter(event="article.created", planned_at=None).count()
    assert elapsed < 5.0, f"the save waited {elapsed:.2f}s for the broker"


def test_broker_outage_with_propagate_errors_rolls_back(
    broker_down: Celery, settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """propagate_errors without waiting for the commit: save() raises inside atomic().

    Such an event is not written to the outbox: it is published at once.
    """
    subscribe(receiver, "article.created")
    settings.THORN_SIGNAL_HONORS_TRANSACTION = False
    # (Article.webhooks is the nested class for the type checker, an instance at run time.)
    webhooks = cast(WebhookCapable, Article.webhooks)
    monkeypatch.setattr(webhooks["on_create"], "propagate_errors", True)

    started = time.monotonic()
    with pytest.raises(OperationalError), transaction.atomic():
        Article.objects.create(title="Rolled back")
    elapsed = time.monotonic() - started

    assert not Article.objects.filter(title="Rolled back").exists()
    assert elapsed < 5.0, f"the save waited {elapsed:.2f}s for the broker"


def test_stalled_broker_holds_the_commit_no_longer_than_the_publish_timeout(
    settings: Any,
    celery_app: Celery,
    celery_queue: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis that accepts connections but does not answer (SIGSTOP) holds a commit ~0.5s.

    The publish goes on in the background: once Redis is resumed the message
    is in the queue, and no failure is reported for it.
    """
    settings.THORN_PUBLISH_TIMEOUT = 0.5
    subscribe(receiver, "article.created")
    caplog.set_level(logging.INFO, logger="thorn")
    with RedisServer() as stalled:
        app = Celery("thorn-stalled-broker", set_as_current=False)
        app.conf.update(
            broker_url=stalled.url,
            task_serializer="json",
            accept_content=["json"],
            task_default_queue=celery_queue,
        )
        app.set_current()
        assert stalled.process is not None
        stalled.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            article = Article.objects.create(title="Stalled")  # autocommit: sent on commit
            elapsed = time.monotonic() - started
        finally:
            stalled.process.send_signal(signal.SIGCONT)
            celery_app.set_current()

        assert 0.4 < elapsed < 2.0, f"the commit waited {elapsed:.2f}s"
        assert Article.objects.filter(pk=article.pk).exists()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert ["Event article.created was not published within 0.5s"] == [
            r.getMessage().partition(" (")[0] for r in warnings
        ]
        with stalled.client() as client:
            deadline = time.monotonic() + DEADLINE
            while client.llen(celery_queue) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert 1 == client.llen(celery_queue)  # it went out after all
        deadline = time.monotonic() + DEADLINE
        while not any("published after all" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the late publish was not reported"
            time.sleep(0.05)
        assert [] == [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        app.close()


# -- other pools ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool", "concurrency"), [pytest.param("gevent", 20, id="gevent"), ("prefork", 2)]
)
def test_other_pools_deliver(
    celery_worker_factory: WorkerFactory,
    receiver: Receiver,
    receivers: Callable[[], StampedReceiver],
    pool: str,
    concurrency: int,
) -> None:
    """The gevent and prefork pools deliver a chunk to two hosts, once per subscriber."""
    other = receivers()
    subscribers = [
        subscribe(receiver, "article.created", "/a"),
        subscribe(receiver, "article.created", "/b"),
        subscribe(other, "article.created", "/c"),
    ]
    worker = celery_worker_factory(pool=pool, concurrency=concurrency, settings=WORKER_SETTINGS)

    article = Article.objects.create(title=f"On {pool}")

    wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    assert 1 == received_count(worker, "thorn.tasks.dispatch_requests")
    assert_article_created_once_each(article, receiver.received + other.received, subscribers)


# -- Event.send -------------------------------------------------------------------------


def test_event_send_carries_headers_data_retry_options_and_timeout(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """An Event's options travel to the worker: they win over the worker's settings."""
    receiver.answer("/slow", Answer(delay=2.0))
    fast = subscribe(receiver, "order.placed", "/order")
    slow = subscribe(receiver, "order.placed", "/slow")
    # Were the event's options lost, the slow receiver would be waited for
    # (10s timeout), and retried a minute later.
    worker = celery_worker_factory(
        settings={
            "THORN_CHUNKSIZE": 10,
            "THORN_EVENT_TIMEOUT": 10.0,
            "THORN_RETRY_DELAY": 60.0,
            "THORN_RETRY_MAX": 5,
        }
    )
    event = Event(
        "order.placed",
        timeout=0.5,
        retry_max=1,
        retry_delay=0.2,
        request_data={"shop": "thorn", "total": "0.00"},
    )

    event.send(
        {"id": 7, "total": Decimal("9.99")},
        headers={"X-Request-Id": "req-42"},
        on_success=on_delivered,
        on_timeout=on_timed_out,
    )

    gave_up = f"Gave up delivering order.placed to {slow.url} (subscription {slow.uuid})"
    wait_log(worker, lambda log: gave_up in log, "that it gave up on the slow receiver")
    [received] = receiver.for_path("/order")
    received.assert_signed_for(fast)
    assert "order.placed" == received.header("Hook-Event")
    assert "req-42" == received.header("X-Request-Id")
    assert b'{"shop": "thorn", "total": "9.99", "id": 7}' == received.body
    # Each attempt gave up after 0.5s; one retry (retry_max=1), 0.2s later.
    attempts = receiver.for_path("/slow")
    assert 2 == len(attempts)
    assert 1 == len({r.header("Hook-Delivery") for r in attempts})
    assert "req-42" == attempts[0].header("X-Request-Id")
    log = worker.log()
    [line] = [line for line in log.splitlines() if gave_up in line]
    assert "after 2 attempts" in line
    assert "did not answer within 0.5s" in line
    assert 1 == log.count(f"thorn-test on_success order.placed {fast.url} 200")
    assert 1 == log.count(f"thorn-test on_timeout order.placed {slow.url}")


def test_per_event_validators_survive_the_worker(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """An Event's own recipient validators reach the worker intact, and are applied there.

    The worker's settings validate nothing; the event allows only the
    receiver's port, so the delivery to another port is refused and the
    one to the receiver goes out.
    """
    allowed = subscribe(receiver, "order.placed", "/allowed")
    refused = Subscriber.objects.create(
        event="order.placed", url=f"http://127.0.0.1:{closed_port()}/refused"
    )
    worker = celery_worker_factory(settings={**WORKER_SETTINGS, "THORN_RECIPIENT_VALIDATORS": []})
    event = Event(
        "order.placed",
        recipient_validators=[ensure_protocol("http"), ensure_port(receiver.port)],
    )

    event.send({"id": 3}, on_success=on_delivered, on_error=on_failed)

    [received] = receiver.wait_for_path("/allowed", timeout=DEADLINE)
    received.assert_signed_for(allowed)
    refusal = f"thorn-test on_error order.placed {refused.url} Port of recipient URL"
    wait_log(worker, lambda log: refusal in log, "the refusal of the other port")
    assert "TypeError" not in worker.log()
    assert 1 == worker.log().count(f"thorn-test on_success order.placed {allowed.url} 200")


# -- subscribers that are not stored ---------------------------------------------------------


def test_static_and_callable_subscribers_are_found_by_the_worker(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """THORN_SUBSCRIBERS of the worker's settings, and an event's callable called with the context.

    Their secrets come from the settings both processes share (SECRET_KEY).
    """
    static_url, own_url = receiver.url("/static"), receiver.url("/own")
    worker = celery_worker_factory(
        settings={**WORKER_SETTINGS, "THORN_SUBSCRIBERS": {"order.*": [static_url]}}
    )
    alice = User.objects.create(username="alice")
    event = Event("order.placed", subscribers=[subscribers_from_context])

    event.send({"id": 1}, sender=alice, context={"hook_url": own_url})

    wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    app = _state.current_app()
    for path, pattern in (("/static", "order.*"), ("/own", "order.placed")):
        url = receiver.url(path)
        [received] = receiver.for_path(path)
        expected = StaticSubscriber(url=url, event=pattern, hmac_secret=static_secret(app, url))
        assert str(expected.uuid) == received.header("Hook-Subscription")
        received.assert_signed_for(expected)  # type: ignore[arg-type]
        assert {"id": 1} == received.json()
    # The callable ran in the worker, with the sender's primary key.
    assert f"thorn-test subscribers order.placed sender={alice.pk}" in worker.log()


# -- one bad event or callback must not cost the others their deliveries ----------------------


def test_failing_event_of_a_flushed_buffer_does_not_stop_the_others(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """One send_events message, three events; the first one's subscriber lookup raises.

    Sent one by one, each event is a send_event task of its own, and the
    failure of one costs the others nothing; buffering must not change that.
    """
    subscribe(receiver, "order.placed", "/orders")
    worker = celery_worker_factory(settings=WORKER_SETTINGS)
    broken = Event("order.placed", subscribers=[broken_subscribers])
    fine = Event("order.placed")

    with thorn.buffer_events():
        broken.send({"n": 0})
        fine.send({"n": 1})
        fine.send({"n": 2})

    finished(worker, "thorn.tasks.send_events")
    assert 1 == received_count(worker, "thorn.tasks.send_events")
    assert "thorn-test broken subscribers for order.placed" in worker.log()
    # Anything send_events published is in the queue now: it arrives quickly.
    arrived = receiver.wait_for_path("/orders", 2, timeout=2.0)
    assert [1, 2] == sorted(r.json()["n"] for r in arrived), (
        "send_events stopped at the failing event: the events after it were never sent"
    )


def test_raising_callback_does_not_cancel_the_retry_of_another_delivery(
    celery_worker_factory: WorkerFactory, receivers: Callable[[], StampedReceiver]
) -> None:
    """A chunk of two: the first delivery's on_success raises, the second failed once.

    The requests of a chunk are handled in (scheme, host, port) order, so
    the receiver with the lower port is handled first.
    """
    first, second = sorted((receivers(), receivers()), key=lambda server: server.port)
    second.answer("/flaky", 500, 200)
    subscribe(first, "order.placed", "/ok")
    subscribe(second, "order.placed", "/flaky")
    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    Event("order.placed").send({"n": 1}, on_success=raising_callback)

    finished(worker, "thorn.tasks.dispatch_requests")
    assert 1 == len(first.received)
    assert "thorn-test callback raised for " + first.url("/ok") in worker.log()
    # The failed delivery is retried (0.2s later) all the same.
    assert 2 == len(second.wait_for_path("/flaky", 2, timeout=2.0)), (
        "dispatch_requests stopped at the raising callback: the failed delivery of the "
        "same chunk was never retried (nor reported to on_error)"
    )


# -- a subscription deleted before its delivery -----------------------------------------------


def test_subscription_deleted_before_delivery_is_skipped(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """The chunk is published (as send_event does), a subscription deleted, then a worker starts."""
    kept = subscribe(receiver, "article.created", "/kept")
    gone = subscribe(receiver, "article.created", "/gone")
    gone_url = gone.url
    WorkerDispatcher(app=_state.current_app()).send(
        "article.created", {"event": "article.created", "data": {}}, None
    )
    gone.delete()

    worker = celery_worker_factory(settings=WORKER_SETTINGS)

    wait_tasks(worker, "thorn.tasks.dispatch_requests", 1)
    [received] = receiver.received
    received.assert_signed_for(kept)
    assert f"Not delivering article.created to {gone_url}: the subscription is gone" in (
        worker.log()
    )
