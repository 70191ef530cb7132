"""``manage.py thorn``: one command, with a subcommand per operation.

``manage.py thorn --help`` lists the subcommands; ``manage.py thorn <name>
--help`` describes one.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from thorn.django.management.subcommands import SUBCOMMANDS
from thorn.django.management.subcommands.base import Subcommand

__all__ = ["Command"]


def subcommand_class(name: str) -> type[Subcommand]:
    """The :class:`Subcommand` class of subcommand ``name``."""
    module = importlib.import_module(f"thorn.django.management.subcommands.{SUBCOMMANDS[name]}")
    cls: type[Subcommand] = module.Subcommand
    return cls


class Command(BaseCommand):
    """Run one of thorn's operations (see :mod:`thorn.django.management.subcommands`)."""

    help = "thorn's operations on webhook deliveries and subscriptions."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="subcommand", required=True, parser_class=CommandParser
        )
        for name in SUBCOMMANDS:
            cls = subcommand_class(name)
            cls.add_arguments(subparsers.add_parser(name, help=cls.help, description=cls.help))

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        subcommand_class(subcommand)(self).handle(**options)
