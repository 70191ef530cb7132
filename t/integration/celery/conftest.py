"""Fixtures of the Celery tests: a Redis server, a publisher app, worker processes.

These tests run in the PostgreSQL run of the suite only
(``THORN_TEST_DATABASE=postgresql pytest t/integration/celery``): a worker is
another process and must read the rows the tests commit, which an in-memory
SQLite database cannot share.  On SQLite every test here is skipped.

* ``redis_server``: one ``redis-server`` for the session (broker and result
  backend).
* ``celery_app``: the test project's app (:mod:`t.proj.celery`) in this
  process, publishing to that Redis.  Being the current app, it is also the
  app of ``shared_task`` tasks.
* ``celery_queue``: a queue of the test's own; the publisher's default
  queue for the test.  Whatever a test leaves behind (a retry due later, an
  unacknowledged message) stays in a queue no later worker consumes.
* ``celery_worker_factory``: starts workers consuming that queue, with a pool,
  a concurrency and settings of the test's choice, and stops them when the
  test ends.

Workers live for one test, which buys tests that each choose their
settings and cannot see each other's messages or in-flight retries.  The
cost, measured on a 2-CPU machine: a worker is ready (it logged "ready." and
answered a ping) about 0.7s after it is started, whatever the pool; a warm
shutdown (SIGTERM) takes about 1.3s with the threads, solo or prefork pool
(the Redis transport polls once a second) and about 5.2s with gevent.  So a
test with a threads worker costs about 2s on top of its own work, one with
a gevent worker about 6s.

A worker reads the database through its own connection, so it only sees
committed rows: use ``@pytest.mark.django_db(transaction=True)``.  Tests
should be marked ``celery`` and ``integration``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from celery import Celery
from django.conf import settings as django_settings

from t.services import CeleryWorker, RedisServer, WorkerFactory
from t.services import worker_environment as process_environment

HERE = Path(__file__).resolve().parent

#: Seconds a worker may take to log it is ready and answer a ping.
WORKER_START_TIMEOUT = 60.0

SKIP_REASON = (
    "the Celery tests need PostgreSQL (THORN_TEST_DATABASE=postgresql): the worker is "
    "another process and cannot share the in-memory SQLite database"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests of this package unless the database is PostgreSQL."""
    if django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session, on a free loopback port."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def celery_app(redis_server: RedisServer) -> Iterator[Celery]:
    """The test project's Celery app, publishing to the session's Redis.

    ``t.proj.settings`` has no ``CELERY_*`` settings, so the broker and the
    result backend are set on ``app.conf`` directly (before anything uses a
    connection).
    """
    from t.proj.celery import app

    app.conf.update(broker_url=redis_server.url, result_backend=redis_server.url)
    yield app
    app.close()


@pytest.fixture
def celery_queue(celery_app: Celery) -> Iterator[str]:
    """A queue of this test's own, made the publisher's default queue for the test."""
    queue = f"thorn-test-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.update(task_default_queue=queue)
    yield queue
    celery_app.conf.update(task_default_queue=previous)


def worker_environment(
    *,
    broker_url: str,
    database: Mapping[str, Any],
    queue: str,
    settings: Mapping[str, Any] | None = None,
    imports: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """The environment of a Celery worker process (see :func:`t.services.worker_environment`)."""
    variables = {"THORN_TEST_BROKER_URL": broker_url, "THORN_TEST_CELERY_QUEUE": queue}
    if imports is not None:
        variables["THORN_TEST_CELERY_IMPORTS"] = ",".join(imports)
    return process_environment(database, settings, **variables)


class EnvFactory(Protocol):
    """The ``process_env`` fixture: the environment of a process on the test database."""

    def __call__(
        self, settings: Mapping[str, Any] | None = None, broker_url: str | None = None
    ) -> dict[str, str]: ...


@pytest.fixture
def process_env(django_db_setup: None, redis_server: RedisServer, celery_queue: str) -> EnvFactory:
    """Environments for other processes (a relay, a crashing web process, workers).

    ``factory(settings=None, broker_url=None)``: the test database, the
    test's queue, the session's Redis (or ``broker_url``), and ``THORN_*``
    overrides, read by ``t/proj/worker_settings.py``.
    """
    from django.db import connection

    database = dict(connection.settings_dict)

    def factory(
        settings: Mapping[str, Any] | None = None, broker_url: str | None = None
    ) -> dict[str, str]:
        return worker_environment(
            broker_url=broker_url or redis_server.url,
            database=database,
            queue=celery_queue,
            settings=settings,
        )

    return factory


@pytest.fixture
def celery_worker_factory(
    django_db_setup: None,
    redis_server: RedisServer,
    celery_app: Celery,
    celery_queue: str,
) -> Iterator[WorkerFactory]:
    """Start Celery workers for this test; each is ready (it answered a ping) when returned.

    ``factory(pool="threads", concurrency=4, settings=None, imports=None)``:
    *settings* are ``THORN_*``/``CELERY_*`` overrides (JSON-able values);
    *imports* the task modules to import (default ``thorn.tasks``).  The
    workers read the test database pytest-django created, consume
    :func:`celery_queue`, and are stopped (and their PIDs gone) when the test
    ends, even when it fails; the end of each worker's log is printed then,
    which pytest shows with a failing test.
    """
    from django.db import connection

    # django_db_setup has created the test database and renamed it in place.
    database = dict(connection.settings_dict)
    workers: list[CeleryWorker] = []

    def factory(
        pool: str = "threads",
        concurrency: int = 4,
        settings: Mapping[str, Any] | None = None,
        imports: tuple[str, ...] | None = None,
    ) -> CeleryWorker:
        env = worker_environment(
            broker_url=redis_server.url,
            database=database,
            queue=celery_queue,
            settings=settings,
            imports=imports,
        )
        worker = CeleryWorker(env, pool=pool, concurrency=concurrency, queue=celery_queue)
        workers.append(worker)
        worker.start()
        worker.wait_ready(time.monotonic() + WORKER_START_TIMEOUT, app=celery_app)
        return worker

    try:
        yield factory
    finally:
        errors: list[Exception] = []
        for worker in workers:
            try:
                worker.stop()
            except Exception as exc:  # stop the others all the same
                errors.append(exc)
            started = (
                "never ready"
                if worker.startup_seconds is None
                else f"ready in {worker.startup_seconds:.2f}s"
            )
            # Captured: pytest shows it with a failing test only.
            print(
                f"--- Celery worker {worker.hostname} (pool {worker.pool}, {started}, "
                f"exit status {worker.returncode}) ---\n{worker.log_tail(80)}"
            )
        if errors:
            raise errors[0]
