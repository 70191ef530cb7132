"""``manage.py thorn prune``: delete old records, and subscriptions expired or forgotten.

.. versionchanged:: 2.0
    Expired subscriptions are deleted too (see :mod:`thorn.django.leases`),
    and stream-only subscriptions nobody reads (see :doc:`/userguide/stream`).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.management import CommandError

from thorn._state import current_app
from thorn.django.leases import expired_grace, prune_expired
from thorn.django.management.subcommands import base
from thorn.django.stream.leases import prune_stream_subscriptions

__all__ = ["Subcommand"]


class Subcommand(base.Subcommand):
    """Delete the records older than ``THORN_DELIVERY_RETENTION`` (or ``--days``), in batches.

    And the subscriptions whose lease ended more than
    ``THORN_EXPIRED_SUBSCRIPTION_GRACE`` ago, and the stream-only
    subscriptions whose stream nobody read for ``THORN_STREAM_SUBSCRIPTION_TTL``.
    """

    help = (
        "Delete delivery records (messages, deliveries, attempts) older than "
        "THORN_DELIVERY_RETENTION; deliveries with attempts still to make are kept. "
        "Delete subscriptions expired for longer than THORN_EXPIRED_SUBSCRIPTION_GRACE, "
        "and the stream-only subscriptions nobody read for THORN_STREAM_SUBSCRIPTION_TTL."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=None,
            help="Keep this many days instead of THORN_DELIVERY_RETENTION.",
        )
        parser.add_argument("--json", action="store_true", help="Print the count as JSON.")

    def handle(self, **options: Any) -> None:
        app = current_app()
        days = options["days"]
        if days is not None and days <= 0:
            raise CommandError(f"--days must be above 0, not {days}")
        retention = (
            timedelta(days=days)
            if days is not None
            else timedelta(seconds=float(app.settings.THORN_DELIVERY_RETENTION))
        )
        deleted = app.store.prune(datetime.now(timezone.utc) - retention)
        grace = expired_grace(app)
        expired = prune_expired(app, grace=grace)
        ttl = timedelta(seconds=float(app.settings.THORN_STREAM_SUBSCRIPTION_TTL))
        forgotten = prune_stream_subscriptions(app.env.Subscriber, ttl)  # type: ignore[attr-defined]
        if options["json"]:
            self.write_json(
                {
                    "deleted": deleted,
                    "retention_seconds": retention.total_seconds(),
                    "expired_subscriptions": expired,
                    "grace_seconds": grace.total_seconds(),
                    "stream_subscriptions_deleted": forgotten,
                }
            )
        else:
            self.write(f"Deleted {deleted} records older than {retention}.")
            self.write(f"Deleted {expired} subscriptions expired for longer than {grace}.")
            self.write(f"Deleted {forgotten} stream-only subscriptions nobody read for {ttl}.")
