"""Deadlines: a delivery cannot last longer than its timeout, whatever the receiver does.

Socket timeouts bound each read, so a receiver that trickles one byte at a
time could hold a delivery forever.  A watchdog thread shuts down the socket
of a delivery that passed its deadline, which ends every blocked read.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["POOL_CLASSES", "deadline"]

_current = threading.local()


class _Watchdog:
    """Shuts down the sockets of deliveries whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._cancelled: set[int] = set()
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, when: float, connection: Any) -> int:
        token = next(self._counter)
        with self._cond:
            heapq.heappush(self._heap, (when, token, connection))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="thorn-deadline")
                self._thread.daemon = True
                self._thread.start()
            if self._heap[0][1] == token:
                # The watchdog sleeps until the earliest deadline: it only
                # needs waking when this one is earlier still.
                self._cond.notify()
        return token

    def unwatch(self, token: int) -> None:
        with self._cond:
            self._cancelled.add(token)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, token, connection = self._heap[0]
                if token in self._cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled.discard(token)
                    continue
                wait = when - monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            _shutdown(connection)


def _shutdown(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing left to stop
            sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()


@contextmanager
def deadline(when: float) -> Iterator[None]:
    """Bound the deliveries made in this block (this thread) by ``when``.

    ``when`` is a :func:`time.monotonic` time.
    """
    _current.when = when
    _current.tokens = []
    try:
        yield
    finally:
        for token in _current.tokens:
            _watchdog.unwatch(token)
        _current.when = None
        _current.tokens = []


class _DeadlineMixin:
    timeout: Any

    def connect(self) -> None:
        # Connecting (and the TLS handshake) happens before request(), while
        # there is no socket to shut down yet: bound it by the time left.
        when = getattr(_current, "when", None)
        if when is not None:
            left = when - monotonic()
            if left <= 0:
                raise TimeoutError("delivery deadline passed before connecting")
            current = self.timeout
            self.timeout = min(current, left) if isinstance(current, (int, float)) else left
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        when = getattr(_current, "when", None)
        if when is not None:
            _current.tokens.append(_watchdog.watch(when, self))
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


#: Pool classes whose connections obey :func:`deadline`.
POOL_CLASSES = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}
