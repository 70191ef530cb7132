"""The delivery records: the outbox of messages, each delivery, each attempt.

:class:`MessageRecord` is the outbox: one row per message that has a
subscriber, written in the transaction of the change that made it.
:class:`DeliveryRecord` is a message for one subscription: its id is the
``Hook-Delivery`` header, and it holds the state, the attempt count, the
next attempt and the lease of the executor attempting it.
:class:`AttemptRecord` is one attempt: when, how long, what came back.

.. versionadded:: 2.0
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from thorn.django.models.subscriber import CHAR_MAX_LENGTH, URL_MAX_LENGTH

__all__ = ["ACTIVE", "AttemptRecord", "DeliveryRecord", "MessageRecord", "State"]


class State:
    """The states of a delivery."""

    #: Recorded, not attempted yet.
    PENDING = "pending"
    #: Failed, and attempted again at ``next_attempt_at``.
    RETRYING = "retrying"
    #: Delivered (the receiver answered 2xx).
    SUCCEEDED = "succeeded"
    #: Given up, because the retries ran out or the failure cannot get better.
    FAILED = "failed"
    #: Not attempted any more, because its subscription was disabled or removed.
    CANCELLED = "cancelled"
    #: Recorded for the live stream of a stream-only subscription, never POSTed.
    STREAMED = "streamed"

    #: The states, with their names.
    choices = [
        (PENDING, _("pending")),
        (RETRYING, _("retrying")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
        (CANCELLED, _("cancelled")),
        (STREAMED, _("streamed")),
    ]


#: States of a delivery that still has attempts to make.
ACTIVE = (State.PENDING, State.RETRYING)


class MessageRecord(models.Model):
    """One message in the outbox: an event that has at least one subscriber."""

    id = models.UUIDField(_("id"), primary_key=True)
    event = models.CharField(_("event"), max_length=CHAR_MAX_LENGTH)
    #: The encoded :class:`~thorn.messages.Message` (:func:`~thorn.messages.encode_message`).
    data = models.JSONField(_("message"))
    created_at = models.DateTimeField(_("created at"))
    #: When its deliveries were recorded; ``None`` until an executor took it.
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True)
    #: When the relay last handed it over (``None``: never).
    relayed_at = models.DateTimeField(_("relayed at"), null=True, blank=True)

    class Meta:
        db_table = "webhooks_message"
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # The relay's query: messages never planned, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(planned_at__isnull=True),
                name="webhooks_message_unplanned",
            ),
            models.Index(fields=["created_at"], name="webhooks_message_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.id})"


class DeliveryRecord(models.Model):
    """A message for one subscription, with the state of its delivery."""

    #: The ``Hook-Delivery`` header: the same on every attempt.
    id = models.UUIDField(_("id"), primary_key=True)
    message = models.ForeignKey(
        MessageRecord,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("message"),
    )
    #: The subscription's uuid (stored, static or an event's own subscriber).
    subscription = models.UUIDField(_("subscription"))
    event = models.CharField(_("event"), max_length=CHAR_MAX_LENGTH)
    url = models.URLField(_("URL"), max_length=URL_MAX_LENGTH)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    #: The executor attempting it holds it until then (see ``THORN_DELIVERY_LEASE``).
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    #: Which hand-over holds it (an attempt made under another lease is skipped).
    lease = models.CharField(_("lease"), max_length=32, blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(_("last status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")
    last_latency = models.FloatField(_("last latency (s)"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        db_table = "webhooks_delivery"
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            # The relay's query: deliveries with attempts to make, by when.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=ACTIVE),
                name="webhooks_delivery_due",
            ),
            models.Index(fields=["subscription", "-created_at"], name="webhooks_delivery_sub"),
            models.Index(fields=["created_at"], name="webhooks_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.id}): {self.state}"

    @property
    def done(self) -> bool:
        """True when no attempt is left to make."""
        return self.state not in ACTIVE


class AttemptRecord(models.Model):
    """One attempt of a delivery, and what came back."""

    delivery = models.ForeignKey(
        DeliveryRecord, on_delete=models.CASCADE, related_name="history", verbose_name=_("delivery")
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    duration = models.FloatField(_("duration (s)"))
    status_code = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    error_class = models.CharField(_("error class"), max_length=100, blank=True, default="")
    error = models.TextField(_("error"), blank=True, default="")
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    #: The first ``THORN_ATTEMPT_RESPONSE_BYTES`` of the response body, as text.
    response_body = models.TextField(_("response body"), blank=True, default="")

    class Meta:
        db_table = "webhooks_attempt"
        ordering = ["delivery", "number"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        return f"#{self.number}: {self.status_code or self.error_class}"

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error
