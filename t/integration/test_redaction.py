"""No credentials of a subscriber URL in logs, error messages or reprs.

A subscriber URL may carry credentials (``https://user:password@host/``,
``?token=...``).  Deliveries use it as it is; everything thorn shows to
someone else shows it redacted.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from thorn import Event
from thorn.exceptions import SecurityError
from thorn.generic.subscriber import StaticSubscriber
from thorn.validators import block_internal_ips, ensure_port

from t.receiver import Receiver

PASSWORD = "pw-Zq8p3Xs"
TOKEN = "tok-Hj4kW9"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def with_credentials(host_port: str, path: str = "/hook") -> str:
    return f"http://alice:{PASSWORD}@{host_port}{path}?token={TOKEN}&page=2"


def everything_shown(caplog: pytest.LogCaptureFixture, *objects: Any) -> str:
    """Every formatted log record (tracebacks included), and the str and repr of ``objects``."""
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    records = "\n".join(handler.format(record) for record in caplog.records)
    return "\n".join([records, *map(str, objects), *map(repr, objects)])


def assert_redacted(text: str) -> None:
    assert PASSWORD not in text
    assert TOKEN not in text
    assert "token=***" in text
    assert "***@" in text


def send(app: Any, url: str, **options: Any) -> tuple[Any, list[Any]]:
    errors: list[Any] = []
    event = Event("order.placed", app=app, subscribers=[{"url": url, "hmac_secret": "s"}])
    [request] = event.send({"id": 1}, on_error=lambda request, exc: errors.append(exc), **options)
    return request, errors


def test_connection_error_is_logged_without_credentials(app, caplog):
    """A receiver that is down: the ERROR line, the error, repr and describe() hide the secrets."""
    url = with_credentials(f"127.0.0.1:{closed_port()}")

    with caplog.at_level(logging.DEBUG, logger="thorn"):
        request, [error] = send(app, url)

    shown = everything_shown(caplog, error, request, request.describe())
    assert_redacted(shown)
    assert "page=2" in shown
    assert any(record.levelno == logging.ERROR for record in caplog.records)


def test_http_error_is_logged_without_credentials(app, receiver: Receiver, caplog):
    """A 500 answer: the message names the URL, redacted; the delivery used the real one."""
    receiver.answer("/hook", 500)
    url = with_credentials(f"127.0.0.1:{receiver.port}")

    with caplog.at_level(logging.DEBUG, logger="thorn"):
        request, [error] = send(app, url)

    [received] = receiver.received
    assert f"/hook?token={TOKEN}&page=2" == received.path  # sent to the real URL
    assert_redacted(everything_shown(caplog, error, request))


def test_refused_url_is_reported_without_credentials(make_app, caplog):
    """A validator's refusal (SecurityError) does not quote the credentials."""
    app = make_app(THORN_RECIPIENT_VALIDATORS=[block_internal_ips(), ensure_port(443)])

    with caplog.at_level(logging.DEBUG, logger="thorn"):
        request, [error] = send(app, with_credentials("localhost"))

    assert isinstance(error, SecurityError)
    assert_redacted(everything_shown(caplog, error, request))


def test_static_subscriber_repr_hides_credentials():
    """The repr of a subscriber shows neither its secret nor the URL's credentials."""
    subscriber = StaticSubscriber(url=with_credentials("hooks.example"), hmac_secret="s3cr3t")
    assert_redacted(repr(subscriber))
    assert "s3cr3t" not in repr(subscriber)
