"""``manage.py thorn ping <uuid>``: send a ``thorn.ping`` event to one subscription, now.

.. code-block:: console

    $ python manage.py thorn ping 2bddb9d1-bf9c-4fb6-9987-5fb076c2e471
    Pinged https://e.com/h/article: 200 in 0.041s (delivery 5d1c...).

The ping is delivered by the command itself, whatever the dispatcher, once
and without retries, signed as any delivery, and recorded (it shows in the
subscription's deliveries): see :func:`thorn.django.ping.ping`.
A failed ping, or a subscription that cannot be pinged (disabled, expired,
or not verified: see :func:`thorn.django.ping.why_not_ping`), is an error
(exit status 1).

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from thorn.django.management.subcommands import base
from thorn.django.ping import PING, ping, why_not_ping
from thorn.utils.redact import redact_url

__all__ = ["PING", "Subcommand"]


class Subcommand(base.Subcommand):
    """Ping a subscription: one delivery of ``thorn.ping``, made and reported at once."""

    help = "Send a thorn.ping event to one subscription now, and report how it answered."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("uuid", help="The subscription's uuid (Hook-Subscription).")
        parser.add_argument("--json", action="store_true", help="Print the outcome as JSON.")

    def handle(self, **options: Any) -> None:
        subscription = self.subscription(options["uuid"])
        refused = why_not_ping(subscription)
        if refused is not None:
            raise CommandError(refused)
        request = ping(subscription)
        outcome = request.outcome
        result = {
            "uuid": str(subscription.uuid),
            "delivery": request.id,
            "ok": bool(outcome and outcome.ok),
            "status_code": outcome and outcome.status,
            "duration": outcome and outcome.latency,
            "error": None if outcome is None or outcome.error is None else str(outcome.error),
        }
        if options["json"]:
            self.write_json(result)
        url = redact_url(subscription.url)
        if not result["ok"]:
            raise CommandError(f"Ping of {url} failed: {result['error']}")
        if not options["json"]:
            self.write(
                f"Pinged {url}: {result['status_code']} in {result['duration']:.3f}s "
                f"(delivery {request.id})."
            )
