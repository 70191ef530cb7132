"""Django admin for subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import django
from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

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
    set, the event is chosen from a list.
    """

    list_display = ("event", "display_url", "user", "content_type", "hmac_digest", "updated_at")
    list_filter = ("event", "content_type", "hmac_digest")
    search_fields = ("url",)
    readonly_fields = ("uuid", "created_at", "updated_at")
    raw_id_fields = ("user",)
    fields = (
        "uuid",
        "event",
        "url",
        "user",
        "content_type",
        "hmac_digest",
        "hmac_secret",
        "created_at",
        "updated_at",
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
