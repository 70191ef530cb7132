"""The health of subscriptions, as the API, the admin and ``manage.py thorn list`` show it.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import OuterRef, Subquery

from thorn.django.models.records import DeliveryRecord
from thorn.django.models.subscriber import HEALTH_FIELDS

__all__ = ["ATTEMPT_FIELDS", "has_health", "last_deliveries"]

#: What the API and the admin show of an attempt (the admin shows the response
#: body escaped, as ``response_excerpt``).
ATTEMPT_FIELDS = (
    "number",
    "started_at",
    "duration",
    "status_code",
    "error_class",
    "error",
    "response_headers",
    "response_body",
)


def has_health(model: type[models.Model]) -> bool:
    """True when ``model`` keeps the health of endpoints (the built-in ``Subscriber`` does).

    That is, it has ``is_active``, ``disabled_reason``, ``disabled_at`` and
    ``failing_since``.
    """
    names = {field.name for field in model._meta.get_fields()}
    return {"is_active", *HEALTH_FIELDS} <= names


def last_deliveries(model: type[models.Model], uuids: Iterable[Any]) -> dict[Any, DeliveryRecord]:
    """The newest delivery record of each subscription of ``uuids``, by uuid.

    Two queries whatever their number: the subscriptions, each with the id
    of its newest delivery (one seek in the ``(subscription, -created_at)``
    index each), then those deliveries.  Subscriptions without a recorded
    delivery are left out.
    """
    uuids = list(uuids)
    if not uuids:
        return {}
    newest = (
        DeliveryRecord.objects.filter(subscription=OuterRef("uuid"))
        .order_by("-created_at")
        .values("id")[:1]
    )
    pairs = list(
        model._default_manager.filter(uuid__in=uuids)
        .annotate(thorn_last_delivery=Subquery(newest))
        .values_list("uuid", "thorn_last_delivery")
    )
    records = DeliveryRecord.objects.in_bulk([pk for _, pk in pairs if pk is not None])
    return {uuid: records[pk] for uuid, pk in pairs if pk in records}
