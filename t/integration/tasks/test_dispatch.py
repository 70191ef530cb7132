"""The tasks dispatcher on the immediate backend: every task runs where it is enqueued.

Runs on any test database.  The backend cannot defer a task, so every retry
is the relay's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.db import transaction

from thorn import Event, _state
from thorn.django.models import DeliveryRecord, MessageRecord, Subscriber
from thorn.relay import relay_once

from t.integration.django.test_checks import manage_py_check
from t.proj.blog.models import Article
from t.receiver import Receiver

if django.VERSION >= (6, 0):
    from django.tasks.signals import task_enqueued
else:
    from django_tasks.signals import task_enqueued

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_saved_article_is_delivered_through_tasks(
    receiver: Receiver, subscribe: Callable[..., Subscriber]
) -> None:
    """On commit, send_event runs, then dispatch_requests: the delivery is made and recorded."""
    subscriber = subscribe("article.created", "/created")

    with transaction.atomic():
        Article.objects.create(title="Tasks")
        assert [] == receiver.received  # not before the commit

    [received] = receiver.wait_for_path("/created")
    received.assert_signed_for(subscriber)
    assert "Tasks" == received.json()["data"]["title"]
    [record] = DeliveryRecord.objects.all()
    assert (str(record.id), "succeeded") == (received.header("Hook-Delivery"), record.state)
    assert MessageRecord.objects.get().planned_at is not None


def test_send_returns_the_task_result_of_send_event(
    receiver: Receiver, subscribe: Callable[..., Subscriber]
) -> None:
    """Outside a transaction, send() returns what enqueueing send_event returned."""
    subscribe("order.paid", "/paid")

    result = Event("order.paid").send({"id": 1})

    assert "thorn.dispatch.tasks.send_event" == result.task.module_path
    assert "SUCCESSFUL" == result.status
    assert 1 == len(receiver.wait_for_path("/paid"))


def test_chunks_are_tasks_of_their_own(
    settings: Any, receiver: Receiver, subscribe: Callable[..., Subscriber]
) -> None:
    """Seven subscribers in chunks of three: three dispatch_requests tasks, seven deliveries."""
    settings.THORN_CHUNKSIZE = 3
    for i in range(7):
        subscribe("article.created", f"/chunk/{i}")
    enqueued: list[Any] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        enqueued.append(task_result)

    task_enqueued.connect(on_enqueued)
    try:
        Article.objects.create(title="Chunks")
    finally:
        task_enqueued.disconnect(on_enqueued)

    chunks = [r.args[0] for r in enqueued if r.task.name == "dispatch_requests"]
    assert [3, 3, 1] == [len(chunk) for chunk in chunks]
    assert ["send_event"] == [r.task.name for r in enqueued if r.task.name != "dispatch_requests"]
    assert 7 == len(receiver.wait_for(7))
    assert 7 == DeliveryRecord.objects.filter(state="succeeded").count()


def test_without_run_after_the_relay_makes_the_retries(
    settings: Any, receiver: Receiver, subscribe: Callable[..., Subscriber]
) -> None:
    """The immediate backend cannot defer: a failure is left to the relay, which retries it."""
    settings.THORN_RETRY_SCHEDULE = [0]
    receiver.answer("/flaky", 503, 200)
    subscribe("article.created", "/flaky")

    Article.objects.create(title="Flaky")

    record = DeliveryRecord.objects.get()
    assert ("retrying", None, "") == (record.state, record.locked_until, record.lease)
    assert 1 == len(receiver.for_path("/flaky"))

    relayed = relay_once(_state.current_app())

    assert 1 == relayed.deliveries
    [first, second] = receiver.wait_for_path("/flaky", 2)
    assert first.header("Hook-Delivery") == second.header("Hook-Delivery")
    record.refresh_from_db()
    assert (2, "succeeded") == (record.attempts, record.state)


def test_a_flushed_buffer_is_one_send_events_task(
    receiver: Receiver, subscribe: Callable[..., Subscriber]
) -> None:
    """Buffered events go out together, as one send_events task, and each is delivered."""
    subscribe("article.created", "/buffered")
    app = _state.current_app()

    app.enable_buffer()
    try:
        Article.objects.create(title="One")
        Article.objects.create(title="Two")
        assert [] == receiver.received
        app.flush_buffer()
    finally:
        app.disable_buffer()

    titles = sorted(r.json()["data"]["title"] for r in receiver.wait_for_path("/buffered", 2))
    assert ["One", "Two"] == titles


def test_a_callback_that_cannot_travel_is_refused_at_send(
    subscribe: Callable[..., Subscriber],
) -> None:
    """Tasks carry JSON: a lambda callback raises TypeError in the sender, and nothing is sent."""
    subscribe("order.paid", "/paid")

    with pytest.raises(TypeError, match="cannot be sent to a worker"):
        Event("order.paid").send({"id": 1}, on_error=lambda request, exc: None)

    assert 0 == MessageRecord.objects.count()


def test_an_unknown_backend_leaves_the_message_in_the_outbox(
    settings: Any,
    receiver: Receiver,
    subscribe: Callable[..., Subscriber],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backend that cannot take the task: a warning, and the relay's message later."""
    subscribe("article.created", "/later")
    settings.THORN_TASKS_BACKEND = "nowhere"
    caplog.set_level(logging.WARNING, logger="thorn")

    Article.objects.create(title="Later")

    [warning] = [r for r in caplog.records if r.name == "thorn.dispatch.tasks"]
    assert "THORN_TASKS_BACKEND='nowhere'" in warning.getMessage()
    assert "the relay will publish it" in warning.getMessage()
    assert [None] == [m.planned_at for m in MessageRecord.objects.all()]

    settings.THORN_TASKS_BACKEND = "default"
    settings.THORN_RELAY_AFTER = 0
    assert 1 == relay_once(_state.current_app()).messages
    assert 1 == len(receiver.wait_for_path("/later"))


@pytest.mark.parametrize(
    ("overrides", "check_id", "named"),
    [
        pytest.param(
            {"THORN_TASKS_BACKEND": "nowhere"}, "thorn.E050", "THORN_TASKS_BACKEND", id="backend"
        ),
        # The immediate backend has one queue: "default".
        pytest.param(
            {"THORN_TASKS_QUEUE": "webhooks"}, "thorn.E051", "THORN_TASKS_QUEUE", id="queue"
        ),
    ],
)
def test_manage_py_check_names_what_the_task_framework_refuses(
    overrides: dict[str, Any], check_id: str, named: str
) -> None:
    """``manage.py check`` refuses a backend TASKS lacks, or a queue it refuses, with its own id."""
    result = manage_py_check({"THORN_DISPATCHER": "tasks", **overrides})

    assert 1 == result.returncode, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("?: (thorn.")]
    assert line.startswith(f"?: ({check_id}) {named}="), result.stderr


def test_manage_py_check_passes_the_tasks_dispatcher() -> None:
    """The tasks dispatcher on the test project's backends: nothing to report."""
    result = manage_py_check({"THORN_DISPATCHER": "tasks", "THORN_TASKS_BACKEND": "database"})

    assert 0 == result.returncode, result.stderr
