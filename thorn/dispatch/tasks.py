"""The tasks dispatcher: deliveries run as tasks of Django's task framework.

``THORN_DISPATCHER = "tasks"``.  The framework is :mod:`django.tasks` on
Django 6, and the ``django-tasks`` backport before it
(``pip install "thorn[tasks]"``); this is the only module of thorn that
imports either.  Tasks go to the backend named by ``THORN_TASKS_BACKEND``
(an alias of Django's ``TASKS`` setting), on the queue named by
``THORN_TASKS_QUEUE``.

The web process enqueues :func:`send_event` with the encoded
:class:`~thorn.messages.Message` when the transaction commits (or, when
flushing a buffer, :func:`send_events` with up to ``THORN_CHUNKSIZE``
messages).  A worker finds the subscribers, records the deliveries and
enqueues them in chunks of ``THORN_CHUNKSIZE`` (:func:`dispatch_requests`),
each attempted concurrently, one lane per host, exactly as the celery
dispatcher does (:mod:`thorn.dispatch.queued` is their common part).

A retry due within ``THORN_DELIVERY_LEASE`` is a :func:`dispatch_requests`
task deferred with ``run_after``, when the backend supports it
(``supports_defer``); a later one, or any retry with a backend that cannot
defer, is the relay's.  A backend need not run a task again when its worker
dies (the database backend leaves it running): the leases and the relay do,
so deliveries are still made at least once, and a delivery recorded as made
is never made again.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import django
from django.core.exceptions import ImproperlyConfigured as DjangoImproperlyConfigured
from django.utils import timezone

from thorn._state import current_app
from thorn.buffer import send_each
from thorn.dispatch.queued import QueuedDispatcher
from thorn.dispatch.queued import WorkerDispatcher as QueuedWorkerDispatcher
from thorn.exceptions import ImproperlyConfigured
from thorn.messages import Message, decode_message, encode_delivery, encode_message
from thorn.utils.log import get_logger

if TYPE_CHECKING or django.VERSION >= (6, 0):
    from django.tasks import (
        DEFAULT_TASK_BACKEND_ALIAS,
        DEFAULT_TASK_QUEUE_NAME,
        Task,
        TaskResult,
        task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import DEFAULT_TASK_PRIORITY
    from django.tasks.exceptions import TaskException
else:  # Django 4.2 and 5.2: the backport
    try:
        from django_tasks import (
            DEFAULT_TASK_BACKEND_ALIAS,
            DEFAULT_TASK_QUEUE_NAME,
            TaskResult,
            task_backends,
        )
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import DEFAULT_TASK_PRIORITY, Task
        from django_tasks.exceptions import TaskException
    except ImportError as exc:
        raise ImportError(
            'THORN_DISPATCHER = "tasks" needs Django 6, or the django-tasks backport before it: '
            f'pip install "thorn[tasks]" ({exc})'
        ) from exc

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.store import Result

__all__ = [
    "Dispatcher",
    "WorkerDispatcher",
    "backend",
    "dispatch_requests",
    "enqueue",
    "send_event",
    "send_events",
    "setting_errors",
]

logger = get_logger(__name__)


if TYPE_CHECKING:
    #: A thorn task: its function takes one JSON argument.
    _Task = Task[[Any], None]
else:  # django.tasks.Task is generic in its stubs only
    _Task = Task


class _Declared(_Task):
    """A thorn task: declared when this module is imported, validated when it is enqueued.

    Workers find a task by the import path of its function, so thorn's
    tasks exist as soon as this module is imported, whatever the settings.
    ``@task`` would have a backend validate them then, and a project whose
    ``"default"`` backend refuses the ``"default"`` queue could not import
    this module, nor have ``manage.py check`` say why.  :func:`enqueue`
    gives each task the backend and queue of the settings, and has that
    backend validate it.
    """

    def __post_init__(self) -> None:
        pass  # validated by _bind(), when it is enqueued


def _declare(function: Callable[[Any], None]) -> _Task:
    # Every field: Django 6.0's Task has no defaults for some (6.1 has).
    return _Declared(
        func=function,
        priority=DEFAULT_TASK_PRIORITY,
        backend=DEFAULT_TASK_BACKEND_ALIAS,
        queue_name=DEFAULT_TASK_QUEUE_NAME,
        run_after=None,
        takes_context=False,
    )


def backend(settings: Settings) -> BaseTaskBackend:
    """The task backend named by ``THORN_TASKS_BACKEND``.

    Raises:
        ImproperlyConfigured: if ``TASKS`` has no such backend.
    """
    alias: str = settings.THORN_TASKS_BACKEND
    try:
        found: BaseTaskBackend = task_backends[alias]
    except DjangoImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"THORN_TASKS_BACKEND={alias!r}: {exc}") from exc
    return found


def _bind(declared: _Task, settings: Settings, delay: float | None) -> _Task:
    """``declared`` on the backend and queue of the settings, validated by that backend."""
    found = backend(settings)
    queue: str = settings.THORN_TASKS_QUEUE
    run_after = None if delay is None else timezone.now() + timedelta(seconds=delay)
    bound = declared.using(backend=found.alias, queue_name=queue, run_after=run_after)
    try:
        found.validate_task(bound)
    except TaskException as exc:
        raise ImproperlyConfigured(
            f"THORN_TASKS_QUEUE={queue!r} (backend {found.alias!r}): {exc}"
        ) from exc
    return bound


def enqueue(
    declared: _Task, argument: Any, settings: Settings, delay: float | None = None
) -> TaskResult[[Any], None]:
    """Enqueue ``declared(argument)`` on the backend and queue the settings name now.

    Arguments:
        declared: One of thorn's tasks.
        argument: Its JSON argument.
        settings: The app's settings (``THORN_TASKS_BACKEND``, ``THORN_TASKS_QUEUE``).
        delay: Seconds to wait before it runs (``run_after``), if any.

    Raises:
        ImproperlyConfigured: when the backend does not exist, or refuses
            the task (its queue, say), naming the setting.
    """
    return _bind(declared, settings, delay).enqueue(argument)


def setting_errors(settings: Settings) -> dict[str, str]:
    """What the task framework refuses of ``THORN_TASKS_BACKEND`` and ``THORN_TASKS_QUEUE``.

    The deeper checks of the two settings, by name (see :mod:`thorn.django.checks`).
    """
    try:
        _bind(send_event, settings, None)
    except ImproperlyConfigured as exc:
        refused = isinstance(exc.__cause__, TaskException)
        return {"THORN_TASKS_QUEUE" if refused else "THORN_TASKS_BACKEND": str(exc)}
    return {}


class Dispatcher(QueuedDispatcher):
    """Enqueue each event as a task of Django's task framework (``THORN_DISPATCHER = "tasks"``).

    :meth:`~thorn.dispatch.base.Dispatcher.send` returns the task result
    of :func:`send_event` (``[]`` inside a transaction or while
    buffering).  When the backend cannot take a message that is in the
    outbox, the relay enqueues it later; without an outbox the error is
    raised, as with the celery dispatcher.

    Raises:
        TypeError: from :meth:`~thorn.dispatch.base.Dispatcher.send`, for a
            payload, callback, validator or subscriber that cannot be sent as
            JSON (nothing is enqueued).
    """

    logger = logger

    def publish_event(self, message: Message) -> TaskResult[[Any], None]:
        """Enqueue :func:`send_event` for ``message``."""
        return enqueue(send_event, encode_message(message), self.app.settings)

    def publish_events(self, messages: Sequence[Message]) -> None:
        """Enqueue :func:`send_events` for a batch of held messages."""
        encoded = [encode_message(message) for message in messages]
        enqueue(send_events, encoded, self.app.settings)

    def publish_deliveries(self, encoded: list[dict[str, Any]]) -> None:
        """Enqueue :func:`dispatch_requests` for a chunk of deliveries."""
        enqueue(dispatch_requests, encoded, self.app.settings)


class WorkerDispatcher(QueuedWorkerDispatcher):
    """The dispatcher of :func:`send_event` and :func:`dispatch_requests`, in the worker."""

    @property
    def schedules_retries(self) -> bool:  # type: ignore[override]
        """The backend can defer a task (``run_after``); otherwise the relay makes every retry."""
        return bool(backend(self.app.settings).supports_defer)

    def publish_chunks(self, encoded: list[list[dict[str, Any]]]) -> None:
        """Enqueue one :func:`dispatch_requests` task per chunk."""
        for chunk in encoded:
            enqueue(dispatch_requests, chunk, self.app.settings)

    def schedule_retry(self, result: Result, countdown: float) -> None:
        """Enqueue the next attempt: a :func:`dispatch_requests` task, ``countdown`` s from now."""
        next_attempt = encode_delivery(result.request.delivery.next_attempt())
        enqueue(dispatch_requests, [next_attempt], self.app.settings, delay=countdown)


def _worker_dispatcher() -> WorkerDispatcher:
    dispatcher: WorkerDispatcher = current_app().dispatcher_of(WorkerDispatcher)
    return dispatcher


def _send_event(message: dict[str, Any]) -> None:
    _worker_dispatcher().hand_over(decode_message(message))


@_declare
def send_event(message: dict[str, Any]) -> None:
    """Find the subscribers of a message, record its deliveries and enqueue them in chunks.

    ``message`` is an encoded :class:`~thorn.messages.Message`
    (:func:`~thorn.messages.encode_message`).  Run again (the relay hands
    over a message that was never planned), it records and enqueues nothing twice.
    """
    _send_event(message)


@_declare
def send_events(messages: list[dict[str, Any]]) -> None:
    """:func:`send_event` for each message of a flushed buffer (one task, many events)."""
    send_each((partial(_send_event, message), [message["event"]]) for message in messages)


@_declare
def dispatch_requests(reqs: list[dict[str, Any]]) -> None:
    """Attempt a chunk of deliveries concurrently; retry each failure on its own.

    ``reqs`` are encoded :class:`~thorn.messages.Delivery` values.  A retry
    due within ``THORN_DELIVERY_LEASE`` is a deferred task of its own, when
    the backend can defer; a later one is left to the relay.
    """
    _worker_dispatcher().dispatch(reqs)
