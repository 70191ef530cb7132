"""Subscriber-side filters: which payloads a subscription receives, chosen by the subscriber.

A filter is a JSON object whose keys are payload paths ending with an
operator of :class:`~thorn.utils.functional.Q` (``"data__state__eq"``)
and whose values are what the operator compares with.  A payload passes
when every key holds (AND).  Paths read mapping keys, and list items by
index (``"data__tags__0__eq"``).

Subscribers are not trusted as developers are: only the operators of
:data:`FILTER_OPERATORS` are allowed, a filter has at most
:data:`MAX_FILTER_KEYS` keys, and regular expressions (``regex``, and
``like`` patterns, which become ones) run on RE2, a linear-time engine, and
have at most :data:`MAX_PATTERN_LENGTH` characters, so no filter can stall
a worker.

.. versionadded:: 2.0
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from thorn.exceptions import FilterError
from thorn.utils.functional import OPERATORS, like_to_regex

__all__ = [
    "FILTER_OPERATORS",
    "MAX_FILTER_KEYS",
    "MAX_FILTER_SIZE",
    "MAX_PATTERN_LENGTH",
    "compile_filter",
]

#: The operators a subscriber can use (``is``, ``true``, ``now_*``... are for developers).
FILTER_OPERATORS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "startswith",
    "endswith",
    "like",
    "regex",
)
#: The most keys a filter may have.
MAX_FILTER_KEYS = 20
#: The most characters of a filter, as compact JSON.
MAX_FILTER_SIZE = 4096
#: The most characters of a ``regex`` or ``like`` pattern.
MAX_PATTERN_LENGTH = 256

_STRING_OPERATORS = frozenset({"startswith", "endswith", "like", "regex"})
_LIST_OPERATORS = frozenset({"in", "not_in"})
_ORDER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})

#: The span of the whole match when RE2 finds none.
_NO_MATCH = (-1, -1)

#: A compiled filter: ``predicate(payload) -> bool``.
Predicate = Callable[[Any], bool]


def _re2() -> Any:
    # Imported when a filter uses a pattern: importing thorn does not need it.
    import re2

    return re2


def _lookup(payload: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``; raises ``LookupError`` when there is none."""
    value = payload
    for segment in path:
        if type(value) is dict or isinstance(value, Mapping):  # dict first: the usual case, fast
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit():
            value = value[int(segment)]
        else:
            raise KeyError(segment)
    return value


def _pattern_test(op: str, pattern: str) -> Callable[[Any, Any], bool]:
    re2 = _re2()
    options = re2.Options()
    options.dot_nl = op == "like"
    options.log_errors = False
    try:
        compiled = re2.compile(like_to_regex(pattern) if op == "like" else pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ValueError(f"Not a regular expression RE2 accepts: {reason}.") from None
    # RE2's own matcher, without the wrapper's search(): that one turns the
    # byte offsets of every group back into character offsets, in Python,
    # which costs six times the match itself; a filter only needs to know
    # whether there is a match.  A google-re2 without these internals gets
    # the public API.
    try:
        anchors = re2._re2.RE2.Anchor
        anchor = anchors.ANCHOR_BOTH if op == "like" else anchors.UNANCHORED
        match = compiled._regexp.Match
    except AttributeError:
        return _public_test(compiled.fullmatch if op == "like" else compiled.search)

    def test(a: Any, b: Any) -> bool:
        if not isinstance(a, str):
            return False
        text = a.encode("utf-8", "surrogatepass")
        return bool(match(anchor, text, 0, len(text))[0] != _NO_MATCH)

    return test


def _public_test(search: Callable[[str], Any]) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        return isinstance(a, str) and search(a) is not None

    return test


def _value_error(op: str, value: Any) -> str | None:
    if op in _STRING_OPERATORS and not isinstance(value, str):
        return f"The {op} operator compares with a string."
    if op in _STRING_OPERATORS and len(value) > MAX_PATTERN_LENGTH:
        return f"The pattern is longer than {MAX_PATTERN_LENGTH} characters."
    if op in _LIST_OPERATORS and not isinstance(value, list):
        return f"The {op} operator compares with a list."
    if op in _ORDER_OPERATORS and (
        isinstance(value, bool) or not isinstance(value, int | float | str)
    ):
        return f"The {op} operator compares with a number or a string."
    return None


def _compile_leaf(key: Any, value: Any) -> Predicate:
    if not isinstance(key, str):
        raise ValueError("Keys must be strings.")
    path, _sep, op = key.rpartition("__")
    segments = tuple(path.split("__"))
    if not path or not all(segments):
        raise ValueError(f'Use a payload path and an operator: "data__state__eq", not {key!r}.')
    if op not in FILTER_OPERATORS:
        raise ValueError(f"Unknown operator {op!r}: use one of {', '.join(FILTER_OPERATORS)}.")
    problem = _value_error(op, value)
    if problem is not None:
        raise ValueError(problem)
    if op in ("like", "regex"):
        test = _pattern_test(op, value)
    elif op in ("eq", "ne"):
        # Plain JSON equality: Q's eq=True (truthiness) is for developers.
        test = (lambda a, b: a == b) if op == "eq" else (lambda a, b: a != b)
    else:
        test = OPERATORS[op]

    def leaf(payload: Any) -> bool:
        try:
            return bool(test(_lookup(payload, segments), value))
        except (LookupError, TypeError, AttributeError):
            # A missing value, or one of another type, does not pass.
            return False

    return leaf


def _always(payload: Any) -> bool:
    return True


def compile_filter(spec: Any) -> Predicate:
    """Return the predicate of the filter ``spec`` (``{}`` and ``None`` pass everything).

    Raises:
        FilterError: naming each bad key (an unknown operator, a value of
            the wrong type, a pattern too long or that RE2 refuses), or the
            filter as a whole (not an object, too many keys, too large).

    Examples:
        >>> from thorn.generic.filters import compile_filter
        >>> accepts = compile_filter({"data__state__eq": "PUBLISHED", "data__title__like": "A%"})
        >>> accepts({"data": {"state": "PUBLISHED", "title": "Arrival"}})
        True
        >>> accepts({"data": {"state": "DRAFT", "title": "Arrival"}})
        False
    """
    if spec is None:
        return _always
    if not isinstance(spec, Mapping):
        raise FilterError({"": "A filter is a JSON object of payload paths and values."})
    if len(spec) > MAX_FILTER_KEYS:
        raise FilterError({"": f"A filter has at most {MAX_FILTER_KEYS} keys."})
    try:
        size = len(json.dumps(spec, separators=(",", ":")))
    except (TypeError, ValueError):
        raise FilterError({"": "A filter must be JSON."}) from None
    if size > MAX_FILTER_SIZE:
        raise FilterError({"": f"A filter has at most {MAX_FILTER_SIZE} characters of JSON."})
    leaves: list[Predicate] = []
    errors: dict[str, str] = {}
    for key, value in spec.items():
        try:
            leaves.append(_compile_leaf(key, value))
        except ValueError as exc:
            errors[str(key)] = str(exc)
    if errors:
        raise FilterError(errors)
    if not leaves:
        return _always
    preds = tuple(leaves)

    def accepts(payload: Any) -> bool:
        for pred in preds:  # noqa: SIM110 (a loop: faster than all() over a generator)
            if not pred(payload):
                return False
        return True

    return accepts
