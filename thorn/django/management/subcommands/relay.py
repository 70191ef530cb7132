"""``manage.py thorn relay``: hand over what the executors lost, and what is due again.

A pass that fails on the database (a restart, a failover, a lost
connection) does not end the relay: the error is logged, the broken
connection closed, and the next pass made after ``--interval`` seconds,
doubled after each further failure up to :data:`MAX_BACKOFF` (or
``--interval``, if longer).
"""

from __future__ import annotations

import argparse
import signal
from threading import Event
from typing import Any

from django.db import Error as DatabaseError
from django.db import close_old_connections

from thorn._state import current_app
from thorn.django.management.subcommands import base
from thorn.relay import BATCH, relay_once
from thorn.utils.log import get_logger

__all__ = ["MAX_BACKOFF", "Subcommand"]

#: The longest wait after failed passes (seconds).
MAX_BACKOFF = 60.0

logger = get_logger(__name__)


class Subcommand(base.Subcommand):
    """Run the relay: a pass every ``--interval`` seconds, or one pass with ``--once``.

    It stops after the pass in progress on SIGTERM or SIGINT (Ctrl-C).  A
    pass that fails on the database is logged and made again later; with
    ``--once`` the error ends the command.
    """

    help = (
        "Hand over outbox messages that were never handed over, and deliveries whose "
        "retry is due or whose worker died (see thorn.relay)."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one pass, then exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between passes (default: 1).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=BATCH,
            help=f"Messages, and deliveries, taken at most per pass (default: {BATCH}).",
        )
        parser.add_argument("--json", action="store_true", help="Print each pass as JSON.")

    def handle(self, **options: Any) -> None:
        if options["interval"] <= 0 or options["limit"] < 1:
            from django.core.management import CommandError

            raise CommandError("--interval must be above 0 and --limit at least 1")
        stop = Event()
        if not options["once"]:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *args: stop.set())
        app = current_app()
        backoff = 0.0  # the wait after a failed pass: 0 while passes succeed
        while True:
            try:
                relayed = relay_once(app, options["limit"])
            except DatabaseError:
                if options["once"]:
                    raise
                longest = max(MAX_BACKOFF, options["interval"])
                backoff = min(backoff * 2 or options["interval"], longest)
                logger.exception("A relay pass failed; the next one is in %g s", backoff)
                close_old_connections()  # a broken connection is opened again
                if stop.wait(backoff):
                    return
                continue
            backoff = 0.0
            if options["json"]:
                self.write_json(
                    {
                        "messages": relayed.messages,
                        "deliveries": relayed.deliveries,
                        "cancelled": relayed.cancelled,
                    }
                )
            elif relayed or options["verbosity"] > 1:
                self.write(
                    f"Relayed {relayed.messages} messages and {relayed.deliveries} deliveries; "
                    f"cancelled {relayed.cancelled}."
                )
            # A full pass may have left more to take: go on without waiting.
            busy = relayed.messages >= options["limit"] or relayed.deliveries >= options["limit"]
            if options["once"] or stop.wait(0 if busy else options["interval"]):
                return
