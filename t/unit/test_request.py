"""Tests for thorn.request, thorn.outcome and thorn.retry (no network)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import standardwebhooks
import time_machine

import thorn
from thorn.app import Thorn
from thorn.conf import STANDARD_RETRY_SCHEDULE
from thorn.delivery.policy import RetryPolicy
from thorn.exceptions import (
    DeliveryError,
    DeliveryTimeout,
    HTTPStatusError,
    ImproperlyConfigured,
    SecurityError,
)
from thorn.generic.subscriber import StaticSubscriber
from thorn.outcome import Outcome, parse_retry_after
from thorn.request import Request, urlident
from thorn.utils.hmac import compat_verify, signing_secret, standard_verify, verify
from thorn.validators import ensure_port

SECRET = "very-secret-value-0123456789"


def make_subscriber(url: str = "https://example.com/hook", **fields: Any) -> StaticSubscriber:
    return StaticSubscriber(url=url, event="article.created", hmac_secret=SECRET, **fields)


def make_request(app: Thorn, data: Any = None, **kwargs: Any) -> Request:
    data = {"title": "Hello"} if data is None else data
    return Request("article.created", data, None, make_subscriber(), app=app, **kwargs)


class TestUrlident:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param("https://example.com/x", ("https", "example.com", 443), id="https"),
            pytest.param("http://example.com/x", ("http", "example.com", 80), id="http"),
            pytest.param("https://example.com:8443/", ("https", "example.com", 8443), id="port"),
            pytest.param("HTTPS://Example.COM/x", ("https", "example.com", 443), id="case"),
            pytest.param("http://[::1]:8080/", ("http", "::1", 8080), id="ipv6"),
            pytest.param("http://u:p@example.com/", ("http", "example.com", 80), id="userinfo"),
            pytest.param("ftp://example.com/", ("ftp", "example.com", 0), id="other-scheme"),
            pytest.param("http://example.com:99999/", ("http", "example.com", 80), id="bad-port"),
        ],
    )
    def test_urlident(self, url, expected):
        """urlident gives (scheme, host, port) with the scheme's default port."""
        assert expected == urlident(url)

    def test_request_urlident(self, app):
        """Request.urlident is the urlident of the subscriber URL."""
        assert ("https", "example.com", 443) == make_request(app).urlident


class TestRequestDefaults:
    def test_defaults_from_settings(self, make_app):
        """Timeout, retry policy, user agent and validators come from the settings."""
        app = make_app(
            THORN_EVENT_TIMEOUT=1.5,
            THORN_RETRY=False,
            THORN_RETRY_MAX=2,
            THORN_RETRY_DELAY=0.5,
            THORN_USER_AGENT="agent/1",
            THORN_RECIPIENT_VALIDATORS=[("ensure_port", (443,))],
        )
        request = make_request(app)
        assert 1.5 == request.timeout
        assert RetryPolicy.fixed(False, 2, 0.5) == request.retry_policy
        assert "agent/1" == request.user_agent
        assert [ensure_port(443)] == request.recipient_validators
        assert request.allow_keepalive is True
        assert {} == request.extra_headers
        assert request.response is None
        assert request.outcome is None

    def test_built_in_defaults(self, app):
        """Without settings: 3 s timeout, the Standard Webhooks schedule, thorn's User-Agent."""
        request = make_request(app)
        assert 3.0 == request.timeout
        assert RetryPolicy(retry=True, schedule=STANDARD_RETRY_SCHEDULE) == request.retry_policy
        assert f"thorn/{thorn.__version__}" in request.user_agent

    def test_explicit_values_win(self, make_app):
        """Arguments win over the settings; zero and False are honoured."""
        app = make_app(THORN_EVENT_TIMEOUT=1.5, THORN_USER_AGENT="agent/1")
        request = make_request(
            app,
            timeout=0,
            retry=False,
            retry_max=0,
            retry_delay=0,
            user_agent="mine/2",
            recipient_validators=[],
            allow_keepalive=False,
        )
        assert 0 == request.timeout
        assert RetryPolicy.fixed(False, 0, 0) == request.retry_policy
        assert "mine/2" == request.user_agent
        assert [] == request.recipient_validators
        assert request.allow_keepalive is False

    def test_id_is_new_uuid4(self, app):
        """Each request gets a new uuid4 id unless one is given."""
        first, second = make_request(app), make_request(app)
        assert 4 == uuid.UUID(first.id).version
        assert first.id != second.id
        assert "given-id" == make_request(app, id="given-id").id

    def test_repr(self, app):
        """repr() names the event, URL and id."""
        request = make_request(app)
        assert f"<Request: article.created -> https://example.com/hook ({request.id})>" == repr(
            request
        )


