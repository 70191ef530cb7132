"""A Celery worker runs thorn's system checks when it starts, and refuses bad settings.

The workers here are real ``celery worker`` processes (:class:`t.services.CeleryWorker`),
started without waiting for them to be ready: with a mistyped ``THORN_*``
setting a worker must exit on its own, with a non-zero status, before it
consumes anything, and its log must say why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from celery import Celery
from django.db import connection

from t.integration.celery.conftest import WORKER_START_TIMEOUT, worker_environment
from t.services import CeleryWorker, RedisServer, WorkerFactory

pytestmark = [pytest.mark.celery, pytest.mark.integration]


@pytest.fixture
def start_worker(
    django_db_setup: None, redis_server: RedisServer, celery_queue: str
) -> Iterator[Any]:
    """Start a worker with ``settings`` (without waiting for it); stop it at the end."""
    workers: list[CeleryWorker] = []

    def start(settings: Mapping[str, Any], pool: str = "threads") -> CeleryWorker:
        env = worker_environment(
            broker_url=redis_server.url,
            database=dict(connection.settings_dict),
            queue=celery_queue,
            settings=settings,
        )
        worker = CeleryWorker(env, pool=pool, concurrency=2, queue=celery_queue)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
        print(f"--- worker {worker.hostname} (exit status {worker.returncode}) ---")
        print(worker.log_tail(40))


def exit_status(worker: CeleryWorker) -> int | None:
    """Wait for ``worker`` to exit on its own; its exit status (``None`` if it did not)."""
    assert worker.process is not None
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while worker.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker.process.poll()


def queued(redis_server: RedisServer, queue: str) -> int:
    """How many messages wait in ``queue`` (the Redis transport keeps a list per queue)."""
    with redis_server.client() as client:
        return int(client.llen(queue))


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_worker_with_a_mistyped_setting_does_not_start(
    start_worker: Any, celery_app: Celery, celery_queue: str, redis_server: RedisServer, pool: str
) -> None:
    """THORN_CHUNKSIZE="10": the worker exits with status 1, consumes nothing, and says why."""
    celery_app.send_task(
        "thorn.tasks.send_event", kwargs={"event": "article.created", "payload": {}, "sender": None}
    )
    assert 1 == queued(redis_server, celery_queue)

    worker = start_worker({"THORN_CHUNKSIZE": "10"}, pool=pool)

    assert 1 == exit_status(worker)
    log = worker.log()
    assert "thorn.E007: THORN_CHUNKSIZE must be an integer of at least 1, not '10'." in log
    assert "it is '10' (str)" in log
    assert f"{worker.hostname} ready." not in log
    assert 1 == queued(redis_server, celery_queue)


def test_a_worker_reports_every_mistyped_setting(start_worker: Any) -> None:
    """Each mistyped setting is logged, with its id, before the worker exits."""
    worker = start_worker(
        {"THORN_RETRY_MAX": "x", "THORN_RETRY_DELAY": "soon", "THORN_EVENT_TIMEOUT": "3"}
    )

    assert 1 == exit_status(worker)
    refused = [
        line.partition("this worker cannot start: ")[2].split(" must ")[0]
        for line in worker.log().splitlines()
        if "this worker cannot start: " in line
    ]
    assert [
        "thorn.E008: THORN_EVENT_TIMEOUT",
        "thorn.E011: THORN_RETRY_DELAY",
        "thorn.E012: THORN_RETRY_MAX",
    ] == sorted(refused)


def test_a_worker_with_an_unknown_dispatcher_does_not_start(start_worker: Any) -> None:
    """THORN_DISPATCHER="celeryy" (already a manage.py check error) stops the worker too."""
    worker = start_worker({"THORN_DISPATCHER": "celeryy"})

    assert 1 == exit_status(worker)
    assert "thorn.E001: THORN_DISPATCHER='celeryy' is not one of" in worker.log()


def test_a_worker_with_valid_settings_starts(
    celery_worker_factory: WorkerFactory, celery_app: Celery
) -> None:
    """Valid settings, boundaries included, pass: the worker is ready and answers a ping."""
    worker = celery_worker_factory(
        settings={"THORN_CHUNKSIZE": 1, "THORN_RETRY_MAX": 0, "THORN_RETRY_DELAY": 0}
    )

    assert worker.alive
    assert "cannot start" not in worker.log()
