"""thorn's models: the subscriptions, and the records of their deliveries.

:class:`Subscriber` is a subscription (Thorn 1.5's table); the delivery
records are in ``thorn.django.models.records``, the leases of live streams
in ``thorn.django.models.streams``.

.. versionchanged:: 2.0
    A package: ``thorn.django.models.subscriber`` and
    ``thorn.django.models.records``; import from ``thorn.django.models`` as
    before.
"""

from __future__ import annotations

from thorn.django.index import SubscriptionsVersion
from thorn.django.models.records import (
    ACTIVE,
    AttemptRecord,
    DeliveryRecord,
    MessageRecord,
    State,
)
from thorn.django.models.streams import StreamLease
from thorn.django.models.subscriber import (
    CHAR_MAX_LENGTH,
    CONTENT_TYPES,
    HMAC_DIGESTS,
    URL_MAX_LENGTH,
    Subscriber,
    random_secret64,
    validate_event_pattern,
)

__all__ = [
    "ACTIVE",
    "CHAR_MAX_LENGTH",
    "CONTENT_TYPES",
    "HMAC_DIGESTS",
    "URL_MAX_LENGTH",
    "AttemptRecord",
    "DeliveryRecord",
    "MessageRecord",
    "State",
    "StreamLease",
    "Subscriber",
    "SubscriptionsVersion",
    "random_secret64",
    "validate_event_pattern",
]
