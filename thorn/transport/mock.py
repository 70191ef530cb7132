"""MockTransport: answer deliveries from a function, without a network."""

from __future__ import annotations

import http
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from time import monotonic

import requests
from requests.structures import CaseInsensitiveDict

from thorn.exceptions import DeliveryError, HTTPStatusError, ThornError
from thorn.outcome import Outcome, parse_retry_after
from thorn.transport.base import BaseTransport, HTTPRequest
from thorn.utils.redact import redact_text, redact_url

__all__ = ["MockResponse", "MockTransport"]


@dataclass(frozen=True)
class MockResponse:
    """What a :class:`MockTransport` handler answers: a status, headers and a body."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[HTTPRequest], "int | MockResponse | None"]


def _response(request: HTTPRequest, answer: MockResponse) -> requests.Response:
    """A real :class:`requests.Response`, so callbacks see what the HTTP transport gives."""
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(answer.headers)
    response._content = answer.body
    response.url = request.url
    try:
        response.reason = http.HTTPStatus(answer.status).phrase
    except ValueError:
        response.reason = ""
    return response


class MockTransport(BaseTransport):
    """A transport that calls ``handler(request)`` instead of opening a connection.

    The handler gets the :class:`~thorn.transport.HTTPRequest` (URL, body,
    signed headers) and returns the answer: a status code, a
    :class:`MockResponse`, or ``None`` for 200.  Raising
    :exc:`~thorn.exceptions.DeliveryTimeout` makes the delivery time out;
    raising another exception makes it fail as a connection error would.
    Non-2xx answers are failures, as with the HTTP transport.

    The recipient validators' URL checks run (a ``localhost`` URL is
    refused by ``block_internal_ips``); address checks, which need DNS,
    do not.

    Examples:
        >>> from thorn import Thorn
        >>> from thorn.transport import MockTransport
        >>> app = Thorn(transport=MockTransport(lambda request: 204), set_as_current=False)

    .. versionadded:: 2.0
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda request: None)

    def send(self, request: HTTPRequest) -> Outcome:
        """Answer ``request`` with the handler; never raises for a failed delivery."""
        started = monotonic()
        try:
            self.check_recipient(request.url, request.recipient_validators)
            answer = self.handler(request)
        except ThornError as exc:
            return Outcome(latency=monotonic() - started, error=exc)
        except Exception as exc:
            error = DeliveryError(
                f"{redact_url(request.url)}: {redact_text(str(exc), request.url)}", request=request
            )
            error.__cause__ = exc
            return Outcome(latency=monotonic() - started, error=error)
        if not isinstance(answer, MockResponse):
            answer = MockResponse(status=200 if answer is None else int(answer))
        response = _response(request, answer)
        failure = None
        if not 200 <= answer.status < 300:
            failure = HTTPStatusError(
                f"{redact_url(request.url)} answered {answer.status} {response.reason}",
                request=request,
                response=response,
            )
        return Outcome(
            status=answer.status,
            latency=monotonic() - started,
            error=failure,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            response=response,
        )
