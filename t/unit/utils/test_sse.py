"""The ``text/event-stream`` format: what the stream writes, ``listen`` reads back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorn.utils.sse import (
    ServerSentEvent,
    encode_comment,
    encode_event,
    encode_retry,
    parse_events,
)

#: Line breaks other than ``\n``, which ``str.splitlines`` also splits on.
OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: Text with ``\n`` line breaks at most.
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=OTHER_BREAKS))
#: Field values: no line break at all.
fields = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=f"\n{OTHER_BREAKS}"))


def lines(data: bytes) -> list[str]:
    return data.decode("utf-8").split("\n")


@given(id=fields, event=fields.filter(bool), data=text)
def test_parse_reads_back_what_encode_wrote(id: str, event: str, data: str) -> None:
    """parse(encode(e)) is e, between a retry and a comment; data lines are joined by \\n."""
    stream = encode_retry(1000) + encode_comment("hi") + encode_event(id, event, data)

    expected = ServerSentEvent(id=id, event=event, data="\n".join(data.splitlines()))
    assert [expected] == list(parse_events(lines(stream)))


def test_an_event_is_id_event_and_data_lines() -> None:
    assert b"id: 1\nevent: a.b\ndata: x\ndata: y\n\n" == encode_event("1", "a.b", "x\ny")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb"])
def test_a_line_break_in_a_field_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_event(bad, "event", "data")
    with pytest.raises(ValueError, match="line break"):
        encode_event("id", bad, "data")


def test_an_event_without_data_is_not_dispatched_and_the_last_id_stays() -> None:
    """As in browsers: the id carries over to the next event."""
    stream = ["id: 7", "event: lonely", "", "event: x", "data: 1", ""]
    assert [ServerSentEvent(id="7", event="x", data="1")] == list(parse_events(stream))


def test_an_event_without_a_name_is_a_message() -> None:
    assert [ServerSentEvent("", "message", "z")] == list(parse_events(["data:z", ""]))
