"""Crash tests: real processes killed (kill -9), a broker killed, and the relay recovering.

Every delivery must be made at least once, and a delivery made is never
made again; duplicates may only happen within a crash window, with the same
``Hook-Delivery`` id.  The relay runs as ``manage.py thorn relay --once`` in
a process of its own.  PostgreSQL only (other processes share the database).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery

from thorn import _state
from thorn.django.models import DeliveryRecord, MessageRecord, Subscriber

from t.integration.celery.conftest import WORKER_START_TIMEOUT, EnvFactory
from t.integration.durability import DEADLINE, all_delivered, replayed_delivery, wait_for
from t.proj.blog.models import Article
from t.receiver import Answer, Receiver
from t.services import ROOT, CeleryWorker, RedisServer, WorkerFactory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

#: Worker settings: short leases and relay delays, so recovery is quick.
FAST_RECOVERY = {
    "THORN_DISPATCHER": "celery",
    "THORN_DELIVERY_LEASE": 2.0,
    "THORN_RELAY_AFTER": 1.0,
    "THORN_CHUNKSIZE": 5,
}


def django_command(*args: str) -> list[str]:
    """``manage.py <args>`` of the test project, whose Celery app is loaded first.

    (A project's package imports its Celery app, so that ``manage.py``
    commands publish with it; the test project's package does not.)
    """
    code = (
        "import sys, t.proj.celery\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', *sys.argv[1:]])"
    )
    return [sys.executable, "-c", code, *args]


def run_django(env: dict[str, str], *args: str, code: str | None = None) -> Any:
    """Run ``manage.py <args>``, or ``code`` after django.setup(), in a new process."""
    command = (
        [sys.executable, "-c", f"import django; django.setup()\n{code}"]
        if code is not None
        else django_command(*args)
    )
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    return result


def crash_after_the_commit(env: dict[str, str], title: str) -> None:
    """Save an article in a process that dies (``os._exit``) as its transaction commits."""
    crash = f"""
import os
from django.db import transaction
from t.proj.blog.models import Article
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(0))
    Article.objects.create(title={title!r})
