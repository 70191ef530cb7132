"""The ``/hooks/`` REST API for subscriptions (Django REST Framework).

Mount it with::

    path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook"))
"""
