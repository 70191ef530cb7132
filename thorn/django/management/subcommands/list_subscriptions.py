"""``manage.py thorn list``: the subscriptions and the health of their endpoints.

.. code-block:: console

    $ python manage.py thorn list
    2bddb9d1-...  active    article.*  https://e.com/h  last: succeeded 200
    0f4e5b71-...  disabled  *  https://***@old.example/  last: failed 410
        disabled at 2026-05-01T12:00:00+00:00: the URL answered 410 Gone

URLs are shown without their credentials.  ``--disabled`` lists only the
disabled ones; ``--json`` prints one JSON object per subscription.

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
from typing import Any

from thorn._state import current_app
from thorn.django.health import last_deliveries
from thorn.django.management.subcommands import base
from thorn.utils.redact import redact_url

__all__ = ["Subcommand"]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


class Subcommand(base.Subcommand):
    """List the subscriptions, with whether they are active and their last delivery."""

    help = "List the subscriptions and the health of their endpoints (last delivery, failures)."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--disabled", action="store_true", help="Only disabled subscriptions.")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, **options: Any) -> None:
        model = current_app().env.Subscriber  # type: ignore[attr-defined]
        subscriptions = model._default_manager.order_by("created_at")
        if options["disabled"]:
            subscriptions = subscriptions.filter(is_active=False)
        subscriptions = list(subscriptions)
        last = last_deliveries(model, [subscription.uuid for subscription in subscriptions])
        for subscription in subscriptions:
            record = last.get(subscription.uuid)
            row = {
                "uuid": str(subscription.uuid),
                "event": subscription.event,
                "url": redact_url(subscription.url),
                "user": subscription.user_id,
                "is_active": getattr(subscription, "is_active", True),
                "disabled_reason": getattr(subscription, "disabled_reason", ""),
                "disabled_at": _iso(getattr(subscription, "disabled_at", None)),
                "failing_since": _iso(getattr(subscription, "failing_since", None)),
                "last_delivery": None
                if record is None
                else {
                    "id": str(record.id),
                    "status": record.state,
                    "status_code": record.last_status_code,
                    "created_at": _iso(record.created_at),
                },
            }
            if options["json"]:
                self.write_json(row)
            else:
                self._write_row(row)

    def _write_row(self, row: dict[str, Any]) -> None:
        last = row["last_delivery"]
        shown = "none" if last is None else f"{last['status']} {last['status_code'] or ''}"
        state = "active" if row["is_active"] else "disabled"
        self.write(
            f"{row['uuid']}  {state:<8}  {row['event']}  {row['url']}  last: {shown}".rstrip()
        )
        if row["failing_since"]:
            self.write(f"    failing since {row['failing_since']}")
        if not row["is_active"]:
            self.write(f"    disabled at {row['disabled_at']}: {row['disabled_reason']}")
