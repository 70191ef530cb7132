"""The outcome policy: what an attempt's outcome means for its delivery.

Every dispatcher hands each :class:`~thorn.outcome.Outcome` to :func:`judge`,
and nothing else decides a retry.  :func:`judge` logs the outcome (one
line), calls the documented callbacks when the delivery is over
(``on_success``, ``on_error``, ``on_timeout``), and returns a
:class:`Verdict`: try again in so many seconds, or done.

.. versionadded:: 2.0
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thorn import instrument
from thorn.conf import STANDARD_RETRY_SCHEDULE
from thorn.utils.log import get_logger
from thorn.utils.redact import redact_text, redact_url

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.messages import Options
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = ["RETRY_AFTER_MAX", "RetryPolicy", "Verdict", "judge", "log_fields", "outcome_status"]

#: Seconds of ``Retry-After`` honoured at most (10 hours, as Hook0).
RETRY_AFTER_MAX = 10 * 3600.0

#: Outcomes are logged on ``thorn.request``, the documented logger of deliveries.
logger = get_logger("thorn.request")


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again: a schedule of delays.

    By default the Standard Webhooks (and Svix) schedule,
    ``THORN_RETRY_SCHEDULE``, with ±20 % jitter.  A project that sets Thorn
    1.5's ``THORN_RETRY_MAX`` or ``THORN_RETRY_DELAY`` (and not
    ``THORN_RETRY_SCHEDULE``), or an event given ``retry_max`` or
    ``retry_delay``, gets 1.5's fixed delay: ``retry_max`` retries,
    ``retry_delay`` seconds apart.

    .. versionchanged:: 2.0
        A schedule; Thorn 1.5 retried 10 times, 60 seconds apart.
    """

    #: Retry failed deliveries at all.
    retry: bool = True
    #: Seconds to wait after each failed attempt; as many retries as delays.
    schedule: tuple[float, ...] = STANDARD_RETRY_SCHEDULE
    #: The fraction by which each delay is spread either way (0.2 is ±20 %).
    jitter: float = 0.2

    @classmethod
    def fixed(cls, retry: bool, max_retries: int, delay: float) -> RetryPolicy:
        """Thorn 1.5's policy: ``max_retries`` retries, ``delay`` seconds apart."""
        return cls(retry=retry, schedule=(float(delay),) * int(max_retries), jitter=0.0)

    @classmethod
    def from_options(cls, options: Options, settings: Settings) -> RetryPolicy:
        """The policy of a delivery: its options, else the settings."""
        retry = bool(settings.THORN_RETRY if options.retry is None else options.retry)
        fixed = options.retry_max is not None or options.retry_delay is not None
        if not fixed and not settings.configured("THORN_RETRY_SCHEDULE"):
            fixed = settings.configured("THORN_RETRY_MAX") or settings.configured(
                "THORN_RETRY_DELAY"
            )
        if fixed:
            return cls.fixed(
                retry,
                settings.THORN_RETRY_MAX if options.retry_max is None else options.retry_max,
                settings.THORN_RETRY_DELAY if options.retry_delay is None else options.retry_delay,
            )
        return cls(retry=retry, schedule=tuple(float(d) for d in settings.THORN_RETRY_SCHEDULE))

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt, at most."""
        return len(self.schedule)

    def should_retry(self, outcome: Outcome, retries: int) -> bool:
        """Return true if a delivery that ended in ``outcome`` is retried.

        Every failure is retried except a refused recipient and ``410 Gone``.

        Arguments:
            outcome: How the last attempt ended.
            retries: Retries already done (0 after the first attempt).
        """
        return self.retry and outcome.retryable and retries < self.max_retries

    def countdown(
        self, outcome: Outcome, retries: int, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before the next attempt.

        The schedule's delay for this retry, with jitter; never sooner than
        the receiver asked with ``Retry-After`` (honoured up to
        :data:`RETRY_AFTER_MAX`).
        """
        delay = self.schedule[min(retries, self.max_retries - 1)]
        delay *= 1 + self.jitter * (2 * rand() - 1)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, RETRY_AFTER_MAX))
        return delay


