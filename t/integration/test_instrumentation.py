"""Metrics and spans of deliveries, with the real prometheus_client and OpenTelemetry SDK.

Deliveries go over the wire to the loopback receiver, from a framework-free
app.  The metrics are read by scraping the default registry (its text
exposition, parsed back); the spans are read from an in-memory exporter of
a tracer provider that this module sets once for the whole session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from thorn import Event, metrics
from thorn.outcome import Outcome
from thorn.transport import BaseTransport, HTTPRequest

from t.receiver import Answer

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the default registry, as Prometheus would read it."""
    text = generate_latest(REGISTRY).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """The in-memory exporter of the session's tracer provider (set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    span_exporter.clear()
    yield span_exporter
    span_exporter.clear()


def static_app(make_app, receiver, event: str, path: str, *, url: str | None = None):
    """A framework-free app whose ``event`` goes to ``path`` of the receiver."""
    return make_app(THORN_SUBSCRIBERS={event: [url or receiver.url(path)]})


# -- Prometheus --------------------------------------------------------------------------------


def test_attempts_latency_and_outcomes_are_counted(make_app, receiver):
    """A 2xx and a 503 (no retry without records): counted by event, class and outcome."""
    app = static_app(make_app, receiver, "metrics.counted", "/counted")
    receiver.answer("/counted", 200, 503)
    before = scrape()

    Event("metrics.counted", app=app).send({"n": 1})
    Event("metrics.counted", app=app).send({"n": 2})

    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    event = {"event": "metrics.counted"}
    assert 1 == delta("thorn_delivery_attempts_total", **event, status_class="2xx")
    assert 1 == delta("thorn_delivery_attempts_total", **event, status_class="5xx")
    assert 2 == delta("thorn_delivery_attempt_duration_seconds_count", **event)
    assert 0 < delta("thorn_delivery_attempt_duration_seconds_sum", **event) < 6
    assert 1 == delta("thorn_deliveries_total", **event, outcome="succeeded")
    assert 1 == delta("thorn_deliveries_total", **event, outcome="failed")
    assert 0 == delta("thorn_delivery_retries_total", **event)


def test_no_answer_is_the_error_class(make_app, receiver):
    """A connection closed without an answer counts as status_class="error"."""
    app = static_app(make_app, receiver, "metrics.closed", "/closed")
    receiver.answer("/closed", Answer(close=True))
    before = value(
        scrape(), "thorn_delivery_attempts_total", event="metrics.closed", status_class="error"
    )

    Event("metrics.closed", app=app).send({"n": 1})

    after = value(
        scrape(), "thorn_delivery_attempts_total", event="metrics.closed", status_class="error"
    )
    assert 1 == after - before


def test_labels_are_bounded(make_app, receiver):
    """No label value is a URL, a host, a secret or an id, even with credentials in the URL."""
    url = receiver.url("/bounded?token=t0ken").replace("://", "://user:pa55@")
    app = static_app(make_app, receiver, "metrics.bounded", "/bounded", url=url)
    Event("metrics.bounded", app=app).send({"n": 1})

    thorn_labels = {
        value for (name, labels) in scrape() if name.startswith("thorn_") for _, value in labels
    }
    assert thorn_labels
    assert [] == [
        label
        for label in thorn_labels
        if "127.0.0.1" in label or "://" in label or "pa55" in label or UUID.search(label)
    ]


def test_event_labels_past_the_limit_are_other(make_app, receiver, monkeypatch):
    """Past MAX_EVENTS distinct event names, an event is counted as ``other``."""
    monkeypatch.setattr(metrics, "MAX_EVENTS", 1)
    monkeypatch.setattr(metrics, "_events", set())
    app = make_app(
        THORN_SUBSCRIBERS={
            "metrics.first": [receiver.url("/first")],
            "metrics.second": [receiver.url("/second")],
        }
    )
    before = scrape()

    Event("metrics.first", app=app).send({})
    Event("metrics.second", app=app).send({})

    after = scrape()
    name = "thorn_deliveries_total"
    assert 1 == value(after, name, event="metrics.first", outcome="succeeded") - value(
        before, name, event="metrics.first", outcome="succeeded"
    )
    assert 1 == value(after, name, event="other", outcome="succeeded") - value(
        before, name, event="other", outcome="succeeded"
    )
    assert 0 == value(after, name, event="metrics.second", outcome="succeeded")


# -- OpenTelemetry -----------------------------------------------------------------------------


def test_each_attempt_is_a_client_span(make_app, receiver, spans):
    """A span per attempt, named POST, of kind CLIENT, with the HTTP client attributes."""
    app = static_app(make_app, receiver, "traced.ok", "/traced")

    [request] = Event("traced.ok", app=app).send({"n": 1})

    [span] = spans.get_finished_spans()
    assert ("POST", SpanKind.CLIENT) == (span.name, span.kind)
    assert {
        "http.request.method": "POST",
        "url.full": receiver.url("/traced"),
        "url.scheme": "http",
        "server.address": "127.0.0.1",
        "server.port": receiver.port,
        "http.response.status_code": 200,
        "thorn.event": "traced.ok",
        "thorn.delivery.id": request.id,
        "thorn.delivery.attempt": 1,
    } == dict(span.attributes)
    assert StatusCode.UNSET == span.status.status_code
    assert span.end_time > span.start_time


def test_a_failed_attempt_is_an_error_span(make_app, receiver, spans):
    """A 503: error.type is the status, the span's status ERROR."""
    app = static_app(make_app, receiver, "traced.down", "/down")
    receiver.answer("/down", 503)

    Event("traced.down", app=app).send({"n": 1})

    [span] = spans.get_finished_spans()
    assert (503, "503") == (
        span.attributes["http.response.status_code"],
        span.attributes["error.type"],
    )
    assert StatusCode.ERROR == span.status.status_code


