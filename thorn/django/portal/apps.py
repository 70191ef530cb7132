"""The portal's app configuration: it brings the portal's templates and static files."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["PortalConfig"]


class PortalConfig(AppConfig):
    """The webhooks portal, labelled ``thorn_portal`` (it has no models).

    .. versionadded:: 2.0
    """

    name = "thorn.django.portal"
    label = "thorn_portal"
    verbose_name = _("Webhooks portal")
