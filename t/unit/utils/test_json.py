"""Tests for thorn.utils.json."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest

from thorn.utils.json import JsonEncoder, dumps

UTC = datetime.timezone.utc
PLUS5 = datetime.timezone(datetime.timedelta(hours=5))


class TestDumps:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                datetime.datetime(2016, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                '"2016-01-02T03:04:05.678901Z"',
                id="aware-utc-keeps-microseconds",
            ),
            pytest.param(
                datetime.datetime(2016, 1, 2, 3, 4, 5, tzinfo=UTC),
                '"2016-01-02T03:04:05Z"',
                id="aware-utc",
            ),
            pytest.param(
                datetime.datetime(2016, 1, 2, 3, 4, 5, tzinfo=PLUS5),
                '"2016-01-02T03:04:05+05:00"',
                id="aware-other-offset",
            ),
            pytest.param(
                datetime.datetime(2016, 1, 2, 3, 4, 5), '"2016-01-02T03:04:05"', id="naive"
            ),
            pytest.param(datetime.date(2016, 1, 2), '"2016-01-02T00:00:00"', id="date-midnight"),
            pytest.param(datetime.time(1, 2, 3, 4), '"01:02:03.000004"', id="time"),
            pytest.param(Decimal("1.10"), '"1.10"', id="decimal"),
            pytest.param(uuid.UUID(int=1), '"00000000-0000-0000-0000-000000000001"', id="uuid"),
        ],
    )
    def test_extra_types(self, value, expected):
        """Dates, times, decimals and UUIDs are written as Thorn 1.5 wrote them."""
        assert expected == dumps(value)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param({1, 2}, id="set"),
            pytest.param(b"bytes", id="bytes"),
            pytest.param(object(), id="object"),
        ],
    )
    def test_other_types_raise_type_error(self, value):
        """Types without a JSON form raise TypeError."""
        with pytest.raises(TypeError):
            dumps({"data": value})

    def test_envelope_format_matches_thorn_15(self):
        """The envelope is written with 1.5's separators, order and no newline."""
        envelope = {
            "event": "article.created",
            "ref": "/article/x/",
            "sender": None,
            "data": {"title": "Hello"},
        }
        expected = (
            '{"event": "article.created", "ref": "/article/x/", '
            '"sender": null, "data": {"title": "Hello"}}'
        )
        assert expected == dumps(envelope)

    def test_keeps_insertion_order(self):
        """Keys are not sorted."""
        expected = '{"b": 1, "a": 2}'
        assert expected == dumps({"b": 1, "a": 2})

    def test_ascii_only(self):
        """Non-ASCII characters are escaped, as with ensure_ascii=True."""
        expected = '{"title": "caf\\u00e9"}'
        assert expected == dumps({"title": "caf\u00e9"})

    def test_nested_extra_types(self):
        """Extra types are encoded anywhere in the payload."""
        payload = {"data": {"at": [datetime.date(2016, 1, 2)], "price": Decimal("9.99")}}
        expected = '{"data": {"at": ["2016-01-02T00:00:00"], "price": "9.99"}}'
        assert expected == dumps(payload)

    def test_kwargs_are_passed_to_json(self):
        """Keyword arguments reach json.dumps."""
        expected = '{\n  "a": 1\n}'
        assert expected == dumps({"a": 1}, indent=2)

    def test_django_lazy_string(self):
        """A Django lazy string (Promise) is written as its text."""
        from django.utils.functional import lazy

        lazy_text = lazy(lambda: "Hello", str)()
        expected = '{"title": "Hello"}'
        assert expected == dumps({"title": lazy_text})


class TestJsonEncoder:
    def test_usable_as_json_cls(self):
        """JsonEncoder works as cls= for the stdlib json module."""
        expected = '["2016-01-02T00:00:00"]'
        assert expected == json.dumps([datetime.date(2016, 1, 2)], cls=JsonEncoder)

    def test_default_raises_type_error(self):
        """JsonEncoder.default() refuses unknown types like JSONEncoder."""
        with pytest.raises(TypeError, match="set"):
            JsonEncoder().default({1})
