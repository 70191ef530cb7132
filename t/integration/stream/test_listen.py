"""``python -m thorn listen`` end to end: a subprocess, a uvicorn site, a loopback receiver."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from thorn.django.models import Subscriber
from thorn.utils.ed25519 import asymmetric_verify

from t.integration.stream.conftest import DEADLINE, Server, verified_status, wait_for
from t.proj.blog.models import Article
from t.receiver import Receiver
from t.services import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Listen:
    """``python -m thorn listen`` in a subprocess; its output lines land in a queue."""

    def __init__(self, *args: str) -> None:
        # A developer's machine: no Django settings at all.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "THORN_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thorn", "listen", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line.rstrip("\n"))

    def line(self, pattern: str) -> re.Match[str]:
        """Wait for the next line matching ``pattern``."""
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {self.output}") from None
            found = re.search(pattern, line)
            if found:
                return found

    def interrupt(self) -> int:
        """Ctrl-C; return the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(DEADLINE)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(DEADLINE)
        self.reader.join(DEADLINE)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listen]]:
    started: list[Listen] = []

    def start(*args: str) -> Listen:
        process = Listen(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def token(alice: Any) -> str:
    key: str = Token.objects.create(user=alice).key
    return key


def test_listen_forwards_signed_events_and_unsubscribes_on_ctrl_c(
    asgi_server: Callable[..., Server],
    listen: Callable[..., Listen],
    receiver: Receiver,
    token: str,
    alice: Any,
) -> None:
    """A temporary stream-only subscription; each event verifies locally; Ctrl-C deletes it."""
    server = asgi_server()
    cli = listen(
        "--site", f"{server.url}/hooks/", "--token", token,
        "--event", "article.*", "--forward-to", receiver.url("/local"),
    )  # fmt: skip
    uuid = cli.line(r"Subscription ([0-9a-f-]{36}) to 'article\.\*' \(temporary")[1]
    secret = cli.line(r"Secret \(hmac_secret\): (\S+)")[1]
    cli.line("Ready")
    subscriber = Subscriber.objects.get(uuid=uuid)
    assert ("stream", "", alice.pk) == (
        subscriber.delivery_mode,
        subscriber.url,
        subscriber.user_id,
    )

    Article.objects.create(title="to my laptop")
    [received] = receiver.wait_for_path("/local", timeout=DEADLINE)
    shown = cli.line(r"article\.created\s+([0-9a-f-]{36})\s+-> (\d+)\s+\(\d+ ms\)")

    assert "to my laptop" == received.json()["data"]["title"]
    assert 204 == verified_status(secret, received.body, received.headers)
    assert (received.header("Hook-Delivery"), "200") == (shown[1], shown[2])
    assert 0 == cli.interrupt()
    assert not Subscriber.objects.filter(uuid=uuid).exists()
    assert any(f"Deleted subscription {uuid}." in line for line in cli.output)


def test_listen_reconnects_with_last_event_id_after_a_drop(
    asgi_server: Callable[..., Server],
    listen: Callable[..., Listen],
    receiver: Receiver,
    token: str,
) -> None:
    """The site goes down and comes back: what was saved meanwhile is forwarded, once."""
    server = asgi_server()
    cli = listen(
        "--site", f"{server.url}/hooks/", "--token", token,
        "--event", "article.*", "--forward-to", receiver.url("/local"),
    )  # fmt: skip
    cli.line("Ready")
    Article.objects.create(title="before")
    receiver.wait_for_path("/local", 1, timeout=DEADLINE)

    server.stop()
    cli.line("reconnecting")
    Article.objects.create(title="while down")
    asgi_server(port=server.port)

    received = receiver.wait_for_path("/local", 2, timeout=DEADLINE)
    assert ["before", "while down"] == [r.json()["data"]["title"] for r in received]
    assert 0 == cli.interrupt()
    assert 2 == len(receiver.for_path("/local"))


def test_listen_reuses_a_subscription_and_prints_json(
    asgi_server: Callable[..., Server], listen: Callable[..., Listen], token: str, alice: Any
) -> None:
    """--subscription keeps the subscription on exit; --print-json prints the events."""
    server = asgi_server()
    subscriber = Subscriber.objects.create(
        event="article.created", user=alice, delivery_mode="stream", url=""
    )
    cli = listen(
        "--site", f"{server.url}/hooks", "--token", token,
        "--subscription", str(subscriber.uuid), "--print-json",
    )  # fmt: skip
    assert subscriber.hmac_secret == cli.line(r"Secret \(hmac_secret\): (\S+)")[1]
    cli.line("Ready")

    Article.objects.create(title="printed")
    printed = json.loads(cli.line(r"^\{.*\}$")[0])

    assert "article.created" == printed["event"]
    assert printed["id"] == printed["headers"]["Hook-Delivery"]
    assert "printed" == json.loads(printed["body"])["data"]["title"]
    body = printed["body"].encode()
    assert 204 == verified_status(subscriber.hmac_secret, body, printed["headers"])
    assert 0 == cli.interrupt()
    wait_for(lambda: Subscriber.objects.filter(uuid=subscriber.uuid).exists(), "the subscription")


def test_listen_prints_the_public_key_of_an_ed25519_subscription(
    asgi_server: Callable[..., Server], listen: Callable[..., Listen], token: str, alice: Any
) -> None:
    """The events of an ed25519 subscription are signed v1a: the public key verifies them."""
    server = asgi_server()
    subscriber = Subscriber.objects.create(
        event="article.created",
        user=alice,
        delivery_mode="stream",
        url="",
        signing_algorithm="ed25519",
    )
    cli = listen(
        "--site", f"{server.url}/hooks", "--token", token,
        "--subscription", str(subscriber.uuid), "--print-json",
    )  # fmt: skip
    public_key = cli.line(r"Public key \(Standard Webhooks v1a\): (\S+)")[1]
    assert subscriber.signing_public_key == public_key
    cli.line("Ready")

    Article.objects.create(title="printed")
    printed = json.loads(cli.line(r"^\{.*\}$")[0])

    headers = {name.lower(): value for name, value in printed["headers"].items()}
    assert headers["webhook-signature"].startswith("v1a,")
    assert asymmetric_verify(
        headers["webhook-signature"],
        public_key,
        headers["webhook-id"],
        headers["webhook-timestamp"],
        printed["body"],
    )
    assert 0 == cli.interrupt()
