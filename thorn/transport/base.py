"""The transport's interface: a request value goes in, an Outcome comes out."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thorn.validators import validate_url

if TYPE_CHECKING:
    from thorn.outcome import Outcome

__all__ = ["BaseTransport", "HTTPRequest"]


@dataclass(frozen=True)
class HTTPRequest:
    """One HTTP request, ready to send: what a transport needs and nothing else.

    Arguments:
        url: The recipient URL.
        body: The body, as sent (and signed).
        headers: Every header, the signature included.
        timeout: Seconds the whole attempt may take (connect, redirects,
            sending, reading the answer).
        method: ``"POST"`` for deliveries.
        recipient_validators: Checks of the URL and of every address its
            host resolves to (see :mod:`thorn.validators`); empty checks
            nothing.
        keepalive: Reuse the connection for later requests.
        deadline: When the attempt must be over, as a :func:`time.monotonic`
            time, if sooner than ``timeout`` from its start: the deadline
            of the whole fan-out the request is part of.

    .. versionadded:: 2.0
    """

    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    method: str = "POST"
    recipient_validators: tuple[Callable[..., None], ...] = ()
    keepalive: bool = True
    deadline: float | None = None

    def ends_at(self, started: float) -> float:
        """When an attempt started at ``started`` (monotonic) must be over."""
        end = started + self.timeout
        return end if self.deadline is None else min(end, self.deadline)


class BaseTransport(abc.ABC):
    """Sends :class:`HTTPRequest` values.

    A transport knows nothing of events, subscribers, apps or settings, like
    httpx's ``BaseTransport.handle_request``: give a
    :class:`~thorn.Thorn` app another one with ``Thorn(transport=...)``.

    .. versionadded:: 2.0
    """

    @abc.abstractmethod
    def send(self, request: HTTPRequest) -> Outcome:
        """Make one attempt; return how it ended.  Never raises for a failed delivery."""

    def check_recipient(self, url: str, validators: Sequence[Callable[..., Any]]) -> None:
        """Raise :exc:`~thorn.exceptions.SecurityError` if ``validators`` refuse ``url``.

        What is checked before anything is sent to ``url``, also used when a
        subscription is made.  This base checks the URL itself; a transport
        that resolves hosts checks every address too.
        """
        validate_url(url, validators)

    def close(self) -> None:  # noqa: B027 -- optional: transports without connections
        """Close the connections this transport keeps (in the calling thread)."""
