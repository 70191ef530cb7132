"""The example blog's Django project.

The Celery app is imported when Django starts, so that the web process
publishes with it (and its ``CELERY_*`` settings) when ``THORN_DISPATCHER``
is ``"celery"``: the layout of the docs' "The celery dispatcher" section.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
