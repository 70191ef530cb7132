"""The Celery test harness itself: Redis, workers, the shared test database.

These use the tasks of :mod:`t.proj.celery` only, and start their workers
with ``imports=()``.  (The worker still imports ``thorn.tasks`` through
``thorn.django.tasks``, which ``autodiscover_tasks()`` finds.)
"""

from __future__ import annotations

import importlib.util
import os
import time

import pytest
from celery import Celery
from django.contrib.auth.models import User
from django.db import connection

from t.proj.celery import count_users, imported, pg_sleep, ping, worker_settings
from t.services import RedisServer, WorkerFactory

pytestmark = [pytest.mark.celery, pytest.mark.integration]

#: Seconds to wait for a task's result.
RESULT_TIMEOUT = 10


def test_redis_answers_ping(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        assert client.ping() is True
        assert {"bind": "127.0.0.1"} == client.config_get("bind")
        assert {"save": ""} == client.config_get("save")
    assert f"redis://127.0.0.1:{redis_server.port}/0" == redis_server.url


def test_threads_worker_runs_a_task(
    celery_worker_factory: WorkerFactory, celery_queue: str
) -> None:
    worker = celery_worker_factory(pool="threads", imports=())

    result = ping.delay()

    assert "pong" == result.get(timeout=RESULT_TIMEOUT)
    # Logged before the task runs ("succeeded" may come after the result).
    assert f"Task t.ping[{result.id}] received" in worker.log()
    assert celery_queue == worker.queue


@pytest.mark.django_db(transaction=True)
def test_worker_reads_committed_rows_with_given_settings(
    celery_worker_factory: WorkerFactory, celery_queue: str
) -> None:
    User.objects.create_user(username="alice")
    User.objects.create_user(username="bob")
    celery_worker_factory(settings={"THORN_CHUNKSIZE": 3, "THORN_RETRY_DELAY": 0.2}, imports=())

    assert 2 == count_users.delay().get(timeout=RESULT_TIMEOUT)
    User.objects.create_user(username="carol")
    assert 3 == count_users.delay().get(timeout=RESULT_TIMEOUT)
    seen = worker_settings.delay(
        "THORN_CHUNKSIZE",
        "THORN_RETRY_DELAY",
        "THORN_RECIPIENT_VALIDATORS",
        "THORN_HMAC_SIGNER",
        "CELERY_TASK_DEFAULT_QUEUE",
    ).get(timeout=RESULT_TIMEOUT)
    assert {
        "THORN_CHUNKSIZE": 3,
        "THORN_RETRY_DELAY": 0.2,
        "THORN_RECIPIENT_VALIDATORS": [],
        "THORN_HMAC_SIGNER": "thorn.utils.hmac:sign",
        "CELERY_TASK_DEFAULT_QUEUE": celery_queue,
        "database": connection.settings_dict["NAME"],
    } == seen
    assert str(seen["database"]).startswith("test_")


@pytest.mark.django_db(transaction=True)
def test_gevent_worker_runs_tasks_and_queries(celery_worker_factory: WorkerFactory) -> None:
    User.objects.create_user(username="alice")
    celery_worker_factory(pool="gevent", concurrency=8, imports=())

    assert "pong" == ping.delay().get(timeout=RESULT_TIMEOUT)
    # Concurrent queries from greenlets: psycopg and Django under gevent.
    results = [count_users.delay() for _ in range(16)]
    assert [1] * 16 == [result.get(timeout=RESULT_TIMEOUT) for result in results]
    # psycopg waits cooperatively (it sees gevent's monkey-patching): four
    # one-second sleeps in the database overlap, on four connections.
    started = time.monotonic()
    sleeps = [pg_sleep.delay(1.0) for _ in range(4)]
    backends = {result.get(timeout=RESULT_TIMEOUT) for result in sleeps}
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"the sleeps took {elapsed:.2f}s: psycopg blocked the gevent hub"
    assert 4 == len(backends)


def test_stopped_worker_is_gone(celery_worker_factory: WorkerFactory) -> None:
    worker = celery_worker_factory(imports=())
    pid = worker.pid
    assert pid is not None

    worker.stop()

    assert not worker.alive
    assert 0 == worker.returncode  # a warm shutdown, not a kill
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "Restoring" not in worker.log()  # nothing was left unacknowledged
    worker.stop()  # again: nothing to do


def test_worker_that_cannot_start_fails_with_its_log(
    celery_worker_factory: WorkerFactory,
) -> None:
    with pytest.raises(RuntimeError, match="exited with status") as excinfo:
        celery_worker_factory(imports=("t.no_such_module",))
    assert "t.no_such_module" in str(excinfo.value)


@pytest.mark.skipif(
    importlib.util.find_spec("thorn.tasks") is None, reason="thorn/tasks.py does not exist yet"
)
def test_worker_imports_thorn_tasks_by_default(celery_worker_factory: WorkerFactory) -> None:
    celery_worker_factory()

    assert {"thorn.tasks": True} == imported.delay("thorn.tasks").get(timeout=RESULT_TIMEOUT)


def test_publisher_uses_the_session_redis(celery_app: Celery, redis_server: RedisServer) -> None:
    assert redis_server.url == celery_app.conf.broker_url
    assert redis_server.url == celery_app.conf.result_backend
    assert ["json"] == list(celery_app.conf.accept_content)
