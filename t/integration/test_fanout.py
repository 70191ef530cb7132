"""Concurrent fan-out: every delivery of an event at once, bounded per host and by the timeout.

Over the wire: the loopback receiver, and listening sockets that accept
connections and never answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from thorn.delivery import run
from thorn.events import Event
from thorn.exceptions import DeliveryTimeout

from t.receiver import Answer, Receiver

#: Seconds the slow receivers take, and events may take.
TIMEOUT = 1.0


@pytest.fixture(autouse=True)
def hosts_never_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The latency of no host is known: each starts with THORN_MAX_CONNECTIONS_PER_HOST lanes."""
    monkeypatch.setattr(run, "_latency", {})


@pytest.fixture
def silent_hosts() -> Iterator[list[str]]:
    """Ten listening sockets (ten hosts, by port) that accept connections and never answer."""
    sockets = []
    for _ in range(10):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes the handshakes; nobody reads
        sockets.append(listener)
    yield [f"http://127.0.0.1:{s.getsockname()[1]}/hook" for s in sockets]
    for listener in sockets:
        listener.close()


def subscribers(urls: list[str]) -> list[dict[str, str]]:
    return [{"url": url} for url in urls]


def send(app: Any, urls: list[str], timeout: float = TIMEOUT) -> tuple[float, list[Any]]:
    """Send one event to ``urls``; return how long send() took and its requests."""
    started = time.monotonic()
    requests = Event("fan.out", app=app, subscribers=subscribers(urls), timeout=timeout).send(
        {"n": 1}
    )
    return time.monotonic() - started, requests


def test_ten_silent_hosts_take_one_timeout_not_ten(make_app: Any, silent_hosts: list[str]) -> None:
    """Ten subscribers that never answer: send() takes about one timeout, and each times out."""
    took, requests = send(make_app(), silent_hosts)

    assert TIMEOUT * 0.9 < took < TIMEOUT * 2, f"{took:.2f}s"
    assert 10 == len(requests)
    assert all(isinstance(r.outcome.error, DeliveryTimeout) for r in requests)


def test_one_silent_host_with_ten_subscribers_takes_one_timeout(
    make_app: Any, silent_hosts: list[str]
) -> None:
    """Ten subscriptions of one never-answering host: ten lanes, one timeout."""
    host = silent_hosts[0]
    took, requests = send(make_app(), [f"{host}?{i}" for i in range(10)])

    assert took < TIMEOUT * 2, f"{took:.2f}s"
    assert all(isinstance(r.outcome.error, DeliveryTimeout) for r in requests)


def test_one_host_gets_at_most_its_limit_at_once(make_app: Any, receiver: Receiver) -> None:
    """12 subscribers of one host, THORN_MAX_CONNECTIONS_PER_HOST = 4: four at once, each
    lane over one kept-alive connection, all delivered in three rounds."""
    receiver.answer("/slow", Answer(delay=0.3))
    app = make_app(THORN_MAX_CONNECTIONS_PER_HOST=4)

    took, requests = send(app, [receiver.url(f"/slow?{i}") for i in range(12)], timeout=5)

    assert 12 == len(receiver.received)
    assert all(r.response is not None and r.response.status_code == 200 for r in requests)
    assert 4 == receiver.most_in_flight
    assert 4 == receiver.connections
    assert took < 12 * 0.3 / 2, f"{took:.2f}s"  # three rounds of 0.3s, not twelve


def test_the_default_limit_is_ten_per_host(make_app: Any, receiver: Receiver) -> None:
    receiver.answer("/slow", Answer(delay=0.5))

    send(make_app(), [receiver.url(f"/slow?{i}") for i in range(20)], timeout=5)

    assert 10 == receiver.most_in_flight


def test_the_whole_fan_out_ends_within_its_timeout(make_app: Any, receiver: Receiver) -> None:
    """30 deliveries of 0.4 s to one host, 10 at once, timeout 1 s: the third round is cut short.

    The fan-out ends about one timeout after it started: 20 delivered (or
    fewer, when the machine is loaded), the rest timed out (to be retried),
    none longer than the timeout allows.
    """
    receiver.answer("/slow", Answer(delay=0.4))

    took, requests = send(make_app(), [receiver.url(f"/slow?{i}") for i in range(30)])

    assert took < TIMEOUT + 0.5, f"{took:.2f}s"
    delivered = [r for r in requests if r.response is not None and r.response.ok]
    timed_out = [r for r in requests if isinstance(r.outcome.error, DeliveryTimeout)]
    assert 30 == len(delivered) + len(timed_out)
    # Two rounds fit in the timeout, the third never does; on a loaded
    # machine (CI shares two cores) the second may end a little too late.
    assert 10 <= len(delivered) <= 20, len(delivered)


def test_hosts_do_not_wait_for_each_other(
    make_app: Any, receiver: Receiver, silent_hosts: list[str]
) -> None:
    """A silent host and a fast one in the same event: the fast one is delivered at once."""
    app = make_app()
    urls = [*silent_hosts[:3], receiver.url("/fast")]

    took, requests = send(app, urls)

    [fast] = [r for r in requests if r.url.endswith("/fast")]
    assert fast.response is not None and fast.response.ok
    assert fast.outcome.latency < TIMEOUT / 2
    assert took < TIMEOUT * 2


def test_a_host_that_answers_fast_is_served_by_one_lane(
    make_app: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that answered fast: ten deliveries to it go one after another, on one connection.

    (A second of work per lane, so that a slow moment of the machine does
    not count as a slow host.)
    """
    monkeypatch.setattr(run, "LANE_WORK", 1.0)
    app = make_app()
    send(app, [receiver.url("/warm")])
    receiver.reset()

    send(app, [receiver.url(f"/fast?{i}") for i in range(10)])

    assert 10 == len(receiver.received)
    assert 1 == receiver.most_in_flight
    # Over the connection the first delivery opened, kept alive.
    assert 0 == receiver.connections
    assert 1 == len({r.connection for r in receiver.received})


@pytest.mark.parametrize(
    ("latency", "count", "lanes"),
    [
        pytest.param(None, 30, 10, id="never-seen"),
        pytest.param(None, 3, 3, id="never-seen-few"),
        pytest.param(0.0005, 10, 1, id="fast"),
        pytest.param(0.005, 10, 3, id="a-little-slow"),
        pytest.param(0.05, 30, 10, id="slow"),
    ],
)
def test_lanes_for(latency: float | None, count: int, lanes: int) -> None:
    """Lanes a host starts with: enough for 20 ms of work each, at most the limit."""
    host = ("http", "example.com", 80)
    if latency is not None:
        run._latency[host] = latency

    assert lanes == run.lanes_for(host, count, per_host=10)


def test_a_fast_host_turning_slow_gets_more_lanes_at_once(
    make_app: Any, receiver: Receiver
) -> None:
    """A host known to be fast answers after 0.3 s: after its first slow answer, the rest of
    its deliveries are made THORN_MAX_CONNECTIONS_PER_HOST at a time."""
    app = make_app(THORN_MAX_CONNECTIONS_PER_HOST=4)
    send(app, [receiver.url("/warm")])
    receiver.reset()
    receiver.answer("/slow", Answer(delay=0.3))

    took, requests = send(app, [receiver.url(f"/slow?{i}") for i in range(9)], timeout=5)

    assert all(r.response is not None and r.response.ok for r in requests)
    assert 4 == receiver.most_in_flight
    assert took < 9 * 0.3 / 2, f"{took:.2f}s"  # 0.3 s alone, then two rounds of four
