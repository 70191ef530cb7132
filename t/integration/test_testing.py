"""thorn.testing: capture_webhooks, MockTransport and the captured_webhooks fixture."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from thorn import Event
from thorn.exceptions import DeliveryError, DeliveryTimeout, HTTPStatusError, SecurityError
from thorn.testing import MockResponse, MockTransport, capture_webhooks
from thorn.transport import HTTPRequest, Transport
from thorn.utils.hmac import compat_verify
from thorn.validators import block_internal_ips

from t.receiver import Receiver

SECRET = "testing-secret-0123456789"


def subscriber(url: str) -> dict[str, str]:
    return {"url": url, "hmac_secret": SECRET}


class TestCaptureWebhooks:
    def test_captures_instead_of_sending(self, app, receiver: Receiver):
        """Captured deliveries are signed as they would be, and nothing reaches the receiver."""
        url = receiver.url("/hook")
        event = Event("article.created", app=app, subscribers=[subscriber(url)])

        with capture_webhooks(app) as webhooks:
            event.send({"title": "Hello"}, headers={"X-Trace": "t-1"})

        [webhook] = webhooks
        assert ("article.created", url) == (webhook.event, webhook.url)
        assert {"title": "Hello"} == webhook.json()
        assert "t-1" == webhook.header("x-trace")
        assert compat_verify(webhook.header("Hook-HMAC"), "sha256", SECRET, webhook.body)
        assert ["article.created"] == webhooks.events
        assert [webhook] == webhooks.for_url(url) == webhooks.for_event("article.created")
        # A real delivery afterwards is the only one the receiver sees.
        event.send({"title": "After"})
        [received] = receiver.wait_for(1)
        assert b'{"title": "After"}' == received.body

    def test_answer_makes_deliveries_fail(self, app):
        """``answer`` decides the status: a 503 reaches on_error as an HTTPStatusError."""
        errors: list[Any] = []
        event = Event("article.created", app=app, subscribers=[subscriber("https://x.example/")])

        with capture_webhooks(app, answer=lambda request: 503) as webhooks:
            event.send({}, on_error=lambda request, exc: errors.append(exc))

        assert 1 == len(webhooks)
        [error] = errors
        assert isinstance(error, HTTPStatusError)
        assert 503 == error.response.status_code

    def test_url_checks_still_run(self, make_app):
        """A URL the validators refuse is refused: it is not captured as sent."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[block_internal_ips()])
        errors: list[Any] = []
        event = Event("article.created", app=app, subscribers=[subscriber("http://localhost/")])

        with capture_webhooks(app) as webhooks:
            event.send({}, on_error=lambda request, exc: errors.append(exc))

        assert [] == list(webhooks)
        assert [SecurityError] == [type(error) for error in errors]

    def test_previous_transport_is_back_after_the_block(self, app):
        """The app's own transport is used again once the block ends, even after an error."""
        own = Transport()
        app.transport = own
        with pytest.raises(RuntimeError), capture_webhooks(app):
            assert isinstance(app.transport, MockTransport)
            raise RuntimeError("test")
        assert own is app.transport


class TestMockTransport:
    REQUEST = HTTPRequest(url="https://hooks.example/", body=b"{}", headers={"A": "b"})

    @pytest.mark.parametrize(
        ("answer", "status", "error"),
        [
            pytest.param(None, 200, None, id="none-is-200"),
            pytest.param(204, 204, None, id="status"),
            pytest.param(MockResponse(status=410), 410, HTTPStatusError, id="mock-response"),
        ],
    )
    def test_answers(self, answer, status, error):
        """The handler's answer becomes the outcome: 2xx succeeds, anything else fails."""
        outcome = MockTransport(lambda request: answer).send(self.REQUEST)
        assert status == outcome.status == outcome.response.status_code
        assert error is (type(outcome.error) if outcome.error else None)

    def test_response_headers_and_body(self):
        """Callbacks see a real requests.Response, Retry-After included."""
        answer = MockResponse(status=429, headers={"Retry-After": "30"}, body=b"slow down")
        outcome = MockTransport(lambda request: answer).send(self.REQUEST)
        assert (30.0, "slow down") == (outcome.retry_after, outcome.response.text)
        assert "Too Many Requests" == outcome.response.reason

    def test_raising_handler(self):
        """DeliveryTimeout is a timeout; any other exception a failed delivery."""

        def timeout(request):
            raise DeliveryTimeout("slow", request=request)

        def reset(request):
            raise ConnectionResetError("reset")

        assert MockTransport(timeout).send(self.REQUEST).timed_out
        failed = MockTransport(reset).send(self.REQUEST)
        assert isinstance(failed.error, DeliveryError)
        assert isinstance(failed.error.__cause__, ConnectionResetError)

    def test_handler_sees_the_request(self):
        """The handler gets the request value: URL, body and headers."""
        seen: list[HTTPRequest] = []
        MockTransport(seen.append).send(self.REQUEST)
        assert [self.REQUEST] == seen


def test_captured_webhooks_fixture_comes_with_thorn(tmp_path: Path):
    """Installing thorn gives pytest the captured_webhooks fixture (the pytest11 entry point)."""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            from thorn import Event

            def test_sent(captured_webhooks):
                hook = {"url": "https://shop.example/hook", "hmac_secret": "s"}
                Event("order.placed", subscribers=[hook]).send({"id": 1})
                [webhook] = captured_webhooks
                assert "order.placed" == webhook.event
                assert {"id": 1} == webhook.json()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "1 passed" in result.stdout
