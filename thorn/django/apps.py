"""The ``webhooks`` app configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["WebhooksConfig"]


class WebhooksConfig(AppConfig):
    """Thorn's Django app, labelled ``webhooks`` as in Thorn 1.5."""

    name = "thorn.django"
    label = "webhooks"
    verbose_name = _("Webhooks")
    # Thorn 1.5's table has an ``AutoField`` primary key; projects using
    # ``BigAutoField`` must not get a migration for it.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from thorn import instrument
        from thorn.django import checks, index

        checks.register()
        index.connect()
        instrument.setup()
