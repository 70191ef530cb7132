"""Settings of the test project."""

import os
import tempfile
from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "thorn-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The webhooks portal's CSS and JS, served by StaticLiveServerTestCase.
    "django.contrib.staticfiles",
    "rest_framework",
    # Its tokens log `python -m thorn listen` in (t/proj/asgi_settings.py).
    "rest_framework.authtoken",
    "thorn.django",
    # Django's task framework (THORN_DISPATCHER = "tasks"): the backport is
    # an app before Django 6; django_tasks_db is its database backend.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
    "t.proj.blog",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
ROOT_URLCONF = "t.proj.urls"

# --- task backends ---------------------------------------------------------
# Django's task framework (THORN_DISPATCHER = "tasks"): django.tasks on
# Django 6, the django-tasks backport before it.  "default" runs each task at
# once, in the process that enqueues it; "database" (django-tasks-db) keeps
# tasks in the database for a `manage.py db_worker` process, on any queue.
_immediate = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
TASKS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": f"{_immediate}.backends.immediate.ImmediateBackend"},
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []},
}

# --- databases -------------------------------------------------------------
# THORN_TEST_DATABASE picks the database the tests run against:
#   "sqlite" (the default): an in-memory SQLite database;
#   "sqlite-file": SQLite in a file, which other processes (a db_worker) can
#   share: THORN_TEST_SQLITE_PATH, by default a file of this process's own
#   in the temporary directory (pytest-django removes it at the end);
#   "postgresql": a real PostgreSQL that the test session starts and stops
#   itself (t/postgres.py); the django_db_modify_db_settings fixture in
#   t/conftest.py fills in HOST and PORT once the server is up.
# (Lower case, so that it does not become a THORN_* setting thorn would read.)
_test_database = os.environ.get("THORN_TEST_DATABASE") or "sqlite"
DATABASES: dict[str, dict[str, Any]]
if _test_database == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
elif _test_database == "sqlite-file":
    _path = os.environ.get("THORN_TEST_SQLITE_PATH") or os.path.join(
        tempfile.gettempdir(), f"thorn-test-{os.getpid()}.sqlite3"
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _path,
            # The test database is that file too (Django's default is in memory).
            "TEST": {"NAME": _path},
        }
    }
elif _test_database == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "thorn",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "",  # set at run time
        }
    }
else:
    raise ImproperlyConfigured(
        "THORN_TEST_DATABASE must be 'sqlite', 'sqlite-file' or 'postgresql', "
        f"not {_test_database!r}"
    )
# --- end of databases ------------------------------------------------------
