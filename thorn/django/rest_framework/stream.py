"""``GET /hooks/<uuid>/stream/``: a subscription's deliveries as Server-Sent Events.

Only the owner reads a stream (another user's subscription is a 404, as on
every route of the API), with the API's authentication and permissions.
Each event is a delivery: ``id`` the delivery id (``Hook-Delivery``),
``event`` the event name and ``data`` a JSON object with the ``body`` and the
``headers`` of its ``POST`` (see :mod:`thorn.django.stream.frames`).  A
``Last-Event-ID`` header (or ``?last_event_id=``) resumes after that
delivery.  A user holds at most ``THORN_MAX_STREAMS_PER_USER`` streams at
once; one more is a ``429``.

Under ASGI (uvicorn, daphne...) a stream costs no thread while it waits.
Under WSGI it works too, but holds a worker (a thread or a process) for as
long as it is open: serve streams with ASGI.

.. versionadded:: 2.0
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework import exceptions, generics, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from thorn._state import current_app
from thorn.django.rest_framework.views import SubscriberViewMixin
from thorn.django.stream import leases
from thorn.django.stream.feed import Cursor, Feed

__all__ = ["EVENT_STREAM", "SubscriberStream", "TooManyStreams"]

#: The media type of a stream.
EVENT_STREAM = "text/event-stream"


class TooManyStreams(exceptions.APIException):
    """429: the caller already holds ``THORN_MAX_STREAMS_PER_USER`` streams."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "You hold the most live streams you may open at once."
    default_code = "too_many_streams"


class _ErrorsAsJSON(BaseContentNegotiation):
    """Errors are JSON whatever ``Accept`` says (``text/event-stream`` has no renderer)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class SubscriberStream(SubscriberViewMixin, generics.GenericAPIView[Any]):
    """``GET /hooks/<uuid>/stream/``: the live stream of one of the caller's subscriptions."""

    lookup_field = "uuid"
    content_negotiation_class = _ErrorsAsJSON
    # Not HEAD: it would take a lease for a stream nobody reads.
    http_method_names = ["get", "options"]

    def get(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        """Open the stream (``200``), or answer ``400``, ``404`` or ``429``."""
        subscriber = self.get_object()
        last_event_id = self.last_event_id()
        app = current_app()
        lease = leases.acquire(request.user, subscriber, app.settings)
        if lease is None:
            limit = app.settings.THORN_MAX_STREAMS_PER_USER
            raise TooManyStreams(
                f"You already hold {limit} live streams (THORN_MAX_STREAMS_PER_USER): "
                "close one first."
            )
        feed = Feed(subscriber, Cursor.start(subscriber.uuid, last_event_id), lease, app)
        asgi = isinstance(request._request, ASGIRequest)
        response = StreamingHttpResponse(
            feed.aevents() if asgi else feed.events(), content_type=EVENT_STREAM
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: send each event at once
        return response

    def last_event_id(self) -> uuid.UUID | None:
        """The delivery to resume after: ``Last-Event-ID``, else ``?last_event_id=``.

        Raises:
            ValidationError: if it is not a delivery id (a uuid).
        """
        value = self.request.headers.get("Last-Event-ID") or self.request.query_params.get(
            "last_event_id"
        )
        if not value:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            raise exceptions.ValidationError(
                {"Last-Event-ID": ["Not a delivery id: send the id of the last event received."]}
            ) from None