"""
    run_django(env, code=crash)


def subscribe(receiver: Receiver, event: str, path: str) -> Subscriber:
    subscriber: Subscriber = Subscriber.objects.create(event=event, url=receiver.url(path))
    return subscriber


@pytest.fixture
def publisher(settings: Any, celery_app: Celery) -> Iterator[Celery]:
    """This process publishes with the celery dispatcher."""
    settings.THORN_DISPATCHER = "celery"
    settings.THORN_CHUNKSIZE = 5
    celery_app.set_current()
    _state._current_app.set(None)
    yield celery_app


# -- the web process dies between the commit and the hand-over ------------------------------


def test_a_crash_after_the_commit_is_recovered_by_the_relay(
    process_env: EnvFactory, receiver: Receiver
) -> None:
    """os._exit(0) in on_commit, before thorn's hand-over: the relay delivers the message.

    The process is a web process of the default dispatcher; the change is
    committed, the outbox row with it, and nothing was sent.
    """
    subscriber = subscribe(receiver, "article.created", "/after-crash")
    crash_after_the_commit(process_env({"THORN_DISPATCHER": "default"}), "Crashed")

    assert Article.objects.filter(title="Crashed").exists()
    [message] = MessageRecord.objects.filter(event="article.created")
    assert message.planned_at is None
    assert [] == receiver.for_path("/after-crash")

    relay_env = process_env({"THORN_DISPATCHER": "default", "THORN_RELAY_AFTER": 0})
    run_django(relay_env, "thorn", "relay", "--once")

    [received] = receiver.wait_for_path("/after-crash")
    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert str(record.id) == received.header("Hook-Delivery")
    assert "Crashed" == received.json()["data"]["title"]
    assert "succeeded" == record.state


# -- the broker is killed, then comes back ---------------------------------------------------


def test_redis_killed_at_commit_is_recovered_by_the_relay(
    publisher: Celery, process_env: EnvFactory, receiver: Receiver, celery_queue: str
) -> None:
    """Redis down when the save commits: the message waits in the outbox; once Redis is back,
    the relay publishes it and a worker delivers it."""
    subscribe(receiver, "article.created", "/redis-back")
    broker = RedisServer().start()
    port = broker.port
    app = Celery("thorn-redis-killed", set_as_current=False)
    app.conf.update(
        broker_url=broker.url,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=celery_queue,
        broker_connection_retry=False,
    )
    worker: CeleryWorker | None = None
    try:
        app.set_current()
        broker.stop()  # killed: nobody listens on its port any more

        Article.objects.create(title="While Redis was down")

        assert 1 == MessageRecord.objects.filter(planned_at=None).count()
        broker = RedisServer(port=port).start()  # back, on the same port
        env = process_env({**FAST_RECOVERY, "THORN_RELAY_AFTER": 0}, broker_url=broker.url)
        worker = CeleryWorker(env, pool="threads", concurrency=4, queue=celery_queue).start()
        worker.wait_ready(time.monotonic() + WORKER_START_TIMEOUT)
        run_django(env, "thorn", "relay", "--once")

        [received] = receiver.wait_for_path("/redis-back", timeout=DEADLINE)
        assert "While Redis was down" == received.json()["data"]["title"]
    finally:
        publisher.set_current()
        app.close()
        if worker is not None:
            worker.stop()
        broker.stop()


# -- workers killed in the middle of a batch ---------------------------------------------------


@pytest.fixture
def slow_batch(receiver: Receiver) -> Callable[[int], None]:
    """``make(n)``: n subscriptions on one slow receiver (0.2 s per answer), one event sent."""

    def make(count: int) -> None:
        for i in range(count):
            path = f"/slow/{i}"
            receiver.answer(path, Answer(delay=0.2))
            subscribe(receiver, "article.created", path)
        Article.objects.create(title="Batch")

    return make


def test_kill_9_of_a_pool_process_loses_nothing(
    publisher: Celery,
    celery_worker_factory: WorkerFactory,
    receiver: Receiver,
    slow_batch: Callable[[int], None],
) -> None:
    """A prefork pool process killed mid-batch: its task goes to another, every delivery is made."""
    worker = celery_worker_factory(pool="prefork", concurrency=2, settings=FAST_RECOVERY)
    slow_batch(30)
    wait_for(lambda: len(receiver.received) >= 4, "the batch to start")

    victim = worker.children()[0]
    os.kill(victim, signal.SIGKILL)

    wait_for(all_delivered(receiver), "every delivery")
    counts = Counter(r.header("Hook-Delivery") for r in receiver.received)
    assert 30 == len(counts)
    assert 30 == DeliveryRecord.objects.filter(state="succeeded").count()
    assert "WorkerLostError" in worker.log()  # the pool process was lost, and its task redone


def test_kill_9_of_the_whole_worker_loses_nothing(
    publisher: Celery,
    celery_worker_factory: WorkerFactory,
    process_env: EnvFactory,
    receiver: Receiver,
    slow_batch: Callable[[int], None],
) -> None:
    """The whole worker killed mid-batch, a new one started: the relay hands over what was held."""
    first = celery_worker_factory(pool="threads", concurrency=4, settings=FAST_RECOVERY)
    slow_batch(30)
    wait_for(lambda: len(receiver.received) >= 4, "the batch to start")

    first.kill()
    made = len({r.header("Hook-Delivery") for r in receiver.received})
    assert made < 30, "the worker was killed too late to lose anything"
    celery_worker_factory(pool="threads", concurrency=4, settings=FAST_RECOVERY)
    time.sleep(FAST_RECOVERY["THORN_DELIVERY_LEASE"] + 0.5)  # the dead worker's leases run out
    run_django(process_env(FAST_RECOVERY), "thorn", "relay", "--once")

    wait_for(all_delivered(receiver), "every delivery")
    counts = Counter(r.header("Hook-Delivery") for r in receiver.received)
    assert 30 == len(counts)
    assert 30 == DeliveryRecord.objects.filter(state="succeeded").count()


# -- retries ------------------------------------------------------------------------------------


def test_503_503_200_through_a_worker(
    publisher: Celery, celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """A retry due within the lease is the worker's own: three attempts, one Hook-Delivery id."""
    receiver.answer("/flaky", 503, 503, 200)
    subscriber = subscribe(receiver, "article.created", "/flaky")
    celery_worker_factory(settings={"THORN_RETRY_SCHEDULE": [1, 1]})

    Article.objects.create(title="Flaky")

    received = receiver.wait_for_path("/flaky", 3, timeout=DEADLINE)
    assert 3 == len(received)
    assert 1 == len({r.header("Hook-Delivery") for r in received})
    wait_for(all_delivered(receiver), "the record of the success")
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert (3, [503, 503, 200]) == (
        record.attempts,
        [a.status_code for a in record.history.order_by("number")],
    )


def test_a_retry_beyond_the_lease_is_left_to_the_relay(
    publisher: Celery,
    celery_worker_factory: WorkerFactory,
    process_env: EnvFactory,
    receiver: Receiver,
) -> None:
    """Long delays do not sit in the broker: the worker records the retry, the relay sends it."""
    settings = {"THORN_RETRY_SCHEDULE": [2.0], "THORN_DELIVERY_LEASE": 1.0}
    receiver.answer("/later", 500, 200)
    subscriber = subscribe(receiver, "article.created", "/later")
    worker = celery_worker_factory(settings=settings)

    Article.objects.create(title="Later")

    wait_for(
        lambda: (
            DeliveryRecord.objects.filter(subscription=subscriber.uuid, state="retrying")
            .exclude(lease="x")
            .exists()
        ),
        "the failed first attempt",
    )
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert ("", None) == (record.lease, record.locked_until)  # not held: the relay's
    time.sleep(2.5)
    assert 1 == len(receiver.for_path("/later"))  # the worker did not retry on its own
    run_django(process_env({**settings, "THORN_DISPATCHER": "celery"}), "thorn", "relay", "--once")

    [_, received] = receiver.wait_for_path("/later", 2, timeout=DEADLINE)
    assert str(record.id) == received.header("Hook-Delivery")
    assert "thorn.tasks.dispatch_request[" not in worker.log()  # no countdown task


