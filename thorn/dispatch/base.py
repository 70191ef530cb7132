"""The default dispatcher: deliver in the current process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.buffer import PendingEvent
from thorn.exceptions import ImproperlyConfigured
from thorn.request import Request, urlident
from thorn.utils.log import get_logger

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.generic.models import AbstractSubscriber

__all__ = ["Dispatcher"]

logger = get_logger(__name__)

#: Keyword arguments of :meth:`Dispatcher.send` that are given to each Request.
REQUEST_OPTIONS = frozenset(
    {
        "headers",
        "on_success",
        "on_error",
        "on_timeout",
        "retry",
        "retry_max",
        "retry_delay",
        "recipient_validators",
        "allow_keepalive",
        "user_agent",
    }
)


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

    def send(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send ``event`` to its subscribers, or buffer it while buffering.

        Returns the list of :class:`~thorn.request.Request` objects made
        (empty while buffering).
        """
        unknown = set(options) - REQUEST_OPTIONS - {"extra_subscribers"}
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {sorted(unknown)}")
        options = {"timeout": timeout, "context": context, **options}
        buffer = self.app.active_buffer
        if buffer is not None:
            buffer.pending.append(PendingEvent(self, event, payload, sender, options))
            return []
        return self.dispatch(event, payload, sender, **options)

    def dispatch(self, event: str, payload: Any, sender: Any, **options: Any) -> Any:
        """Deliver ``event`` now (``send`` without the buffer)."""
        requests = self.prepare_requests(event, payload, sender, **options)
        for request in requests:
            self.dispatch_request(request)
        return requests

    def flush(self, pending: list[PendingEvent]) -> None:
        """Deliver buffered events, one after another.

        Every event is attempted: one that fails (e.g. its subscriber
        lookup raises) is logged, and the first error is raised at the end.
        """
        first_error: Exception | None = None
        for item in pending:
            try:
                self.dispatch(item.event, item.payload, item.sender, **item.options)
            except Exception as exc:
                logger.exception("Sending buffered event %s failed", item.event)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def subscribers_for_event(
        self,
        name: str,
        sender: Any = None,
        context: Mapping[str, Any] | None = None,
        extra_subscribers: Any = None,
    ) -> list[AbstractSubscriber]:
        """Return the subscribers of event ``name`` (see :mod:`thorn.generic.subscriber`)."""
        from thorn.generic.subscriber import subscribers_for_event

        return subscribers_for_event(self.app, name, sender, context, extra_subscribers)

    def prepare_requests(
        self,
        event: str,
        payload: Any,
        sender: Any,
        timeout: float | None = None,
        context: Mapping[str, Any] | None = None,
        extra_subscribers: Any = None,
        **options: Any,
    ) -> list[Request]:
        """Return one :class:`~thorn.request.Request` per subscriber, ordered by host.

        The payload is encoded once per content type.

        Raises:
            TypeError: if the payload cannot be encoded (no request is sent).
        """
        subscribers = self.subscribers_for_event(event, sender, context, extra_subscribers)
        bodies: dict[str, Any] = {}
        requests = []
        for subscriber in subscribers:
            ctype = subscriber.content_type
            if ctype not in bodies:
                try:
                    bodies[ctype] = self.app.encode(payload, ctype)
                except ImproperlyConfigured:
                    bodies[ctype] = payload  # no codec: this subscriber's delivery fails
            requests.append(
                self.app.Request(
                    event,
                    bodies[ctype],
                    sender,
                    subscriber,
                    timeout=self.timeout if timeout is None else timeout,
                    **options,
                )
            )
        requests.sort(key=lambda request: urlident(request.url))
        return requests

    def dispatch_request(self, request: Request) -> Request:
        """Deliver one request (the default dispatcher does not retry)."""
        return request.dispatch(self.app.transport)
