"""``manage.py thorn redeliver <delivery-id>``: attempt a delivery again, with the same id.

.. code-block:: console

    $ python manage.py thorn redeliver 8c0e3f7a-2b1d-5e4f-9a6b-0c1d2e3f4a5b
    Redelivered 8c0e3f7a-2b1d-5e4f-9a6b-0c1d2e3f4a5b (article.created): succeeded, attempt 3, 200.

With the default dispatcher the attempt is made by the command; with the
celery dispatcher it is published to the workers ("handed over").  A
disabled subscription, or a delivery being attempted, is an error (exit
status 1).  ``--json`` prints the delivery as JSON.

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from thorn._state import current_app
from thorn.django.management.subcommands import base
from thorn.django.models import DeliveryRecord
from thorn.recovery import redeliver

__all__ = ["Subcommand"]


class Subcommand(base.Subcommand):
    """Redeliver one delivery, as ``POST .../deliveries/<id>/redeliver/`` does."""

    help = "Attempt a delivery again now, whatever its status, with the same Hook-Delivery id."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("delivery", help="The delivery id (Hook-Delivery).")
        parser.add_argument("--json", action="store_true", help="Print the delivery as JSON.")

    def handle(self, **options: Any) -> None:
        ident = base.parse_uuid(options["delivery"], "delivery")
        record = DeliveryRecord.objects.filter(id=ident).first()
        if record is None:
            raise CommandError(
                f"No delivery {ident} (with THORN_DELIVERY_RECORDS = 'failed', "
                "a delivery that succeeded at once has no record)."
            )
        app = current_app()
        model = app.env.Subscriber  # type: ignore[attr-defined]
        subscription = model._default_manager.filter(uuid=record.subscription).first()
        if subscription is not None and getattr(subscription, "is_active", True) is False:
            raise CommandError(f"Subscription {record.subscription} is disabled: enable it first.")
        redelivery = redeliver(app, [str(ident)])
        if not redelivery.ids:
            raise CommandError(f"Delivery {ident} is being attempted right now: try again later.")
        _handed, cancelled = redelivery.hand_over()
        record.refresh_from_db()
        result = {
            "id": str(record.id),
            "event": record.event,
            "status": record.state,
            "attempts": record.attempts,
            "status_code": record.last_status_code,
            "error": record.last_error,
        }
        if options["json"]:
            self.write_json(result)
            return
        if cancelled:
            raise CommandError(f"Delivery {ident} was cancelled: {record.last_error}")
        if record.done:
            code = record.last_status_code or record.last_error
            self.write(
                f"Redelivered {ident} ({record.event}): {record.state}, "
                f"attempt {record.attempts}, {code}."
            )
        else:
            self.write(f"Redelivery of {ident} ({record.event}) handed over to the workers.")
