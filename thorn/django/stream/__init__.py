"""Live streams of deliveries: ``GET /hooks/<uuid>/stream/`` (Server-Sent Events).

A stream shows a subscription's deliveries as they are recorded, with the
body and the signed headers a ``POST`` carries (:mod:`.frames`), from the
delivery records (:mod:`.feed`): every process that shares the database sees
them, by polling, or at once when Redis pub/sub wakes it up (:mod:`.notify`).
Each open stream holds a lease (:mod:`.leases`), so the number of streams
per user is bounded across processes.  The view is
:class:`thorn.django.rest_framework.stream.SubscriberStream`.

.. versionadded:: 2.0
"""

from __future__ import annotations

__all__: list[str] = []
