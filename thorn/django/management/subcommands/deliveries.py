"""``manage.py thorn deliveries <uuid>``: a subscription's deliveries, newest first.

.. code-block:: console

    $ python manage.py thorn deliveries 2bddb9d1-bf9c-4fb6-9987-5fb076c2e471 --status failed
    2026-05-02T10:00:03+00:00  8c0e3f7a-...  article.created  failed  2 attempts  503

``--status`` (repeatable) and ``--event`` filter, ``--limit`` (default 20)
bounds, and ``--json`` prints one JSON object per delivery.

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
from typing import Any

from thorn.django.management.subcommands import base
from thorn.django.models import DeliveryRecord, State

__all__ = ["Subcommand"]


class Subcommand(base.Subcommand):
    """Show the deliveries of one subscription, as ``GET /hooks/<uuid>/deliveries/`` does."""

    help = "Show a subscription's deliveries, newest first: status, attempts, last answer."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("uuid", help="The subscription's uuid (Hook-Subscription).")
        parser.add_argument(
            "--status",
            action="append",
            choices=[value for value, _label in State.choices],
            help="Only deliveries of this status (repeat for several).",
        )
        parser.add_argument("--event", help="Only deliveries of this event.")
        parser.add_argument(
            "--limit", type=int, default=20, help="Show at most this many (default: 20)."
        )
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, **options: Any) -> None:
        subscription = self.subscription(options["uuid"])
        if options["limit"] < 1:
            from django.core.management import CommandError

            raise CommandError("--limit must be at least 1")
        deliveries = DeliveryRecord.objects.filter(subscription=subscription.uuid)
        if options["status"]:
            deliveries = deliveries.filter(state__in=options["status"])
        if options["event"]:
            deliveries = deliveries.filter(event=options["event"])
        for record in deliveries.order_by("-created_at", "-id")[: options["limit"]]:
            row = {
                "id": str(record.id),
                "event": record.event,
                "status": record.state,
                "attempts": record.attempts,
                "status_code": record.last_status_code,
                "error": record.last_error,
                "created_at": record.created_at.isoformat(),
                "next_attempt_at": record.next_attempt_at and record.next_attempt_at.isoformat(),
            }
            if options["json"]:
                self.write_json(row)
                continue
            answer = record.last_status_code or record.last_error or ""
            self.write(
                f"{row['created_at']}  {row['id']}  {record.event}  {record.state}  "
                f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}  {answer}".rstrip()
            )
