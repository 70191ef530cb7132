"""Optional instrumentation of deliveries: Prometheus metrics and OpenTelemetry spans.

With ``prometheus_client`` installed (``pip install "thorn[prometheus]"``),
:mod:`thorn.metrics` counts deliveries in Prometheus's default registry;
with ``opentelemetry-api`` (``pip install "thorn[otel]"``),
:mod:`thorn.tracing` makes a span of each attempt.  Without them nothing is
imported and nothing is done: each hook below costs a function call and a
cached test.

The delivery engine calls three hooks, each from one place:

* :func:`attempt_started` and :func:`attempt_ended` around the transport's
  send of one attempt (:func:`thorn.delivery.run.attempt`): the span;
* :func:`judged` where the outcome of an attempt is judged
  (:func:`thorn.delivery.policy.judge`): the counters and the latency;
* :func:`subscription_disabled` where the store disables a subscription.

.. versionadded:: 2.0
"""

from __future__ import annotations

import functools
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thorn.delivery.policy import Verdict
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = [
    "attempt_ended",
    "attempt_started",
    "has_metrics",
    "has_tracing",
    "judged",
    "setup",
    "subscription_disabled",
]


@functools.cache
def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package is missing, or half-imported
        return False


def has_metrics() -> bool:
    """True when ``prometheus_client`` is installed: :mod:`thorn.metrics` counts deliveries."""
    return _installed("prometheus_client")


def has_tracing() -> bool:
    """True when ``opentelemetry-api`` is installed: :mod:`thorn.tracing` makes spans."""
    return _installed("opentelemetry.trace")


def setup() -> None:
    """Register the metrics now, when ``prometheus_client`` is installed (they show at 0).

    Thorn's Django app calls it when Django starts; otherwise the metrics
    are registered by the first delivery.
    """
    if has_metrics():
        import thorn.metrics  # noqa: F401  (importing it registers the metrics)


def attempt_started(request: Request) -> Any:
    """An attempt of ``request`` starts: its span, or ``None``."""
    if not has_tracing():
        return None
    from thorn import tracing

    return tracing.start(request)


def attempt_ended(started: Any, outcome: Outcome) -> None:
    """The attempt that :func:`attempt_started` started ended in ``outcome``."""
    if started is None:
        return
    from thorn import tracing

    tracing.end(started, outcome)


def judged(request: Request, outcome: Outcome, verdict: Verdict) -> None:
    """The outcome of an attempt was judged: count it."""
    if not has_metrics():
        return
    from thorn import metrics

    metrics.judged(request, outcome, verdict)


def subscription_disabled(cause: str) -> None:
    """Thorn disabled a subscription, because of ``cause`` (``gone``, ``failing``, ``manual``)."""
    if not has_metrics():
        return
    from thorn import metrics

    metrics.disabled(cause)
