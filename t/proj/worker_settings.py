"""Django settings of the tests' worker processes: Celery workers, and db_workers.

The test project's settings, plus what the worker is told through its
environment (``t/integration/celery/conftest.py`` and
``t/integration/tasks/conftest.py`` set it):

``THORN_TEST_DATABASE``
    ``postgresql`` (the default) or ``sqlite-file``: the test database the
    pytest session created, so the worker sees the rows the tests commit.
``THORN_TEST_DB_HOST``, ``THORN_TEST_DB_PORT``, ``THORN_TEST_DB_NAME``,
``THORN_TEST_DB_USER`` (default ``postgres``)
    The PostgreSQL test database (``test_thorn``).
``THORN_TEST_CONN_MAX_AGE``, ``THORN_TEST_DB_POOL``
    PostgreSQL only: ``CONN_MAX_AGE`` (default 0), and psycopg's connection
    pool when set (the benchmarks' workers).
``THORN_TEST_SQLITE_PATH``
    The SQLite test database (read by ``t/proj/settings.py``).
``THORN_TEST_BROKER_URL``
    The session's Redis: broker and result backend of a Celery worker.
    Without it (a db_worker), Celery's broker is ``memory://``, so that a
    worker never falls back to some Redis or RabbitMQ of the machine.
``THORN_TEST_CELERY_QUEUE``
    The queue the worker consumes, also its default queue (for the tasks it
    sends itself).  Default ``celery``.
``THORN_TEST_CELERY_IMPORTS``
    Comma-separated task modules to import; default ``thorn.tasks``, empty
    for none.
``THORN_TEST_SETTINGS``
    A JSON object of ``THORN_*`` and ``CELERY_*`` settings to override, e.g.
    ``{"THORN_CHUNKSIZE": 10, "THORN_RETRY_DELAY": 0.2}``.

(The names read here are lower case, so that they do not become settings.)
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured

from t.proj.settings import *  # noqa: F403


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"the test worker needs {name} in its environment")
    return value


_database = _env("THORN_TEST_DATABASE", "postgresql")
if _database == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _env("THORN_TEST_DB_NAME"),
            "USER": _env("THORN_TEST_DB_USER", "postgres"),
            "HOST": _env("THORN_TEST_DB_HOST"),
            "PORT": _env("THORN_TEST_DB_PORT"),
            # Persistent connections (the benchmarks); tests keep Django's default.
            "CONN_MAX_AGE": float(_env("THORN_TEST_CONN_MAX_AGE", "0")),
        }
    }
    if _env("THORN_TEST_DB_POOL", ""):  # psycopg's pool (Django 5.1+): for gevent workers
        DATABASES["default"]["OPTIONS"] = {"pool": {"min_size": 4, "max_size": 40}}
elif _database == "sqlite-file":
    # t.proj.settings opened it: the session's file, never one of the worker's own.
    _env("THORN_TEST_SQLITE_PATH")
else:
    raise ImproperlyConfigured(f"a test worker cannot share a {_database!r} database")

# Deliveries go to the loopback receiver, which the default validators refuse.
THORN_RECIPIENT_VALIDATORS: list[object] = []
THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"

CELERY_BROKER_URL = _env("THORN_TEST_BROKER_URL", "memory://")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = _env("THORN_TEST_CELERY_QUEUE", "celery")
CELERY_IMPORTS = tuple(
    module.strip()
    for module in _env("THORN_TEST_CELERY_IMPORTS", "thorn.tasks").split(",")
    if module.strip()
)


def _overrides() -> dict[str, object]:
    raw = _env("THORN_TEST_SETTINGS", "{}")
    try:
        overrides = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"THORN_TEST_SETTINGS is not JSON: {raw!r}") from exc
    if not isinstance(overrides, dict):
        raise ImproperlyConfigured(f"THORN_TEST_SETTINGS is not a JSON object: {raw!r}")
    for name in overrides:
        if not (name.isupper() and name.startswith(("THORN_", "CELERY_"))):
            raise ImproperlyConfigured(
                f"THORN_TEST_SETTINGS may set THORN_* and CELERY_* settings, not {name!r}"
            )
    return overrides


globals().update(_overrides())
