"""URLs of the ``/hooks/`` API: ``webhook:list`` and ``webhook:detail``.

.. code-block:: python

    urlpatterns = [
        path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    ]
"""

from __future__ import annotations

from django.urls import path

from thorn.django.rest_framework.views import SubscriberDetail, SubscriberList

app_name = "webhook"

urlpatterns = [
    path("", SubscriberList.as_view(), name="list"),
    path("<uuid:uuid>/", SubscriberDetail.as_view(), name="detail"),
]
