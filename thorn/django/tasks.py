"""thorn's Celery tasks, where ``app.autodiscover_tasks()`` looks for them.

Celery finds the tasks of installed Django apps in ``<app>.tasks``; the
tasks themselves are in :mod:`thorn.tasks`.
"""

from thorn.tasks import dispatch_request, dispatch_requests, send_event, send_events

__all__ = ["dispatch_request", "dispatch_requests", "send_event", "send_events"]
