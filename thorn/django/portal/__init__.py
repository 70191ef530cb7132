"""The webhooks portal: the pages where a site's users manage their own webhooks.

Mount its URLs with one ``include()`` (see :doc:`/userguide/portal`); its
templates and static files are those of the ``thorn.django`` app:

.. code-block:: python

    urlpatterns = [
        path("webhooks/", include("thorn.django.portal.urls")),
    ]

.. versionadded:: 2.0
"""

from __future__ import annotations

__all__: list[str] = []
