"""thorn's signals with the celery dispatcher: sent in the worker, where outcomes are recorded.

The worker imports ``t.proj.signal_recorder``, which writes each signal it
receives to a file named after the test's queue; PostgreSQL only (the
worker shares the database).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from thorn import _state
from thorn.django.models import DeliveryRecord, Subscriber

from t.proj.blog.models import Article
from t.proj.signal_recorder import log_path
from t.receiver import Receiver
from t.services import WorkerFactory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

IMPORTS = ("thorn.tasks", "t.proj.signal_recorder")


@pytest.fixture
def publisher(settings: Any, celery_app: Celery) -> Iterator[Celery]:
    """This process publishes with the celery dispatcher."""
    settings.THORN_DISPATCHER = "celery"
    celery_app.set_current()
    _state._current_app.set(None)
    yield celery_app


@pytest.fixture
def sent(celery_queue: str) -> Iterator[Any]:
    """``sent(count)``: wait (bounded) for ``count`` signals of the worker; return them."""
    path = log_path(celery_queue)

    def read(count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.1)

    yield read
    path.unlink(missing_ok=True)


def test_signals_are_sent_in_the_worker(
    publisher: Celery, celery_worker_factory: WorkerFactory, receiver: Receiver, sent: Any
) -> None:
    """A retry, a success and a 410: each signal is sent once, by the worker's process."""
    receiver.answer("/flaky", 503, 200)
    receiver.answer("/gone", 410)
    flaky = Subscriber.objects.create(event="article.created", url=receiver.url("/flaky"))
    gone = Subscriber.objects.create(event="article.created", url=receiver.url("/gone"))
    celery_worker_factory(settings={"THORN_RETRY_SCHEDULE": [0.5]}, imports=IMPORTS)

    Article.objects.create(title="Through the worker")

    signals = sent(4)
    assert 4 == len(signals), signals
    assert {os.getpid()} != {signal["pid"] for signal in signals}
    assert 1 == len({signal["pid"] for signal in signals})
    by_subscription: dict[str, list[str]] = {}
    for signal in signals:
        by_subscription.setdefault(signal["subscription"], []).append(signal["signal"])
    assert {
        str(flaky.uuid): ["delivery_retry_scheduled", "delivery_succeeded"],
        str(gone.uuid): ["delivery_failed", "subscription_disabled"],
    } == by_subscription
    record = DeliveryRecord.objects.get(subscription=flaky.uuid)
    assert {str(record.id)} == {
        s["delivery"] for s in signals if s["subscription"] == str(flaky.uuid)
    }
    assert [503, 200] == [s["status"] for s in signals if s["subscription"] == str(flaky.uuid)]
    assert {"Subscriber"} == {signal["sender"] for signal in signals}
