"""Stream leases: the live streams open now, counted per user across processes.

Each open ``GET /hooks/<uuid>/stream/`` holds one :class:`StreamLease` row.
The stream renews it with each heartbeat and deletes it when the client goes
away; a process that dies leaves it behind only until it expires, so the
count of a user's rows not expired is the number of streams they hold, in
every process that shares the database (``THORN_MAX_STREAMS_PER_USER``).

.. versionadded:: 2.0
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["StreamLease"]


class StreamLease(models.Model):
    """One live stream open now: whose, of which subscription, held until when."""

    id = models.UUIDField(_("id"), primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    #: The uuid of the subscription streamed.
    subscription = models.UUIDField(_("subscription"))
    started_at = models.DateTimeField(_("started at"))
    #: Renewed with each heartbeat; a lease past it belongs to a stream that is gone.
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        db_table = "webhooks_stream_lease"
        verbose_name = _("stream lease")
        verbose_name_plural = _("stream leases")
        indexes = [models.Index(fields=["user", "expires_at"], name="webhooks_stream_lease_user")]

    def __str__(self) -> str:
        return f"stream of {self.subscription} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