class TestBodyAndHeaders:
    def test_body_encoded_per_content_type(self, app):
        """A payload is encoded with the subscriber's codec, as UTF-8 bytes."""
        assert b'{"title": "Hello"}' == make_request(app).body
        form = Request(
            "article.created",
            {"title": "Hé", "data": {"n": 1}},
            None,
            make_subscriber(content_type="application/x-www-form-urlencoded"),
            app=app,
        )
        assert b"title=H%C3%A9&data=%7B%22n%22%3A1%7D" == form.body

    def test_encoded_body_used_as_is(self, app):
        """An already encoded str or bytes body is sent as it is."""
        assert b"caf\xc3\xa9" == make_request(app, data="café").body
        assert b"\x00raw" == make_request(app, data=b"\x00raw").body

    @time_machine.travel(datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc), tick=False)
    def test_headers(self, app):
        """headers_for() gives the documented headers and verifiable signatures."""
        request = make_request(app, headers={"X-Custom": "yes"})
        body = request.body
        headers = request.headers_for(body)
        assert {
            "Content-Type": "application/json",
            "User-Agent": request.user_agent,
            "Hook-Event": "article.created",
            "Hook-Delivery": request.id,
            "X-Custom": "yes",
            "Hook-HMAC": headers["Hook-HMAC"],
            "webhook-id": request.id,
            "webhook-timestamp": "1777636800",
            "webhook-signature": headers["webhook-signature"],
            "Hook-Subscription": str(request.subscriber.uuid),
        } == headers
        assert compat_verify(headers["Hook-HMAC"], "sha256", SECRET, body)
        assert standard_verify(headers["webhook-signature"], SECRET, request.id, 1777636800, body)
        webhook = standardwebhooks.Webhook(signing_secret(SECRET))
        assert {"title": "Hello"} == webhook.verify(body, headers)

    @pytest.mark.parametrize(
        ("setting", "expected"),
        [
            pytest.param("hook-hmac", {"Hook-HMAC"}, id="hook-hmac"),
            pytest.param(
                "standard", {"webhook-id", "webhook-timestamp", "webhook-signature"}, id="standard"
            ),
            pytest.param(
                "both",
                {"Hook-HMAC", "webhook-id", "webhook-timestamp", "webhook-signature"},
                id="both",
            ),
            pytest.param(
                None,
                {"Hook-HMAC", "webhook-id", "webhook-timestamp", "webhook-signature"},
                id="default",
            ),
        ],
    )
    def test_signature_headers_setting(self, make_app, setting, expected):
        """THORN_SIGNATURE_HEADERS chooses the signature headers; the others are always sent."""
        request = make_request(make_app(THORN_SIGNATURE_HEADERS=setting))
        headers = request.headers_for(request.body)
        always = {"Content-Type", "User-Agent", "Hook-Event", "Hook-Delivery", "Hook-Subscription"}
        assert always | expected == set(headers)
        assert expected == set(request.signature_headers(request.body))

    def test_unknown_signature_headers_setting(self, make_app):
        """A value other than the three names raises ImproperlyConfigured naming the setting."""
        request = make_request(make_app(THORN_SIGNATURE_HEADERS="all"))
        with pytest.raises(ImproperlyConfigured, match="THORN_SIGNATURE_HEADERS"):
            request.headers_for(request.body)

    def test_each_attempt_is_signed_at_its_own_time(self, app):
        """Every attempt keeps webhook-id (the delivery id) and gets a fresh webhook-timestamp."""
        request = make_request(app)
        start = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
        with time_machine.travel(start, tick=False) as traveller:
            first = request.http_request()
            traveller.shift(timedelta(seconds=65.7))
            second = request.http_request()
        assert (request.id, request.id) == (
            first.headers["webhook-id"],
            second.headers["webhook-id"],
        )
        assert ("1777636800", "1777636865") == (
            first.headers["webhook-timestamp"],
            second.headers["webhook-timestamp"],
        )
        assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
        for attempt in (first, second):
            headers = attempt.headers
            assert standard_verify(
                headers["webhook-signature"],
                SECRET,
                headers["webhook-id"],
                headers["webhook-timestamp"],
                attempt.body,
            )
        assert first.headers["Hook-HMAC"] == second.headers["Hook-HMAC"]

    def test_signature_uses_configured_signer(self, make_app):
        """THORN_HMAC_SIGNER=sign gives a signature that verify() accepts."""
        app = make_app(THORN_HMAC_SIGNER="thorn.utils.hmac:sign")
        request = make_request(app)
        signature = request.signature_headers(request.body)["Hook-HMAC"]
        assert isinstance(signature, str)
        assert verify(signature, "sha256", SECRET, request.body)

    def test_headers_cannot_replace_signature(self, app):
        """Custom headers cannot replace Hook-HMAC or Hook-Subscription."""
        request = make_request(app, headers={"Hook-HMAC": "x", "Hook-Subscription": "y"})
        headers = request.headers_for(request.body)
        assert "x" != headers["Hook-HMAC"]
        assert str(request.subscriber.uuid) == headers["Hook-Subscription"]

    def test_headers_cannot_replace_signatures_in_any_case(self, app):
        """Custom headers named like a signature header, in any case, are dropped."""
        extra = {
            "hook-hmac": "x",
            "Webhook-Id": "x",
            "WEBHOOK-TIMESTAMP": "1",
            "webhook-signature": "v1,x",
            "X-Kept": "yes",
        }
        request = make_request(app, headers=extra)
        headers = request.headers_for(request.body, timestamp=1777636800)
        assert "yes" == headers["X-Kept"]
        names = [name.lower() for name in headers]
        assert sorted(set(names)) == sorted(names)  # no name twice, in any case
        assert request.id == headers["webhook-id"]
        assert "1777636800" == headers["webhook-timestamp"]
        assert "v1,x" != headers["webhook-signature"]
        assert "x" != headers["Hook-HMAC"]

    def test_unknown_content_type_body(self, app):
        """A payload for a content type without codec raises ImproperlyConfigured."""
        request = Request(
            "article.created",
            {"a": 1},
            None,
            make_subscriber(content_type="application/xml"),
            app=app,
        )
        with pytest.raises(ImproperlyConfigured):
            request.body  # noqa: B018


