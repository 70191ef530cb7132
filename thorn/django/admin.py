"""Django admin for subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import django
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from thorn._state import current_app
from thorn.conf import event_choices
from thorn.django.health import ATTEMPT_FIELDS, last_deliveries
from thorn.django.models import AttemptRecord, DeliveryRecord, Subscriber
from thorn.django.utils import parse_time
from thorn.exceptions import ImproperlyConfigured
from thorn.recovery import recover, redeliver
from thorn.utils.redact import redact_url

__all__ = ["AttemptInline", "DeliveryAdmin", "SubscriberAdmin"]

#: The attribute of a subscriber that holds its last delivery, in the changelist.
_LAST = "_thorn_last_delivery"

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Subscriber]
    _DeliveryAdmin = admin.ModelAdmin[DeliveryRecord]
    _AttemptInline = admin.TabularInline[AttemptRecord, DeliveryRecord]
else:  # ModelAdmin is generic only in django-stubs
    _ModelAdmin = _DeliveryAdmin = admin.ModelAdmin
    _AttemptInline = admin.TabularInline


@admin.register(Subscriber)
class SubscriberAdmin(_ModelAdmin):
    """Subscriptions: filtered by event and content type, searched by URL.

    The HMAC secret is not shown in the list, nor the credentials a URL
    may carry (see :func:`~thorn.utils.redact.redact_url`).  With ``THORN_EVENT_CHOICES``
    set, the event is chosen from a list.  The "Rotate secret" action gives
    the selected subscriptions new secrets, with a grace period for the old
    ones (see :meth:`~thorn.django.models.Subscriber.rotate_secret`).

    The health of each endpoint shows: whether it is active, its last
    delivery, since when it fails and why it was disabled; the "Enable"
    action enables the selected ones again (see
    :meth:`~thorn.django.models.Subscriber.save`), and each links to its
    deliveries.

    The signing algorithm can be chosen (``hmac`` or ``ed25519``); the
    public key of an ``ed25519`` subscription shows, never its private key.

    The subscriber's ``filter`` can be edited; the lease (``expires_at``)
    and the verification of intent (``verified``, and why and when it last
    failed) show, and the list is filtered by them.

    .. versionchanged:: 2.0
        The "Rotate secret" and "Enable" actions, the health, the filter,
        the lease, the verification of intent, the delivery mode (POST or
        stream only), when the stream was last read, and the signing algorithm.
    """

    list_display = (
        "event",
        "display_url",
        "delivery_mode",
        "user",
        "is_active",
        "verified",
        "expires_at",
        "last_delivery",
        "failing_since",
        "updated_at",
    )
    list_filter = (
        "is_active",
        "verified",
        "delivery_mode",
        "event",
        "content_type",
        "hmac_digest",
        "signing_algorithm",
    )
    search_fields = ("url",)
    readonly_fields = (
        "uuid",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "last_delivery",
        "deliveries",
        "signing_public_key",
        "previous_hmac_secret_expires",
        "verification_error",
        "verification_attempted_at",
        "stream_seen_at",
        "created_at",
        "updated_at",
    )
    actions = ("rotate_secret", "enable")
    raw_id_fields = ("user",)
    fields = (
        "uuid",
        "event",
        "delivery_mode",
        "url",
        "user",
        "content_type",
        "hmac_digest",
        "hmac_secret",
        "signing_algorithm",
        "signing_public_key",
        "previous_hmac_secret_expires",
        "filter",
        "expires_at",
        "verified",
        "verification_error",
        "verification_attempted_at",
        "is_active",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "last_delivery",
        "deliveries",
        "stream_seen_at",
        "created_at",
        "updated_at",
    )

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """The changelist, with the last delivery of its page's subscriptions (two queries)."""
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        found = last_deliveries(self.model, [row.uuid for row in rows])
        for row in rows:
            setattr(row, _LAST, found.get(row.uuid))
        return changelist

    @admin.display(description=_("last delivery"))
    def last_delivery(self, subscriber: Subscriber) -> str:
        """The status of the newest delivery, and the status code of its last answer."""
        if not hasattr(subscriber, _LAST):
            found = last_deliveries(type(subscriber), [subscriber.uuid])
            setattr(subscriber, _LAST, found.get(subscriber.uuid))
        record: DeliveryRecord | None = getattr(subscriber, _LAST)
        if record is None:
            return "-"
        return f"{record.state} {record.last_status_code or ''}".strip()

    @admin.display(description=_("deliveries"))
    def deliveries(self, subscriber: Subscriber) -> str:
        """A link to the subscription's deliveries."""
        if subscriber.pk is None:
            return "-"
        url = reverse("admin:webhooks_deliveryrecord_changelist")
        return format_html('<a href="{}?subscription={}">{}</a>', url, subscriber.uuid, _("Show"))

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        """Enable the selected disabled subscriptions again: they start afresh."""
        count = 0
        for subscriber in queryset.filter(is_active=False):
            subscriber.is_active = True
            subscriber.save(update_fields=["is_active", "updated_at"])
            count += 1
        self.message_user(
            request,
            ngettext("Enabled %(count)d subscription.", "Enabled %(count)d subscriptions.", count)
            % {"count": count},
        )

    @admin.action(description=_("Rotate secret"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        """Give each selected subscription a new random secret (the old one signs for a while)."""
        count = 0
        for subscriber in queryset:
            try:
                subscriber.rotate_secret()
            except ImproperlyConfigured as exc:  # an ed25519 key pair, without cryptography
                self.message_user(request, f"{subscriber.uuid}: {exc}", level=messages.ERROR)
                continue
            count += 1
        self.message_user(
            request,
            ngettext(
                "Rotated the secret of %(count)d subscription: its old secret signs "
                "deliveries too until the end of the grace period.",
                "Rotated the secrets of %(count)d subscriptions: their old secrets sign "
                "deliveries too until the end of the grace period.",
                count,
            )
            % {"count": count},
        )

    @admin.display(description=_("URL"), ordering="url")
    def display_url(self, subscriber: Subscriber) -> str:
        """The URL without its credentials (userinfo, secret-looking parameters)."""
        return redact_url(subscriber.url)

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        choices = event_choices(current_app().settings)
        if db_field.name == "event" and choices:
            return forms.ChoiceField(
                choices=choices, label=db_field.verbose_name, help_text=db_field.help_text
            )
        if db_field.name == "url" and django.VERSION >= (5, 0):
            kwargs["assume_scheme"] = "https"  # Django 6's default, without its warning
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class SubscriptionFilter(admin.SimpleListFilter):
    """Deliveries of one subscription (``?subscription=<uuid>``, any uuid)."""

    title = _("subscription")
    parameter_name = "subscription"
    #: Subscriptions offered in the sidebar, at most.
    shown = 50

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        subscribers = Subscriber.objects.order_by("url")[: self.shown]
        return [(str(subscriber.uuid), str(subscriber)) for subscriber in subscribers]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        try:
            subscription = uuid.UUID(value)
        except ValueError:
            subscription = None
        filtered: QuerySet[Any] = (
            queryset.none() if subscription is None else queryset.filter(subscription=subscription)
        )
        return filtered


#: An attempt's fields in the admin: the response body as ``response_excerpt``, escaped.
_SHOWN_ATTEMPT_FIELDS = tuple(
    "response_excerpt" if name == "response_body" else name for name in ATTEMPT_FIELDS
)


class AttemptInline(_AttemptInline):
    """The attempts of a delivery, oldest first, read-only; the response excerpt as text."""

    model = AttemptRecord
    extra = 0
    can_delete = False
    fields = _SHOWN_ATTEMPT_FIELDS
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("response body"))
    def response_excerpt(self, attempt: AttemptRecord) -> str:
        """The start of the response body, escaped: shown as text, never rendered as HTML."""
        return format_html("<pre>{}</pre>", attempt.response_body)


#: The intermediate page of the "Recover failed since..." action.
_RECOVER_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>{{ intro }}</p>
<form method="post">{% csrf_token %}
  {% for pk in selected %}<input type="hidden" name="_selected_action" value="{{ pk }}">{% endfor %}
  <input type="hidden" name="action" value="recover">
  <p><label for="id_since">{{ label }}</label>
     <input type="text" name="since" id="id_since" value="{{ since }}" size="32"></p>
  {% if error %}<p class="errornote">{{ error }}</p>{% endif %}
  <input type="submit" name="apply" value="{{ button }}">
</form>
{% endblock %}
"""


@admin.register(DeliveryRecord)
class DeliveryAdmin(_DeliveryAdmin):
    """Deliveries: filtered by status, event, subscription and date, with their attempts.

    Read-only.  The "Redeliver" action (and the button of a delivery's page)
    attempts the selected deliveries again with the same ids; "Recover
    failed since..." asks for a time, then makes the failed and cancelled
    deliveries of the selected deliveries' subscriptions since then due
    for the relay.  Both need the change permission on deliveries.

    .. versionadded:: 2.0
    """

    list_display = (
        "id",
        "event",
        "subscription",
        "state",
        "attempts",
        "last_status_code",
        "created_at",
        "last_attempt_at",
    )
    list_filter = ("state", "event", SubscriptionFilter, "created_at")
    date_hierarchy = "created_at"
    search_fields = ("=id", "=subscription")
    ordering = ("-created_at",)
    inlines = (AttemptInline,)
    actions = ("redeliver", "recover")
    fields = (
        "id",
        "message",
        "subscription",
        "event",
        "display_url",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "last_latency",
        "last_attempt_at",
        "created_at",
        "completed_at",
        "redeliver_button",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("URL"))
    def display_url(self, record: DeliveryRecord) -> str:
        """The URL without its credentials."""
        return redact_url(record.url)

    @admin.display(description=_("redeliver"))
    def redeliver_button(self, record: DeliveryRecord) -> str:
        """A button that posts the change form to the redelivery view."""
        return format_html(
            '<button type="submit" formaction="{}" class="button">{}</button>',
            reverse("admin:webhooks_deliveryrecord_redeliver", args=[record.pk]),
            _("Redeliver now"),
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.redeliver_view))
        return [
            path("<path:object_id>/redeliver/", view, name="webhooks_deliveryrecord_redeliver"),
            *super().get_urls(),
        ]

    def redeliver_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: redeliver one delivery (403 without the change permission)."""
        record = get_object_or_404(DeliveryRecord, pk=object_id)
        if not self.has_change_permission(request, record):
            raise PermissionDenied
        self.redeliver(request, DeliveryRecord.objects.filter(pk=record.pk))
        return HttpResponseRedirect(
            reverse("admin:webhooks_deliveryrecord_change", args=[record.pk])
        )

    @admin.action(description=_("Redeliver"), permissions=["change"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[DeliveryRecord]) -> None:
        """Attempt the selected deliveries again now, with the same ids."""
        active = set(
            Subscriber.objects.filter(
                uuid__in=queryset.values("subscription"), is_active=False
            ).values_list("uuid", flat=True)
        )
        ids = [
            str(pk) for pk, sub in queryset.values_list("pk", "subscription") if sub not in active
        ]
        redelivery = redeliver(current_app(), ids)
        handed, cancelled = redelivery.hand_over()
        skipped = len(ids) - len(redelivery.ids)
        self.message_user(
            request,
            _(
                "Redelivered %(handed)d deliveries; %(skipped)d being attempted and "
                "%(disabled)d to disabled subscriptions were left alone, %(cancelled)d cancelled."
            )
            % {
                "handed": handed,
                "skipped": skipped,
                "disabled": queryset.count() - len(ids),
                "cancelled": cancelled,
            },
        )

    @admin.action(description=_("Recover failed since..."), permissions=["change"])
    def recover(
        self, request: HttpRequest, queryset: QuerySet[DeliveryRecord]
    ) -> TemplateResponse | None:
        """Ask for a time, then recover the selected deliveries' subscriptions since then."""
        subscriptions = sorted({str(s) for s in queryset.values_list("subscription", flat=True)})
        oldest = queryset.order_by("created_at").values_list("created_at", flat=True).first()
        since_text = request.POST.get("since")
        error = ""
        if since_text is not None:
            try:
                since = parse_time(since_text)
            except ValueError as exc:
                error = str(exc)
            else:
                count = 0
                active = Subscriber.objects.filter(uuid__in=subscriptions, is_active=True)
                for subscription in active.values_list("uuid", flat=True):
                    count += recover(current_app(), subscription, since).count
                self.message_user(
                    request,
                    _(
                        "Recovered %(count)d deliveries of %(subscriptions)d subscriptions since "
                        "%(since)s: the relay sends them."
                    )
                    % {"count": count, "subscriptions": len(subscriptions), "since": since},
                )
                return None
        page = engines["django"].from_string(_RECOVER_PAGE)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Recover failed deliveries"),
            "intro": _(
                "Redeliver the failed and cancelled deliveries of %(n)d subscriptions made since:"
            )
            % {"n": len(subscriptions)},
            "label": _("Since (ISO 8601)"),
            "since": since_text or (timezone.localtime(oldest).isoformat() if oldest else ""),
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "button": _("Recover"),
            "error": error,
        }
        return TemplateResponse(request, page, context)
