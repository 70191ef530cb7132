"""The outcome policy (thorn.delivery.policy.judge): callbacks, logging, the retry decision."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from thorn.conf import Settings
from thorn.delivery.policy import RetryPolicy, Verdict, judge
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


class TestRetryPolicy:
    FAILED = Outcome(status=503, error=HTTPStatusError("503"))

    def test_the_default_is_the_standard_webhooks_schedule(self, app):
        """No retry setting: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with ±20 % jitter."""
        policy = RetryPolicy.from_options(Options(), app.settings)
        assert (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0) == policy.schedule
        assert (True, 0.2, 7) == (policy.retry, policy.jitter, policy.max_retries)

    @pytest.mark.parametrize(
        ("rand", "expected"), [(0.0, 240.0), (0.5, 300.0), (1.0, 360.0)], ids=["-20%", "0", "+20%"]
    )
    def test_jitter_spreads_each_delay(self, rand, expected):
        """The second retry waits 5 minutes, give or take 20 %."""
        assert expected == pytest.approx(RetryPolicy().countdown(self.FAILED, 1, rand=lambda: rand))

    def test_the_last_delay_repeats_past_the_schedule(self):
        """countdown() past the end of the schedule keeps its last delay (never an IndexError)."""
        policy = RetryPolicy(schedule=(1.0, 2.0), jitter=0.0)
        assert 2.0 == policy.countdown(self.FAILED, 5)

    @pytest.mark.parametrize(
        ("retry_after", "expected"),
        [
            pytest.param(1.0, 5.0, id="sooner-than-the-schedule-is-ignored"),
            pytest.param(120.0, 120.0, id="later-is-honoured"),
            pytest.param(10 * 24 * 3600.0, 10 * 3600.0, id="at-most-10-hours"),
        ],
    )
    def test_retry_after_is_honoured_within_bounds(self, retry_after, expected):
        """Never sooner than the schedule nor than Retry-After; Retry-After up to 10 hours."""
        outcome = Outcome(status=503, error=HTTPStatusError("503"), retry_after=retry_after)
        assert expected == RetryPolicy(jitter=0.0).countdown(outcome, 0)

    def test_410_and_refusals_are_not_retried(self):
        """410 Gone, and a refused recipient, end the delivery at once."""
        gone = Outcome(status=410, error=HTTPStatusError("410"))
        assert not RetryPolicy().should_retry(gone, 0)
        assert not RetryPolicy().should_retry(Outcome(error=SecurityError("no")), 0)
        assert RetryPolicy().should_retry(self.FAILED, 6)
        assert not RetryPolicy().should_retry(self.FAILED, 7)

    def test_thorn_15_settings_keep_their_meaning(self, make_app):
        """THORN_RETRY_MAX / THORN_RETRY_DELAY set (and no schedule): 1.5's fixed delay."""
        settings = make_app(THORN_RETRY_MAX=3, THORN_RETRY_DELAY=2.0).settings
        assert RetryPolicy.fixed(True, 3, 2.0) == RetryPolicy.from_options(Options(), settings)
        settings = make_app(THORN_RETRY_DELAY=2.0, THORN_RETRY_SCHEDULE=[1, 1]).settings
        assert (1.0, 1.0) == RetryPolicy.from_options(Options(), settings).schedule

    def test_an_events_retry_options_are_15s_policy(self, app):
        """retry_max / retry_delay given to an event: that event gets the fixed delay."""
        policy = RetryPolicy.from_options(Options(retry_max=2, retry_delay=0.5), app.settings)
        assert RetryPolicy.fixed(True, 2, 0.5) == policy
        only_max = RetryPolicy.from_options(Options(retry_max=4), app.settings)
        assert RetryPolicy.fixed(True, 4, 60.0) == only_max  # THORN_RETRY_DELAY's default

    def test_retry_false_turns_retries_off(self, make_app):
        """THORN_RETRY = False, or retry=False: no retry whatever the schedule."""
        settings = make_app(THORN_RETRY=False).settings
        assert not RetryPolicy.from_options(Options(), settings).should_retry(self.FAILED, 0)
        assert not RetryPolicy.from_options(Options(retry=False), Settings({})).retry
