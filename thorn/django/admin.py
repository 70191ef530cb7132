"""Django admin for subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import django
from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from thorn._state import current_app
from thorn.conf import event_choices
from thorn.django.models import Subscriber
from thorn.utils.redact import redact_url

__all__ = ["SubscriberAdmin"]

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Subscriber]
else:  # ModelAdmin is generic only in django-stubs
    _ModelAdmin = admin.ModelAdmin


@admin.register(Subscriber)
class SubscriberAdmin(_ModelAdmin):
    """Subscriptions: filtered by event and content type, searched by URL.

    The HMAC secret is not shown in the list, nor the credentials a URL
    may carry (see :func:`~thorn.utils.redact.redact_url`).  With ``THORN_EVENT_CHOICES``
    set, the event is chosen from a list.  The "Rotate secret" action gives
    the selected subscriptions new secrets, with a grace period for the old
    ones (see :meth:`~thorn.django.models.Subscriber.rotate_secret`).

    .. versionchanged:: 2.0
        The "Rotate secret" action.
    """

    list_display = ("event", "display_url", "user", "content_type", "hmac_digest", "updated_at")
    list_filter = ("event", "content_type", "hmac_digest")
    search_fields = ("url",)
    readonly_fields = ("uuid", "previous_hmac_secret_expires", "created_at", "updated_at")
    actions = ("rotate_secret",)
    raw_id_fields = ("user",)
    fields = (
        "uuid",
        "event",
        "url",
        "user",
        "content_type",
        "hmac_digest",
        "hmac_secret",
        "previous_hmac_secret_expires",
        "created_at",
        "updated_at",
    )

    @admin.action(description=_("Rotate secret"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        """Give each selected subscription a new random secret (the old one signs for a while)."""
        count = 0
        for subscriber in queryset:
            subscriber.rotate_secret()
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
