"""OpenTelemetry spans of delivery attempts (``pip install "thorn[otel]"``).

Each attempt is a ``CLIENT`` span named ``POST``, current while the request
is sent, that follows OpenTelemetry's semantic conventions for HTTP
clients:

=============================  ==============================================================
Attribute                      Value
=============================  ==============================================================
``http.request.method``        ``POST``
``url.full``                   the URL, its credentials masked (as in log lines)
``url.scheme``                 ``http`` or ``https``
``server.address``             the host
``server.port``                the port
``http.response.status_code``  the status of the answer, if there was one
``error.type``                 the status (``"503"``) of a failed answer, else the error's class
``http.request.resend_count``  the retries made before this attempt (from the second attempt)
``thorn.event``                the event name
``thorn.delivery.id``          the delivery id (``Hook-Delivery``)
``thorn.delivery.attempt``     the number of this attempt
=============================  ==============================================================

A failed attempt's span has the status ``ERROR``.  Spans go to the tracer
provider the application configured (``opentelemetry.trace.set_tracer_provider``);
with the API alone (no SDK), they cost next to nothing.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import opentelemetry.trace
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from thorn._version import __version__
from thorn.delivery.plan import urlident
from thorn.utils.redact import redact_url

if TYPE_CHECKING:
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = ["SPAN_NAME", "end", "error_type", "start", "tracer"]

#: The name of every span (the HTTP method, as the conventions ask without a URL template).
SPAN_NAME = "POST"

#: thorn's tracer (a proxy until the application sets a tracer provider).
tracer = trace.get_tracer("thorn", __version__)


def start(request: Request) -> tuple[opentelemetry.trace.Span, object]:
    """Start the span of an attempt of ``request`` and make it current; return it and its token."""
    scheme, host, port = urlident(request.url)
    attempt = request.delivery.attempt
    attributes: dict[str, Any] = {
        "http.request.method": "POST",
        "url.full": redact_url(request.url),
        "url.scheme": scheme,
        "server.address": host,
        "server.port": port,
        "thorn.event": request.event,
        "thorn.delivery.id": request.id,
        "thorn.delivery.attempt": attempt,
    }
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    span = tracer.start_span(SPAN_NAME, kind=SpanKind.CLIENT, attributes=attributes)
    return span, context.attach(trace.set_span_in_context(span))


def error_type(outcome: Outcome) -> str | None:
    """``error.type``: the status of a 4xx/5xx answer, else the error's qualified class name."""
    if outcome.error is None:
        return None
    if outcome.status is not None and outcome.status >= 400:
        return str(outcome.status)
    cls = type(outcome.error)
    return f"{cls.__module__}.{cls.__qualname__}"


def end(started: tuple[opentelemetry.trace.Span, Any], outcome: Outcome) -> None:
    """End the span :func:`start` returned, with what the attempt came to."""
    span, token = started
    try:
        if outcome.status is not None:
            span.set_attribute("http.response.status_code", outcome.status)
        kind = error_type(outcome)
        if kind is not None:
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR))
    finally:
        span.end()
        context.detach(token)
