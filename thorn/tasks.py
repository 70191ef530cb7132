"""The worker side of the celery dispatcher, and its Celery tasks.

The task names are part of the contract.  Route them to their own queue with
Celery's ``task_routes``, e.g. ``{"thorn.tasks.*": {"queue": "webhooks"}}``.

In the worker, :func:`send_event` finds the subscribers of a message, orders
the deliveries by host and publishes them in chunks of ``THORN_CHUNKSIZE``
(:func:`dispatch_requests`).  A chunk is attempted concurrently, one lane
(and one kept-alive connection) per host; a failed delivery is retried on its
own (:func:`dispatch_request`) when the outcome policy
(:mod:`thorn.delivery.policy`) says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import celery
from celery import Task, shared_task, signals

from thorn._state import current_app
from thorn.buffer import send_each
from thorn.delivery.policy import judge
from thorn.delivery.run import attempt_all
from thorn.dispatch.base import Dispatcher as BaseDispatcher
from thorn.generic.subscriber import subscribers_for_event
from thorn.messages import Message, decode_delivery, decode_message, encode_delivery
from thorn.request import Request
from thorn.utils.functional import chunks
from thorn.utils.log import get_logger
from thorn.utils.redact import redact_url

__all__ = [
    "WorkerDispatcher",
    "dispatch_request",
    "dispatch_requests",
    "send_event",
    "send_events",
]

logger = get_logger(__name__)


class WorkerDispatcher(BaseDispatcher):
    """The dispatcher of :func:`send_event`, in the worker.

    Finds the subscribers, orders the deliveries by host and publishes them
    in chunks of ``THORN_CHUNKSIZE`` to :func:`dispatch_requests`.
    """

    def dispatch_message(self, message: Message) -> list[Request]:
        """Publish the deliveries of ``message`` (nothing when nobody subscribed)."""
        requests = self.requests_for(message)
        size = self.app.settings.THORN_CHUNKSIZE
        signatures = [
            dispatch_requests.s([encode_delivery(request.delivery) for request in chunk])
            for chunk in chunks(iter(requests), size)
        ]
        if signatures:
            celery.group(signatures).apply_async()
        return requests

    def load_requests(self, encoded: Iterable[Mapping[str, Any]]) -> list[Request]:
        """Rebuild requests from encoded deliveries, loading their subscribers.

        Subscribers are found again, one query per event of the chunk for
        just the chunk's subscriptions, so no secret travels; a subscription
        deleted meanwhile is skipped.
        """
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for item in encoded:
            key = json.dumps(
                [
                    item["event"],
                    item.get("sender"),
                    item.get("context"),
                    item.get("extra_subscribers"),
                ],
                sort_keys=True,
            )
            groups.setdefault(key, []).append(item)
        requests = []
        for items in groups.values():
            first = decode_message({**items[0], "payload": None})
            subscribers = subscribers_for_event(
                self.app,
                first.event,
                first.sender,
                first.options.context,
                first.options.extra_subscribers,
                uuids={item["subscriber"]["uuid"] for item in items},
            )
            found = {str(subscriber.uuid): subscriber for subscriber in subscribers}
            for item in items:
                subscriber = found.get(item["subscriber"]["uuid"])
                if subscriber is None:
                    logger.info(
                        "Not delivering %s to %s: the subscription is gone",
                        item["event"],
                        redact_url(item["subscriber"]["url"]),
                    )
                    continue
                delivery = decode_delivery(item, subscriber)
                requests.append(self.app.request_class.for_delivery(delivery, self.app))
        return requests


def _worker_dispatcher() -> WorkerDispatcher:
    dispatcher: WorkerDispatcher = current_app().dispatcher_of(WorkerDispatcher)
    return dispatcher


@shared_task(name="thorn.tasks.send_event", ignore_result=True)
def send_event(
    event: str,
    payload: Any,
    sender: Any,
    timeout: float | None = None,
    context: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Find the subscribers of ``event`` and publish its deliveries in chunks.

    The arguments are an encoded :class:`~thorn.messages.Message`
    (:func:`~thorn.messages.encode_message`): ``sender`` is the sender's
    primary key, ``kwargs`` the event's other options.
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
    _worker_dispatcher().dispatch_message(message)


@shared_task(name="thorn.tasks.send_events", ignore_result=True)
def send_events(events: list[dict[str, Any]]) -> None:
    """:func:`send_event` for each message of a flushed buffer (one task, many events)."""
    send_each((partial(send_event, **event), [event["event"]]) for event in events)


def _schedule_retry(request: Request, countdown: float) -> None:
    dispatch_request.apply_async(
        kwargs=encode_delivery(request.delivery.next_attempt()), countdown=countdown
    )


@shared_task(name="thorn.tasks.dispatch_requests", ignore_result=True)
def dispatch_requests(reqs: list[dict[str, Any]]) -> None:
    """Attempt a chunk of deliveries concurrently; retry each failure on its own."""
    dispatcher = _worker_dispatcher()
    requests = dispatcher.load_requests(reqs)
    outcomes = attempt_all(requests, dispatcher.app.transport)
    for request, outcome in zip(requests, outcomes, strict=True):
        verdict = judge(request, outcome, can_retry=True)
        if verdict.retry_in is not None:
            try:
                _schedule_retry(request, verdict.retry_in)
            except Exception:  # the other retries of the chunk are still published
                logger.exception(
                    "Scheduling a retry of %s to %s failed",
                    request.event,
                    redact_url(request.url),
                )


@shared_task(bind=True, name="thorn.tasks.dispatch_request", ignore_result=True, max_retries=None)
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
    it is attempted again until it succeeds or the outcome policy gives up.
    """
    encoded = {"event": event, "data": data, "sender": sender, "subscriber": subscriber, **kwargs}
    loaded = _worker_dispatcher().load_requests([encoded])
    if not loaded:
        return
    (request,) = loaded
    verdict = judge(request, request.attempt(), can_retry=True)
    if verdict.retry_in is not None:
        raise self.retry(
            kwargs=encode_delivery(request.delivery.next_attempt()), countdown=verdict.retry_in
        )


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
