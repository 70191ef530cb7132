"""The worker side of the celery dispatcher, and its Celery tasks.

The task names are part of the contract.  Route them to their own queue with
Celery's ``task_routes``, e.g. ``{"thorn.tasks.*": {"queue": "webhooks"}}``.

In the worker, :func:`send_event` finds the subscribers of a message, records
its deliveries, and publishes them in chunks of ``THORN_CHUNKSIZE``
(:func:`dispatch_requests`), ordered by host.  A chunk is attempted
concurrently, one lane (and one kept-alive connection) per host; a failed
delivery is retried on its own (:func:`dispatch_request`) when the outcome
policy (:mod:`thorn.delivery.policy`) says so and its retry is due within
``THORN_DELIVERY_LEASE``; later retries are the relay's (:func:`thorn.tasks.relay`).

Every task acknowledges its message once it is done (``acks_late``), and a
message whose worker was lost is delivered again: deliveries are made at
least once, and a delivery recorded as made is never made again.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import celery
from celery import Task, shared_task, signals

from thorn._state import current_app
from thorn.buffer import send_each
from thorn.dispatch.queued import WorkerDispatcher as QueuedWorkerDispatcher
from thorn.messages import decode_message, encode_delivery
from thorn.relay import prune_records, relay_once
from thorn.store import Result
from thorn.utils.log import get_logger

__all__ = [
    "WorkerDispatcher",
    "dispatch_request",
    "dispatch_requests",
    "prune",
    "relay",
    "send_event",
    "send_events",
]

logger = get_logger(__name__)


class WorkerDispatcher(QueuedWorkerDispatcher):
    """The dispatcher of :func:`send_event`, in the worker.

    Finds the subscribers, records the deliveries, and publishes them in
    chunks of ``THORN_CHUNKSIZE`` to :func:`dispatch_requests` (see
    :class:`thorn.dispatch.queued.WorkerDispatcher`).
    """

    def publish_chunks(self, encoded: list[list[dict[str, Any]]]) -> None:
        """Publish the chunks as a group of :func:`dispatch_requests` tasks."""
        celery.group([dispatch_requests.s(chunk) for chunk in encoded]).apply_async()

    def schedule_retry(self, result: Result, countdown: float) -> None:
        """Publish a :func:`dispatch_request` task with a countdown."""
        dispatch_request.apply_async(kwargs=_next_attempt(result), countdown=countdown)


def _worker_dispatcher() -> WorkerDispatcher:
    dispatcher: WorkerDispatcher = current_app().dispatcher_of(WorkerDispatcher)
    return dispatcher


def _next_attempt(result: Result) -> dict[str, Any]:
    return encode_delivery(result.request.delivery.next_attempt())


# Every thorn task acknowledges its message once it is done, and its message
# goes to another worker when its worker is lost (at least once).
@shared_task(
    name="thorn.tasks.send_event", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def send_event(
    event: str,
    payload: Any,
    sender: Any,
    timeout: float | None = None,
    context: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Find the subscribers of ``event``, record its deliveries and publish them in chunks.

    The arguments are an encoded :class:`~thorn.messages.Message`
    (:func:`~thorn.messages.encode_message`): ``sender`` is the sender's
    primary key, ``kwargs`` the message's id and other options.  Done again
    (after a lost worker), it records and publishes nothing twice.
    """
    message = decode_message(
        {
            "event": event,
            "payload": payload,
            "sender": sender,
            "timeout": timeout,
            "context": context,
            **kwargs,
        }
    )
    _worker_dispatcher().hand_over(message)


