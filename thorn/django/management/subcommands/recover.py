"""``manage.py thorn recover <uuid> --since <time>``: redeliver what failed since a time.

.. code-block:: console

    $ python manage.py thorn recover 2bddb9d1-bf9c-4fb6-9987-5fb076c2e471 --since 2026-05-01T00:00
    Recovered 12 deliveries of 2bddb9d1-... made since 2026-05-01T00:00:00+00:00: ...

``--since`` is an ISO 8601 date or time (without an offset, in the site's
time zone).  Every failed and cancelled delivery of the subscription made
since then is made due again, at most ``--limit`` (10,000); the relay sends
them.  ``--json`` prints the counts as JSON.

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from django.core.management.base import CommandError

from thorn._state import current_app
from thorn.django.management.subcommands import base
from thorn.django.utils import parse_time
from thorn.recovery import RECOVER_LIMIT, recover

__all__ = ["Subcommand", "parse_since"]


def parse_since(value: str) -> datetime:
    """``--since``: see :func:`thorn.django.utils.parse_time`."""
    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Subcommand(base.Subcommand):
    """Recover a subscription's failed deliveries, as ``POST /hooks/<uuid>/recover/`` does."""

    help = "Redeliver every failed and cancelled delivery of a subscription made since a time."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("uuid", help="The subscription's uuid (Hook-Subscription).")
        parser.add_argument(
            "--since",
            type=parse_since,
            required=True,
            help="ISO 8601 date or time, e.g. 2026-05-01 or 2026-05-01T12:00:00+00:00.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=RECOVER_LIMIT,
            help=f"Recover at most this many (default: {RECOVER_LIMIT}).",
        )
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, **options: Any) -> None:
        subscription = self.subscription(options["uuid"])
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if getattr(subscription, "is_active", True) is False:
            raise CommandError(f"Subscription {subscription.uuid} is disabled: enable it first.")
        since = options["since"]
        recovered = recover(current_app(), subscription.uuid, since, options["limit"])
        if options["json"]:
            self.write_json(
                {
                    "uuid": str(subscription.uuid),
                    "since": since.isoformat(),
                    "recovered": recovered.count,
                    "more": recovered.more,
                }
            )
            return
        self.write(
            f"Recovered {recovered.count} deliveries of {subscription.uuid} made since "
            f"{since.isoformat()}: the relay sends them."
        )
        if recovered.more:
            self.write("More are left: run the command again.")
