"""The portal's pages of subscriptions: list, create, change, delete, enable, disable, show.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from thorn._state import current_app
from thorn.django.health import has_health, last_deliveries
from thorn.django.models import DeliveryRecord
from thorn.django.ping import ping, why_not_ping
from thorn.django.portal.base import PortalView, SubscriptionView
from thorn.django.portal.forms import SubscriptionForm
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.hmac import signing_secret

__all__ = [
    "DELIVERIES_PER_PAGE",
    "SubscriptionCreate",
    "SubscriptionDelete",
    "SubscriptionDetail",
    "SubscriptionDisable",
    "SubscriptionEdit",
    "SubscriptionEnable",
    "SubscriptionList",
    "SubscriptionPing",
    "SubscriptionRotateSecret",
]

#: Deliveries on one page of a subscription.
DELIVERIES_PER_PAGE = 20


class SubscriptionList(PortalView):
    """ "My webhooks": the user's subscriptions, their health and their last delivery."""

    def get(self, request: HttpRequest) -> HttpResponse:
        subscriptions = list(self.subscriptions().order_by("event", "url"))
        found = last_deliveries(self.model, [item.uuid for item in subscriptions])
        rows = [(item, found.get(item.uuid)) for item in subscriptions]
        return render(request, "thorn/portal/subscription_list.html", self.context(rows=rows))


class SubscriptionCreate(PortalView):
    """Subscribe: the API's validation, messages and per-user limit."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.show(SubscriptionForm(request=request))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SubscriptionForm(request.POST, request=request)
        subscription = form.save() if form.is_valid() else None
        if subscription is None:
            return self.show(form, status=400)
        messages.success(request, _("Subscribed."), fail_silently=True)
        return self.redirect("detail", subscription.uuid)

    def show(self, form: SubscriptionForm, status: int = 200) -> HttpResponse:
        context = self.context(form=form, title=_("New webhook"), submit=_("Subscribe"))
        return render(self.request, "thorn/portal/subscription_form.html", context, status=status)


class SubscriptionEdit(SubscriptionView):
    """Change a subscription's event, URL, content type or digest."""

    def get(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        return self.show(SubscriptionForm(request=request, instance=self.get_subscription()))

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        subscription = self.get_subscription()
        form = SubscriptionForm(request.POST, request=request, instance=subscription)
        if not form.is_valid() or form.save() is None:
            return self.show(form, status=400)
        messages.success(request, _("Saved."), fail_silently=True)
        return self.redirect("detail", subscription.uuid)

    def show(self, form: SubscriptionForm, status: int = 200) -> HttpResponse:
        context = self.context(
            form=form,
            subscription=self.get_subscription(),
            title=_("Change webhook"),
            submit=_("Save"),
        )
        return render(self.request, "thorn/portal/subscription_form.html", context, status=status)


class SubscriptionDelete(SubscriptionView):
    """Ask (``GET``), then delete the subscription (``POST``)."""

    def get(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        context = self.context(subscription=self.get_subscription())
        return render(request, "thorn/portal/subscription_confirm_delete.html", context)

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        self.get_subscription().delete()
        messages.success(request, _("Deleted."), fail_silently=True)
        return self.redirect("list")


class SubscriptionEnable(SubscriptionView):
    """``POST``: make the subscription active again; it forgets that it was failing."""

    http_method_names = ["post"]
    is_active = True

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        subscription = self.get_subscription()
        if not has_health(self.model):  # a THORN_SUBSCRIBER_MODEL without is_active
            raise Http404("this subscriber model cannot be enabled or disabled")
        if subscription.is_active != self.is_active:
            subscription.is_active = self.is_active
            subscription.save()
        message = _("Enabled.") if self.is_active else _("Disabled.")
        messages.success(request, message, fail_silently=True)
        return self.redirect("detail", subscription.uuid)


class SubscriptionDisable(SubscriptionEnable):
    """``POST``: stop sending to the subscription ("disabled by hand")."""

    is_active = False


def _public_key(subscription: Any) -> str | None:
    """The Ed25519 public key of an ``ed25519`` subscription, else ``None``."""
    if getattr(subscription, "signing_algorithm", None) != "ed25519":
        return None
    return getattr(subscription, "signing_public_key", None) or None


class SubscriptionDetail(SubscriptionView):
    """A subscription: its secret on demand, its actions, and its deliveries, newest first.

    ``?secret=show`` reveals the secret.  ``?page=`` pages the deliveries.
    """

    def get(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        subscription = self.get_subscription()
        deliveries = (
            DeliveryRecord.objects.filter(subscription=subscription.uuid)
            .order_by("-created_at", "-id")
            .prefetch_related("history")
        )
        page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
        reveal = request.GET.get("secret") == "show"
        grace = current_app().settings.THORN_SECRET_ROTATION_GRACE
        now = timezone.now()
        context = self.context(
            subscription=subscription,
            page=page,
            secret=subscription.hmac_secret if reveal else None,
            standard_secret=signing_secret(subscription.hmac_secret) if reveal else None,
            grace=timeuntil(now + grace, now) if grace else None,
            previous_secret_expires=_still_valid(subscription, now),
            # Public: shown without asking, unlike the secret.
            public_key=_public_key(subscription),
        )
        return render(request, "thorn/portal/subscription_detail.html", context)


class SubscriptionRotateSecret(SubscriptionView):
    """``POST``: a new random secret; the old one signs too for the grace period."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        subscription = self.get_subscription()
        try:
            subscription.rotate_secret()
        except ImproperlyConfigured as exc:  # an ed25519 key pair, without cryptography
            messages.error(request, str(exc), fail_silently=True)
            return self.redirect("detail", subscription.uuid, fragment="secret")
        messages.success(
            request,
            _("The secret was rotated: give your receiver the new one."),
            fail_silently=True,
        )
        return self.redirect("detail", subscription.uuid, query="secret=show", fragment="secret")


class SubscriptionPing(SubscriptionView):
    """``POST``: "Send test event": a ``thorn.ping`` delivered now (:mod:`thorn.django.ping`)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid: Any) -> HttpResponse:
        refused = self.refuse_disabled()
        if refused is not None:
            return refused
        subscription = self.get_subscription()
        reason = why_not_ping(subscription)  # expired, or not verified: the API's 409
        if reason is not None:
            messages.error(request, reason, fail_silently=True)
            return self.redirect("detail", subscription.uuid)
        outcome = ping(subscription).outcome
        if outcome is not None and outcome.ok:
            message = _("Test event delivered: %(status)s in %(duration).3f s.") % {
                "status": outcome.status,
                "duration": outcome.latency,
            }
            messages.success(request, message, fail_silently=True)
        else:
            error = outcome.error if outcome is not None else None
            messages.error(
                request, _("Test event failed: %(error)s") % {"error": error}, fail_silently=True
            )
        return self.redirect("detail", subscription.uuid, fragment="deliveries")


def _still_valid(subscription: Any, now: Any) -> Any:
    """Until when the previous secret still signs, if it does."""
    expires = getattr(subscription, "previous_hmac_secret_expires", None)
    if getattr(subscription, "previous_hmac_secret", "") and expires is not None and expires > now:
        return expires
    return None
