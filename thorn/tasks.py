"""Celery tasks of the celery dispatcher (their names are part of the contract).

Route them to their own queue with Celery's ``task_routes``, e.g.
``{"thorn.tasks.*": {"queue": "webhooks"}}``.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task, signals

from thorn._state import current_app
from thorn.dispatch.celery import WorkerDispatcher, deliver
from thorn.request import Request
from thorn.utils.log import get_logger

__all__ = ["dispatch_request", "dispatch_requests", "send_event", "send_events"]

logger = get_logger(__name__)


def _worker_dispatcher() -> WorkerDispatcher:
    app = current_app()
    dispatcher = app._dispatchers.get(WorkerDispatcher)
    if dispatcher is None:
        dispatcher = app._dispatchers[WorkerDispatcher] = WorkerDispatcher(app=app)
    assert isinstance(dispatcher, WorkerDispatcher)  # noqa: S101 -- for the type checker
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

    ``sender`` is the sender's primary key; ``kwargs`` are the event's
    options (headers, retry policy, validators, callbacks as paths, its own
    subscribers).
    """
    _worker_dispatcher().send(event, payload, sender, timeout=timeout, context=context, **kwargs)


@shared_task(name="thorn.tasks.send_events", ignore_result=True)
def send_events(events: list[dict[str, Any]]) -> None:
    """:func:`send_event` for each event of a flushed buffer (one message, many events)."""
    first_error: Exception | None = None
    for message in events:
        try:
            send_event(**message)
        except Exception as exc:  # the other events of the message are still sent
            logger.exception("Sending buffered event %s failed", message.get("event"))
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


@shared_task(name="thorn.tasks.dispatch_requests", ignore_result=True)
def dispatch_requests(reqs: list[dict[str, Any]], app: Any = None) -> None:
    """Deliver a chunk of requests concurrently; retry each failure on its own."""
    dispatcher = _worker_dispatcher()
    loaded = dispatcher.load_requests(reqs)
    requests = [request for request, _ in loaded]
    outcomes = deliver(requests)
    for (request, raw), outcome in zip(loaded, outcomes, strict=True):
        will_retry = request.retry_policy.should_retry(outcome, retries=0)
        request.handle_outcome(outcome, will_retry)
        if will_retry:
            countdown = request.retry_policy.countdown(outcome, retries=0)
            try:
                dispatch_request.apply_async(kwargs=raw, countdown=countdown)
            except Exception:  # the other retries of the chunk are still published
                logger.exception(
                    "Scheduling a retry of %s to %s failed", request.event, request.url
                )


@shared_task(bind=True, name="thorn.tasks.dispatch_request", ignore_result=True, max_retries=None)
def dispatch_request(
    self: Task[Any, Any],
    /,
    event: str,
    data: str,
    sender: Any,
    subscriber: dict[str, Any],
    session: Any = None,
    app: Any = None,
    **kwargs: Any,
) -> None:
    """Retry one failed delivery, until it succeeds or its retry policy gives up.

    The first attempt was made by :func:`dispatch_requests`; this task is
    retry number ``self.request.retries + 1``.
    """
    raw = {"event": event, "data": data, "sender": sender, "subscriber": subscriber, **kwargs}
    loaded = _worker_dispatcher().load_requests([raw])
    if not loaded:
        return
    request: Request = loaded[0][0]
    retries = self.request.retries + 1
    outcome = request.attempt()
    will_retry = request.retry_policy.should_retry(outcome, retries=retries)
    request.handle_outcome(outcome, will_retry)
    if will_retry:
        raise self.retry(countdown=request.retry_policy.countdown(outcome, retries=retries))
    if not outcome.ok:
        logger.error(
            "Gave up delivering %s to %s (subscription %s) after %d attempts: %s",
            event,
            request.url,
            subscriber["uuid"],
            retries + 1,
            outcome.error,
            extra={"delivery": request.describe()},
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
