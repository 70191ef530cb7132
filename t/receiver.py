"""A real loopback HTTP receiver that records what thorn delivers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from thorn.utils.hmac import verify


@dataclass
class Received:
    """One request as it arrived over the wire."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        """The JSON body (objects keep the order their keys were sent in)."""
        return json.loads(self.body)

    def assert_signed_for(self, subscriber: Any) -> None:
        """Assert that the delivery names ``subscriber`` and is signed with its secret."""
        assert str(subscriber.uuid) == self.header("Hook-Subscription")
        signature = self.header("Hook-HMAC")
        assert signature
        assert verify(signature, subscriber.hmac_digest, subscriber.hmac_secret, self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False  # close the connection without answering
    trickle: float = 0.0  # seconds between body bytes
    echo: str | None = None  # answer with the value of this query parameter (a challenge)


class Receiver(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server on 127.0.0.1 that records every request.

    Answers are scripted per path with :meth:`answer` (a queue; the last
    answer repeats).  ``connections`` counts accepted TCP connections, and
    ``most_in_flight`` the most requests answered at once.
    """

    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of new connections
    # would wait for SYN retransmits (a second).
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1", ssl_context: Any = None) -> None:
        super().__init__((host, 0), _Handler)
        self.ssl_context = ssl_context
        self.received: list[Received] = []
        self.connections = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._answers: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._lock:
            self.connections += 1
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections dropped by the client are expected in these tests."""

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._answers.clear()
            self.connections = 0
            self.most_in_flight = 0

    def answer(self, path: str, *answers: Answer | int) -> None:
        """Script the answers to requests for ``path``."""
        queue = deque(a if isinstance(a, Answer) else Answer(status=a) for a in answers)
        with self._lock:
            self._answers[path] = queue

    def next_answer(self, path: str) -> Answer:
        with self._lock:
            queue = self._answers.get(path.partition("?")[0])
            if not queue:
                return Answer()
            return queue.popleft() if len(queue) > 1 else queue[0]

    def record(self, received: Received) -> None:
        with self._cond:
            self.received.append(received)
            self._cond.notify_all()

    def started(self) -> None:
        """A request is being answered."""
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def finished(self) -> None:
        """A request was answered."""
        with self._lock:
            self.in_flight -= 1

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait (bounded) until ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.received)

    def wait_for_path(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Wait (bounded) until ``count`` requests arrived at ``path``; return those."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(r.path == path for r in self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return [r for r in self.received if r.path == path]

    def for_path(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def for_path_prefix(self, path: str) -> list[Received]:
        """The requests to ``path``, whatever their query string."""
        with self._lock:
            return [r for r in self.received if r.path.partition("?")[0] == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out without waiting for ACKs
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.started()
        try:
            self._answer()
        finally:
            self.server.finished()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.record(
            Received(
                method=self.command,
                path=self.path,
                headers=dict(self.headers.items()),
                body=body,
                connection=self.client_address[1],
            )
        )
        answer = self.server.next_answer(self.path)
        if answer.delay:
            self.server._stopping.wait(answer.delay)
        if answer.close:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = answer.body
        if answer.echo is not None:
            query = parse_qs(urlsplit(self.path).query)
            body = query.get(answer.echo, [""])[0].encode()
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if answer.trickle:
            for byte in body:
                if self.server._stopping.wait(answer.trickle):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        else:
            self.wfile.write(body)

    do_PUT = do_GET = do_POST
