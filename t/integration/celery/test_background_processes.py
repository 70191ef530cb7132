"""The background dispatcher in real processes: gunicorn workers, exit, fork, kill -9.

Web processes deliver on their background threads after the commit; what a
process could not deliver (it exited, it was killed) is left in the outbox
and the delivery records, and the relay (``manage.py thorn relay --once``,
a process of its own) delivers it.  PostgreSQL only: the processes share
the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from thorn.django.models import DeliveryRecord, MessageRecord

from t.integration.celery.conftest import EnvFactory
from t.integration.celery.test_durability import run_django, subscribe, wait_for
from t.receiver import Answer, Receiver
from t.services import ROOT, free_loopback_port, serves_the_test_project, stop_process

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

#: Settings of the web processes: the background dispatcher, short leases.
BACKGROUND = {
    "THORN_DISPATCHER": "background",
    "THORN_DELIVERY_LEASE": 2.0,
    "THORN_RELAY_AFTER": 1.0,
}
#: Seconds to wait for a process or a delivery, at most.
DEADLINE = 30.0


def relay(process_env: EnvFactory) -> None:
    """One pass of the relay, in a process of its own (leases and relay delays of 0)."""
    env = process_env({**BACKGROUND, "THORN_RELAY_AFTER": 0})
    run_django(env, "thorn", "relay", "--once")


def titles(receiver: Receiver, path: str) -> Counter[str]:
    return Counter(r.json()["data"]["title"] for r in receiver.for_path(path))


# -- a process's exit ------------------------------------------------------------------------


def test_exit_waits_for_the_queued_deliveries(process_env: EnvFactory, receiver: Receiver) -> None:
    """A process that saves and exits at once: its deliveries are made (and recorded) first."""
    receiver.answer("/exit", Answer(delay=0.5))
    subscribe(receiver, "article.created", "/exit")
    code = """
from t.proj.blog.models import Article
for i in range(3):
    Article.objects.create(title=f"exit {i}")
"""
    run_django(process_env(BACKGROUND), code=code)

    assert Counter({"exit 0": 1, "exit 1": 1, "exit 2": 1}) == titles(receiver, "/exit")
    states = DeliveryRecord.objects.filter(event="article.created").values_list("state", flat=True)
    assert ["succeeded"] * 3 == list(states)


def test_what_the_drain_leaves_is_relayed(process_env: EnvFactory, receiver: Receiver) -> None:
    """THORN_BACKGROUND_DRAIN = 0.2, a receiver answering after 3 s: the relay delivers it again."""
    receiver.answer("/late", Answer(delay=3.0), Answer())
    subscribe(receiver, "article.created", "/late")
    code = """
from t.proj.blog.models import Article
Article.objects.create(title="late")
"""
    result = run_django(process_env({**BACKGROUND, "THORN_BACKGROUND_DRAIN": 0.2}), code=code)

    assert "were not done at exit: the relay will make them" in result.stderr
    [record] = DeliveryRecord.objects.filter(event="article.created")
    assert "pending" == record.state  # taken, never answered
    wait_for(lambda: _lease_over(record), "the lease to end")
    relay(process_env)
    received = receiver.wait_for_path("/late", 2)
    assert {str(record.id)} == {r.header("Hook-Delivery") for r in received}
    record.refresh_from_db()
    assert "succeeded" == record.state


def _lease_over(record: DeliveryRecord) -> bool:
    from django.utils import timezone

    record.refresh_from_db()
    return record.locked_until is None or record.locked_until <= timezone.now()


def test_kill_9_while_delivering_loses_nothing(process_env: EnvFactory, receiver: Receiver) -> None:
    """kill -9 of a web process whose thread waits for the receiver: the relay delivers it."""
    receiver.answer("/killed", Answer(delay=DEADLINE), Answer())
    subscribe(receiver, "article.created", "/killed")
    code = """
import time
from t.proj.blog.models import Article
Article.objects.create(title="killed")
time.sleep(60)
"""
    process = subprocess.Popen(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env=process_env(BACKGROUND),
    )
    try:
        receiver.wait_for_path("/killed", timeout=DEADLINE)
        os.kill(process.pid, signal.SIGKILL)
        assert -signal.SIGKILL == process.wait(DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE)

    [record] = DeliveryRecord.objects.filter(event="article.created")
    wait_for(lambda: _lease_over(record), "the lease to end")
    relay(process_env)
    received = receiver.wait_for_path("/killed", 2)
    assert {str(record.id)} == {r.header("Hook-Delivery") for r in received}
    record.refresh_from_db()
    # The killed attempt never ended, so it was never recorded.
    assert ("succeeded", 1) == (record.state, record.attempts)


def test_a_forked_child_starts_its_own_threads(process_env: EnvFactory, receiver: Receiver) -> None:
    """The parent delivers, forks; the child's save() is delivered by the child's own threads."""
    subscribe(receiver, "article.created", "/fork")
    code = """
import os
from django.db import connections
from thorn.dispatch import background
from t.proj.blog.models import Article
Article.objects.create(title="parent before")
assert background._pool.drain(10)
connections.close_all()
pid = os.fork()
if pid == 0:
    Article.objects.create(title="child")
    ok = background._pool.drain(10)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
Article.objects.create(title="parent after")
"""
    run_django(process_env(BACKGROUND), code=code)

    expected = Counter({"parent before": 1, "child": 1, "parent after": 1})
    assert expected == titles(receiver, "/fork")


# -- gunicorn --------------------------------------------------------------------------------


@pytest.fixture
def gunicorn(process_env: EnvFactory) -> Iterator[Any]:
    """Start gunicorn serving the test project; stopped (SIGTERM, then kill) after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> str:
        port = free_loopback_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--preload",
                "--graceful-timeout",
                "10",
                *options,
                "t.proj.wsgi",
            ],
            cwd=ROOT,
            env=process_env(BACKGROUND),
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: serves_the_test_project(url), "gunicorn to answer", timeout=DEADLINE)
        return url

    start.processes = processes  # type: ignore[attr-defined]
    yield start
    for process in processes:
        stop_process(process, DEADLINE)


def post(url: str, title: str) -> float:
    """POST an article; return how long the response took."""
    started = time.monotonic()
    response = requests.post(f"{url}/articles/", data=title.encode(), timeout=DEADLINE)
    assert 201 == response.status_code
    return time.monotonic() - started


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(("--worker-class", "sync", "--workers", "2"), id="sync"),
        pytest.param(
            ("--worker-class", "gthread", "--workers", "2", "--threads", "4"), id="gthread"
        ),
    ],
)
def test_gunicorn_workers_answer_at_once_and_deliver_every_event(
    gunicorn: Any, receiver: Receiver, options: tuple[str, ...]
) -> None:
    """Workers forked after the app loaded: every save() answers before its 1 s delivery ends.

    Then SIGTERM: the workers drain on their way out, and every event was
    delivered exactly once.
    """
    receiver.answer("/gunicorn", Answer(delay=1.0))
    subscribe(receiver, "article.created", "/gunicorn")
    url = gunicorn(*options)

    took = [post(url, f"g{i}") for i in range(8)]

    assert max(took) < 1.0, took
    [process] = gunicorn.processes
    process.send_signal(signal.SIGTERM)
    assert 0 == process.wait(DEADLINE)
    assert Counter({f"g{i}": 1 for i in range(8)}) == titles(receiver, "/gunicorn")
    assert not MessageRecord.objects.filter(planned_at__isnull=True).exists()
    states = set(DeliveryRecord.objects.values_list("state", flat=True))
    assert {"succeeded"} == states
