"""URLs of the webhooks portal, in the ``thorn_portal`` namespace.

.. code-block:: python

    urlpatterns = [
        path("webhooks/", include("thorn.django.portal.urls")),
    ]

========================================  ==================================
URL                                       Name
========================================  ==================================
``""``                                    ``thorn_portal:list``
``new/``                                  ``thorn_portal:create``
``<uuid>/``                               ``thorn_portal:detail``
``<uuid>/edit/``                          ``thorn_portal:edit``
``<uuid>/delete/``                        ``thorn_portal:delete``
``<uuid>/enable/``                        ``thorn_portal:enable``
``<uuid>/disable/``                       ``thorn_portal:disable``
``<uuid>/rotate-secret/``                 ``thorn_portal:rotate-secret``
``<uuid>/ping/``                          ``thorn_portal:ping``
``<uuid>/recover/``                       ``thorn_portal:recover``
``<uuid>/deliveries/<id>/redeliver/``     ``thorn_portal:redeliver``
========================================  ==================================

.. versionadded:: 2.0
"""

from __future__ import annotations

from django.urls import path

from thorn.django.portal import deliveries, views
from thorn.django.portal.base import NAMESPACE

__all__ = ["app_name", "urlpatterns"]

app_name = NAMESPACE

urlpatterns = [
    path("", views.SubscriptionList.as_view(), name="list"),
    path("new/", views.SubscriptionCreate.as_view(), name="create"),
    path("<uuid:uuid>/", views.SubscriptionDetail.as_view(), name="detail"),
    path("<uuid:uuid>/edit/", views.SubscriptionEdit.as_view(), name="edit"),
    path("<uuid:uuid>/delete/", views.SubscriptionDelete.as_view(), name="delete"),
    path("<uuid:uuid>/enable/", views.SubscriptionEnable.as_view(), name="enable"),
    path("<uuid:uuid>/disable/", views.SubscriptionDisable.as_view(), name="disable"),
    path(
        "<uuid:uuid>/rotate-secret/",
        views.SubscriptionRotateSecret.as_view(),
        name="rotate-secret",
    ),
    path("<uuid:uuid>/ping/", views.SubscriptionPing.as_view(), name="ping"),
    path("<uuid:uuid>/recover/", deliveries.SubscriptionRecover.as_view(), name="recover"),
    path(
        "<uuid:uuid>/deliveries/<uuid:delivery>/redeliver/",
        deliveries.DeliveryRedeliver.as_view(),
        name="redeliver",
    ),
]
