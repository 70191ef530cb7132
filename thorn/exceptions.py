"""Thorn exceptions.

The tree::

    ThornError
    ├── ImproperlyConfigured   a THORN_* setting or argument is invalid
    ├── SecurityError          a recipient URL was refused by a validator
    ├── BufferNotEmpty         disabling a buffer that still holds events
    ├── FilterError            a subscriber's filter cannot be used (also a ValueError)
    └── DeliveryError          a delivery attempt failed
        ├── DeliveryTimeout    the receiver did not answer in time
        └── HTTPStatusError    the receiver answered with a non-2xx status
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BufferNotEmpty",
    "DeliveryError",
    "DeliveryTimeout",
    "FilterError",
    "HTTPStatusError",
    "ImproperlyConfigured",
    "SecurityError",
    "ThornError",
]


class ThornError(Exception):
    """Base class for every Thorn exception."""


class ImproperlyConfigured(ThornError):
    """Configuration invalid or missing.

    The message names the setting (or argument) and the offending value.
    """


class SecurityError(ThornError):
    """A recipient URL was refused by a recipient validator."""


class BufferNotEmpty(ThornError):
    """Trying to disable an event buffer that still holds events.

    .. versionchanged:: 2.0
        Now derives from :exc:`ThornError`.
    """


class FilterError(ThornError, ValueError):
    """A subscriber's filter cannot be used (see :mod:`thorn.generic.filters`).

    .. versionadded:: 2.0
    """

    def __init__(self, errors: dict[str, str]) -> None:
        #: What is wrong, by filter key; the key ``""`` is about the filter as a whole.
        self.errors = errors
        super().__init__(
            "; ".join(f"{key}: {error}" if key else error for key, error in errors.items())
        )


class DeliveryError(ThornError):
    """A delivery attempt failed.

    Like :exc:`requests.RequestException`, it carries the context of the
    failure in :attr:`request` and :attr:`response`.
    """

    def __init__(
        self,
        message: str,
        *,
        request: Any = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        #: The :class:`~thorn.request.Request` that failed (the
        #: :class:`~thorn.transport.HTTPRequest` when a transport is used
        #: on its own).
        self.request = request
        #: The :class:`requests.Response`, when the receiver answered.
        self.response = response


class DeliveryTimeout(DeliveryError):
    """The receiver did not answer within the delivery's timeout."""


class HTTPStatusError(DeliveryError):
    """The receiver answered with a status outside 200-299.

    .. versionadded:: 2.0
        Thorn 1.5 counted every response as a success.
    """
