"""Attempts: one delivery through a transport, or a whole fan-out at once.

:func:`attempt_all` makes the deliveries of a fan-out concurrently: at most
``per_host`` at once to one host (scheme, host and port), each lane of a
host over one kept-alive connection, and at most
``THORN_MAX_CONNECTIONS`` at once in the process (a pool of threads, or of
greenlets under gevent).  The whole fan-out ends within the timeout of its
deliveries: a delivery that waits for a lane has less time left, and one
whose time is up fails as a timeout, to be retried.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from time import monotonic
from typing import TYPE_CHECKING

from thorn import instrument
from thorn.delivery.plan import urlident
from thorn.exceptions import DeliveryError, ThornError
from thorn.outcome import Outcome

if TYPE_CHECKING:
    from thorn.request import Request
    from thorn.transport.base import BaseTransport

__all__ = ["attempt", "attempt_all", "executor"]

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def executor(size: int) -> ThreadPoolExecutor:
    """The process's pool of delivery threads; ``size`` counts when it is first made.

    Its threads are started on demand and kept: they keep their
    connections alive from one fan-out to the next.  Under gevent's monkey
    patching they are greenlets.
    """
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="thorn")
        return _executor


def attempt(request: Request, transport: BaseTransport, deadline: float | None = None) -> Outcome:
    """Make one attempt of ``request`` and return its outcome; never raises.

    The outcome (and its response) is also kept on the request, and its
    error names the request (``exc.request``), for the callbacks.

    Arguments:
        request: The delivery.
        transport: What sends it.
        deadline: When it must be over (:func:`time.monotonic`), if sooner
            than its timeout.
    """
    started = monotonic()
    span = instrument.attempt_started(request)
    try:
        http = request.http_request()
        if deadline is not None:
            http = replace(http, deadline=deadline)
        outcome = transport.send(http)
    except ThornError as exc:  # the body cannot be encoded for this subscriber
        outcome = Outcome(latency=monotonic() - started, error=exc)
    except Exception as exc:  # a signer, codec or validator bug: this delivery only
        error = DeliveryError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        outcome = Outcome(latency=monotonic() - started, error=error)
    if isinstance(outcome.error, DeliveryError):
        outcome.error.request = request
    request.outcome = outcome
    request.response = outcome.response
    instrument.attempt_ended(span, outcome)
    return outcome


def attempt_all(
    requests: list[Request], transport: BaseTransport, *, per_host: int, pool: ThreadPoolExecutor
) -> list[Outcome]:
    """Attempt every request once, concurrently; return their outcomes in order.

    The requests of one host are split into at most ``per_host`` lanes,
    each made one after another on one thread; every lane of every host
    runs at once, as far as ``pool`` allows.  Every request must be over
    by the time the first one started plus its timeout.

    Arguments:
        requests: The deliveries.
        transport: What sends them.
        per_host: Requests to one host at once, at most.
        pool: The threads that run the lanes (see :func:`executor`).
    """
    if len(requests) <= 1:
        return [attempt(request, transport) for request in requests]
    started = monotonic()
    hosts: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, request in enumerate(requests):
        hosts[urlident(request.url)].append(i)
    lanes = [
        indexes[lane :: min(per_host, len(indexes))]
        for indexes in hosts.values()
        for lane in range(min(per_host, len(indexes)))
    ]

    def run(lane: list[int]) -> list[tuple[int, Outcome]]:
        return [(i, attempt(requests[i], transport, started + requests[i].timeout)) for i in lane]

    outcomes = dict(item for result in pool.map(run, lanes) for item in result)
    return [outcomes[i] for i in range(len(requests))]
