"""The outcome policy (thorn.delivery.policy.judge): callbacks, logging, the retry decision."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from thorn.delivery.policy import Verdict, judge
from thorn.exceptions import DeliveryError, DeliveryTimeout, HTTPStatusError, SecurityError
from thorn.generic.subscriber import StaticSubscriber
from thorn.messages import Delivery, Options
from thorn.outcome import Outcome
from thorn.request import Request

FAILED = Outcome(status=503, error=HTTPStatusError("503"))


class Calls:
    """Records the callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def options(self, **options: Any) -> Options:
        return Options(
            on_success=lambda request: self.calls.append(("success", None)),
            on_error=lambda request, exc: self.calls.append(("error", exc)),
            on_timeout=lambda request, exc: self.calls.append(("timeout", exc)),
            **options,
        )


def request_for(app: Any, options: Options, attempt: int = 1) -> Request:
    subscriber = StaticSubscriber(url="https://hooks.example/x", hmac_secret="s")
    delivery = Delivery("a.b", "{}", subscriber, options=options, attempt=attempt)
    return Request.for_delivery(delivery, app)


class TestJudge:
    def test_success_calls_on_success(self, app):
        """A 2xx ends the delivery and calls on_success."""
        calls = Calls()
        verdict = judge(request_for(app, calls.options()), Outcome(status=200), can_retry=True)
        assert Verdict() == verdict
        assert [("success", None)] == calls.calls

    def test_retryable_failure_is_retried_without_callbacks(self, app):
        """A failure with retries left is retried after the delay; no callback yet."""
        calls = Calls()
        request = request_for(app, calls.options(retry_delay=2.5))
        verdict = judge(request, FAILED, can_retry=True)
        assert Verdict(retry_in=2.5) == verdict
        assert verdict.retrying
        assert [] == calls.calls

    def test_dispatcher_that_cannot_retry_ends_the_delivery(self, app):
        """can_retry=False (the default dispatcher): the failure reaches on_error at once."""
        calls = Calls()
        verdict = judge(request_for(app, calls.options()), FAILED, can_retry=False)
        assert not verdict.retrying
        assert [("error", FAILED.error)] == calls.calls

    def test_last_attempt_gives_up(self, app, caplog):
        """When retries run out the delivery ends: on_error, one "Gave up" line on thorn.request."""
        calls = Calls()
        request = request_for(app, calls.options(retry_max=2), attempt=3)
        with caplog.at_level(logging.INFO, logger="thorn"):
            verdict = judge(request, FAILED, can_retry=True)
        assert not verdict.retrying
        assert [("error", FAILED.error)] == calls.calls
        [record] = caplog.records
        assert ("thorn.request", logging.ERROR) == (record.name, record.levelno)
        assert "Gave up delivering a.b to https://hooks.example/x" in record.getMessage()
        assert "after 3 attempts" in record.getMessage()

    @pytest.mark.parametrize(
        ("outcome", "expected"),
        [
            pytest.param(Outcome(error=DeliveryTimeout("slow")), "timeout", id="timeout"),
            pytest.param(Outcome(error=DeliveryError("reset")), "error", id="connection"),
            pytest.param(Outcome(error=SecurityError("no")), "error", id="refused"),
        ],
    )
    def test_final_failures_reach_the_right_callback(self, app, outcome, expected):
        """A timeout goes to on_timeout, other failures to on_error."""
        calls = Calls()
        judge(request_for(app, calls.options(retry=False)), outcome, can_retry=True)
        assert [(expected, outcome.error)] == calls.calls

    def test_refused_recipient_is_never_retried(self, app):
        """A SecurityError cannot get better by trying again."""
        verdict = judge(
            request_for(app, Options()), Outcome(error=SecurityError("no")), can_retry=True
        )
        assert not verdict.retrying

    def test_raising_callback_is_logged(self, app, caplog):
        """A callback that raises is logged with its traceback, and judge returns normally."""

        def broken(request: Any) -> None:
            raise RuntimeError("callback bug")

        with caplog.at_level(logging.ERROR, logger="thorn"):
            judge(request_for(app, Options(on_success=broken)), Outcome(status=200), can_retry=True)
        [record] = caplog.records
        assert "raised" in record.getMessage()
        assert record.exc_info is not None

    def test_failure_logged_once(self, app, caplog):
        """Each outcome is one log line."""
        with caplog.at_level(logging.DEBUG, logger="thorn"):
            judge(request_for(app, Options()), FAILED, can_retry=False)
        assert 1 == len(caplog.records)
        assert "Delivery of a.b to https://hooks.example/x failed" in caplog.records[0].getMessage()
