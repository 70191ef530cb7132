"""The event catalog: the events declared in this process, which subscribers can subscribe to.

Every :class:`~thorn.Event` (and :class:`~thorn.ModelEvent`) declares
itself when it is made, and stays in the catalog while it exists: events
made at import time (a model's ``webhooks``, module-level events) are
always there; an event made just to send it once is there only meanwhile.
Declare the events you send where they are imported when the project
starts (a ``models.py``, or an app's ``ready()``), or list them in
``THORN_EVENT_CHOICES``.

Names may be templates (``"user.{.username}"``): a placeholder matches
any text, so ``user.alice`` and ``user.*`` match that event.

.. versionadded:: 2.0
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thorn.events import Event

__all__ = ["CatalogEntry", "catalog", "catalog_matches", "declare", "template_matches"]

#: Every event made in this process, while it exists.
_declared: weakref.WeakSet[Event] = weakref.WeakSet()

#: A placeholder of a name template (``{.username}``), as ``str.format`` reads it.
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
#: Stands for a placeholder while a template is split into topic and rest.
_HOLE = "\x00"


def declare(event: Event) -> None:
    """Put ``event`` in the catalog (every :class:`~thorn.Event` does it when made)."""
    _declared.add(event)


@dataclass(frozen=True)
class CatalogEntry:
    """One event of the catalog."""

    #: The event's name (or name template).
    name: str
    #: What the event means (its ``description=``).
    description: str
    #: The labels of the models that send it (``"blog.Article"``), for a model event.
    models: tuple[str, ...]
    #: The serializer class that builds its ``data``, if it has one.
    serializer: Any


def _label(model: Any) -> str:
    meta = getattr(model, "_meta", None)
    return str(meta.label) if meta is not None else str(model.__name__)


def _entry(event: Any) -> CatalogEntry:
    models = sorted(getattr(event, "models", ()), key=_label)
    serializer = event.serializer_for(models[0]) if models else None
    return CatalogEntry(
        name=event.name,
        description=event.description,
        models=tuple(_label(model) for model in models),
        serializer=serializer,
    )


def catalog(choices: Iterable[str] = ()) -> list[CatalogEntry]:
    """The events of the catalog, by name; with ``choices``, those a choice matches.

    Events with the same name are merged: the description, models and
    serializer of each one fill what the others lack.
    """
    patterns = list(choices)
    by_name: dict[str, CatalogEntry] = {}
    for event in list(_declared):
        entry = _entry(event)
        if patterns and not any(template_matches(choice, entry.name) for choice in patterns):
            continue
        seen = by_name.get(entry.name)
        if seen is not None:
            entry = CatalogEntry(
                name=entry.name,
                description=seen.description or entry.description,
                models=tuple(sorted({*seen.models, *entry.models})),
                serializer=seen.serializer if seen.serializer is not None else entry.serializer,
            )
        by_name[entry.name] = entry
    return [by_name[name] for name in sorted(by_name)]


def _regex(template: str) -> re.Pattern[str]:
    parts = template.split(_HOLE)
    return re.compile(".+".join(re.escape(part) for part in parts), re.DOTALL)


def template_matches(pattern: str, template: str) -> bool:
    """Return whether a subscription to ``pattern`` can receive an event named by ``template``.

    The rules of :func:`~thorn.generic.subscriber.event_patterns`, with each
    placeholder of the template standing for any text.

    Examples:
        >>> from thorn.catalog import template_matches
        >>> template_matches("user.*", "user.{.username}")
        True
        >>> template_matches("user.alice", "user.{.username}")
        True
        >>> template_matches("*.created", "article.changed")
        False
    """
    if pattern == "*":
        return True
    holed = _PLACEHOLDER.sub(_HOLE, template)
    if pattern.endswith(".*"):
        topic, dot, _rest = holed.partition(".")
        return bool(dot or _HOLE in topic) and _regex(topic).fullmatch(pattern[:-2]) is not None
    if pattern.startswith("*."):
        _topic, dot, rest = holed.partition(".")
        return bool(dot) and _regex(rest).fullmatch(pattern[2:]) is not None
    return _regex(holed).fullmatch(pattern) is not None


def catalog_matches(pattern: str, choices: Iterable[str] = ()) -> bool:
    """Return whether ``pattern`` matches an event of the catalog (of ``choices``)."""
    return any(template_matches(pattern, entry.name) for entry in catalog(choices))
