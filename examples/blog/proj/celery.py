"""The Celery app of the example: ``celery -A proj worker -l info``.

Only used when the site runs with ``BLOG_DISPATCHER=celery`` (see
``settings.py``); ``make demo-celery`` starts Redis and a worker itself.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")
# Celery's settings are the Django settings that start with CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
# Imports the tasks module of every app in INSTALLED_APPS, thorn's included
# (thorn.django.tasks brings in thorn.tasks).
app.autodiscover_tasks()
