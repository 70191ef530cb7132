"""The deliveries of a subscription in the ``/hooks/`` API: list, show, redeliver, recover, ping.

=========  ===================================================  ==========================
Method     URL                                                  Name
=========  ===================================================  ==========================
``GET``    ``/hooks/<uuid>/deliveries/``                        ``webhook:deliveries``
``GET``    ``/hooks/<uuid>/deliveries/<delivery>/``             ``webhook:delivery``
``POST``   ``/hooks/<uuid>/deliveries/<delivery>/redeliver/``   ``webhook:redeliver``
``POST``   ``/hooks/<uuid>/recover/``                           ``webhook:recover``
``POST``   ``/hooks/<uuid>/ping/``                              ``webhook:ping``
=========  ===================================================  ==========================

The same authentication, permissions and 404-for-others rules as the
subscription's own URL apply: the subscription must be the caller's.
Redelivery and recovery go through the delivery engine (:mod:`thorn.recovery`)
and answer ``202 Accepted``: a redelivery is handed over once the response
is sent, recovered deliveries by the relay.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import exceptions, generics, pagination, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from thorn._state import current_app
from thorn.django.health import ATTEMPT_FIELDS
from thorn.django.models import AttemptRecord, DeliveryRecord, State
from thorn.django.ping import attempt_ping, plan_ping, why_not_ping
from thorn.django.rest_framework.views import SubscriberViewMixin
from thorn.recovery import RECOVER_LIMIT, recover, redeliver
from thorn.utils.log import get_logger

__all__ = [
    "AttemptSerializer",
    "Conflict",
    "DeliveryDetail",
    "DeliveryDetailSerializer",
    "DeliveryList",
    "DeliveryPagination",
    "DeliveryRedeliver",
    "DeliverySerializer",
    "HandOverResponse",
    "PingSerializer",
    "RecoverSerializer",
    "SubscriberPing",
    "SubscriberRecover",
    "SubscriptionScoped",
]

logger = get_logger(__name__)

#: The values of the ``status`` filter: the states of a delivery.
STATUSES = [value for value, _label in State.choices]


class AttemptSerializer(serializers.ModelSerializer[AttemptRecord]):
    """One attempt of a delivery: when, how long, and what came back.

    ``response_body`` is the start of the answer (``THORN_ATTEMPT_RESPONSE_BYTES``),
    as text: a JSON string, never HTML.
    """

    class Meta:
        model = AttemptRecord
        fields = ATTEMPT_FIELDS
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer[DeliveryRecord]):
    """A delivery of a message to the subscription, as the list shows it.

    ``id`` is the ``Hook-Delivery`` (and ``webhook-id``) of every attempt;
    ``status`` its state, and ``status_code``, ``error`` and ``duration``
    those of its last attempt.
    """

    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(source="state", choices=State.choices, read_only=True)
    attempt_count = serializers.IntegerField(source="attempts", read_only=True)
    status_code = serializers.IntegerField(
        source="last_status_code", read_only=True, allow_null=True
    )
    error = serializers.CharField(source="last_error", read_only=True)
    duration = serializers.FloatField(source="last_latency", read_only=True, allow_null=True)
    delivery = serializers.SerializerMethodField(help_text="The absolute URL of this delivery.")

    class Meta:
        model = DeliveryRecord
        fields: tuple[str, ...] = (
            "id",
            "event",
            "status",
            "attempt_count",
            "status_code",
            "error",
            "duration",
            "url",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "completed_at",
            "delivery",
        )
        read_only_fields = fields

    def get_delivery(self, record: DeliveryRecord) -> str:
        """The URL of the delivery's own view."""
        kwargs = {"uuid": record.subscription, "delivery": record.id}
        url: str = reverse("webhook:delivery", kwargs=kwargs, request=self.context.get("request"))
        return url


