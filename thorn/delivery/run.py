"""Attempts: one delivery through a transport, or a whole fan-out at once.

:func:`attempt_all` makes the deliveries of a fan-out concurrently: at most
``per_host`` at once to one host (scheme, host and port), fewer to a host
that answers fast, each lane of a host over one kept-alive connection, and
at most ``THORN_MAX_CONNECTIONS`` at once in the process (a pool of
threads, or of greenlets under gevent).  The whole fan-out ends within the
timeout of its deliveries: a delivery that waits for a lane has less time
left, and one whose time is up fails as a timeout, to be retried.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
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

__all__ = ["attempt", "attempt_all", "executor", "lanes_for"]

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


#: Seconds of work a lane gets before a host's deliveries are split into
#: more lanes: a host that answers fast is served by one lane (without
#: handing work to other threads), a slow one by up to ``per_host``.
LANE_WORK = 0.02
#: Hosts whose latency is remembered, at most (then it is forgotten).
HOSTS = 10_000

_Host = tuple[str, str, int]
_latency: dict[_Host, float] = {}


def lanes_for(host: _Host, count: int, per_host: int) -> int:
    """How many lanes ``count`` deliveries to ``host`` start with: as few as its latency allows.

    A host never seen starts with ``per_host`` (or ``count``) lanes.
    """
    latency = _latency.get(host)
    if latency is None:
        return min(per_host, count)
    return max(1, min(per_host, count, math.ceil(count * latency / LANE_WORK)))


def _observe(host: _Host, latency: float) -> None:
    """Remember the latency of an attempt to ``host`` (a moving average)."""
    if len(_latency) >= HOSTS and host not in _latency:
        _latency.clear()
    previous = _latency.get(host)
    _latency[host] = latency if previous is None else 0.7 * previous + 0.3 * latency


class _FanOut:
    """The deliveries of one fan-out, by host, and the lanes that make them."""

    def __init__(
        self, requests: list[Request], transport: BaseTransport, per_host: int, pool: Executor
    ) -> None:
        self.requests = requests
        self.transport = transport
        self.per_host = per_host
        self.pool = pool
        self.started = monotonic()
        self.outcomes: dict[int, Outcome] = {}
        self.queues: dict[_Host, deque[int]] = defaultdict(deque)
        self.lanes: dict[_Host, int] = defaultdict(int)
        self.futures: deque[Future[None]] = deque()
        self.lock = threading.Lock()
        for i, request in enumerate(requests):
            self.queues[urlident(request.url)].append(i)

    def run(self) -> list[Outcome]:
        first = None
        for host, queue in self.queues.items():
            count = lanes_for(host, len(queue), self.per_host)
            self.lanes[host] = count
            for _ in range(count):
                if first is None:
                    first = host
                else:
                    self.futures.append(self.pool.submit(self.lane, host))
        if first is not None:
            self.lane(first)  # in this thread
        while True:
            with self.lock:
                if not self.futures:
                    break
                future = self.futures.popleft()
            future.result()
        return [self.outcomes[i] for i in range(len(self.requests))]

    def lane(self, host: _Host) -> None:
        """Make deliveries to ``host`` one after another; add lanes when they are slow."""
        queue = self.queues[host]
        while True:
            with self.lock:
                if not queue:
                    self.lanes[host] -= 1
                    return
                i = queue.popleft()
            request = self.requests[i]
            outcome = attempt(request, self.transport, self.started + request.timeout)
            _observe(host, outcome.latency)
            self.outcomes[i] = outcome
            if outcome.latency > LANE_WORK:
                self.grow(host)

    def grow(self, host: _Host) -> None:
        """Start as many more lanes to ``host`` as it has deliveries waiting (up to per_host)."""
        with self.lock:
            more = min(self.per_host - self.lanes[host], len(self.queues[host]))
            if more <= 0:
                return
            self.lanes[host] += more
            for _ in range(more):
                self.futures.append(self.pool.submit(self.lane, host))


def attempt_all(
    requests: list[Request], transport: BaseTransport, *, per_host: int, pool: Executor
) -> list[Outcome]:
    """Attempt every request once, concurrently; return their outcomes in order.

    The requests of one host are made by lanes, each one request after
    another: a host starts with as many lanes as its recent latency calls
    for (see :func:`lanes_for`), and gets more, up to ``per_host``, as soon
    as one of its deliveries is slow.  The lanes of every host run at once,
    as far as ``pool`` allows, the first in this thread.  Every request
    must be over by the time the first one started plus its timeout.

    Arguments:
        requests: The deliveries.
        transport: What sends them.
        per_host: Requests to one host at once, at most.
        pool: The threads that run the lanes (see :func:`executor`).
    """
    return _FanOut(requests, transport, per_host, pool).run()
