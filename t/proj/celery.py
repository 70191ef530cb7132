"""The test project's Celery app, and a few tasks for testing the harness.

The Celery tests' workers run it (``celery -A t.proj.celery worker``) with
``DJANGO_SETTINGS_MODULE=t.proj.worker_settings``, which sets the broker, the
result backend, the queue and the task modules to import (``CELERY_*``
settings) from the environment the tests give the worker.  In the test
process the same app publishes: ``t.proj.settings`` has no ``CELERY_*``
settings, so the ``celery_app`` fixture points ``app.conf`` at the session's
Redis itself.

Being the first Celery app created, it is also the current (default) app of
either process, so tasks declared with ``shared_task`` bind to it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery

logger = logging.getLogger(__name__)

# A worker started by hand (`celery -A t.proj.celery worker`) gets the worker
# settings; the tests set this themselves.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t.proj.worker_settings")

app = Celery("t.proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # JSON only, both ways: no pickle anywhere.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    broker_connection_retry_on_startup=True,
)
# The <app>.tasks modules of INSTALLED_APPS: thorn.django.tasks brings in
# thorn's tasks (thorn.tasks), as in a user's project.
app.autodiscover_tasks()


@app.task(name="t.ping")
def ping() -> str:
    """Answer ``"pong"``: the worker runs tasks and returns results."""
    return "pong"


@app.task(name="t.count_users")
def count_users() -> int:
    """Count ``auth.User`` rows: the worker reads the tests' database."""
    from django.contrib.auth.models import User

    return int(User.objects.count())


@app.task(name="t.pg_sleep")
def pg_sleep(seconds: float) -> int:
    """Sleep in PostgreSQL; return the backend PID (whose connection slept)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s), pg_backend_pid()", [seconds])
        row = cursor.fetchone()
    assert row is not None
    return int(row[1])


@app.task(name="t.worker_settings")
def worker_settings(*names: str) -> dict[str, Any]:
    """Return the worker's Django settings *names* (JSON-able ones) and database name."""
    from django.conf import settings
    from django.db import connection

    values = {name: getattr(settings, name, None) for name in names}
    values["database"] = connection.settings_dict["NAME"]
    return values


@app.task(name="t.imported")
def imported(*modules: str) -> dict[str, bool]:
    """Tell which of *modules* the worker has imported."""
    import sys

    return {module: module in sys.modules for module in modules}


# -- delivery callbacks of the celery dispatcher tests ----------------------------
# Module-level functions, so that they travel to the worker as import paths.
# They log a marker line the tests look for in the worker's log.


def on_delivered(request: Any) -> None:
    """``on_success``: log the delivery (event, URL, status)."""
    logger.warning(
        "thorn-test on_success %s %s %s", request.event, request.url, request.response.status_code
    )


def on_failed(request: Any, exc: Exception) -> None:
    """``on_error``: log the failed delivery and its error."""
    logger.warning("thorn-test on_error %s %s %s", request.event, request.url, exc)


def on_timed_out(request: Any, exc: Exception) -> None:
    """``on_timeout``: log the delivery that timed out."""
    logger.warning("thorn-test on_timeout %s %s %s", request.event, request.url, exc)


def raising_callback(request: Any, *args: Any) -> None:
    """A callback with a bug: it raises."""
    raise RuntimeError(f"thorn-test callback raised for {request.url}")


# -- an event's own subscribers, as module-level callables (sent as "!path") ---------


def subscribers_from_context(
    event: str, sender: Any = None, hook_url: str | None = None, **context: Any
) -> list[str]:
    """Subscribe the URL the sender put in the event's ``context`` (logs how it was called)."""
    logger.warning("thorn-test subscribers %s sender=%r", event, sender)
    return [hook_url] if hook_url else []


def broken_subscribers(event: str, sender: Any = None, **context: Any) -> list[str]:
    """A subscriber callable with a bug: it raises."""
    raise RuntimeError(f"thorn-test broken subscribers for {event}")