@shared_task(
    name="thorn.tasks.send_events", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def send_events(events: list[dict[str, Any]]) -> None:
    """:func:`send_event` for each message of a flushed buffer (one task, many events)."""
    send_each((partial(send_event, **event), [event["event"]]) for event in events)


@shared_task(
    name="thorn.tasks.dispatch_requests",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def dispatch_requests(reqs: list[dict[str, Any]]) -> None:
    """Attempt a chunk of deliveries concurrently; retry each failure on its own.

    ``reqs`` are encoded :class:`~thorn.messages.Delivery` values.  A retry
    due within ``THORN_DELIVERY_LEASE`` is a :func:`dispatch_request` task
    with a countdown; a later one is left to the relay.
    """
    _worker_dispatcher().dispatch(reqs)


@shared_task(
    bind=True,
    name="thorn.tasks.dispatch_request",
    max_retries=None,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def dispatch_request(
    self: Task[Any, Any],
    /,
    event: str,
    data: str,
    sender: Any,
    subscriber: dict[str, Any],
    **kwargs: Any,
) -> None:
    """Attempt one delivery again (an encoded :class:`~thorn.messages.Delivery`).

    It was attempted before (by :func:`dispatch_requests` or this task);
    it is attempted again until it succeeds, the outcome policy gives up,
    or its next retry is the relay's.
    """
    encoded = {"event": event, "data": data, "sender": sender, "subscriber": subscriber, **kwargs}
    dispatcher = _worker_dispatcher()
    for result in dispatcher.deliver(dispatcher.load_requests([encoded])):
        if result.scheduled and result.verdict.retry_in is not None:
            raise self.retry(kwargs=_next_attempt(result), countdown=result.verdict.retry_in)


@shared_task(name="thorn.tasks.relay", ignore_result=True)
def relay(limit: int = 100) -> None:
    """One pass of the relay (:func:`thorn.relay.relay_once`), for Celery beat."""
    relay_once(current_app(), limit)


@shared_task(name="thorn.tasks.prune", ignore_result=True)
def prune() -> None:
    """Delete records older than ``THORN_DELIVERY_RETENTION`` (see :mod:`thorn.relay`).

    Under Django, delete what ``manage.py thorn prune`` deletes
    (:func:`thorn.django.prune.prune`): expired and forgotten subscriptions too.
    """
    app = current_app()
    if getattr(app.env, "Subscriber", None) is None:
        prune_records(app)
        return
    from thorn.django.prune import prune as prune_everything

    prune_everything(app)


# -- a worker with unusable settings does not start (issue 11) ------------------


def _unusable_settings() -> list[str]:
    """Return what thorn's system checks find wrong with the settings (empty if nothing).

    Under Django (once its apps are ready) these are the errors of
    ``manage.py check --tag thorn`` that are not silenced; otherwise the
    type and range checks of :func:`thorn.conf.setting_problems`.
    """
    from thorn.conf import setting_problems
    from thorn.environment.django import DjangoEnv

    app = current_app()
    if isinstance(app.env, DjangoEnv):
        from django.apps import apps

        if apps.ready and apps.is_installed("thorn.django"):
            from thorn.django.checks import serious_messages

            return [
                f"{message.id}: {message.msg}" + (f" HINT: {message.hint}" if message.hint else "")
                for message in serious_messages()
            ]
    return [str(problem) for problem in setting_problems(app.settings)]


def _refuse_unusable_settings(sender: Any = None, **kwargs: Any) -> None:
    """Stop a starting worker whose ``THORN_*`` settings cannot be used.

    Connected to Celery's ``celeryd_after_setup``, which the ``celery
    worker`` program sends once its logging is set up (so the errors go to
    the worker's log) and before it starts its pool and consumes anything.
    A worker with a mistyped setting exits with status 1 and logs each
    problem, naming the setting, instead of failing its tasks one by one.
    """
    from celery.exceptions import WorkerShutdown

    problems = _unusable_settings()
    if not problems:
        return
    for problem in problems:
        logger.critical("thorn: this worker cannot start: %s", problem)
    # Celery logs and ignores what a signal handler raises, except SystemExit,
    # of which WorkerShutdown is one: the worker stops with this exit status.
    raise WorkerShutdown(1)


signals.celeryd_after_setup.connect(
    _refuse_unusable_settings, dispatch_uid="thorn.tasks.refuse_unusable_settings"
)
