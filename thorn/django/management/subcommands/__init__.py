"""The subcommands of ``manage.py thorn``: one module each, listed in :data:`SUBCOMMANDS`.

A subcommand module defines a :class:`~thorn.django.management.subcommands.base.Subcommand`
subclass named ``Subcommand``.
"""

from __future__ import annotations

#: Subcommand name -> module (under ``thorn.django.management.subcommands``), in help order.
SUBCOMMANDS: dict[str, str] = {
    "list": "list_subscriptions",
    "deliveries": "deliveries",
    "redeliver": "redeliver",
    "recover": "recover",
    "ping": "ping",
    "relay": "relay",
    "prune": "prune",
    "rotate-secret": "rotate_secret",
}
