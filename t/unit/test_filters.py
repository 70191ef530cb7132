"""Subscriber-side filters (:mod:`thorn.generic.filters`): compiled from JSON, run on RE2."""

from __future__ import annotations

import time

import pytest

from thorn.exceptions import FilterError
from thorn.generic.filters import (
    FILTER_OPERATORS,
    MAX_FILTER_KEYS,
    MAX_FILTER_SIZE,
    MAX_PATTERN_LENGTH,
    compile_filter,
)

ARTICLE = {
    "event": "article.created",
    "data": {"state": "PUBLISHED", "title": "Arrival", "words": 1200, "tags": ["sci", "fi"]},
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, True, id="empty-passes-everything"),
        pytest.param(None, True, id="none-passes-everything"),
        pytest.param({"data__state__eq": "PUBLISHED"}, True, id="eq"),
        pytest.param({"data__state__eq": "DRAFT"}, False, id="eq-false"),
        pytest.param({"data__state__ne": "DRAFT"}, True, id="ne"),
        pytest.param({"data__words__gt": 1000}, True, id="gt"),
        pytest.param({"data__words__lte": 1000}, False, id="lte-false"),
        pytest.param({"data__state__in": ["DRAFT", "PUBLISHED"]}, True, id="in"),
        pytest.param({"data__state__not_in": ["PUBLISHED"]}, False, id="not_in-false"),
        pytest.param({"data__tags__contains": "sci"}, True, id="contains-list"),
        pytest.param({"data__title__startswith": "A"}, True, id="startswith"),
        pytest.param({"data__title__endswith": "val"}, True, id="endswith"),
        pytest.param({"data__title__like": "A%v_l"}, True, id="like"),
        pytest.param({"data__title__like": "a%"}, False, id="like-is-case-sensitive"),
        pytest.param({"data__title__like": "Arr"}, False, id="like-matches-the-whole-text"),
        pytest.param({"data__title__regex": "^Ar+i"}, True, id="regex"),
        pytest.param({"data__title__regex": "^rival"}, False, id="regex-false"),
        pytest.param({"data__tags__1__eq": "fi"}, True, id="list-index"),
        pytest.param({"data__tags__9__eq": "fi"}, False, id="list-index-out-of-range"),
        pytest.param({"data__missing__eq": None}, False, id="missing-path-does-not-pass"),
        pytest.param({"data__title__gt": 3}, False, id="other-type-does-not-pass"),
        pytest.param({"data__words__startswith": "1"}, False, id="startswith-a-number"),
        pytest.param({"data__words__eq": True}, False, id="eq-true-is-equality-not-truthiness"),
        pytest.param(
            {"data__state__eq": "PUBLISHED", "data__title__startswith": "B"}, False, id="and"
        ),
    ],
)
def test_a_filter_passes_the_payloads_it_describes(spec, expected):
    """Each key is a payload path and an operator; all keys must hold."""
    assert expected is compile_filter(spec)(ARTICLE)


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        pytest.param({"data__state__is": None}, "data__state__is", "Unknown operator", id="is"),
        pytest.param({"data__state__now_eq": 1}, "data__state__now_eq", "Unknown", id="now"),
        pytest.param({"state": 1}, "state", "payload path and an operator", id="no-operator"),
        pytest.param({"__eq": 1}, "__eq", "payload path", id="no-path"),
        pytest.param({"data____eq": 1}, "data____eq", "payload path", id="empty-segment"),
        pytest.param({"data__x__in": "ab"}, "data__x__in", "a list", id="in-not-a-list"),
        pytest.param({"data__x__like": 3}, "data__x__like", "a string", id="like-not-a-string"),
        pytest.param({"data__x__gt": [1]}, "data__x__gt", "a number", id="gt-a-list"),
        pytest.param({"data__x__gt": True}, "data__x__gt", "a number", id="gt-a-bool"),
        pytest.param({"data__x__regex": "(?<=a)b"}, "data__x__regex", "RE2", id="lookbehind"),
        pytest.param({"data__x__regex": "("}, "data__x__regex", "RE2", id="unbalanced"),
        pytest.param(
            {"data__x__regex": "a" * (MAX_PATTERN_LENGTH + 1)},
            "data__x__regex",
            "longer than",
            id="pattern-too-long",
        ),
    ],
)
def test_a_bad_key_is_named_in_the_error(spec, key, words):
    """Each bad key is reported under its own name, with what is wrong."""
    with pytest.raises(FilterError) as caught:
        compile_filter(spec)

    assert [key] == list(caught.value.errors)
    assert words in caught.value.errors[key]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(["data__x__eq"], id="a-list"),
        pytest.param("data__x__eq=1", id="a-string"),
        pytest.param({f"data__k{i}__eq": i for i in range(MAX_FILTER_KEYS + 1)}, id="too-many"),
        pytest.param({"data__x__in": ["y" * MAX_FILTER_SIZE]}, id="too-large"),
    ],
)
def test_a_bad_filter_as_a_whole_is_reported_under_the_empty_key(spec):
    """A filter that is not an object, or too big, is one error about the whole."""
    with pytest.raises(FilterError) as caught:
        compile_filter(spec)

    assert [""] == list(caught.value.errors)


def test_every_bad_key_is_reported_at_once():
    """The errors name every bad key, not just the first."""
    with pytest.raises(FilterError) as caught:
        compile_filter({"data__a__zz": 1, "data__b__eq": 1, "data__c__in": 3})

    assert {"data__a__zz", "data__c__in"} == set(caught.value.errors)


@pytest.mark.parametrize("pattern", ["(a+)+$", "^(a|aa)+$", "(a*)*b"])
def test_a_pathological_regex_returns_quickly(pattern):
    """A backtracking bomb on a long run of a's that fails at the end: linear on RE2.

    Python's re takes exponential time on these (about 2**100000 steps).
    """
    accepts = compile_filter({"data__title__regex": pattern})
    text = "a" * 100_000 + "!"

    started = time.perf_counter()
    result = accepts({"data": {"title": text}})
    elapsed = time.perf_counter() - started

    assert result is False
    assert elapsed < 0.5


def test_subscribers_cannot_use_developer_only_operators():
    """is, is_not, true, not and the now_* transitions are for developers' Q only."""
    assert not {"is", "is_not", "true", "not"} & set(FILTER_OPERATORS)
    assert not [op for op in FILTER_OPERATORS if op.startswith("now_")]


class _PublicOnly:
    """A compiled RE2 pattern with only its public methods, as a future google-re2 might have."""

    def __init__(self, compiled):
        self.search = compiled.search
        self.fullmatch = compiled.fullmatch


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"data__title__regex": "^Ar+i"}, True, id="regex"),
        pytest.param({"data__title__regex": "^rival"}, False, id="regex-false"),
        pytest.param({"data__title__like": "A%v_l"}, True, id="like"),
        pytest.param({"data__title__like": "Arr"}, False, id="like-matches-the-whole-text"),
    ],
)
def test_without_re2s_internals_its_public_api_is_used(monkeypatch, spec, expected):
    """A google-re2 whose compiled patterns lack ``_regexp`` still runs filters, the same way."""
    import re2

    real_compile = re2.compile
    monkeypatch.setattr(re2, "compile", lambda *args: _PublicOnly(real_compile(*args)))

    assert expected is compile_filter(spec)(ARTICLE)
