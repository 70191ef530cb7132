"""Benchmark: what the delivery records cost, per delivery, on SQLite and on PostgreSQL.

Run with ``.venv/bin/python -m bench.records`` (in-memory SQLite), or
``THORN_TEST_DATABASE=postgresql .venv/bin/python -m bench.records`` (a
throwaway PostgreSQL, started and stopped here); record the results in
bench/README.rst.

200 events, each to the same 10 subscriptions on one loopback receiver,
through the default dispatcher, outside a transaction (each event is
written to the outbox, then delivered at once).  The same run is timed
with every delivery recorded (``THORN_DELIVERY_RECORDS = "all"``), with
failures only (``"failed"``), and with a store that keeps nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t.proj.settings")

import django

EVENTS = 200
SUBSCRIBERS = 10


@contextlib.contextmanager
def database() -> Iterator[str]:
    """The database to measure on: SQLite in memory, or a throwaway PostgreSQL."""
    if os.environ.get("THORN_TEST_DATABASE") != "postgresql":
        django.setup()
        yield "sqlite (in memory)"
        return
    from t.postgres import PostgresServer

    with PostgresServer() as server:
        from django.conf import settings

        settings.DATABASES["default"].update(
            HOST=server.host, PORT=str(server.port), USER=server.user, NAME="postgres"
        )
        django.setup()
        yield "postgresql 15 (local, loopback)"


def measure(label: str, store: object | None, records: str) -> float:
    """Seconds for EVENTS events to SUBSCRIBERS subscribers; print the rate."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from thorn import Event
    from thorn._state import current_app

    app = current_app()
    app.__dict__.pop("store", None)
    if store is not None:
        app.__dict__["store"] = store
    event = Event("bench.sent")
    with override_settings(THORN_DELIVERY_RECORDS=records):
        event.send({"n": -1})  # warm up: connections, caches
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            for n in range(EVENTS):
                requests = event.send({"n": n, "body": "x" * 256})
                if not all(request.outcome.ok for request in requests):
                    raise SystemExit("a delivery failed")
        elapsed = time.perf_counter() - started
    deliveries = EVENTS * SUBSCRIBERS
    print(
        f"{label:<32} {deliveries / elapsed:7,.0f} deliveries/s "
        f"({elapsed / deliveries * 1e6:5,.0f} µs each, "
        f"{len(queries.captured_queries) / EVENTS:.1f} queries per event)"
    )
    app.__dict__.pop("store", None)
    return elapsed


def main() -> None:
    with database() as name:
        from django.core.management import call_command
        from django.test.utils import override_settings

        from thorn.django.models import Subscriber
        from thorn.store import Store

        from t.receiver import Receiver

        call_command("migrate", verbosity=0)
        receiver = Receiver().start()
        try:
            for i in range(SUBSCRIBERS):
                Subscriber.objects.create(event="bench.sent", url=receiver.url(f"/hook/{i}"))
            with override_settings(THORN_RECIPIENT_VALIDATORS=[], DEBUG=False):
                print(f"{EVENTS} events x {SUBSCRIBERS} subscribers, {name}:")
                bare = measure("no records (a Store of nothing)", Store(), "all")
                every = measure('THORN_DELIVERY_RECORDS = "all"', None, "all")
                failed = measure('THORN_DELIVERY_RECORDS = "failed"', None, "failed")
            deliveries = EVENTS * SUBSCRIBERS
            for label, elapsed in (("all", every), ("failed", failed)):
                cost = (elapsed - bare) / deliveries * 1e6
                print(f'records "{label}" cost {cost:,.0f} µs per delivery')
        finally:
            receiver.stop()


if __name__ == "__main__":
    main()
