"""Prometheus metrics of deliveries (``pip install "thorn[prometheus]"``).

Registered in ``prometheus_client``'s default registry when this module is
imported (by :func:`thorn.instrument.setup`, which thorn's Django app calls
when Django starts, or by the first delivery), so that whatever exposes
that registry exposes them:

=============================================  =========  ===================================
Metric                                         Type       Labels
=============================================  =========  ===================================
``thorn_delivery_attempts_total``              counter    ``event``, ``status_class``
``thorn_delivery_attempt_duration_seconds``    histogram  ``event``
``thorn_deliveries_total``                     counter    ``event``, ``outcome``
``thorn_delivery_retries_total``               counter    ``event``
``thorn_subscriptions_disabled_total``         counter    ``cause``
``thorn_relay_backlog``                        gauge      ``kind``
=============================================  =========  ===================================

Labels are bounded: ``status_class`` is ``2xx`` ... ``5xx`` or ``error``
(no answer), ``outcome`` ``succeeded`` or ``failed``, ``cause`` ``gone``,
``failing`` or ``manual``, ``kind`` ``messages`` or ``deliveries``, and
``event`` the event name, of which the first :data:`MAX_EVENTS` seen are
labels of their own and any other is ``other``.  No label is ever a URL,
a subscription or a delivery id.

.. versionadded:: 2.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from thorn._state import current_app
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.delivery.policy import Verdict
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = [
    "ATTEMPTS",
    "ATTEMPT_DURATION",
    "BACKLOG",
    "DELIVERIES",
    "DISABLED",
    "MAX_EVENTS",
    "RETRIES",
    "BacklogCollector",
    "disabled",
    "event_label",
    "judged",
    "status_class",
]

logger = get_logger(__name__)

#: Event names that get a label of their own; the others are ``other``.
MAX_EVENTS = 100

#: Every attempt, by the class of its answer.
ATTEMPTS = Counter(
    "thorn_delivery_attempts",
    "Delivery attempts, by event and class of the answer (2xx..5xx, or error: none).",
    ["event", "status_class"],
)
#: How long each attempt took (the transport's latency).
ATTEMPT_DURATION = Histogram(
    "thorn_delivery_attempt_duration_seconds",
    "Seconds each delivery attempt took, by event.",
    ["event"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
#: Deliveries that are over (succeeded, or failed for good).
DELIVERIES = Counter(
    "thorn_deliveries",
    "Deliveries that ended, by event and outcome (succeeded, or failed after the last attempt).",
    ["event", "outcome"],
)
#: Failed attempts whose delivery is attempted again later.
RETRIES = Counter("thorn_delivery_retries", "Retries scheduled, by event.", ["event"])
#: Subscriptions thorn disabled.
DISABLED = Counter(
    "thorn_subscriptions_disabled",
    "Subscriptions disabled, by cause (gone: 410 Gone; failing: THORN_DISABLE_AFTER).",
    ["cause"],
)

_events: set[str] = set()
_events_lock = threading.Lock()


def event_label(event: str) -> str:
    """The ``event`` label of an event name: itself, or ``other`` past :data:`MAX_EVENTS`."""
    if event in _events:
        return event
    with _events_lock:
        if len(_events) < MAX_EVENTS:
            _events.add(event)
            return event
    return "other"


def status_class(outcome: Outcome) -> str:
    """``2xx`` ... ``5xx`` by the answer's status, or ``error`` when there was no answer."""
    return "error" if outcome.status is None else f"{outcome.status // 100}xx"


def judged(request: Request, outcome: Outcome, verdict: Verdict) -> None:
    """Count an attempt, its latency, and what became of its delivery."""
    event = event_label(request.event)
    ATTEMPTS.labels(event, status_class(outcome)).inc()
    ATTEMPT_DURATION.labels(event).observe(outcome.latency)
    if verdict.retrying:
        RETRIES.labels(event).inc()
    else:
        DELIVERIES.labels(event, "succeeded" if outcome.ok else "failed").inc()


def disabled(cause: str) -> None:
    """Count a subscription disabled because of ``cause``."""
    DISABLED.labels(cause).inc()


class BacklogCollector(Collector):
    """``thorn_relay_backlog``: what the relay would hand over now, counted at each scrape.

    Two ``COUNT`` queries on partial indexes (see
    :meth:`thorn.store.Store.backlog`), through the current app's store;
    no sample when it keeps no records or its database cannot be read.
    In ``prometheus_client``'s multiprocess mode, register one on the
    registry that serves the scrapes: ``registry.register(BacklogCollector())``.
    """

    name = "thorn_relay_backlog"
    documentation = (
        "What the relay would hand over now: messages never handed over, due deliveries."
    )

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=["kind"])

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            backlog = current_app().store.backlog()
        except Exception:  # no database here, or not now: no sample, the scrape goes on
            logger.debug("thorn_relay_backlog: the backlog could not be counted", exc_info=True)
            backlog = None
        if backlog is not None:
            family.add_metric(["messages"], backlog.messages)
            family.add_metric(["deliveries"], backlog.deliveries)
        yield family


#: The collector of ``thorn_relay_backlog``, in the default registry.
BACKLOG = BacklogCollector()
REGISTRY.register(BACKLOG)
