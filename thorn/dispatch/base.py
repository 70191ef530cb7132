"""The default dispatcher: deliver in the current process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.delivery.plan import plan_deliveries
from thorn.generic.subscriber import subscribers_for_event
from thorn.messages import Message, Options
from thorn.request import Request

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.generic.models import AbstractSubscriber

__all__ = ["Dispatcher"]


class Dispatcher:
    """Deliver each event to its subscribers in the current process.

    Requests to the same host are sent one after another over one kept-alive
    connection.  Each subscriber's delivery succeeds or fails on its own.
    The default dispatcher does not retry: a failed delivery is logged and
    reported to ``on_error`` (use the celery dispatcher for retries).

    Arguments:
        timeout: Default timeout of deliveries (``THORN_EVENT_TIMEOUT``).
        app: The Thorn app.
    """

    #: False for dispatchers that send nothing, so model events skip their work.
    sends = True

    def __init__(self, timeout: float | None = None, app: Thorn | None = None) -> None:
        self.app = app_or_default(app)
        self.timeout = timeout

    def message(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Message:
        """Return the :class:`~thorn.messages.Message` of an event and its options.

        Raises:
            TypeError: for an unknown option.
        """
        return Message(
            event,
            payload,
            sender,
            Options(
                timeout=self.timeout if timeout is None else timeout,
                context=context or {},
                **options,
            ),
        )

    def send(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send ``event`` to its subscribers, or hold it while buffering.

        ``options`` are those of :class:`~thorn.messages.Options`.
        Returns the list of :class:`~thorn.request.Request` objects made
        (empty while buffering).

        Raises:
            TypeError: for an unknown option, or a payload that cannot be
                encoded (nothing is sent).
        """
        message = self.message(event, payload, sender, timeout=timeout, context=context, **options)
        if self.app.buffers.hold(self, message):
            return []
        return self.dispatch_message(message)

    def dispatch_message(self, message: Message) -> Any:
        """Deliver ``message`` now, one subscriber after another."""
        requests = self.requests_for(message)
        for request in requests:
            self.dispatch_request(request)
        return requests

    def batches(self, messages: Sequence[Message]) -> list[list[Message]]:
        """How held messages are sent when a buffer is flushed: one by one."""
        return [[message] for message in messages]

    def send_batch(self, batch: Sequence[Message]) -> None:
        """Send one batch of :meth:`batches`."""
        for message in batch:
            self.dispatch_message(message)

    def subscribers_for_event(
        self,
        name: str,
        sender: Any = None,
        context: Mapping[str, Any] | None = None,
        extra_subscribers: Any = None,
    ) -> list[AbstractSubscriber]:
        """Return the subscribers of event ``name`` (see :mod:`thorn.generic.subscriber`)."""
        return subscribers_for_event(self.app, name, sender, context, extra_subscribers)

    def requests_for(self, message: Message) -> list[Request]:
        """Return one :class:`~thorn.request.Request` per subscriber of ``message``, by host.

        The payload is encoded once per content type.

        Raises:
            TypeError: if the payload cannot be encoded (no request is made).
        """
        subscribers = self.subscribers_for_event(
            message.event,
            message.sender,
            message.options.context,
            message.options.extra_subscribers,
        )
        return [
            Request.for_delivery(delivery, self.app)
            for delivery in plan_deliveries(message, subscribers, self.app.encode)
        ]

    def prepare_requests(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[Request]:
        """Return one :class:`~thorn.request.Request` per subscriber, ordered by host."""
        return self.requests_for(
            self.message(event, payload, sender, timeout=timeout, context=context, **options)
        )

    def dispatch_request(self, request: Request) -> Request:
        """Deliver one request (the default dispatcher does not retry)."""
        return request.dispatch(self.app.transport)
