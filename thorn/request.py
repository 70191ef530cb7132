"""Request: one delivery as callbacks see it (Thorn 1.5's ``thorn.request.Request``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.delivery import run
from thorn.delivery.plan import urlident
from thorn.delivery.policy import RetryPolicy, judge
from thorn.delivery.sign import delivery_headers, signature_headers
from thorn.messages import Delivery, Options, decode_delivery, encode_delivery, new_id
from thorn.transport.base import HTTPRequest
from thorn.utils.redact import redact_url
from thorn.validators import validate_url

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.generic.models import AbstractSubscriber
    from thorn.outcome import Outcome
    from thorn.transport.base import BaseTransport

__all__ = ["Request", "urlident"]

Callback = Callable[..., Any]


def _now() -> int:
    """The Unix time of an attempt, in whole seconds (``webhook-timestamp``)."""
    return int(time.time())


class Request:
    """One delivery: an event's body POSTed to one subscriber.

    Callbacks receive it (``on_success(request)``, ``on_error(request,
    exc)``), and the default dispatcher returns one per subscriber.  It is a
    view of a :class:`~thorn.messages.Delivery` value (:attr:`delivery`)
    whose options are resolved with the app's settings.

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
        underlying exception, its ``request`` this request).
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
        options = Options(
            timeout=timeout,
            retry=retry,
            retry_max=retry_max,
            retry_delay=retry_delay,
            headers=headers or {},
            user_agent=user_agent,
            recipient_validators=(
                None if recipient_validators is None else tuple(recipient_validators)
            ),
            allow_keepalive=allow_keepalive,
            on_success=on_success,
            on_error=on_error,
            on_timeout=on_timeout,
        )
        delivery = Delivery(event, data, subscriber, sender, options, id=id or new_id())
        #: The :class:`~thorn.Thorn` app whose settings resolve the options.
        self.app = app_or_default(app)
        #: The :class:`~thorn.messages.Delivery` value this request shows.
        self.delivery = delivery

    @classmethod
    def for_delivery(cls, delivery: Delivery, app: Thorn) -> Request:
        """The request of ``delivery``, with its options resolved by ``app``'s settings."""
        request = cls.__new__(cls)
        request.app = app
        request.delivery = delivery
        return request

    def __repr__(self) -> str:
        return f"<Request: {self.event} -> {redact_url(self.url)} ({self.id})>"

    # -- the delivery

    @property
    def event(self) -> str:
        """Name of the event."""
        return self.delivery.event

    @property
    def data(self) -> Any:
        """The body, or the payload it is encoded from."""
        return self.delivery.data

    @property
    def sender(self) -> Any:
        """The sender (a user or its primary key), or ``None``."""
        return self.delivery.sender

    @property
    def subscriber(self) -> AbstractSubscriber:
        """The subscriber."""
        return self.delivery.subscriber

    @property
    def id(self) -> str:
        """The delivery id (``Hook-Delivery``)."""
        return self.delivery.id

    @property
    def url(self) -> str:
        """The subscriber's URL."""
        return self.subscriber.url

    @property
    def urlident(self) -> tuple[str, str, int]:
        """``(scheme, host, port)`` of the URL, used to order requests."""
        return urlident(self.url)

    # -- its options, resolved with the settings

    @property
    def on_success(self) -> Callback | None:
        """Called as ``on_success(request)``."""
        return self.delivery.options.on_success

    @property
    def on_error(self) -> Callback | None:
        """Called as ``on_error(request, exc)``."""
        return self.delivery.options.on_error

    @property
    def on_timeout(self) -> Callback | None:
        """Called as ``on_timeout(request, exc)``."""
        return self.delivery.options.on_timeout

    @property
    def timeout(self) -> float:
        """Seconds the attempt may take (``THORN_EVENT_TIMEOUT`` by default)."""
        timeout = self.delivery.options.timeout
        return self.app.settings.THORN_EVENT_TIMEOUT if timeout is None else timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """How a failure is retried (``THORN_RETRY*`` by default)."""
        return RetryPolicy.from_options(self.delivery.options, self.app.settings)

    @property
    def extra_headers(self) -> dict[str, str]:
        """The extra HTTP headers."""
        return dict(self.delivery.options.headers)

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` header (``THORN_USER_AGENT`` by default)."""
        return self.delivery.options.user_agent or self.app.user_agent

    @property
    def recipient_validators(self) -> list[Callable[..., None]]:
        """Validators of the URL (``THORN_RECIPIENT_VALIDATORS`` by default)."""
        own = self.delivery.options.recipient_validators
        if own is None:
            return list(self.app.settings.THORN_RECIPIENT_VALIDATORS)
        return list(own)

    @property
    def allow_keepalive(self) -> bool:
        """Reuse the connection."""
        return self.delivery.options.allow_keepalive

    # -- what goes over the wire

    @property
    def body(self) -> bytes:
        """The body as sent, ``data`` encoded for the content type, in UTF-8.

        Raises:
            ImproperlyConfigured: if no codec handles the content type.
        """
        data = self.data
        if not isinstance(data, (str, bytes)):
            data = self.app.encode(data, self.subscriber.content_type)
        return data.encode("utf-8") if isinstance(data, str) else data

    def headers_for(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Return the HTTP headers of a delivery of ``body``.

        Arguments:
            body: The body, exactly as sent.
            timestamp: The Unix time of the attempt (``webhook-timestamp``);
                now by default.

        .. versionchanged:: 2.0
            Standard Webhooks headers (see :setting:`THORN_SIGNATURE_HEADERS`).
        """
        return delivery_headers(
            signer=self.app.hmac_sign,
            subscriber=self.subscriber,
            body=body,
            event=self.event,
            delivery_id=self.id,
            timestamp=_now() if timestamp is None else timestamp,
            user_agent=self.user_agent,
            extra=self.delivery.options.headers,
            schemes=self.app.settings.THORN_SIGNATURE_HEADERS,
        )

    def signature_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Return the headers that let the receiver verify ``body`` (see :meth:`headers_for`)."""
        return signature_headers(
            self.subscriber,
            body,
            self.id,
            _now() if timestamp is None else timestamp,
            signer=self.app.hmac_sign,
            schemes=self.app.settings.THORN_SIGNATURE_HEADERS,
        )

    def http_request(self) -> HTTPRequest:
        """The :class:`~thorn.transport.HTTPRequest` of this attempt: encoded and signed.

        Each attempt calls it, so each attempt is signed with its own
        ``webhook-timestamp``.
        """
        body = self.body
        return HTTPRequest(
            url=self.url,
            body=body,
            headers=self.headers_for(body),
            timeout=self.timeout,
            recipient_validators=tuple(self.recipient_validators),
            keepalive=self.allow_keepalive,
        )

    def validate_recipient(self, url: str) -> None:
        """Run the recipient validators' URL checks on ``url``.

        Address checks are run by the transport, on every address the host
        resolves to, so the connection goes to an address that was checked.

        Raises:
            SecurityError: if a validator refuses the URL.
        """
        validate_url(url, self.recipient_validators)

    # -- sending

    def attempt(self, transport: BaseTransport | None = None) -> Outcome:
        """Make one delivery attempt and return its outcome; never raises."""
        return run.attempt(self, transport or self.app.transport)

    def dispatch(self, transport: BaseTransport | None = None, propagate: bool = False) -> Request:
        """Deliver once, then call the callbacks (no retry).

        Arguments:
            transport: The transport to send with (the app's by default).
            propagate: Re-raise the delivery's error after the callbacks.
        """
        outcome = self.attempt(transport)
        judge(self, outcome, can_retry=False)
        if propagate and outcome.error is not None:
            raise outcome.error
        return self

    # -- as a message

    def as_dict(self) -> dict[str, Any]:
        """Return the delivery as JSON-safe data (:func:`~thorn.messages.encode_delivery`).

        The subscriber is a reference (its uuid and URL): the secret does
        not travel.

        Raises:
            TypeError: if a callback or validator cannot be serialized.
        """
        return encode_delivery(self.delivery)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], subscriber: AbstractSubscriber, app: Thorn | None = None
    ) -> Request:
        """Rebuild a request from :meth:`as_dict` output and its loaded ``subscriber``."""
        return cls.for_delivery(decode_delivery(data, subscriber), app_or_default(app))

    def describe(self) -> dict[str, Any]:
        """Return a log-safe description of the delivery (no secret, a redacted URL)."""
        outcome = self.outcome
        return {
            "id": self.id,
            "event": self.event,
            "url": redact_url(self.url),
            "subscription": str(self.subscriber.uuid),
            "status": outcome and outcome.status,
            "error": outcome and outcome.error_class,
        }
