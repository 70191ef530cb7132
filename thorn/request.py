"""Request: one delivery of one event to one subscriber."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from thorn._state import app_or_default
from thorn.exceptions import DeliveryError, ThornError
from thorn.generic.models import pk_of
from thorn.outcome import Outcome
from thorn.retry import RetryPolicy
from thorn.utils.imports import callable_path, import_string
from thorn.utils.log import get_logger
from thorn.validators import deserialize_validators, serialize_validators, validate_url

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.generic.models import AbstractSubscriber
    from thorn.transport import Transport

__all__ = ["Request", "urlident"]

logger = get_logger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}

Callback = Callable[..., Any]


def urlident(url: str) -> tuple[str, str, int]:
    """Return ``(scheme, host, port)`` of ``url``, used to order deliveries.

    Deliveries to the same host are sent one after another, so one
    kept-alive connection serves them all.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or ""), port or DEFAULT_PORTS.get(scheme, 0)


class Request:
    """One delivery: an event's body POSTed to one subscriber.

    Arguments:
        event: Name of the event (the ``Hook-Event`` header).
        data: The body: an encoded ``str``/``bytes``, or a payload that is
            encoded with the codec of the subscriber's content type.
        sender: Sender of the event, or ``None``.
        subscriber: The :class:`~thorn.generic.models.AbstractSubscriber`.

    Keyword Arguments:
        id: Delivery id (``Hook-Delivery``); a new uuid4 by default.
            It stays the same across retries of this delivery.
        on_success: Called as ``on_success(request)`` after a 2xx answer;
            the response is ``request.response``.
        on_error: Called as ``on_error(request, exc)`` when the delivery
            fails: connection error, refused recipient, non-2xx answer,
            or a timeout when there is no ``on_timeout``.
        on_timeout: Called as ``on_timeout(request, exc)`` on a timeout.
        timeout: Seconds to wait for the receiver.
        retry: Whether a failed delivery is retried
            (:setting:`THORN_RETRY` by default).
        retry_max: Most retries after the first attempt
            (:setting:`THORN_RETRY_MAX` by default).
        retry_delay: Seconds between attempts
            (:setting:`THORN_RETRY_DELAY` by default).
        headers: Extra HTTP headers; they may replace the default ones, but
            not ``Hook-HMAC`` and ``Hook-Subscription``.
        user_agent: The ``User-Agent`` header.
        recipient_validators: Validators for the URL (settings by default).
        allow_keepalive: Reuse the connection for later deliveries.

    .. versionchanged:: 2.0
        A non-2xx answer is a failure, and ``on_error`` receives a
        :exc:`~thorn.exceptions.DeliveryError` (its ``__cause__`` is the
        underlying exception).
    """

    #: The response of the last attempt (a :class:`requests.Response`).
    response: Any = None
    #: The :class:`~thorn.outcome.Outcome` of the last attempt.
    outcome: Outcome | None = None

    def __init__(
        self,
        event: str,
        data: Any,
        sender: Any,
        subscriber: AbstractSubscriber,
        id: str | None = None,
        on_success: Callback | None = None,
        on_error: Callback | None = None,
        timeout: float | None = None,
        on_timeout: Callback | None = None,
        retry: bool | None = None,
        retry_max: int | None = None,
        retry_delay: float | None = None,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        app: Thorn | None = None,
        recipient_validators: Sequence[Callable[..., None]] | None = None,
        allow_keepalive: bool = True,
    ) -> None:
        self.app = app_or_default(app)
        settings = self.app.settings
        self.event = event
        self.data = data
        self.sender = sender
        self.subscriber = subscriber
        self.id = id or str(uuid.uuid4())
        self.on_success = on_success
        self.on_error = on_error
        self.on_timeout = on_timeout
        self.timeout = settings.THORN_EVENT_TIMEOUT if timeout is None else timeout
        self.retry_policy = RetryPolicy.from_settings(settings, retry, retry_max, retry_delay)
        self.extra_headers = dict(headers or {})
        self.user_agent = user_agent or self.app.user_agent
        self.recipient_validators = (
            settings.THORN_RECIPIENT_VALIDATORS
            if recipient_validators is None
            else list(recipient_validators)
        )
        self._own_validators = recipient_validators is not None
        self.allow_keepalive = allow_keepalive

    def __repr__(self) -> str:
        return f"<Request: {self.event} -> {self.subscriber.url} ({self.id})>"

    @property
    def url(self) -> str:
        """The subscriber's URL."""
        return self.subscriber.url

    @property
    def urlident(self) -> tuple[str, str, int]:
        """``(scheme, host, port)`` of the URL, used to order requests."""
        return urlident(self.url)

    @property
    def body(self) -> bytes:
        """The body as sent, ``data`` encoded for the content type, in UTF-8."""
        data = self.data
        if not isinstance(data, (str, bytes)):
            data = self.app.encode(data, self.subscriber.content_type)
        return data.encode("utf-8") if isinstance(data, str) else data

    def headers_for(self, body: bytes) -> dict[str, str]:
        """Return the HTTP headers of a delivery of ``body``."""
        headers = {
            "Content-Type": self.subscriber.content_type,
            "User-Agent": self.user_agent,
            "Hook-Event": self.event,
            "Hook-Delivery": self.id,
            **self.extra_headers,
        }
        headers.update(self.signature_headers(body))
        headers["Hook-Subscription"] = str(self.subscriber.uuid)
        return headers

    def signature_headers(self, body: bytes) -> dict[str, str]:
        """Return the headers that let the receiver verify ``body``."""
        signature = self.app.hmac_sign(
            self.subscriber.hmac_digest, self.subscriber.hmac_secret, body
        )
        if isinstance(signature, bytes):
            signature = signature.decode("ascii")
        return {"Hook-HMAC": signature}

    def validate_recipient(self, url: str) -> None:
        """Run the recipient validators' URL checks on ``url``.

        Address checks are run by the transport, on every address the host
        resolves to, so the connection goes to an address that was checked.
        Plain callables (1.5-style validators) are called with the URL.
        """
        validate_url(url, self.recipient_validators)

    def dispatch(self, transport: Transport | None = None, propagate: bool = False) -> Request:
        """Deliver once, then call the callbacks.

        Arguments:
            transport: The transport to send with (the app's by default).
            propagate: Re-raise the delivery's error after the callbacks.
        """
        outcome = self.attempt(transport)
        self.handle_outcome(outcome)
        if propagate and outcome.error is not None:
            raise outcome.error
        return self

    def attempt(self, transport: Transport | None = None) -> Outcome:
        """Make one delivery attempt and return its outcome; never raises."""
        transport = transport or self.app.transport
        started = monotonic()
        try:
            outcome = transport.send(self)
        except ThornError as exc:
            outcome = Outcome(latency=monotonic() - started, error=exc)
        except Exception as exc:  # a signer, codec or validator bug: one subscriber only
            error = DeliveryError(f"{type(exc).__name__}: {exc}", request=self)
            error.__cause__ = exc
            outcome = Outcome(latency=monotonic() - started, error=error)
        self.outcome = outcome
        self.response = outcome.response
        return outcome

    def handle_outcome(self, outcome: Outcome, will_retry: bool = False) -> None:
        """Turn an outcome into logging and callbacks.

        A callback that raises is logged: it never stops other deliveries.

        Arguments:
            outcome: How the attempt ended.
            will_retry: The delivery will be tried again, so the error
                callbacks are not called yet.
        """
        if outcome.ok:
            logger.debug(
                "Delivered %s to %s: %s in %.3fs",
                self.event,
                self.url,
                outcome.status,
                outcome.latency,
                extra={"delivery": self.describe()},
            )
            self._callback(self.on_success, self)
            return
        logger.log(
            logging.INFO if will_retry else logging.ERROR,
            "Delivery of %s to %s failed%s: %s",
            self.event,
            self.url,
            " (will retry)" if will_retry else "",
            outcome.error,
            extra={"delivery": self.describe()},
        )
        if will_retry:
            return
        if outcome.timed_out and self.on_timeout is not None:
            self._callback(self.on_timeout, self, outcome.error)
        else:
            self._callback(self.on_error, self, outcome.error)

    def _callback(self, callback: Callback | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            logger.exception(
                "Callback %r of the delivery of %s to %s raised",
                callback,
                self.event,
                self.url,
                extra={"delivery": self.describe()},
            )

    def as_dict(self) -> dict[str, Any]:
        """Return the delivery as JSON-safe data, for a message to a worker.

        The subscriber is a reference (its uuid and URL): the secret does
        not travel; the worker loads the subscriber (see
        :mod:`thorn.dispatch.celery`).  Callbacks travel as import paths,
        validators in their serialized form (only when the request was
        given its own; the worker's settings apply otherwise).

        Raises:
            TypeError: if a callback or validator cannot be serialized.
        """
        data = self.data.decode() if isinstance(self.data, bytes) else self.data
        return {
            "id": self.id,
            "event": self.event,
            "data": data,
            "sender": pk_of(self.sender),
            "subscriber": {"uuid": str(self.subscriber.uuid), "url": self.subscriber.url},
            "timeout": self.timeout,
            "retry": self.retry_policy.retry,
            "retry_max": self.retry_policy.max_retries,
            "retry_delay": self.retry_policy.delay,
            "headers": self.extra_headers,
            "user_agent": self.user_agent,
            "recipient_validators": (
                serialize_validators(self.recipient_validators) if self._own_validators else None
            ),
            "allow_keepalive": self.allow_keepalive,
            **{
                name: None if fun is None else callable_path(fun, name)
                for name, fun in (
                    ("on_success", self.on_success),
                    ("on_error", self.on_error),
                    ("on_timeout", self.on_timeout),
                )
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], subscriber: AbstractSubscriber, app: Thorn | None = None
    ) -> Request:
        """Rebuild a request from :meth:`as_dict` output and its loaded ``subscriber``."""
        options = dict(data)
        options.pop("subscriber", None)
        validators = options.pop("recipient_validators", None)
        callbacks: dict[str, Any] = {
            name: import_string(path, name) if path else None
            for name in ("on_success", "on_error", "on_timeout")
            for path in [options.pop(name, None)]
        }
        return cls(
            options.pop("event"),
            options.pop("data"),
            options.pop("sender", None),
            subscriber,
            app=app,
            recipient_validators=(
                None if validators is None else deserialize_validators(validators)
            ),
            **callbacks,
            **options,
        )

    def describe(self) -> dict[str, Any]:
        """Return a log-safe description of the delivery (no secret)."""
        outcome = self.outcome
        return {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "subscription": str(self.subscriber.uuid),
            "status": outcome and outcome.status,
            "error": outcome and outcome.error_class,
        }
