"""A throwaway PostgreSQL server for the test session.

:class:`PostgresServer` creates a cluster in a temporary directory with
``initdb``, starts it with ``pg_ctl`` on a free loopback port and removes it
all again on :meth:`~PostgresServer.stop`.  The PostgreSQL binaries refuse to
run as root, so when the tests run as root they run as the ``postgres`` user
(through ``runuser``).  Every wait has a deadline, and the server is killed by
its PID if ``pg_ctl stop`` does not bring it down.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from t.services import Service, free_loopback_port

#: The user the binaries run as when we are root, and the database superuser.
POSTGRES_USER = "postgres"
#: Where Debian-style installs keep the binaries when they are not on PATH.
FALLBACK_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def find_binary(name: str) -> str:
    """Return the path of the PostgreSQL program *name*.

    Looks on ``PATH`` first, then in ``/usr/lib/postgresql/*/bin`` (newest
    major version first).
    """
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(os.path.join(FALLBACK_BIN_GLOB, name)),
        key=lambda path: _major_version(Path(path).parent.parent.name),
        reverse=True,
    )
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"PostgreSQL program {name!r} not found on PATH or in {FALLBACK_BIN_GLOB}")


def _major_version(name: str) -> int:
    return int(name) if name.isdigit() else -1


class PostgresServer(Service):
    """A PostgreSQL cluster of its own, listening on 127.0.0.1 only.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with PostgresServer() as server:
            psycopg.connect(host=server.host, port=server.port, user=server.user)

    Authentication is ``trust`` and durability is switched off (``fsync``,
    ``synchronous_commit``, ``full_page_writes``): this is for tests only.
    """

    host = "127.0.0.1"
    user = POSTGRES_USER

    def __init__(self, start_timeout: float = 30.0, stop_timeout: float = 20.0) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self.pid: int | None = None
        self._tmpdir: Path | None = None

    # -- paths ---------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The temporary directory holding the cluster, its socket and its log."""
        if self._tmpdir is None:
            raise RuntimeError("the server is not started")
        return self._tmpdir

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "socket"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    # -- life cycle ----------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster, start the server and wait until it accepts connections."""
        if self._tmpdir is not None:
            raise RuntimeError("the server is already started")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="thorn-pg-"))
        try:
            self._make_directories()
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                timeout=self.start_timeout * 2,
                what="initdb",
            )
            self.port = free_loopback_port()
            options = (
                f"-c listen_addresses={self.host} -p {self.port} -k {self.socket_dir}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "start",
                timeout=self.start_timeout + 10,
                what="pg_ctl start",
            )
            self.pid = self._read_pid()
            self._wait_until_accepting(time.monotonic() + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop``, then by PID) and remove its directory.

        Safe to call more than once, and after a failed :meth:`start`.
        """
        if self._tmpdir is None:
            return
        try:
            if self.pid is None:
                # start() failed after pg_ctl launched the postmaster, perhaps.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    self.pid = self._read_pid()
            if self.pid is not None:
                with contextlib.suppress(RuntimeError):  # killed by PID below
                    self._run(
                        "pg_ctl",
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(int(self.stop_timeout)),
                        "stop",
                        timeout=self.stop_timeout + 10,
                        what="pg_ctl stop",
                    )
                self._kill(self.pid)
        finally:
            self.pid = None
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    # -- helpers -------------------------------------------------------------

    def _make_directories(self) -> None:
        # mkdtemp makes the directory 0700 and owned by us.  As root, hand it
        # to the postgres user, which creates the data directory, the socket
        # and the log in it; /tmp itself is world-traversable.
        self.socket_dir.mkdir()
        paths = [self.directory, self.socket_dir]
        for path in paths:
            path.chmod(0o700)
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, user=POSTGRES_USER, group=POSTGRES_USER)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [find_binary(program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        return command

    def _run(self, program: str, *args: str, timeout: float, what: str) -> str:
        """Run a PostgreSQL program and return its output; RuntimeError if it fails."""
        command = self._command(program, *args)
        # Keep the caller's PG* variables (PGDATA, PGPORT...) out of the way,
        # and run from a directory the postgres user can enter.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        try:
            result = subprocess.run(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output or ""
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
            raise RuntimeError(
                f"{what} did not finish within {timeout:g}s: {command}\n{output}{self._log_tail()}"
            ) from exc
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed with exit status {result.returncode}: {command}\n"
                f"{result.stdout}{self._log_tail()}"
            )
        return result.stdout

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- {self.log_file} (tail) ---\n{tail}\n" if tail else ""

    def _read_pid(self) -> int:
        """The postmaster's PID: the first line of ``postmaster.pid``."""
        first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first_line.strip())

    def _wait_until_accepting(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(
                    host=self.host,
                    port=self.port,
                    user=self.user,
                    dbname="postgres",
                    connect_timeout=2,
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise RuntimeError(
            f"PostgreSQL on {self.host}:{self.port} did not accept connections "
            f"within {self.start_timeout:g}s: {last_error}{self._log_tail()}"
        )

    def _is_our_postmaster(self, pid: int) -> bool:
        """Whether *pid* is still alive and still this cluster's postmaster."""
        proc = Path("/proc") / str(pid)
        if proc.parent.is_dir():
            try:
                status = (proc / "stat").read_text()
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                return False
            # The state follows the parenthesised command name; Z is a zombie.
            if status.rpartition(")")[2].split()[0] == "Z":
                return False
            # Guard against the PID having been reused by another process.
            return str(self.data_dir).encode() in cmdline
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _kill(self, pid: int) -> None:
        """SIGTERM, then SIGKILL the postmaster if it is still alive."""
        for sig, grace in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 5.0)):
            if not self._is_our_postmaster(pid):
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not self._is_our_postmaster(pid):
                    return
                time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL postmaster (PID {pid}) survived SIGKILL")
