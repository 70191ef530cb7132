"""The portal's actions on a subscription's deliveries: redeliver one, recover those that failed.

Both go through the delivery engine (:mod:`thorn.recovery`), as the API's
``redeliver`` and ``recover`` do, and refuse a disabled subscription.  A
redelivery is handed over before the page is shown again, so its attempt is
listed at once; recovered deliveries are sent by the relay.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from thorn._state import current_app
from thorn.django.models import DeliveryRecord
from thorn.django.portal.base import SubscriptionView
from thorn.django.rest_framework.deliveries import RecoverSerializer
from thorn.recovery import recover, redeliver
from thorn.utils.log import get_logger

__all__ = ["DeliveryRedeliver", "SubscriptionRecover"]

logger = get_logger(__name__)


class DeliveryRedeliver(SubscriptionView):
    """``POST``: attempt one delivery of the subscription again, with the same id."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid: Any, delivery: Any) -> HttpResponse:
        subscription = self.get_subscription()
        deliveries = DeliveryRecord.objects.filter(subscription=subscription.uuid)
        record = get_object_or_404(deliveries, id=delivery)
        refused = self.refuse_disabled()
        if refused is not None:
            return refused
        redelivery = redeliver(current_app(), [str(record.id)])
        if not redelivery.ids:
            messages.error(
                request,
                _("This delivery is being attempted right now: try again later."),
                fail_silently=True,
            )
        else:
            try:
                redelivery.hand_over()
            except Exception:
                # The lease runs out and the relay makes it: not the user's problem.
                logger.exception("Handing over a redelivery failed: the relay will make it")
            messages.success(request, _("Redelivered."), fail_silently=True)
        return self.redirect("detail", subscription.uuid, fragment="deliveries")


class SubscriptionRecover(SubscriptionView):
    """``POST`` ``since``: send again every delivery that failed (or was cancelled) since then."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        subscription = self.get_subscription()
        serializer = RecoverSerializer(data={"since": request.POST.get("since", "")})
        if not serializer.is_valid():
            for error in serializer.errors.get("since", []):
                messages.error(request, str(error), fail_silently=True)
            return self.redirect("detail", subscription.uuid, fragment="deliveries")
        refused = self.refuse_disabled()
        if refused is not None:
            return refused
        recovered = recover(current_app(), subscription.uuid, serializer.validated_data["since"])
        message = ngettext(
            "%(count)d failed delivery will be sent again.",
            "%(count)d failed deliveries will be sent again.",
            recovered.count,
        ) % {"count": recovered.count}
        if recovered.more:
            message += " " + _("There are more: recover again for the rest.")
        messages.success(request, message, fail_silently=True)
        return self.redirect("detail", subscription.uuid, fragment="deliveries")
