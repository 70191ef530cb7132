"""The outcome policy: what an attempt's outcome means for its delivery.

Every dispatcher hands each :class:`~thorn.outcome.Outcome` to :func:`judge`,
and nothing else decides a retry.  :func:`judge` logs the outcome (one
line), calls the documented callbacks when the delivery is over
(``on_success``, ``on_error``, ``on_timeout``), and returns a
:class:`Verdict`: try again in so many seconds, or done.

.. versionadded:: 2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thorn.utils.log import get_logger
from thorn.utils.redact import redact_url

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.messages import Options
    from thorn.outcome import Outcome
    from thorn.request import Request

__all__ = ["RetryPolicy", "Verdict", "judge"]

#: Outcomes are logged on ``thorn.request``, the documented logger of deliveries.
logger = get_logger("thorn.request")


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed delivery is retried: a fixed delay, as in Thorn 1.5."""

    #: Retry failed deliveries at all.
    retry: bool = True
    #: Retries after the first attempt, at most.
    max_retries: int = 10
    #: Seconds between attempts.
    delay: float = 60.0

    @classmethod
    def from_options(cls, options: Options, settings: Settings) -> RetryPolicy:
        """The policy of a delivery: its options, else the settings."""
        return cls(
            retry=settings.THORN_RETRY if options.retry is None else options.retry,
            max_retries=(
                settings.THORN_RETRY_MAX if options.retry_max is None else options.retry_max
            ),
            delay=settings.THORN_RETRY_DELAY
            if options.retry_delay is None
            else options.retry_delay,
        )

    def should_retry(self, outcome: Outcome, retries: int) -> bool:
        """Return true if a delivery that ended in ``outcome`` is retried.

        Arguments:
            outcome: How the last attempt ended.
            retries: Retries already done (0 after the first attempt).
        """
        return self.retry and outcome.retryable and retries < self.max_retries

    def countdown(self, outcome: Outcome, retries: int) -> float:
        """Seconds to wait before the next attempt."""
        return self.delay


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

    A callback that raises is logged: it never stops other deliveries.

    Arguments:
        request: The delivery, as the callbacks see it.
        outcome: How its attempt ended.
        can_retry: The dispatcher can make later attempts (the default
            dispatcher cannot).
    """
    retries = request.delivery.attempt - 1
    policy = request.retry_policy
    will_retry = can_retry and policy.should_retry(outcome, retries)
    _log(request, outcome, will_retry)
    if will_retry:
        return Verdict(retry_in=policy.countdown(outcome, retries))
    if outcome.ok:
        _callback(request, request.on_success, request)
    elif outcome.timed_out and request.on_timeout is not None:
        _callback(request, request.on_timeout, request, outcome.error)
    else:
        _callback(request, request.on_error, request, outcome.error)
    return Verdict()


def _log(request: Request, outcome: Outcome, will_retry: bool) -> None:
    extra = {"delivery": request.describe()}
    if outcome.ok:
        logger.debug(
            "Delivered %s to %s: %s in %.3fs",
            request.event,
            redact_url(request.url),
            outcome.status,
            outcome.latency,
            extra=extra,
        )
    elif will_retry:
        logger.info(
            "Delivery of %s to %s failed (will retry): %s",
            request.event,
            redact_url(request.url),
            outcome.error,
            extra=extra,
        )
    elif request.delivery.attempt > 1:
        logger.error(
            "Gave up delivering %s to %s (subscription %s) after %d attempts: %s",
            request.event,
            redact_url(request.url),
            request.subscriber.uuid,
            request.delivery.attempt,
            outcome.error,
            extra=extra,
        )
    else:
        logger.error(
            "Delivery of %s to %s failed: %s",
            request.event,
            redact_url(request.url),
            outcome.error,
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
