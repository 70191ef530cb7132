"""The celery dispatcher: one broker message per event, workers do the HTTP.

The web process publishes :func:`thorn.tasks.send_event` (or, when flushing
a buffer, :func:`thorn.tasks.send_events` with up to ``THORN_CHUNKSIZE``
events per message).  In the worker, :class:`WorkerDispatcher` finds the
subscribers, orders the deliveries by host and publishes them in chunks of
``THORN_CHUNKSIZE`` (:func:`thorn.tasks.dispatch_requests`).  A chunk is
delivered concurrently, one lane (and one kept-alive connection) per host.
A failed delivery is retried on its own (:func:`thorn.tasks.dispatch_request`).

Messages are JSON: payloads are encoded with thorn's JSON encoder, senders
become primary keys, callbacks import paths, and subscribers references
(their uuid): secrets stay in the database and in the settings.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import TYPE_CHECKING, Any

from thorn.dispatch.base import Dispatcher as BaseDispatcher
from thorn.generic.models import pk_of
from thorn.generic.subscriber import subscribers_for_event
from thorn.request import Request
from thorn.utils import json as thorn_json
from thorn.utils.functional import chunks
from thorn.utils.imports import callable_path
from thorn.utils.log import get_logger
from thorn.validators import serialize_validators

if TYPE_CHECKING:
    from thorn.buffer import PendingEvent
    from thorn.outcome import Outcome

__all__ = ["MAX_LANES", "Dispatcher", "WorkerDispatcher", "deliver", "event_message"]

logger = get_logger(__name__)


def _serialize_subscribers(items: Any) -> Any:
    """An event's own subscribers as JSON: URLs, dicts and ``"!path"`` callables."""
    if not items:
        return None
    if isinstance(items, (str, Mapping)) or callable(items):
        items = [items]
    serialized: list[Any] = []
    for item in items:
        if isinstance(item, (str, Mapping)):
            serialized.append(item)
        elif callable(item):
            serialized.append("!" + callable_path(item, "subscriber callback"))
        else:
            raise TypeError(
                f"the celery dispatcher sends subscribers as URLs, dicts or callables, not {item!r}"
            )
    return serialized


