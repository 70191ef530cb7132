"""Tests for thorn.utils.form."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from thorn.utils.form import dumps

ENVELOPE = {
    "event": "article.created",
    "ref": "/article/x/",
    "sender": None,
    "data": {"title": "Hello"},
}


class TestDumps:
    def test_envelope(self):
        """The envelope's keys become fields; data is compact JSON; null is empty."""
        expected = (
            "event=article.created&ref=%2Farticle%2Fx%2F&sender="
            "&data=%7B%22title%22%3A%22Hello%22%7D"
        )
        assert expected == dumps(ENVELOPE)

    def test_none_is_empty_string(self):
        """None becomes an empty field, not a dropped one."""
        expected = "sender="
        assert expected == dumps({"sender": None})

    def test_nested_data_is_compact_json(self):
        """Nested mappings and lists are JSON without spaces after , and :."""
        payload = {"data": {"title": "Hi there", "n": [1, 2], "ok": True}}
        fields = dict(parse_qsl(dumps(payload), keep_blank_values=True))
        expected = {"data": '{"title":"Hi there","n":[1,2],"ok":true}'}
        assert expected == fields

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("a b&c=d", "a b&c=d", id="str"),
            pytest.param(True, "true", id="true"),
            pytest.param(False, "false", id="false"),
            pytest.param(3, "3", id="int"),
            pytest.param(1.5, "1.5", id="float"),
            pytest.param(None, "", id="none"),
            pytest.param([1, "a"], '[1,"a"]', id="list"),
            pytest.param((1, 2), "[1,2]", id="tuple"),
            pytest.param(Decimal("1.10"), "1.10", id="decimal"),
            pytest.param(uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", id="uuid"),
            pytest.param(
                datetime.datetime(2016, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
                "2016-01-02T03:04:05.000006Z",
                id="aware-datetime",
            ),
            pytest.param(datetime.date(2016, 1, 2), "2016-01-02T00:00:00", id="date"),
            pytest.param(
                {"at": datetime.date(2016, 1, 2)}, '{"at":"2016-01-02T00:00:00"}', id="nested-date"
            ),
        ],
    )
    def test_field_values(self, value, expected):
        """Each value type is written as documented."""
        assert [("field", expected)] == parse_qsl(dumps({"field": value}), keep_blank_values=True)

    def test_non_ascii_round_trip(self):
        """Non-ASCII text survives the encoding."""
        payload = {"title": "caf\u00e9 \u2603", "data": {"title": "caf\u00e9"}}
        fields = dict(parse_qsl(dumps(payload), keep_blank_values=True))
        assert (
            fields["title"],
            json.loads(fields["data"]),
        ) == ("caf\u00e9 \u2603", {"title": "caf\u00e9"})

    def test_round_trip(self):
        """parse_qsl + json.loads give the envelope back, in order."""
        envelope = {**ENVELOPE, "data": {"title": "Hello & bye", "tags": ["a", "b"], "n": None}}
        pairs = parse_qsl(dumps(envelope), keep_blank_values=True, strict_parsing=True)
        decoded = {key: json.loads(value) if key == "data" else value for key, value in pairs}
        expected = {**envelope, "sender": ""}
        assert (list(expected.items()), list(envelope)) == (
            list(decoded.items()),
            [key for key, _ in pairs],
        )

    def test_empty_payload(self):
        """An empty mapping gives an empty body."""
        expected = ""
        assert expected == dumps({})

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param([("a", 1)], id="list"),
            pytest.param("a=1", id="str"),
            pytest.param(None, id="none"),
        ],
    )
    def test_non_mapping_payload_raises_type_error(self, payload):
        """A payload that is not a mapping raises a clear TypeError."""
        with pytest.raises(TypeError, match="mapping"):
            dumps(payload)

    def test_non_str_key_raises_type_error(self):
        """Field names must be strings."""
        with pytest.raises(TypeError, match="field names"):
            dumps({1: "a"})  # type: ignore[dict-item]

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(b"x", id="bytes"),
            pytest.param({1}, id="set"),
            pytest.param(object(), id="object"),
        ],
    )
    def test_value_without_json_form_raises_type_error(self, value):
        """Values that JSON cannot encode raise TypeError, at top level or nested."""
        with pytest.raises(TypeError):
            dumps({"a": value})
        with pytest.raises(TypeError):
            dumps({"data": {"a": value}})
