"""Fixtures of the tasks dispatcher's tests (``THORN_DISPATCHER = "tasks"``).

Two task backends of the test project (``TASKS`` in ``t/proj/settings.py``):

* ``"default"``, the immediate backend: each task runs at once, in the
  process that enqueues it.  It runs on any test database.
* ``"database"`` (django-tasks-db): tasks are rows, run by ``manage.py
  db_worker`` processes (:class:`t.services.DbWorker`).  A worker is another
  process, so these tests need a database other processes share: they run
  with ``THORN_TEST_DATABASE=sqlite-file`` and ``postgresql``, and are
  skipped on the in-memory SQLite.  Mark them ``db_worker``.

A db_worker is ready about a second after it is started (Django's start-up
and system checks); it looks for tasks every 50 ms, and stops at once on
SIGTERM when it runs none.  Each test has a queue of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import pytest
from django.conf import settings as django_settings

from thorn import _state
from thorn.django.models import Subscriber

from t.receiver import Receiver
from t.services import ROOT, DbWorker, worker_environment

#: Seconds a db_worker may take to start.
WORKER_START_TIMEOUT = 60.0

SHARED_DATABASES = ("sqlite-file", "postgresql")


def _shared_database() -> str | None:
    """The name of the test database kind if other processes can share it."""
    database = django_settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        return "postgresql"
    if database["ENGINE"] == "django.db.backends.sqlite3" and database["NAME"] != ":memory:":
        return "sqlite-file"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the db_worker tests unless other processes can share the test database."""
    if _shared_database() is not None:
        return
    skip = pytest.mark.skip(
        reason="a db_worker is another process: it needs THORN_TEST_DATABASE=sqlite-file "
        "or postgresql, not the in-memory SQLite database"
    )
    for item in items:
        if item.get_closest_marker("db_worker") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def tasks_settings(settings: Any) -> Iterator[Any]:
    """The tasks dispatcher, delivering to the loopback receiver, with the default app."""
    settings.THORN_DISPATCHER = "tasks"
    settings.THORN_RECIPIENT_VALIDATORS = []
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"
    _state._current_app.set(None)
    yield settings
    _state.current_app().transport.close()


@pytest.fixture
def subscribe(receiver: Receiver) -> Callable[..., Subscriber]:
    """Store a subscription of ``event`` to a path of the loopback receiver."""

    def subscribe(event: str, path: str = "/hook", **fields: Any) -> Subscriber:
        subscriber: Subscriber = Subscriber.objects.create(
            event=event, url=receiver.url(path), **fields
        )
        return subscriber

    return subscribe


# -- db_workers ---------------------------------------------------------------------------------


@pytest.fixture
def tasks_queue(tasks_settings: Any) -> str:
    """A queue of this test's own on the database backend, where this process enqueues."""
    queue = f"thorn-{uuid.uuid4().hex[:12]}"
    tasks_settings.THORN_TASKS_BACKEND = "database"
    tasks_settings.THORN_TASKS_QUEUE = queue
    return queue


class EnvFactory(Protocol):
    """The ``process_env`` fixture: the environment of a process on the test database."""

    def __call__(self, settings: Mapping[str, Any] | None = None) -> dict[str, str]: ...


@pytest.fixture
def process_env(django_db_setup: None, tasks_queue: str) -> EnvFactory:
    """Environments for other processes (db_workers, relays) on the test database.

    ``factory(settings=None)``: the tasks dispatcher on the test's queue,
    with ``THORN_*`` overrides, read by ``t/proj/worker_settings.py``.
    """
    from django.db import connection

    # django_db_setup has created the test database and named it in place.
    database = dict(connection.settings_dict)

    def factory(settings: Mapping[str, Any] | None = None) -> dict[str, str]:
        return worker_environment(
            database,
            {
                "THORN_DISPATCHER": "tasks",
                "THORN_TASKS_BACKEND": "database",
                "THORN_TASKS_QUEUE": tasks_queue,
                **(settings or {}),
            },
        )

    return factory


class WorkerFactory(Protocol):
    """The ``db_worker`` fixture: start a db_worker on the test's queue, ready."""

    def __call__(self, settings: Mapping[str, Any] | None = None) -> DbWorker: ...


@pytest.fixture
def db_worker(process_env: EnvFactory, tasks_queue: str) -> Iterator[WorkerFactory]:
    """Start db_workers for this test; each is ready when returned, and stopped when it ends.

    ``factory(settings=None)``: *settings* are ``THORN_*`` overrides of the
    worker.  The end of each worker's log is printed at the end, which
    pytest shows with a failing test.
    """
    workers: list[DbWorker] = []

    def factory(settings: Mapping[str, Any] | None = None) -> DbWorker:
        worker = DbWorker(process_env(settings), queue=tasks_queue)
        workers.append(worker)
        worker.start()
        worker.wait_ready(time.monotonic() + WORKER_START_TIMEOUT)
        return worker

    try:
        yield factory
    finally:
        for worker in workers:
            worker.stop()
            print(f"--- db_worker (exit status {worker.returncode}) ---\n{worker.log_tail(80)}")


def run_relay(env: dict[str, str]) -> None:
    """One pass of the relay, ``manage.py thorn relay --once``, in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "thorn", "relay", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == result.returncode, result.stdout + result.stderr