def event_message(
    event: str,
    payload: Any,
    sender: Any,
    timeout: float | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Return the keyword arguments of :func:`thorn.tasks.send_event` for an event.

    Raises:
        TypeError: if the payload, a callback, a validator or a subscriber
            cannot be sent as JSON.
    """
    message = {
        "event": event,
        # Through thorn's encoder: dates, decimals, UUIDs as subscribers see them.
        "payload": json.loads(thorn_json.dumps(payload)),
        "sender": pk_of(sender),
        "timeout": timeout,
        "context": dict(context or {}),
    }
    for name, value in options.items():
        if value is None:
            continue
        if name in ("on_success", "on_error", "on_timeout"):
            value = callable_path(value, name)
        elif name == "recipient_validators":
            value = serialize_validators(value)
        elif name == "extra_subscribers":
            value = _serialize_subscribers(value)
        message[name] = value
    return message


class Dispatcher(BaseDispatcher):
    """Publish each event to Celery workers (``THORN_DISPATCHER = "celery"``).

    :meth:`send` returns the :class:`~celery.result.AsyncResult` of the
    ``send_event`` task (``[]`` while buffering).  When the broker cannot be
    reached, the error is raised: a model event logs it (or raises it with
    ``propagate_errors``), and that event is not delivered.
    """

    def dispatch(self, event: str, payload: Any, sender: Any, **options: Any) -> Any:
        from thorn.tasks import send_event

        return send_event.apply_async(kwargs=event_message(event, payload, sender, **options))

    def flush(self, pending: list[PendingEvent]) -> None:
        """Publish buffered events in messages of ``THORN_CHUNKSIZE`` events.

        Every message is attempted; a failure is logged and the first error
        raised at the end.
        """
        from thorn.tasks import send_events

        first_error: Exception | None = None
        for chunk in chunks(iter(pending), self.app.settings.THORN_CHUNKSIZE):
            try:
                messages = [
                    event_message(item.event, item.payload, item.sender, **item.options)
                    for item in chunk
                ]
                send_events.apply_async(args=(messages,))
            except Exception as exc:
                names = ", ".join(item.event for item in chunk)
                logger.exception("Publishing buffered events failed: %s", names)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


class WorkerDispatcher(BaseDispatcher):
    """The dispatcher of :func:`thorn.tasks.send_event`, in the worker.

    Finds the subscribers, orders the requests by host and publishes them
    in chunks of ``THORN_CHUNKSIZE`` to :func:`thorn.tasks.dispatch_requests`.
    """

    def send(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[Request]:
        """Publish the deliveries of ``event`` (nothing when nobody subscribed)."""
        from celery import group

        from thorn.tasks import dispatch_requests

        extra = options.pop("extra_subscribers", None)
        requests = self.prepare_requests(
            event,
            payload,
            sender,
            timeout=timeout,
            context=context,
            extra_subscribers=extra,
            **options,
        )
        lookup = {"context": dict(context or {}), "extra_subscribers": extra}
        size = self.app.settings.THORN_CHUNKSIZE
        tasks = [
            dispatch_requests.s([{**request.as_dict(), **lookup} for request in chunk])
            for chunk in chunks(iter(requests), size)
        ]
        if tasks:
            group(tasks).apply_async()
        return requests

    def load_requests(
        self, reqs: Iterable[Mapping[str, Any]]
    ) -> list[tuple[Request, dict[str, Any]]]:
        """Rebuild requests from messages, loading their subscribers.

        Subscribers are found again, one query per event of the chunk for
        just the chunk's subscriptions, so no secret travels; a subscription
        deleted meanwhile is skipped.
        """
        groups: dict[str, list[dict[str, Any]]] = {}
        for raw in reqs:
            key = json.dumps(
                [raw["event"], raw.get("sender"), raw.get("context"), raw.get("extra_subscribers")],
                sort_keys=True,
            )
            groups.setdefault(key, []).append(dict(raw))
        loaded = []
        for group in groups.values():
            first = group[0]
            uuids = {raw["subscriber"]["uuid"] for raw in group}
            subscribers = subscribers_for_event(
                self.app,
                first["event"],
                first.get("sender"),
                first.get("context") or {},
                first.get("extra_subscribers"),
                uuids=uuids,
            )
            found = {str(subscriber.uuid): subscriber for subscriber in subscribers}
            for raw in group:
                subscriber = found.get(raw["subscriber"]["uuid"])
                if subscriber is None:
                    logger.info(
                        "Not delivering %s to %s: the subscription is gone",
                        raw["event"],
                        raw["subscriber"]["url"],
                    )
                    continue
                data = {k: v for k, v in raw.items() if k not in ("context", "extra_subscribers")}
                loaded.append((Request.from_dict(data, subscriber, app=self.app), raw))
        return loaded


#: Most deliveries running at once in one worker process (lanes of all its tasks).
MAX_LANES = 64

_lanes_lock = threading.Lock()
_lanes: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    # One pool per worker process, its threads started on demand: they keep
    # their connections alive from one chunk to the next.  Under the gevent
    # pool its threads are greenlets.
    global _lanes
    with _lanes_lock:
        if _lanes is None:
            _lanes = ThreadPoolExecutor(max_workers=MAX_LANES, thread_name_prefix="thorn")
        return _lanes


def deliver(requests: list[Request]) -> list[Outcome]:
    """Attempt every request once; return their outcomes in order.

    Requests to the same host (scheme, host, port) are sent one after
    another in one lane, over one kept-alive connection; hosts are served
    concurrently, by the worker process's lanes (at most :data:`MAX_LANES`).
    """
    order = sorted(range(len(requests)), key=lambda i: requests[i].urlident)
    hosts = [list(group) for _, group in groupby(order, key=lambda i: requests[i].urlident)]

    def lane(indexes: list[int]) -> list[tuple[int, Outcome]]:
        return [(i, requests[i].attempt()) for i in indexes]

    outcomes = dict(item for result in _executor().map(lane, hosts) for item in result)
    return [outcomes[i] for i in range(len(requests))]
