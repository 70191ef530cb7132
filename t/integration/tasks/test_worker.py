"""The tasks dispatcher through a real ``manage.py db_worker`` (django-tasks-db).

This process saves articles and enqueues tasks in the test database; a
db_worker process runs them.  Retries due within the lease are deferred
tasks (``run_after``); later ones, and whatever a killed worker held, are
the relay's, which runs as ``manage.py thorn relay --once``.
SQLite in a file and PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from thorn import _state
from thorn.dispatch.tasks import WorkerDispatcher, dispatch_requests, enqueue
from thorn.django.models import DeliveryRecord, Subscriber

from t.integration.durability import DEADLINE, all_delivered, replayed_delivery, wait_for
from t.integration.tasks.conftest import EnvFactory, WorkerFactory, run_relay
from t.proj.blog.models import Article
from t.receiver import Answer, Receiver

Subscribe = Callable[..., Subscriber]

pytestmark = [
    pytest.mark.db_worker,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

#: Worker settings: short leases and relay delays, so recovery is quick.
FAST_RECOVERY = {
    "THORN_DELIVERY_LEASE": 2.0,
    "THORN_EVENT_TIMEOUT": 1.0,
    "THORN_RELAY_AFTER": 1.0,
    "THORN_CHUNKSIZE": 5,
}


def tasks_of(name: str) -> list[DBTaskResult[..., Any]]:
    """The tasks of thorn's task ``name`` in the database, oldest first."""
    return list(
        DBTaskResult.objects.filter(task_path=f"thorn.dispatch.tasks.{name}").order_by(
            "enqueued_at"
        )
    )


def test_a_db_worker_delivers_a_saved_article(
    tasks_queue: str,
    db_worker: WorkerFactory,
    receiver: Receiver,
    subscribe: Subscribe,
) -> None:
    """The commit enqueues send_event; the worker plans, enqueues the chunk and delivers it."""
    subscriber = subscribe("article.created", "/created")
    db_worker()

    Article.objects.create(title="Through a worker")

    [received] = receiver.wait_for_path("/created", timeout=DEADLINE)
    received.assert_signed_for(subscriber)
    assert "Through a worker" == received.json()["data"]["title"]
    wait_for(all_delivered(receiver), "the record of the delivery")
    assert str(DeliveryRecord.objects.get().id) == received.header("Hook-Delivery")
    [send_event] = tasks_of("send_event")
    [chunk] = tasks_of("dispatch_requests")
    assert (tasks_queue, "database") == (send_event.queue_name, send_event.backend_name)
    assert (tasks_queue, [1]) == (chunk.queue_name, [len(chunk.args_kwargs["args"][0])])


def test_503_503_200_retried_by_deferred_tasks(
    db_worker: WorkerFactory,
    receiver: Receiver,
    subscribe: Subscribe,
) -> None:
    """Retries due within the lease are the worker's: two tasks deferred with run_after."""
    receiver.answer("/flaky", 503, 503, 200)
    subscriber = subscribe("article.created", "/flaky")
    db_worker({"THORN_RETRY_SCHEDULE": [1, 1]})

    Article.objects.create(title="Flaky")

    received = receiver.wait_for_path("/flaky", 3, timeout=DEADLINE)
    assert 1 == len({r.header("Hook-Delivery") for r in received})
    wait_for(all_delivered(receiver), "the record of the success")
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert (3, [503, 503, 200]) == (
        record.attempts,
        [a.status_code for a in record.history.order_by("number")],
    )
    _first, *retries = tasks_of("dispatch_requests")
    assert 2 == len(retries)
    assert all(task.run_after > task.enqueued_at for task in retries)
    assert [2, 3] == [task.args_kwargs["args"][0][0]["attempt"] for task in retries]


def test_a_retry_beyond_the_lease_is_left_to_the_relay(
    process_env: EnvFactory,
    db_worker: WorkerFactory,
    receiver: Receiver,
    subscribe: Subscribe,
) -> None:
    """Long delays do not sit in the queue: the worker records the retry, the relay sends it."""
    settings = {"THORN_RETRY_SCHEDULE": [2.0], "THORN_DELIVERY_LEASE": 1.0}
    receiver.answer("/later", 500, 200)
    subscriber = subscribe("article.created", "/later")
    db_worker(settings)

    Article.objects.create(title="Later")

    wait_for(
        lambda: DeliveryRecord.objects.filter(
            subscription=subscriber.uuid, state="retrying"
        ).exists(),
        "the failed first attempt",
    )
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert ("", None) == (record.lease, record.locked_until)  # not held: the relay's
    time.sleep(2.5)
    assert 1 == len(receiver.for_path("/later"))  # the worker did not retry on its own
    assert 1 == len(tasks_of("dispatch_requests"))  # no deferred task
    run_relay(process_env(settings))

    [_, received] = receiver.wait_for_path("/later", 2, timeout=DEADLINE)
    assert str(record.id) == received.header("Hook-Delivery")


def test_kill_9_of_the_worker_loses_nothing(
    process_env: EnvFactory,
    db_worker: WorkerFactory,
    receiver: Receiver,
    subscribe: Subscribe,
) -> None:
    """The worker killed mid-batch, a new one started: the relay hands over what it held.

    The database backend leaves the killed worker's task running for ever;
    thorn's leases run out, and the relay enqueues those deliveries again.
    """
    first = db_worker(FAST_RECOVERY)
    for i in range(20):
        receiver.answer(f"/slow/{i}", Answer(delay=0.5))
        subscribe("article.created", f"/slow/{i}")
    Article.objects.create(title="Batch")
    wait_for(lambda: len(receiver.received) >= 3, "the batch to start")

    first.kill()
    before_kill = {r.header("Hook-Delivery") for r in receiver.received}
    assert len(before_kill) < 20, "the worker was killed too late to lose anything"
    assert DBTaskResult.objects.filter(status="RUNNING").exists()  # never to finish
    db_worker(FAST_RECOVERY)
    time.sleep(FAST_RECOVERY["THORN_DELIVERY_LEASE"] + 0.5)  # the dead worker's leases run out
    run_relay(process_env(FAST_RECOVERY))

    wait_for(all_delivered(receiver), "every delivery")
    counts = Counter(r.header("Hook-Delivery") for r in receiver.received)
    assert 20 == len(counts)
    assert 20 == DeliveryRecord.objects.filter(state="succeeded").count()
    # Twice, at most: those the killed worker made in the chunk it had not
    # recorded yet (its deliveries are attempted at once).
    twice = {delivery for delivery, count in counts.items() if count > 1}
    assert twice <= before_kill
    assert len(twice) <= FAST_RECOVERY["THORN_CHUNKSIZE"]
    assert {1, 2} >= set(counts.values())


def test_a_delivery_made_is_never_made_again(
    settings: Any,
    db_worker: WorkerFactory,
    receiver: Receiver,
    subscribe: Subscribe,
) -> None:
    """The same chunk enqueued again (at least once): the second time, nothing is sent."""
    subscribe("article.created", "/once")
    db_worker()
    Article.objects.create(title="Once")
    wait_for(all_delivered(receiver), "the delivery")

    record, again = replayed_delivery(WorkerDispatcher)
    result = enqueue(dispatch_requests, [again], _state.current_app().settings)

    wait_for(
        lambda: DBTaskResult.objects.get(id=result.id).status == "SUCCESSFUL", "the second run"
    )
    assert 1 == len(receiver.for_path("/once"))
    record.refresh_from_db()
    assert (1, "succeeded") == (record.attempts, record.state)
