"""Attempts: one delivery through a transport, or many at once, one lane per host."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from time import monotonic
from typing import TYPE_CHECKING

from thorn import instrument
from thorn.delivery.plan import urlident
from thorn.exceptions import DeliveryError, ThornError
from thorn.outcome import Outcome

if TYPE_CHECKING:
    from thorn.request import Request
    from thorn.transport.base import BaseTransport

__all__ = ["MAX_LANES", "attempt", "attempt_all"]

#: Most deliveries running at once in one process (lanes of all its batches).
MAX_LANES = 64

_lanes_lock = threading.Lock()
_lanes: ThreadPoolExecutor | None = None


def attempt(request: Request, transport: BaseTransport) -> Outcome:
    """Make one attempt of ``request`` and return its outcome; never raises.

    The outcome (and its response) is also kept on the request, and its
    error names the request (``exc.request``), for the callbacks.
    """
    started = monotonic()
    span = instrument.attempt_started(request)
    try:
        outcome = transport.send(request.http_request())
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


def _executor() -> ThreadPoolExecutor:
    # One pool per process, its threads started on demand: they keep their
    # connections alive from one batch to the next.  Under gevent's monkey
    # patching its threads are greenlets.
    global _lanes
    with _lanes_lock:
        if _lanes is None:
            _lanes = ThreadPoolExecutor(max_workers=MAX_LANES, thread_name_prefix="thorn")
        return _lanes


def attempt_all(requests: list[Request], transport: BaseTransport) -> list[Outcome]:
    """Attempt every request once; return their outcomes in order.

    Requests to the same host (scheme, host, port) are sent one after
    another in one lane, over one kept-alive connection; hosts are served
    concurrently, by the process's lanes (at most :data:`MAX_LANES`).
    """
    order = sorted(range(len(requests)), key=lambda i: urlident(requests[i].url))
    hosts = [list(group) for _, group in groupby(order, key=lambda i: urlident(requests[i].url))]

    def lane(indexes: list[int]) -> list[tuple[int, Outcome]]:
        return [(i, attempt(requests[i], transport)) for i in indexes]

    outcomes = dict(item for result in _executor().map(lane, hosts) for item in result)
    return [outcomes[i] for i in range(len(requests))]