def test_a_delivery_made_is_never_made_again(
    publisher: Celery, celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """The same chunk delivered again by the broker (at least once): the second time, nothing."""
    from thorn.tasks import WorkerDispatcher, dispatch_requests

    subscribe(receiver, "article.created", "/once")
    worker = celery_worker_factory()
    Article.objects.create(title="Once")
    wait_for(all_delivered(receiver), "the delivery")

    record, again = replayed_delivery(WorkerDispatcher)
    dispatch_requests.apply_async(args=([again],))

    wait_for(lambda: 2 == worker.log().count("thorn.tasks.dispatch_requests[") // 2, "the task")
    assert 1 == len(receiver.for_path("/once"))
    record.refresh_from_db()
    assert (1, "succeeded") == (record.attempts, record.state)


# -- two relays ---------------------------------------------------------------------------------


def test_relays_running_at_once_send_nothing_twice(
    settings: Any, process_env: EnvFactory, receiver: Receiver
) -> None:
    """150 due retries, three relays taking 5 at a time: each delivery is retried exactly once."""
    settings.THORN_RETRY_SCHEDULE = [0.5]
    settings.THORN_DISPATCHER = "default"
    settings.THORN_RECIPIENT_VALIDATORS = []  # the receiver is on loopback
    for i in range(15):
        receiver.answer(f"/twice/{i}", 500)  # every first attempt fails
        subscribe(receiver, "article.created", f"/twice/{i}")
    for i in range(10):
        Article.objects.create(title=f"Due {i}")
    assert 150 == DeliveryRecord.objects.filter(state="retrying").count()
    receiver.reset()
    time.sleep(0.7)
    env = process_env({"THORN_DISPATCHER": "default"})
    command = django_command("thorn", "relay", "--interval", "0.01", "--limit", "5")

    relays = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(3)]
    try:
        wait_for(
            lambda: 150 == DeliveryRecord.objects.filter(state="succeeded").count(),
            "every retry",
        )
    finally:
        for relay in relays:
            relay.send_signal(signal.SIGTERM)
        codes = [relay.wait(timeout=30) for relay in relays]

    assert [0, 0, 0] == codes  # each stopped after its pass, on SIGTERM
    counts = Counter(r.header("Hook-Delivery") for r in receiver.received)
    assert 150 == len(counts)
    assert {1} == set(counts.values())  # one retry each, whichever relay made it


# -- the relay's database connection is lost ----------------------------------------------------


def test_the_relay_survives_a_lost_database_connection(
    settings: Any, process_env: EnvFactory, receiver: Receiver, tmp_path: Any
) -> None:
    """Its connection is terminated, as by a database restart: it logs, reconnects, goes on."""
    from django.db import connection

    settings.THORN_RETRY_SCHEDULE = [0.5]
    settings.THORN_DISPATCHER = "default"
    settings.THORN_RECIPIENT_VALIDATORS = []  # the receiver is on loopback
    receiver.answer("/after-restart", 500, 200)
    subscribe(receiver, "article.created", "/after-restart")
    env = {**process_env({"THORN_DISPATCHER": "default"}), "PGAPPNAME": "thorn-test-relay"}
    log = tmp_path / "relay.log"

    def relay_backends() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'thorn-test-relay'"
            )
            return [pid for (pid,) in cursor.fetchall()]

    with log.open("wb") as output:
        relay = subprocess.Popen(
            django_command("thorn", "relay", "--interval", "0.1"),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: bool(relay_backends()), "the relay's database connection")
        backends = relay_backends()
        with connection.cursor() as cursor:
            for pid in backends:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_for(lambda: "A relay pass failed" in log.read_text(), "the relay's failed pass")

        Article.objects.create(title="After the restart")  # fails first: a retry for the relay
        wait_for(
            lambda: DeliveryRecord.objects.filter(state="succeeded").exists(),
            "the relay's retry",
        )
        assert relay.poll() is None, log.read_text()
        assert set(backends).isdisjoint(relay_backends())  # a new connection
    finally:
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(timeout=DEADLINE)

    assert 0 == code, log.read_text()
    [record] = DeliveryRecord.objects.all()
    assert (2, "succeeded") == (record.attempts, record.state)  # the failed one, the relay's
    assert 2 == len(receiver.for_path("/after-restart"))
