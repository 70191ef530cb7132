"""Leases: subscriptions that expire, and deleting those expired long ago.

A subscription made with ``lease_seconds`` has an ``expires_at``; from
then on it receives nothing (the subscription index compares
``expires_at`` with the time of each lookup), until a ``PATCH`` with
``lease_seconds`` renews it.  :func:`prune_expired` (``manage.py thorn
prune``) deletes those expired longer than
:setting:`THORN_EXPIRED_SUBSCRIPTION_GRACE`, which leaves the subscriber
time to renew.

.. versionadded:: 2.0
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from thorn._state import app_or_default

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = ["expired_grace", "prune_expired"]


def expired_grace(app: Thorn | None = None) -> timedelta:
    """:setting:`THORN_EXPIRED_SUBSCRIPTION_GRACE` as a :class:`~datetime.timedelta`."""
    grace = app_or_default(app).settings.THORN_EXPIRED_SUBSCRIPTION_GRACE
    return grace if isinstance(grace, timedelta) else timedelta(seconds=float(grace))


def prune_expired(
    app: Thorn | None = None, now: datetime | None = None, grace: timedelta | None = None
) -> int:
    """Delete the subscriptions expired for longer than ``grace``; return how many.

    Arguments:
        app: The Thorn app (the current one by default).
        now: The time to compare with (the current time by default).
        grace: How long an expired subscription is kept
            (:setting:`THORN_EXPIRED_SUBSCRIPTION_GRACE` by default).
    """
    app = app_or_default(app)
    model = app.env.Subscriber  # type: ignore[attr-defined]
    fields = {field.name for field in model._meta.get_fields()}
    if "expires_at" not in fields:
        return 0
    cutoff = (now or timezone.now()) - (expired_grace(app) if grace is None else grace)
    # Only the subscriptions are counted, not what the delete cascaded to.
    by_model = model._default_manager.filter(expires_at__lte=cutoff).delete()[1]
    count: int = by_model.get(model._meta.label, 0)
    return count
