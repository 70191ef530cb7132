"""Benchmark: deliveries per second to one loopback receiver, and Q evaluation.

Run with ``.venv/bin/python -m bench.delivery`` from the repository root;
record the results in bench/README.rst.
"""

from __future__ import annotations

import time
import timeit

from thorn import Event, Q, Thorn

from t.receiver import Receiver

DELIVERIES = 1000


def deliveries_per_second(receiver: Receiver, keepalive: bool) -> tuple[float, int]:
    """Send one event to DELIVERIES subscribers on one host; return (rate, connections)."""
    app = Thorn(config={"THORN_RECIPIENT_VALIDATORS": [], "THORN_SUBSCRIBERS_SECRET": "s"})
    subscribers = [receiver.url(f"/hook/{i}") for i in range(DELIVERIES)]
    event = Event("article.created", app=app, subscribers=subscribers, allow_keepalive=keepalive)
    receiver.reset()
    started = time.perf_counter()
    requests = event.send({"title": "Hello", "body": "x" * 512})
    elapsed = time.perf_counter() - started
    if not all(request.outcome and request.outcome.ok for request in requests):
        raise SystemExit("a delivery failed")
    app.transport.close()
    return DELIVERIES / elapsed, receiver.connections


def q_evaluation_ns() -> float:
    """Nanoseconds per evaluation of a three-leaf Q tree."""

    class Article:
        state = "PUBLISHED"
        title = "The Mighty Bear"
        views = 10

    q = (Q(state__eq="PUBLISHED") | Q(state__eq="PREVIEW")) & ~Q(title__startswith="A")
    article = Article()
    runs = 200_000
    return timeit.timeit(lambda: q(article), number=runs) / runs * 1e9


def main() -> None:
    receiver = Receiver().start()
    try:
        for keepalive in (True, False):
            rate, connections = deliveries_per_second(receiver, keepalive)
            print(f"keepalive={keepalive}: {rate:,.0f} deliveries/s, {connections} connections")
    finally:
        receiver.stop()
    print(f"Q evaluation: {q_evaluation_ns():.0f} ns")


if __name__ == "__main__":
    main()