class TestDescribe:
    def test_describe_has_no_secret(self, app):
        """describe() is log-safe: it names the delivery but contains no secret."""
        request = make_request(app)
        description = request.describe()
        assert SECRET not in json.dumps(description, default=str)
        assert SECRET not in repr(request)
        assert {
            "id": request.id,
            "event": "article.created",
            "url": "https://example.com/hook",
            "subscription": str(request.subscriber.uuid),
            "status": None,
            "error": None,
        } == description

    def test_describe_after_outcome(self, app):
        """describe() includes the status and error class of the last attempt."""
        request = make_request(app)
        request.outcome = Outcome(status=500, error=HTTPStatusError("boom"))
        assert 500 == request.describe()["status"]
        assert "HTTPStatusError" == request.describe()["error"]

    def test_subscriber_repr_has_no_secret(self):
        """A static subscriber's repr does not show its secret."""
        assert SECRET not in repr(make_subscriber())


class TestOutcome:
    @pytest.mark.parametrize(
        ("outcome", "ok", "timed_out", "retryable", "error_class"),
        [
            pytest.param(Outcome(status=200), True, False, False, None, id="success"),
            pytest.param(
                Outcome(status=500, error=HTTPStatusError("500")),
                False,
                False,
                True,
                "HTTPStatusError",
                id="http-error",
            ),
            pytest.param(
                Outcome(error=DeliveryTimeout("slow")),
                False,
                True,
                True,
                "DeliveryTimeout",
                id="timeout",
            ),
            pytest.param(
                Outcome(error=DeliveryError("reset")),
                False,
                False,
                True,
                "DeliveryError",
                id="connection-error",
            ),
            pytest.param(
                Outcome(error=SecurityError("refused")),
                False,
                False,
                False,
                "SecurityError",
                id="refused",
            ),
        ],
    )
    def test_properties(self, outcome, ok, timed_out, retryable, error_class):
        """ok, timed_out, retryable and error_class describe the attempt."""
        assert (ok, timed_out, retryable, error_class) == (
            outcome.ok,
            outcome.timed_out,
            outcome.retryable,
            outcome.error_class,
        )

    def test_response_not_compared(self):
        """Outcomes compare equal regardless of the response object."""
        assert Outcome(status=200, response=object()) == Outcome(status=200, response=object())


class TestParseRetryAfter:
    NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("120", 120.0, id="seconds"),
            pytest.param(" 5 ", 5.0, id="spaces"),
            pytest.param("0", 0.0, id="zero"),
            pytest.param(None, None, id="none"),
            pytest.param("", None, id="empty"),
            pytest.param("soon", None, id="garbage"),
            pytest.param("-5", None, id="negative"),
            pytest.param("1.5", None, id="fraction"),
        ],
    )
    def test_seconds(self, value, expected):
        """Retry-After in seconds is parsed; anything unparsable gives None."""
        assert expected == parse_retry_after(value, now=self.NOW)

    def test_http_date(self):
        """Retry-After as an HTTP date gives the seconds until then."""
        value = format_datetime(self.NOW + timedelta(seconds=90), usegmt=True)
        assert 90.0 == parse_retry_after(value, now=self.NOW)

    def test_http_date_in_the_past(self):
        """An HTTP date in the past gives 0."""
        value = format_datetime(self.NOW - timedelta(hours=1), usegmt=True)
        assert 0.0 == parse_retry_after(value, now=self.NOW)

    def test_http_date_without_now(self):
        """Without now=, the current time is used."""
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        seconds = parse_retry_after(format_datetime(later, usegmt=True))
        assert seconds is not None
        assert 3500 < seconds <= 3600
