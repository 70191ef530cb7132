"""URLs of the ``/hooks/`` API, in the ``webhook`` namespace.

``webhook:list``, ``webhook:detail``, ``webhook:rotate-secret`` and
``webhook:verify`` for subscriptions; ``webhook:deliveries``,
``webhook:delivery``, ``webhook:redeliver``, ``webhook:recover`` and
``webhook:ping`` for their deliveries (see
:mod:`thorn.django.rest_framework.deliveries`); ``webhook:stream`` for their
live stream (see :mod:`thorn.django.rest_framework.stream`);
``webhook:events`` for the event catalog (see
:mod:`thorn.django.rest_framework.catalog`).

.. code-block:: python

    urlpatterns = [
        path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    ]
"""

from __future__ import annotations

import uuid

from django.urls import path, register_converter

from thorn.django.rest_framework.catalog import EventCatalog
from thorn.django.rest_framework.deliveries import (
    DeliveryDetail,
    DeliveryList,
    DeliveryRedeliver,
    SubscriberPing,
    SubscriberRecover,
)
from thorn.django.rest_framework.stream import SubscriberStream
from thorn.django.rest_framework.views import (
    SubscriberDetail,
    SubscriberList,
    SubscriberRotateSecret,
    SubscriberVerify,
)

app_name = "webhook"


class SubscriptionIdConverter:
    """A uuid in any case, with or without hyphens (Django's ``uuid`` is lower case only)."""

    regex = "-?".join(f"[0-9a-fA-F]{{{n}}}" for n in (8, 4, 4, 4, 12))

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value)


register_converter(SubscriptionIdConverter, "webhook_uuid")

urlpatterns = [
    path("", SubscriberList.as_view(), name="list"),
    path("<webhook_uuid:uuid>/", SubscriberDetail.as_view(), name="detail"),
    path(
        "<webhook_uuid:uuid>/rotate-secret/", SubscriberRotateSecret.as_view(), name="rotate-secret"
    ),
    path("<webhook_uuid:uuid>/deliveries/", DeliveryList.as_view(), name="deliveries"),
    path(
        "<webhook_uuid:uuid>/deliveries/<webhook_uuid:delivery>/",
        DeliveryDetail.as_view(),
        name="delivery",
    ),
    path(
        "<webhook_uuid:uuid>/deliveries/<webhook_uuid:delivery>/redeliver/",
        DeliveryRedeliver.as_view(),
        name="redeliver",
    ),
    path("<webhook_uuid:uuid>/recover/", SubscriberRecover.as_view(), name="recover"),
    path("<webhook_uuid:uuid>/ping/", SubscriberPing.as_view(), name="ping"),
    path("<webhook_uuid:uuid>/verify/", SubscriberVerify.as_view(), name="verify"),
    path("events/", EventCatalog.as_view(), name="events"),
    path("<webhook_uuid:uuid>/stream/", SubscriberStream.as_view(), name="stream"),
]
