"""Outcome: what one delivery attempt ended in."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from thorn.exceptions import DeliveryTimeout, SecurityError, ThornError

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Outcome", "parse_retry_after"]


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt, success or failure.

    The transport returns one for every attempt and never raises for a
    failed delivery; :meth:`thorn.request.Request.dispatch` turns it into
    callbacks and logging, and the retry policy decides on retries.

    .. versionadded:: 2.0
    """

    #: HTTP status of the response, or ``None`` when there was none.
    status: int | None = None
    #: Seconds from the start of the attempt to its end.
    latency: float = 0.0
    #: Why the attempt failed (``None`` on success).
    error: ThornError | None = None
    #: Seconds the receiver asked us to wait (``Retry-After``), if any.
    retry_after: float | None = None
    #: The :class:`requests.Response`, when the receiver answered.
    response: Any = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True if the receiver accepted the delivery (a 2xx answer)."""
        return self.error is None

    @property
    def timed_out(self) -> bool:
        """True if the attempt failed because the receiver was too slow."""
        return isinstance(self.error, DeliveryTimeout)

    @property
    def gone(self) -> bool:
        """True if the receiver answered ``410 Gone``: the endpoint is no more."""
        return self.status == 410

    @property
    def retryable(self) -> bool:
        """True if trying again may succeed (not for a refused recipient, nor a 410)."""
        return (
            self.error is not None and not isinstance(self.error, SecurityError) and not self.gone
        )

    @property
    def error_class(self) -> str | None:
        """Name of the error's class, for logs and delivery records."""
        return None if self.error is None else type(self.error).__name__


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (seconds, or an HTTP date) into seconds."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    from datetime import datetime, timezone

    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