def test_no_answer_is_an_error_span_named_by_the_error(make_app, receiver, spans):
    """No answer: no status code, and error.type is the error's qualified class name."""
    app = static_app(make_app, receiver, "traced.closed", "/closed")
    receiver.answer("/closed", Answer(close=True))

    Event("traced.closed", app=app).send({"n": 1})

    [span] = spans.get_finished_spans()
    assert "http.response.status_code" not in span.attributes
    assert span.attributes["error.type"].startswith("thorn.exceptions.")
    assert StatusCode.ERROR == span.status.status_code


def test_the_span_url_has_no_credentials(make_app, receiver, spans):
    url = receiver.url("/creds?token=t0ken").replace("://", "://user:pa55@")
    app = static_app(make_app, receiver, "traced.creds", "/creds", url=url)

    Event("traced.creds", app=app).send({"n": 1})

    [span] = spans.get_finished_spans()
    assert f"http://***@127.0.0.1:{receiver.port}/creds?token=***" == span.attributes["url.full"]


class SpyTransport(BaseTransport):
    """Sends with another transport, noting the span that is current while it sends."""

    def __init__(self, inner: BaseTransport) -> None:
        self.inner = inner
        self.current: list[Any] = []

    def send(self, request: HTTPRequest) -> Outcome:
        self.current.append(trace.get_current_span())
        return self.inner.send(request)


def test_the_span_is_current_while_sending_and_a_child_of_the_callers(make_app, receiver, spans):
    """Inside the caller's span, the attempt's span is its child, and current during the send."""
    app = static_app(make_app, receiver, "traced.child", "/child")
    spy = SpyTransport(app.transport)
    tracer = trace.get_tracer("t")

    with app.use_transport(spy), tracer.start_as_current_span("save") as parent:
        Event("traced.child", app=app).send({"n": 1})

    attempt = next(span for span in spans.get_finished_spans() if span.name == "POST")
    assert parent.get_span_context().span_id == attempt.parent.span_id
    assert [attempt.context.span_id] == [span.get_span_context().span_id for span in spy.current]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached afterwards


# -- without the libraries -----------------------------------------------------------------------

WITHOUT = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("prometheus_client", "opentelemetry"):
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Block())
from thorn import Event, Thorn, instrument
app = Thorn(config={
    "THORN_RECIPIENT_VALIDATORS": [],
    "THORN_SUBSCRIBERS": {"a.b": [{"url": sys.argv[1], "hmac_secret": "s"}]},
})
[request] = Event("a.b", app=app).send({"n": 1})
assert request.outcome.status == 200, request.outcome
assert not instrument.has_metrics() and not instrument.has_tracing()
optional = ("prometheus_client", "opentelemetry", "thorn.metrics", "thorn.tracing")
loaded = [m for m in sys.modules if m.startswith(optional)]
assert not loaded, loaded
print("delivered")
"""


def test_without_the_libraries_nothing_is_imported_and_delivery_works(receiver):
    """Neither prometheus_client nor OpenTelemetry: deliveries work, and import none of them."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT, receiver.url("/plain")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert "delivered" in result.stdout
