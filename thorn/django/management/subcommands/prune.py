"""``manage.py thorn prune``: delete old records, and subscriptions expired or forgotten.

.. versionchanged:: 2.0
    Expired subscriptions are deleted too (see :mod:`thorn.django.leases`),
    and stream-only subscriptions nobody reads (see :doc:`/userguide/stream`).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.core.management import CommandError

from thorn._state import current_app
from thorn.django.management.subcommands import base
from thorn.django.prune import prune

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
        days = options["days"]
        if days is not None and days <= 0:
            raise CommandError(f"--days must be above 0, not {days}")
        pruned = prune(current_app(), None if days is None else timedelta(days=days))
        if options["json"]:
            self.write_json(
                {
                    "deleted": pruned.records,
                    "retention_seconds": pruned.retention.total_seconds(),
                    "expired_subscriptions": pruned.expired_subscriptions,
                    "grace_seconds": pruned.grace.total_seconds(),
                    "stream_subscriptions_deleted": pruned.stream_subscriptions,
                }
            )
        else:
            self.write(f"Deleted {pruned.records} records older than {pruned.retention}.")
            self.write(
                f"Deleted {pruned.expired_subscriptions} subscriptions "
                f"expired for longer than {pruned.grace}."
            )
            self.write(
                f"Deleted {pruned.stream_subscriptions} stream-only subscriptions "
                f"nobody read for {pruned.stream_ttl}."
            )
