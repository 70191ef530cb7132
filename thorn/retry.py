"""RetryPolicy: whether and when a failed delivery is tried again."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thorn.conf import Settings
    from thorn.outcome import Outcome

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed delivery is retried: a fixed delay, as in Thorn 1.5.

    Every dispatcher that retries asks this one object, so a different
    policy (backoff, ``Retry-After``) is a change in one place.

    .. versionadded:: 2.0
    """

    #: Retry failed deliveries at all.
    retry: bool = True
    #: Retries after the first attempt, at most.
    max_retries: int = 10
    #: Seconds between attempts.
    delay: float = 60.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        retry: bool | None = None,
        max_retries: int | None = None,
        delay: float | None = None,
    ) -> RetryPolicy:
        """Build a policy from explicit values, falling back to settings."""
        return cls(
            retry=settings.THORN_RETRY if retry is None else retry,
            max_retries=settings.THORN_RETRY_MAX if max_retries is None else max_retries,
            delay=settings.THORN_RETRY_DELAY if delay is None else delay,
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

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-safe representation (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        """Rebuild a policy from :meth:`as_dict` output."""
        return cls(**data)