class DeliveryDetailSerializer(DeliverySerializer):
    """A delivery with its payload and every attempt, oldest first."""

    payload = serializers.JSONField(
        source="message.data.payload",
        read_only=True,
        help_text="The message delivered: the envelope of a model event, or an event's data.",
    )
    attempts = AttemptSerializer(source="history", many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = (*DeliverySerializer.Meta.fields, "payload", "attempts")
        read_only_fields = fields


class RecoverSerializer(serializers.Serializer[dict[str, Any]]):
    """``since``; in the answer, how many deliveries were recovered, and if more are left."""

    since = serializers.DateTimeField(
        help_text="Recover the failed and cancelled deliveries made at or after this time "
        "(ISO 8601; without an offset, in the site's time zone)."
    )
    recovered = serializers.IntegerField(
        read_only=True, help_text="Deliveries made due again: the relay sends them."
    )
    more = serializers.BooleanField(
        read_only=True,
        help_text=f"More than {RECOVER_LIMIT} matched: post again for the rest.",
    )


class DeliveryPagination(pagination.CursorPagination):
    """Newest first, 50 per page (``page_size`` up to 200), by an opaque ``cursor``."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class Conflict(exceptions.APIException):
    """409: the subscription is disabled, or the delivery is being attempted right now."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the state of the subscription."
    default_code = "conflict"


class HandOverResponse(Response):
    """A response that calls ``hand_over()`` once it is sent.

    The WSGI (and ASGI) handler closes a response after sending its body;
    ``close()`` then hands the redelivery over, so the client has its
    ``202`` before the attempt is made.  What it raises is logged: the
    deliveries it held go to the relay when their lease runs out.
    """

    def __init__(self, data: Any, *, hand_over: Callable[[], Any], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.hand_over: Callable[[], Any] | None = hand_over

    def close(self) -> None:
        hand_over, self.hand_over = self.hand_over, None
        try:
            if hand_over is not None:
                hand_over()
        except Exception:
            logger.exception("Handing over a redelivery failed: the relay will make it")
        finally:
            super().close()


class SubscriptionScoped(SubscriberViewMixin):
    """The views of one subscription's deliveries: the subscription must be the caller's."""

    def get_subscription(self) -> Any:
        """The caller's subscription of the URL, its object permissions checked (else a 404)."""
        found = getattr(self, "_subscription", None)
        if found is None:
            subscriptions = SubscriberViewMixin.get_queryset(self)
            found = get_object_or_404(subscriptions, uuid=self.kwargs["uuid"])
            self.check_object_permissions(self.request, found)
            self._subscription = found
        return found

    def deliveries(self) -> QuerySet[DeliveryRecord]:
        """The deliveries of the subscription."""
        deliveries: QuerySet[DeliveryRecord] = DeliveryRecord.objects.filter(
            subscription=self.get_subscription().uuid
        )
        return deliveries

    def get_delivery(self) -> DeliveryRecord:
        """The delivery of the URL, if it is the subscription's (else a 404)."""
        found: DeliveryRecord = get_object_or_404(self.deliveries(), id=self.kwargs["delivery"])
        return found

    def require_active(self) -> None:
        """Refuse (409) to send anything to a disabled subscription."""
        if getattr(self.get_subscription(), "is_active", True) is False:
            raise Conflict(
                'The subscription is disabled: enable it first (PATCH it with {"is_active": true}).'
            )

    def get_serializer_class(self) -> Any:
        return DeliverySerializer


class DeliveryList(SubscriptionScoped, generics.ListAPIView[DeliveryRecord]):
    """``GET /hooks/<uuid>/deliveries/``: newest first, by cursor; ``?status=`` and ``?event=``.

    Both filters may be repeated (``?status=failed&status=cancelled``).  An
    unknown status is a 400.
    """

    pagination_class = DeliveryPagination

    def get_queryset(self) -> QuerySet[DeliveryRecord]:
        deliveries = self.deliveries()
        statuses = self.request.query_params.getlist("status")
        unknown = sorted(set(statuses) - set(STATUSES))
        if unknown:
            listed = ", ".join(map(repr, unknown))
            message = f"Not a status: {listed}; use one of {', '.join(STATUSES)}."
            raise exceptions.ValidationError({"status": [message]})
        if statuses:
            deliveries = deliveries.filter(state__in=statuses)
        events = self.request.query_params.getlist("event")
        if events:
            deliveries = deliveries.filter(event__in=events)
        return deliveries


class DeliveryDetail(SubscriptionScoped, generics.RetrieveAPIView[DeliveryRecord]):
    """``GET /hooks/<uuid>/deliveries/<delivery>/``: a delivery, its payload and its attempts."""

    def get_object(self) -> DeliveryRecord:
        deliveries = self.deliveries().select_related("message").prefetch_related("history")
        found: DeliveryRecord = get_object_or_404(deliveries, id=self.kwargs["delivery"])
        return found

    def get_serializer_class(self) -> Any:
        return DeliveryDetailSerializer


class DeliveryRedeliver(SubscriptionScoped, generics.GenericAPIView[DeliveryRecord]):
    """``POST /hooks/<uuid>/deliveries/<delivery>/redeliver/``: attempt it again (202).

    The delivery keeps its id (the receiver gets the same ``Hook-Delivery``),
    whatever its status; its new attempt is made once the ``202`` is sent,
    in this process or by a worker, and recorded after the others.  A
    disabled subscription, a delivery being attempted right now, or a
    ``streamed`` one (never POSTed: read it again from the stream, with
    ``Last-Event-ID``), is a 409.
    """

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Make the delivery due now; answer 202 with it; then hand it over."""
        record = self.get_delivery()
        if record.state == State.STREAMED:
            raise Conflict(
                "This delivery is for a stream-only subscription and is never POSTed: "
                "read it again from the stream (Last-Event-ID)."
            )
        self.require_active()
        redelivery = redeliver(current_app(), [str(record.id)])
        if not redelivery.ids:
            raise Conflict("This delivery is being attempted right now: try again later.")
        record.refresh_from_db()
        data = self.get_serializer(record).data
        return HandOverResponse(
            data, status=status.HTTP_202_ACCEPTED, hand_over=redelivery.hand_over
        )


class PingSerializer(serializers.Serializer[dict[str, Any]]):
    """What ``POST /hooks/<uuid>/ping/`` answers: the ping's delivery."""

    id = serializers.UUIDField(help_text="The delivery's id (Hook-Delivery).")
    delivery = serializers.URLField(help_text="The URL of the delivery and its attempts.")


class SubscriberPing(SubscriptionScoped, generics.GenericAPIView[Any]):
    """``POST /hooks/<uuid>/ping/``: send a ``thorn.ping`` event to the subscription (202).

    The ping is recorded, and the answer (``{"id": <delivery id>,
    "delivery": <its URL>}``) sent, before it is attempted, once, in this
    process (see :func:`thorn.django.ping.ping`).  A subscription that is
    disabled, expired or not verified is a 409.

    .. versionadded:: 2.0
    """

    def get_serializer_class(self) -> Any:
        return PingSerializer

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Record the ping; answer 202 with its id; then attempt it."""
        subscription = self.get_subscription()
        app = current_app()
        refused = why_not_ping(subscription, app)
        if refused is not None:
            raise Conflict(refused)
        planned = plan_ping(subscription, app)
        url = reverse(
            "webhook:delivery",
            kwargs={"uuid": subscription.uuid, "delivery": planned.id},
            request=request,
        )
        return HandOverResponse(
            self.get_serializer({"id": planned.id, "delivery": url}).data,
            status=status.HTTP_202_ACCEPTED,
            hand_over=partial(attempt_ping, planned, app),
        )


class SubscriberRecover(SubscriptionScoped, generics.GenericAPIView[Any]):
    """``POST /hooks/<uuid>/recover/`` with ``{"since": ...}``: redeliver what failed since (202).

    Every failed and cancelled delivery of the subscription made since
    ``since`` is made due again, at most 10,000 per request (``more`` says
    to post again); the relay sends them.  A disabled subscription is a 409.
    """

    def get_serializer_class(self) -> Any:
        return RecoverSerializer

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Recover; answer 202 with how many deliveries will be sent again."""
        subscription = self.get_subscription()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.require_active()
        since = serializer.validated_data["since"]
        recovered = recover(current_app(), subscription.uuid, since)
        answer = {"since": since, "recovered": recovered.count, "more": recovered.more}
        return Response(self.get_serializer(answer).data, status=status.HTTP_202_ACCEPTED)
