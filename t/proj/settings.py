"""Settings of the test project."""

import os

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
    "rest_framework",
    "thorn.django",
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
ROOT_URLCONF = "t.proj.urls"

# --- databases -------------------------------------------------------------
# THORN_TEST_DATABASE picks the database the tests run against:
#   "sqlite" (the default): an in-memory SQLite database;
#   "postgresql": a real PostgreSQL that the test session starts and stops
#   itself (t/postgres.py); the django_db_modify_db_settings fixture in
#   t/conftest.py fills in HOST and PORT once the server is up.
# (Lower case, so that it does not become a THORN_* setting thorn would read.)
_test_database = os.environ.get("THORN_TEST_DATABASE") or "sqlite"
if _test_database == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
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
        f"THORN_TEST_DATABASE must be 'sqlite' or 'postgresql', not {_test_database!r}"
    )
# --- end of databases ------------------------------------------------------