@dataclass(frozen=True)
class Verdict:
    """What becomes of a delivery after an attempt."""

    #: Seconds until the next attempt, or ``None`` when the delivery is over.
    retry_in: float | None = None

    @property
    def retrying(self) -> bool:
        """True if the delivery will be attempted again."""
        return self.retry_in is not None


def judge(request: Request, outcome: Outcome, *, can_retry: bool) -> Verdict:
    """Log ``outcome``, call the callbacks if the delivery is over, and decide on a retry.

    The outcome is also counted by the metrics, when they are installed
    (:func:`thorn.instrument.judged`).  A callback that raises is logged:
    it never stops other deliveries.

    Arguments:
        request: The delivery, as the callbacks see it.
        outcome: How its attempt ended.
        can_retry: The dispatcher can make later attempts (the default
            dispatcher cannot).
    """
    retries = request.delivery.attempt - 1
    policy = request.retry_policy
    if can_retry and policy.should_retry(outcome, retries):
        verdict = Verdict(retry_in=policy.countdown(outcome, retries))
    else:
        verdict = Verdict()
    _log(request, outcome, verdict)
    instrument.judged(request, outcome, verdict)
    if verdict.retrying:
        return verdict
    if outcome.ok:
        _callback(request, request.on_success, request)
    elif outcome.timed_out and request.on_timeout is not None:
        _callback(request, request.on_timeout, request, outcome.error)
    else:
        _callback(request, request.on_error, request, outcome.error)
    return verdict


def log_fields(request: Request, outcome: Outcome, verdict: Verdict) -> dict[str, Any]:
    """The structured fields of the log line of an outcome (its ``extra``).

    ``webhook_event`` (the event name), ``delivery_id`` (``Hook-Delivery``),
    ``subscription`` (its uuid), ``status`` (``succeeded``, ``retrying`` or
    ``failed``), ``status_code`` (the HTTP status, or ``None``), ``duration``
    (seconds), ``attempt`` (its number), ``url`` (without credentials),
    ``error`` (the error's class, or ``None``), ``retry_in`` (seconds, or
    ``None``), and ``delivery``, the same as a dict
    (:meth:`~thorn.request.Request.describe`).  No secret is among them.
    """
    return {
        "delivery": request.describe(),
        "webhook_event": request.event,
        "delivery_id": request.id,
        "subscription": str(request.subscriber.uuid),
        "status": outcome_status(outcome, verdict),
        "status_code": outcome.status,
        "duration": outcome.latency,
        "attempt": request.delivery.attempt,
        "url": redact_url(request.url),
        "error": outcome.error_class,
        "retry_in": verdict.retry_in,
    }


def outcome_status(outcome: Outcome, verdict: Verdict) -> str:
    """What an attempt made of its delivery: ``succeeded``, ``retrying`` or ``failed``."""
    if outcome.ok:
        return "succeeded"
    return "retrying" if verdict.retrying else "failed"


def _log(request: Request, outcome: Outcome, verdict: Verdict) -> None:
    """Log one line per outcome on ``thorn.request``: DEBUG, INFO for a retry, else ERROR."""
    extra = log_fields(request, outcome, verdict)
    error = None if outcome.error is None else redact_text(str(outcome.error), request.url)
    if outcome.ok:
        logger.debug(
            "Delivered %s to %s: %s in %.3fs",
            request.event,
            redact_url(request.url),
            outcome.status,
            outcome.latency,
            extra=extra,
        )
    elif verdict.retrying:
        logger.info(
            "Delivery of %s to %s failed (will retry): %s",
            request.event,
            redact_url(request.url),
            error,
            extra=extra,
        )
    elif request.delivery.attempt > 1:
        logger.error(
            "Gave up delivering %s to %s (subscription %s) after %d attempts: %s",
            request.event,
            redact_url(request.url),
            request.subscriber.uuid,
            request.delivery.attempt,
            error,
            extra=extra,
        )
    else:
        logger.error(
            "Delivery of %s to %s failed: %s",
            request.event,
            redact_url(request.url),
            error,
            extra=extra,
        )


def _callback(request: Request, callback: Any, *args: Any) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        logger.exception(
            "Callback %r of the delivery of %s to %s raised",
            callback,
            request.event,
            redact_url(request.url),
            extra={"delivery": request.describe()},
        )
