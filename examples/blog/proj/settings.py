"""Settings of the example blog: thorn as its docs teach, set up for a demo on loopback.

A few values come from the environment, so that ``demo.py`` can run the site
on a free port, against a throwaway database, with either dispatcher
(the ``BLOG_*`` names are read here only; thorn reads ``THORN_*`` settings,
never the environment):

``BLOG_DATABASE``
    Path of the SQLite database (default: ``db.sqlite3`` next to ``manage.py``).
``BLOG_BASE_URL``
    The site's own address, for the ``ref`` of webhooks (default:
    ``http://127.0.0.1:8000``, where ``manage.py runserver`` listens).
``BLOG_RETRY_SCHEDULE``
    Seconds between retries, comma-separated (default: thorn's, from 5
    seconds to 10 hours); ``demo.py`` sets ``1`` so that its retry comes
    within a second.
``BLOG_DISPATCHER``
    ``default`` (deliver in the web process), ``celery`` (publish to a
    Celery worker through ``BLOG_BROKER_URL``, default
    ``redis://127.0.0.1:6379/0``) or ``tasks`` (enqueue tasks of Django's
    task framework in the database, for ``manage.py db_worker``).
"""

import os
from pathlib import Path

import django
from django.core.exceptions import ImproperlyConfigured

from proj.validators import loopback_only
from thorn import validators

BASE_DIR = Path(__file__).resolve().parent.parent

# A development example: never deploy it with this key, or with DEBUG on.
SECRET_KEY = "thorn-example-blog-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Subscribers authenticate to the API with a token:
    # "Authorization: Token <key>" (python manage.py create_api_user NAME).
    "rest_framework.authtoken",
    # thorn's Subscriber model (the webhooks_subscriber table), admin and checks.
    "thorn.django",
    # The webhooks portal, where users manage their webhooks (proj/urls.py).
    "blog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "proj.urls"
WSGI_APPLICATION = "proj.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite.  With the celery dispatcher the site and the worker share this file
# (the worker reads the subscribers): fine for a demo, not for production,
# where both use the same PostgreSQL or MySQL server.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BLOG_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # API clients (the demo's subscriber): "Authorization: Token <key>".
        "rest_framework.authentication.TokenAuthentication",
        # The browsable API, after logging in to the admin.
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# --- thorn -----------------------------------------------------------------

# The recommended signer: Hook-HMAC is a plain base64 HMAC of the body, which
# receivers check with thorn.utils.hmac.verify (or any HMAC library).
THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"

# The ref of every article event is get_absolute_url() prefixed with this,
# e.g. "http://127.0.0.1:8000/articles/<uuid>/".
THORN_BASE_URL = os.environ.get("BLOG_BASE_URL", "http://127.0.0.1:8000")

# Who may receive webhooks.  The default validators refuse internal
# addresses (loopback, private networks, ...) and ports other than 80 and 443,
# so they would refuse the demo's subscriber on http://127.0.0.1:<port>/.
# For this demo we allow the opposite: http(s) to loopback IP addresses only,
# on any port (see proj/validators.py).  `THORN_RECIPIENT_VALIDATORS = []`
# would also work, but turns every check off.  On a real site keep the
# defaults: delete this setting.
THORN_RECIPIENT_VALIDATORS = [
    validators.ensure_protocol("http", "https"),
    loopback_only,
]

# A failed delivery is retried on this schedule (by the relay, `manage.py thorn
# relay`, or a Celery worker).  The default is the Standard Webhooks one.
if os.environ.get("BLOG_RETRY_SCHEDULE"):
    THORN_RETRY_SCHEDULE = [float(s) for s in os.environ["BLOG_RETRY_SCHEDULE"].split(",")]

_dispatcher = os.environ.get("BLOG_DISPATCHER") or "default"
if _dispatcher not in ("default", "celery", "tasks"):
    raise ImproperlyConfigured(
        f"BLOG_DISPATCHER must be 'default', 'celery' or 'tasks', not {_dispatcher!r}"
    )
# "default": delivered by the web process, before the save returns.
# "celery": the web process publishes one message per event; a worker
# (celery -A proj worker) finds the subscribers and delivers.
# "tasks": the same, as tasks of Django's task framework kept in the
# database, run by `python manage.py db_worker`.
THORN_DISPATCHER = _dispatcher

# --- Django's task framework (used with BLOG_DISPATCHER=tasks) ----------------

if _dispatcher == "tasks":
    # django.tasks on Django 6; before it, the backport (pip install
    # "thorn[tasks]"), an app of its own.  django-tasks-db is the database
    # backend, whose worker is `python manage.py db_worker`.
    if django.VERSION < (6, 0):
        INSTALLED_APPS.append("django_tasks")
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Celery (used with BLOG_DISPATCHER=celery) --------------------------------

CELERY_BROKER_URL = os.environ.get("BLOG_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# thorn's messages are JSON; accept nothing else.
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
