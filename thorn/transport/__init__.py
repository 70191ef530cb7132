"""Transports: how an HTTP request leaves the process.

:class:`Transport` is the HTTP client of every delivery (SSRF checks,
limits, connection reuse); :class:`MockTransport` answers from a function,
for tests.  Both take an :class:`HTTPRequest` and return an
:class:`~thorn.outcome.Outcome`.
"""

from __future__ import annotations

from thorn.transport.base import BaseTransport, HTTPRequest
from thorn.transport.http import DEFAULT_MAX_RESPONSE_SIZE, MAX_REDIRECTS, Transport
from thorn.transport.mock import MockResponse, MockTransport

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "MAX_REDIRECTS",
    "BaseTransport",
    "HTTPRequest",
    "MockResponse",
    "MockTransport",
    "Transport",
]
