"""The base of ``manage.py thorn`` subcommands."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from thorn._state import current_app

__all__ = ["Subcommand", "parse_uuid"]


class Subcommand:
    """One subcommand of ``manage.py thorn``.

    Subclasses set :attr:`help`, add their options in :meth:`add_arguments`
    and do their work in :meth:`handle`.  Errors are raised as
    :exc:`~django.core.management.CommandError` (exit status 1, the message
    on stderr), as Django's commands do.

    Arguments:
        command: The running ``thorn`` command: write with
            ``command.stdout``/``command.stderr`` and ``command.style``.
    """

    #: One line for ``manage.py thorn --help``.
    help = ""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this subcommand's options to its ``parser``."""

    def handle(self, **options: Any) -> None:
        """Do the work."""
        raise NotImplementedError

    def write(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.command.stdout.write(text)

    def write_json(self, value: Any) -> None:
        """Write ``value`` as one line of JSON to stdout (for ``--json``)."""
        self.command.stdout.write(json.dumps(value, default=str, sort_keys=True))

    def subscription(self, value: str) -> Any:
        """The subscription whose uuid is ``value``.

        Raises:
            CommandError: if ``value`` is not a uuid, or no subscription has it.
        """
        ident = parse_uuid(value, "subscription")
        model = current_app().env.Subscriber  # type: ignore[attr-defined]
        subscriber = model._default_manager.filter(uuid=ident).first()
        if subscriber is None:
            raise CommandError(f"No subscription {ident}.")
        return subscriber


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """``value`` as a uuid, or a :exc:`~django.core.management.CommandError` naming ``what``."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"Not a {what} uuid: {value!r}") from None
