"""``manage.py thorn rotate-secret <uuid>``: give a subscription a new random secret.

.. code-block:: console

    $ python manage.py thorn rotate-secret 2bddb9d1-bf9c-4fb6-9987-5fb076c2e471
    Rotated the secret of subscription 2bddb9d1-bf9c-4fb6-9987-5fb076c2e471.
    hmac_secret: ...
    signing_secret: whsec_...
    signing_public_key: whpk_...
    The previous secret also signs deliveries until 2026-05-02T12:00:00+00:00.

(``signing_public_key`` only for an ``ed25519`` subscription, whose key
pair is rotated too.)  ``--json`` prints the same as one JSON object; ``--grace SECONDS`` overrides
``THORN_SECRET_ROTATION_GRACE`` (``--grace 0`` for a secret that leaked).

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
import math
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError

from thorn.django.management.subcommands import base
from thorn.django.models.subscriber import ED25519
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.hmac import signing_secret

__all__ = ["Subcommand"]


def _seconds(value: str) -> timedelta:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds of at least 0: {value!r}")
    return timedelta(seconds=seconds)


class Subcommand(base.Subcommand):
    """Rotate the secret of one subscription, as ``POST /hooks/<uuid>/rotate-secret/`` does."""

    help = "Give a subscription a new random secret; the old one signs during a grace period."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("uuid", help="The subscription's uuid (Hook-Subscription).")
        parser.add_argument(
            "--grace",
            type=_seconds,
            default=None,
            metavar="SECONDS",
            help="How long the old secret keeps signing (default: THORN_SECRET_ROTATION_GRACE).",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, **options: Any) -> None:
        subscriber = self.subscription(options["uuid"])
        ident = subscriber.uuid
        try:
            secret = subscriber.rotate_secret(grace=options["grace"])
        except ImproperlyConfigured as exc:  # an ed25519 key pair, without cryptography
            raise CommandError(str(exc)) from exc
        expires = getattr(subscriber, "previous_hmac_secret_expires", None)
        public_key = None
        if getattr(subscriber, "signing_algorithm", None) == ED25519:
            public_key = subscriber.signing_public_key or None
        result = {
            "uuid": str(ident),
            "hmac_secret": secret,
            "signing_secret": signing_secret(secret),
            "signing_public_key": public_key,
            "previous_secret_expires": expires.isoformat() if expires else None,
        }
        if options["json"]:
            self.write_json(result)
            return
        self.write(f"Rotated the secret of subscription {ident}.")
        self.write(f"hmac_secret: {secret}")
        self.write(f"signing_secret: {result['signing_secret']}")
        if public_key:
            self.write(f"signing_public_key: {public_key}")
        if expires is None:
            self.write("The previous secret no longer signs deliveries.")
        else:
            self.write(f"The previous secret also signs deliveries until {expires.isoformat()}.")
