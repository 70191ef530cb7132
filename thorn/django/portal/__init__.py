"""The webhooks portal: the pages where a site's users manage their own webhooks.

Install the app and mount its URLs with one ``include()`` (see :doc:`/userguide/portal`):

.. code-block:: python

    INSTALLED_APPS = [..., "thorn.django", "thorn.django.portal"]

    urlpatterns = [
        path("webhooks/", include("thorn.django.portal.urls")),
    ]

.. versionadded:: 2.0
"""

from __future__ import annotations

__all__: list[str] = []
