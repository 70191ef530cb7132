"""Server-Sent Events: the ``text/event-stream`` format, written and read.

:func:`encode_event` and :func:`encode_comment` write the messages of a live
stream (``GET /hooks/<uuid>/stream/``); :func:`parse_events` reads them back,
for ``python -m thorn listen``.  Only what those two need of the format
(WHATWG HTML, "Server-sent events"): ``id``, ``event``, ``data`` (several
lines joined by ``\\n``), ``retry`` and comments.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["ServerSentEvent", "encode_comment", "encode_event", "encode_retry", "parse_events"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a stream."""

    #: The ``id:`` field (what ``Last-Event-ID`` sends back), or ``""``.
    id: str
    #: The ``event:`` field (``"message"`` when there is none).
    event: str
    #: The ``data:`` lines, joined by ``\n``.
    data: str


def _field(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"the {name} field of an event cannot hold a line break: {value!r}")
    return f"{name}: {value}\n"


def encode_event(id: str, event: str, data: str) -> bytes:
    """Return one event, ready to write to the stream.

    ``data`` may hold line breaks: each line becomes a ``data:`` line.

    Raises:
        ValueError: if ``id`` or ``event`` holds a line break.
    """
    lines = [_field("id", id), _field("event", event)]
    lines.extend(f"data: {line}\n" for line in data.splitlines() or [""])
    return ("".join(lines) + "\n").encode("utf-8")


def encode_comment(text: str) -> bytes:
    """Return a comment (a heartbeat): clients ignore it, proxies see traffic."""
    return f": {text}\n\n".encode()


def encode_retry(milliseconds: int) -> bytes:
    """Return a ``retry:`` field: how long a client waits before it reconnects."""
    return f"retry: {int(milliseconds)}\n\n".encode()


def parse_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Yield the events of a stream read line by line (without their line endings).

    Comments and ``retry:`` are skipped; an event without ``data:`` is not
    dispatched, as in browsers.
    """
    id = event = ""
    data: list[str] | None = None
    for line in lines:
        if not line:
            if data is not None:
                yield ServerSentEvent(id=id, event=event or "message", data="\n".join(data))
            event, data = "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            id = value
        elif name == "event":
            event = value
        elif name == "data":
            data = [*(data or []), value]
