"""Tests for ``thorn.utils.functional``: ``chunks`` and the ``Q`` object filter."""

# STYLE.md writes asserts as `expected == actual`, which SIM300 calls a Yoda condition.

from __future__ import annotations

import copy
import functools
import operator
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace as Obj
from typing import Any

import pytest
from django.db.models import Q as DjangoQ
from hypothesis import given, settings
from hypothesis import strategies as st

from thorn.utils import functional
from thorn.utils.functional import OPERATORS, Q, chunks

# No example database: keep the shared checkout free of a .hypothesis/ directory.
hypothesis_settings = settings(max_examples=200, deadline=None, database=None)


class TestChunks:
    @pytest.mark.parametrize(
        ("items", "n", "expected"),
        [
            pytest.param(range(5), 2, [[0, 1], [2, 3], [4]], id="last-shorter"),
            pytest.param(range(4), 2, [[0, 1], [2, 3]], id="even"),
            pytest.param(range(3), 1, [[0], [1], [2]], id="size-one"),
            pytest.param(range(2), 5, [[0, 1]], id="larger-than-input"),
            pytest.param([], 3, [], id="empty"),
            pytest.param((c for c in "abc"), 2, [["a", "b"], ["c"]], id="generator"),
        ],
    )
    def test_splits_into_lists_of_n(self, items, n, expected):
        """chunks yields lists of n items, the last one possibly shorter."""
        assert expected == list(chunks(items, n))

    @pytest.mark.parametrize("n", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
    def test_size_below_one_raises_at_call(self, n):
        """A chunk size below 1 raises ValueError when called, before iteration."""
        with pytest.raises(ValueError, match="at least 1"):
            chunks([1, 2], n)

    def test_consumes_lazily(self):
        """chunks does not read the iterable beyond the chunk being yielded."""
        it = iter(range(10))
        first = next(chunks(it, 3))
        assert [0, 1, 2] == first
        assert 3 == next(it)

    @hypothesis_settings
    @given(st.lists(st.integers()), st.integers(min_value=1, max_value=10))
    def test_chunks_concatenate_to_input(self, items, n):
        """Chunks concatenate to the input, and all but the last have n items."""
        result = list(chunks(items, n))
        assert items == [x for chunk in result for x in chunk]
        assert all(len(chunk) == n for chunk in result[:-1])
        assert all(0 < len(chunk) <= n for chunk in result)


# (op, B, A, expected): one true and one false case per operator.
PLAIN_CASES = [
    pytest.param("eq", "X", "X", True, id="eq-true"),
    pytest.param("eq", "X", "Y", False, id="eq-false"),
    pytest.param("eq", True, "text", True, id="eq-True-truthy"),
    pytest.param("eq", True, "", False, id="eq-True-falsy"),
    pytest.param("eq", False, 0, True, id="eq-False-falsy"),
    pytest.param("eq", False, [1], False, id="eq-False-truthy"),
    pytest.param("eq", 1, 1, True, id="eq-1-equal"),
    pytest.param("eq", 1, 5, False, id="eq-1-is-plain-equality"),
    pytest.param("eq", None, None, True, id="eq-None"),
    pytest.param("ne", "X", "Y", True, id="ne-true"),
    pytest.param("ne", "X", "X", False, id="ne-false"),
    pytest.param("ne", True, "", True, id="ne-True-falsy"),
    pytest.param("ne", True, "text", False, id="ne-True-truthy"),
    pytest.param("ne", False, "text", True, id="ne-False-truthy"),
    pytest.param("ne", False, None, False, id="ne-False-falsy"),
    pytest.param("ne", 1, 5, True, id="ne-1-is-plain-inequality"),
    pytest.param("gt", 3, 4, True, id="gt-true"),
    pytest.param("gt", 3, 3, False, id="gt-false"),
    pytest.param("gte", 3, 3, True, id="gte-true"),
    pytest.param("gte", 3, 2, False, id="gte-false"),
    pytest.param("lt", 3, 2, True, id="lt-true"),
    pytest.param("lt", 3, 3, False, id="lt-false"),
    pytest.param("lte", 3, 3, True, id="lte-true"),
    pytest.param("lte", 3, 4, False, id="lte-false"),
    pytest.param("in", {"a", "b"}, "a", True, id="in-true"),
    pytest.param("in", ["a", "b"], "c", False, id="in-false"),
    pytest.param("not_in", {"a", "b"}, "c", True, id="not_in-true"),
    pytest.param("not_in", ("a", "b"), "a", False, id="not_in-false"),
    pytest.param("like", "A%", "Abc", True, id="like-percent-true"),
    pytest.param("like", "A_", "Abc", False, id="like-underscore-is-one-character"),
    pytest.param("like", "a.c", "abc", False, id="like-dot-is-literal"),
    pytest.param("like", "50\\%", "50%", True, id="like-escaped-percent"),
    pytest.param("like", "%\n%", "a\nb", True, id="like-percent-spans-lines"),
    pytest.param("regex", r"^\d+$", "123", True, id="regex-true"),
    pytest.param("regex", r"b+", "abc", True, id="regex-searches"),
    pytest.param("regex", r"^\d+$", "12a", False, id="regex-false"),
    pytest.param("contains", 2, [1, 2], True, id="contains-list-true"),
    pytest.param("contains", "ell", "hello", True, id="contains-str-true"),
    pytest.param("contains", "k", {"k": 1}, True, id="contains-dict-true"),
    pytest.param("contains", 3, {1, 2}, False, id="contains-false"),
    pytest.param("startswith", "The", "The End", True, id="startswith-true"),
    pytest.param("startswith", "The", "An End", False, id="startswith-false"),
    pytest.param("endswith", "End", "The End", True, id="endswith-true"),
    pytest.param("endswith", "End", "The Start", False, id="endswith-false"),
    pytest.param("is", None, None, True, id="is-true"),
    pytest.param("is", None, 0, False, id="is-false"),
    pytest.param("is_not", None, 0, True, id="is_not-true"),
    pytest.param("is_not", None, None, False, id="is_not-false"),
    pytest.param("true", None, 1, True, id="true-true"),
    pytest.param("true", None, 0, False, id="true-false"),
    pytest.param("not", None, "", True, id="not-true"),
    pytest.param("not", None, "x", False, id="not-false"),
]

# (op, B, new A, old A, expected): now_<op> with a previous version.
TRANSITION_CASES = [
    pytest.param("eq", "P", "P", "D", True, id="now_eq-became"),
    pytest.param("eq", "P", "P", "P", False, id="now_eq-already"),
    pytest.param("eq", "P", "D", "X", False, id="now_eq-not-now"),
    pytest.param("eq", True, "x", "", True, id="now_eq-True-became-truthy"),
    pytest.param("eq", True, "x", "y", False, id="now_eq-True-already-truthy"),
    pytest.param("ne", "P", "D", "P", True, id="now_ne-leaves-B"),
    pytest.param("ne", "P", "D", "X", False, id="now_ne-was-not-B"),
    pytest.param("ne", "P", "P", "D", False, id="now_ne-is-B"),
    pytest.param("ne", True, "", "x", True, id="now_ne-True-became-falsy"),
    pytest.param("gt", 3, 5, 2, True, id="now_gt-crossed"),
    pytest.param("gt", 3, 5, 3, True, id="now_gt-from-boundary"),
    pytest.param("gt", 3, 5, 4, False, id="now_gt-already"),
    pytest.param("gt", 3, 5, None, True, id="now_gt-old-None"),
    pytest.param("gte", 3, 3, 2, True, id="now_gte-reached"),
    pytest.param("gte", 3, 3, 3, False, id="now_gte-unchanged-at-boundary"),
    pytest.param("gte", 3, 4, 3, False, id="now_gte-already"),
    pytest.param("gte", 3, 3, "x", True, id="now_gte-old-other-type"),
    pytest.param("lt", 3, 1, 5, True, id="now_lt-crossed"),
    pytest.param("lt", 3, 1, 3, True, id="now_lt-from-boundary"),
    pytest.param("lt", 3, 1, 2, False, id="now_lt-already"),
    pytest.param("lt", 3, 1, None, True, id="now_lt-old-None"),
    pytest.param("lte", 3, 3, 4, True, id="now_lte-reached"),
    pytest.param("lte", 3, 3, 3, False, id="now_lte-unchanged-at-boundary"),
    pytest.param("lte", 3, 2, 3, False, id="now_lte-already"),
    pytest.param("in", {"a", "b"}, "a", "c", True, id="now_in-entered"),
    pytest.param("in", {"a", "b"}, "a", "b", False, id="now_in-already"),
    pytest.param("in", {"a", "b"}, "a", [], True, id="now_in-old-unhashable"),
    pytest.param("not_in", {"a", "b"}, "c", "a", True, id="now_not_in-left"),
    pytest.param("not_in", {"a", "b"}, "c", "d", False, id="now_not_in-already"),
    pytest.param("contains", 2, [1, 2], [1], True, id="now_contains-added"),
    pytest.param("contains", 2, [1, 2], [2], False, id="now_contains-already"),
    pytest.param("contains", 2, [1, 2], None, True, id="now_contains-old-None"),
    pytest.param("startswith", "The", "The End", "An End", True, id="now_startswith-became"),
    pytest.param("startswith", "The", "The End", "The Start", False, id="now_startswith-already"),
    pytest.param("startswith", "The", "The End", None, True, id="now_startswith-old-None"),
    pytest.param("endswith", "End", "The End", "The Start", True, id="now_endswith-became"),
    pytest.param("endswith", "End", "The End", "No End", False, id="now_endswith-already"),
    pytest.param("endswith", "End", "The End", 42, True, id="now_endswith-old-int"),
    pytest.param("like", "A%", "Ab", "Ba", True, id="now_like-became"),
    pytest.param("like", "A%", "Ab", "Ac", False, id="now_like-already"),
    pytest.param("regex", "^A", "Ab", None, True, id="now_regex-old-None"),
    pytest.param("regex", "^A", "Ab", "Ac", False, id="now_regex-already"),
    pytest.param("is", None, None, 0, True, id="now_is-became"),
    pytest.param("is", None, None, None, False, id="now_is-already"),
    pytest.param("is_not", None, 0, None, True, id="now_is_not-leaves-identity"),
    pytest.param("is_not", None, 0, 1, False, id="now_is_not-already"),
    pytest.param("is_not", None, None, 1, False, id="now_is_not-is-B"),
]

TRANSITION_OPS = sorted(set(OPERATORS) - {"true", "not"})

# The plain cases again, for now_<op> without a previous version.
NOW_WITHOUT_PREVIOUS_CASES = [
    pytest.param(*case.values, id=f"now_{case.id}")
    for case in PLAIN_CASES
    if case.values[0] in TRANSITION_OPS
]


class TestQOperators:
    @pytest.mark.parametrize(("op", "b", "a", "expected"), PLAIN_CASES)
    def test_operator(self, op, b, a, expected):
        """Each operator tests the attribute value A against the argument B."""
        assert expected is Q(**{f"value__{op}": b})(Obj(value=a))

    @pytest.mark.parametrize(("op", "b", "a", "expected"), NOW_WITHOUT_PREVIOUS_CASES)
    def test_transition_without_previous_is_plain_operator(self, op, b, a, expected):
        """With previous=None, now_<op> is the plain operator."""
        q = Q(**{f"value__now_{op}": b})
        assert expected is q(Obj(value=a))
        assert expected is q(Obj(value=a), previous=None)

    @pytest.mark.parametrize(("op", "b", "new", "old", "expected"), TRANSITION_CASES)
    def test_transition(self, op, b, new, old, expected):
        """now_<op> holds when <op> holds now and did not hold for the previous version."""
        q = Q(**{f"value__now_{op}": b})
        assert expected is q(Obj(value=new), previous=Obj(value=old))

    def test_every_transition_operator_is_covered(self):
        """The transition table covers every operator that has a now_ form."""
        covered = {param.values[0] for param in TRANSITION_CASES}
        assert set(TRANSITION_OPS) == covered

    def test_transition_attribute_missing_on_previous_counts_as_change(self):
        """A previous version without the attribute did not satisfy the operator."""
        q = Q(a__b__now_eq="X")
        assert q(Obj(a=Obj(b="X")), previous=Obj(a=None))
        assert q(Obj(a=Obj(b="X")), previous=Obj())

    def test_transition_reads_nested_path_on_previous(self):
        """now_<op> reads the previous value through the same attribute path."""
        q = Q(a__b__c__now_gt=3)
        assert not q(Obj(a=Obj(b=Obj(c=5))), previous=Obj(a=Obj(b=Obj(c=4))))
        assert q(Obj(a=Obj(b=Obj(c=5))), previous=Obj(a=Obj(b=Obj(c=1))))

    def test_transition_does_not_read_previous_when_false_now(self):
        """When <op> is false now, the previous version is not read at all."""
        assert not Q(value__now_eq="X")(Obj(value="Y"), previous=object())

    @pytest.mark.parametrize(
        ("key", "obj", "expected"),
        [
            pytest.param("a__b__c__gt", Obj(a=Obj(b=Obj(c=5))), True, id="deep-true"),
            pytest.param("a__b__c__gt", Obj(a=Obj(b=Obj(c=1))), False, id="deep-false"),
            pytest.param("a__b__eq", Obj(a=Obj(b=3)), True, id="two-levels"),
        ],
    )
    def test_nested_attribute_path(self, key, obj, expected):
        """Path segments joined by __ read nested attributes."""
        filters: dict[str, Any] = {key: 3}
        assert expected is Q(**filters)(obj)

    def test_missing_attribute_raises(self):
        """A missing attribute on the object raises AttributeError (callers log it)."""
        with pytest.raises(AttributeError):
            Q(a__b__eq=1)(Obj(a=Obj()))

    def test_dict_keys_are_not_attributes(self):
        """Paths read attributes, not mapping keys."""
        with pytest.raises(AttributeError):
            Q(a__b__eq=1)(Obj(a={"b": 1}))

    def test_plain_operator_errors_propagate(self):
        """An operator that cannot compare the current value raises."""
        with pytest.raises(TypeError):
            Q(value__gt=3)(Obj(value=None))

    def test_operators_mapping_is_read_only(self):
        """OPERATORS lists the operator names and cannot be changed."""
        assert {
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
            "is",
            "is_not",
            "true",
            "not",
        } == set(OPERATORS)
        with pytest.raises(TypeError):
            OPERATORS["x"] = operator.eq  # type: ignore[index]

    @pytest.mark.parametrize(
        ("op", "b", "a", "expected"),
        [
            pytest.param("eq", True, "x", True, id="eq-True"),
            pytest.param("eq", False, "x", False, id="eq-False"),
            pytest.param("eq", 1, 5, False, id="eq-1"),
            pytest.param("ne", True, "x", False, id="ne-True"),
            pytest.param("ne", False, "x", True, id="ne-False"),
        ],
    )
    def test_operators_mapping_applies_special_cases(self, op, b, a, expected):
        """OPERATORS['eq'] and ['ne'] treat the True/False singletons as truth tests."""
        assert expected == bool(OPERATORS[op](a, b))


class TestQValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param(
                {"state": "X"},
                "filter field argument 'state' not allowed: did you mean 'state__eq'?",
                id="no-operator",
            ),
            pytest.param(
                {"author__last_name": "X"},
                "filter field argument 'author__last_name' not allowed: "
                "did you mean 'author__last_name__eq'?",
                id="nested-no-operator",
            ),
            pytest.param(
                {"state__eqq": "X"},
                "filter field argument 'state__eqq' not allowed: "
                "did you mean 'state__eq' or 'state__eqq__eq'?",
                id="misspelt-operator",
            ),
            pytest.param(
                {"state__now_gtt": 1},
                "filter field argument 'state__now_gtt' not allowed: "
                "did you mean 'state__now_gt' or 'state__now_gtt__eq'?",
                id="misspelt-transition",
            ),
            pytest.param({"state__now_true": 1}, "'state__now_true'", id="no-now_true"),
            pytest.param({"state__now_not": 1}, "'state__now_not'", id="no-now_not"),
            pytest.param({"eq": 1}, "'eq' not allowed", id="operator-without-path"),
            pytest.param({"a____eq": 1}, "'a____eq' not allowed: empty", id="empty-segment"),
        ],
    )
    def test_invalid_key_raises_at_construction(self, kwargs, message):
        """A key without an operator or with an unknown one raises ValueError naming it."""
        with pytest.raises(ValueError, match="filter field argument") as excinfo:
            Q(**kwargs)
        assert message in str(excinfo.value)

    def test_invalid_key_in_tuple_child(self):
        """(key, value) tuple children are validated like keyword arguments."""
        with pytest.raises(ValueError, match="'state'"):
            Q(("state", "X"))

    def test_invalid_key_in_django_q(self):
        """Keys inside a Django Q are validated when it is converted."""
        with pytest.raises(ValueError, match="'state'"):
            Q(DjangoQ(state="X"))

    def test_invalid_key_when_combining(self):
        """Combining with an invalid Django Q raises ValueError at once."""
        with pytest.raises(ValueError, match="'state'"):
            Q(a__eq=1) & DjangoQ(state="X")

    @pytest.mark.parametrize(
        "child",
        [
            pytest.param("state__eq", id="string"),
            pytest.param(("a__eq", 1, 2), id="triple"),
            pytest.param(lambda obj: True, id="callable"),
        ],
    )
    def test_positional_child_must_be_q_or_pair(self, child):
        """A positional child that is not a Q or (key, value) raises TypeError."""
        with pytest.raises(TypeError, match="Q children"):
            Q(child)

    def test_non_string_key_raises(self):
        """A (key, value) child with a non-string key raises TypeError."""
        with pytest.raises(TypeError, match="must be a string"):
            Q((1, 2))

    def test_unknown_connector_raises(self):
        """Only AND, OR and XOR are valid connectors."""
        with pytest.raises(ValueError, match="connector"):
            Q(a__eq=1, _connector="NAND")

    @pytest.mark.parametrize(
        "other",
        [pytest.param(1, id="int"), pytest.param(None, id="none"), pytest.param("x", id="str")],
    )
    def test_combining_with_non_q_is_type_error(self, other):
        """&, | and ^ with something that is not a Q raise TypeError."""
        q = Q(a__eq=1)
        for op in (operator.and_, operator.or_, operator.xor):
            with pytest.raises(TypeError):
                op(q, other)


PUBLISHED_OR_PREVIEW_NOT_THE = [
    pytest.param("PUBLISHED", "The End", True, id="published-the"),
    pytest.param("PUBLISHED", "An End", True, id="published-other"),
    pytest.param("PREVIEW", "The End", False, id="preview-the"),
    pytest.param("PREVIEW", "An End", True, id="preview-other"),
    pytest.param("DRAFT", "An End", False, id="draft"),
]


class TestQTree:
    def test_keyword_children_sorted_and_anded(self):
        """Keyword children are sorted by key and combined with AND."""
        q = Q(b__eq=1, a__eq=2)
        assert [("a__eq", 2), ("b__eq", 1)] == q.children
        assert Q.AND == q.connector
        assert q(Obj(a=2, b=1))
        assert not q(Obj(a=2, b=0))

    def test_tuple_children(self):
        """(key, value) tuples are accepted as positional children, like Django."""
        q = Q(("a__eq", 1), ("b__gt", 1), _connector=Q.OR)
        assert q(Obj(a=0, b=2))
        assert not q(Obj(a=0, b=0))

    def test_empty_q_matches_everything(self):
        """An empty Q() is true for any object, and its negation is false."""
        assert Q()(object())
        assert not (~Q())(object())

    @pytest.mark.parametrize(("state", "title", "expected"), PUBLISHED_OR_PREVIEW_NOT_THE)
    def test_python_precedence(self, state, title, expected):
        """A | B & ~C means A or (B and not C), as Python's precedence says."""
        q = Q(state__eq="PUBLISHED") | Q(state__eq="PREVIEW") & ~Q(title__startswith="The")
        assert expected is q(Obj(state=state, title=title))

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            pytest.param((0, 0, 0), False, id="none-true"),
            pytest.param((1, 0, 0), True, id="one-true"),
            pytest.param((1, 1, 0), False, id="two-true"),
            pytest.param((1, 1, 1), True, id="three-true"),
        ],
    )
    def test_xor_is_odd_count(self, values, expected):
        """XOR holds when an odd number of its children hold."""
        obj = Obj(a=values[0], b=values[1], c=values[2])
        chained = Q(a__eq=True) ^ Q(b__eq=True) ^ Q(c__eq=True)
        flat = Q(a__eq=True, b__eq=True, c__eq=True, _connector=Q.XOR)
        assert expected is chained(obj)
        assert expected is flat(obj)

    def test_same_connector_is_squashed(self):
        """(A & B) & C becomes one AND node with three children, as in Django."""
        q = Q(a__eq=1) & Q(b__eq=2) & Q(c__eq=3)
        assert [("a__eq", 1), ("b__eq", 2), ("c__eq", 3)] == q.children

    def test_combining_does_not_mutate_operands(self):
        """&, |, ^ and ~ return new objects and leave their operands unchanged."""
        a, b = Q(a__eq=1), Q(b__eq=2)
        for combined in (a & b, a | b, a ^ b, ~a):
            assert combined is not a
        assert [("a__eq", 1)] == a.children
        assert not a.negated
        assert [("b__eq", 2)] == b.children

    def test_double_negation(self):
        """~~q evaluates like q."""
        q = Q(a__eq=1)
        assert q == ~~q
        assert (~~q)(Obj(a=1))

    def test_or_with_empty_q_is_always_true(self):
        """An empty operand keeps its meaning (match everything) when combined."""
        q = Q(a__eq=1)
        assert (q | Q())(Obj(a=2))
        assert not (q & Q())(Obj(a=2))
        assert (q & Q())(Obj(a=1))

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            pytest.param(Q(state__eq="X"), "<Q: (AND: ('state__eq', 'X'))>", id="leaf"),
            pytest.param(~Q(state__eq="X"), "<Q: (NOT (AND: ('state__eq', 'X')))>", id="negated"),
            pytest.param(
                Q(a__eq=1) | Q(b__eq=2) & Q(c__eq=3),
                "<Q: (OR: ('a__eq', 1), (AND: ('b__eq', 2), ('c__eq', 3)))>",
                id="nested",
            ),
            pytest.param(Q(), "<Q: (AND: )>", id="empty"),
        ],
    )
    def test_repr(self, q, expected):
        """repr shows the connector, negation and children like Django's Q."""
        assert expected == repr(q)

    def test_structural_equality(self):
        """Q objects with the same tree compare and hash equal."""
        assert Q(a__eq=1, b__in=[1, 2]) == Q(b__in=[1, 2], a__eq=1)
        assert hash(Q(a__in=[1])) == hash(Q(a__in=[1]))
        assert Q(a__eq=1) != Q(a__eq=2)
        assert Q(a__eq=1) != ~Q(a__eq=1)
        assert Q(a__eq=1) != DjangoQ(a__eq=1)

    def test_len_and_bool_count_children(self):
        """len() and bool() report the number of children, as for Django's Q."""
        assert 0 == len(Q())
        assert not Q()
        assert 2 == len(Q(a__eq=1, b__eq=2))
        assert Q(a__eq=1)

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            pytest.param(Q(), False, id="empty"),
            pytest.param(Q(a__eq=1, b__gt=2), False, id="plain"),
            pytest.param(Q(a__now_eq=1), True, id="keyword"),
            pytest.param(Q(("a__now_in", [1])), True, id="tuple"),
            pytest.param(Q(a__eq=1) | ~Q(b__now_gt=1), True, id="nested-negated"),
            pytest.param(Q(Q(Q(a__eq=1) & Q(b__now_ne=1))), True, id="deep"),
        ],
    )
    def test_uses_transitions(self, q, expected):
        """uses_transitions is true when any node of the tree uses a now_* operator."""
        assert expected is q.uses_transitions

    @pytest.mark.parametrize(
        "q",
        [
            pytest.param(Q(a__eq=1), id="leaf"),
            pytest.param(Q(a__now_in=[1, 2]) | ~Q(b__startswith="x"), id="tree"),
            pytest.param(Q(DjangoQ(a__eq=1) ^ DjangoQ(b__eq=2)), id="from-django"),
        ],
    )
    @pytest.mark.parametrize(
        "roundtrip",
        [
            # Round-trips data the test itself pickled.
            pytest.param(lambda q: pickle.loads(pickle.dumps(q)), id="pickle"),  # noqa: S301
            pytest.param(copy.deepcopy, id="deepcopy"),
            pytest.param(copy.copy, id="copy"),
            pytest.param(lambda q: q.copy(), id="copy-method"),
        ],
    )
    def test_copy_and_pickle_round_trip(self, q, roundtrip):
        """A copied or unpickled Q has the same tree and evaluates the same."""
        clone = roundtrip(q)
        assert clone is not q
        assert q == clone
        assert q.uses_transitions is clone.uses_transitions
        for obj in (Obj(a=1, b="x"), Obj(a=2, b="y"), Obj(a=3, b="xy")):
            assert q(obj) is clone(obj)
            assert q(obj, Obj(a=1, b="")) is clone(obj, Obj(a=1, b=""))


def untyped_django_q(*args: Any, **kwargs: Any) -> Any:
    """Return a Django Q typed as Any.

    django-stubs types Django's ``&``/``|``/``^`` for Django Q operands only, while Django
    accepts any object with ``conditional = True`` at run time, as thorn's Q has.
    """
    return DjangoQ(*args, **kwargs)


class TestQWithDjango:
    def test_django_q_nested_in_thorn_q(self):
        """A Django Q given as a child is converted and evaluated."""
        q = Q(DjangoQ(state__eq="PUBLISHED") | DjangoQ(state__eq="PREVIEW"), title__eq="T")
        assert all(isinstance(child, Q) for child in q.children if not isinstance(child, tuple))
        assert q(Obj(state="PREVIEW", title="T"))
        assert not q(Obj(state="DRAFT", title="T"))
        assert not q(Obj(state="PUBLISHED", title="U"))

    def test_negated_django_q(self):
        """Negation of a Django Q is kept when it is converted."""
        q = Q(~DjangoQ(state__eq="DRAFT"))
        assert q(Obj(state="PUBLISHED"))
        assert not q(Obj(state="DRAFT"))

    def test_django_xor(self):
        """A Django XOR node is evaluated as an odd count."""
        q = Q(DjangoQ(a__eq=1) ^ DjangoQ(b__eq=1))
        assert q(Obj(a=1, b=0))
        assert not q(Obj(a=1, b=1))

    @pytest.mark.parametrize(("state", "title", "expected"), PUBLISHED_OR_PREVIEW_NOT_THE)
    def test_thorn_q_on_the_left(self, state, title, expected):
        """thorn Q | Django Q gives a thorn Q that evaluates both sides."""
        q = Q(state__eq="PUBLISHED") | DjangoQ(state__eq="PREVIEW") & ~DjangoQ(
            title__startswith="The"
        )
        assert isinstance(q, Q)
        assert expected is q(Obj(state=state, title=title))

    @pytest.mark.parametrize(
        ("values", "expected_and", "expected_or", "expected_xor"),
        [
            pytest.param((1, 2), True, True, False, id="both"),
            pytest.param((1, 0), False, True, True, id="left"),
            pytest.param((0, 2), False, True, True, id="right"),
            pytest.param((0, 0), False, False, False, id="neither"),
        ],
    )
    def test_django_q_on_the_left(self, values, expected_and, expected_or, expected_xor):
        """Django Q combined with a thorn Q converts back and evaluates correctly."""
        obj = Obj(a=values[0], b=values[1])
        django: Any = DjangoQ(a__eq=1)  # see untyped_django_q
        thorn = Q(b__eq=2)
        assert expected_and is Q(django & thorn)(obj)
        assert expected_or is Q(django | thorn)(obj)
        assert expected_xor is Q(django ^ thorn)(obj)
        assert (not expected_and) is Q(~(django & thorn))(obj)

    def test_thorn_q_combined_with_empty_django_q(self):
        """DjangoQ() & thorn Q returns a copy of the thorn Q (Django calls .copy())."""
        thorn = Q(b__eq=2)
        combined = untyped_django_q() & thorn
        assert isinstance(combined, Q)
        assert combined is not thorn
        assert thorn == combined

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            pytest.param(Q(DjangoQ(a__eq=1)), False, id="plain"),
            pytest.param(Q(DjangoQ(a__now_eq=1)), True, id="nested"),
            pytest.param(Q(a__eq=1) & DjangoQ(b__now_gt=1), True, id="thorn-left"),
            pytest.param(Q(untyped_django_q(b__now_gt=1) & Q(a__eq=1)), True, id="django-left"),
            pytest.param(
                Q(untyped_django_q(a__eq=1) & Q(b__now_ne=1)), True, id="thorn-inside-django"
            ),
        ],
    )
    def test_uses_transitions_sees_django_q(self, q, expected):
        """now_* inside a Django Q is seen by uses_transitions."""
        assert expected is q.uses_transitions


def test_module_does_not_import_django():
    """The filter lives in the core, which must not import Django."""
    path = Path(functional.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('functional', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.Q(a__eq=1)(type('O', (), {'a': 1})())\n"
        "assert 'django' not in sys.modules, 'django imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- property tests ---------------------------------------------------------------------------

#: Plain-Python meaning of each operator used by the random trees.
REFERENCE: dict[str, Any] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "is": lambda a, b: a is b,
    "is_not": lambda a, b: a is not b,
    "true": lambda a, b: bool(a),
    "not": lambda a, b: not a,
}
STRING_REFERENCE: dict[str, Any] = {
    "eq": lambda a, b: a == b,
    "contains": lambda a, b: b in a,
    "startswith": lambda a, b: a[: len(b)] == b,
    "endswith": lambda a, b: len(b) <= len(a) and a[len(a) - len(b) :] == b,
    "like": lambda a, b: _like_reference(a, b),
}


def _like_reference(text: str, pattern: str) -> bool:
    """SQL LIKE without regular expressions: % any run, _ any one character."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "%":
        return any(_like_reference(text[i:], rest) for i in range(len(text) + 1))
    return bool(text) and head in ("_", text[0]) and _like_reference(text[1:], rest)


small_ints = st.integers(min_value=-3, max_value=3)
short_texts = st.text(alphabet="ab", max_size=3)
objects = st.builds(Obj, x=small_ints, s=short_texts)

int_leaves = st.tuples(
    st.just("x"),
    st.sampled_from(sorted(REFERENCE)),
    st.booleans(),
    small_ints | st.frozensets(small_ints, max_size=3),
).filter(lambda leaf: (leaf[1] in ("in", "not_in")) == isinstance(leaf[3], frozenset))
str_leaves = st.tuples(
    st.just("s"),
    st.sampled_from(sorted(STRING_REFERENCE)),
    st.booleans(),
    short_texts | st.text(alphabet="ab%_", max_size=4),
)
# A leaf: (attribute, operator, is_transition, B).
leaves = (int_leaves | str_leaves).filter(
    lambda leaf: not leaf[2] or leaf[1] not in ("true", "not")
)
# A node: (connector, negated, children).
trees = st.recursive(
    leaves,
    lambda children: st.tuples(
        st.sampled_from(["AND", "OR", "XOR"]), st.booleans(), st.lists(children, max_size=4)
    ),
    max_leaves=12,
)


def is_leaf(tree: Any) -> bool:
    return len(tree) == 4


def build(tree: Any, node_type: Any = Q) -> Any:
    """Build a Q (or Django Q) from a random tree."""
    if is_leaf(tree):
        attr, op, transition, b = tree
        return node_type(**{f"{attr}__{'now_' if transition else ''}{op}": b})
    connector, negated, children = tree
    return node_type(
        *(build(child, node_type) for child in children), _connector=connector, _negated=negated
    )


def reference(tree: Any, obj: Any, previous: Any) -> bool:
    """Evaluate a random tree in plain Python."""
    if is_leaf(tree):
        attr, op, transition, b = tree
        fn = (REFERENCE if attr == "x" else STRING_REFERENCE)[op]
        now = bool(fn(getattr(obj, attr), b))
        if not transition or previous is None:
            return now
        return now and not fn(getattr(previous, attr), b)
    connector, negated, children = tree
    results = [reference(child, obj, previous) for child in children]
    if not results:
        value = True
    elif connector == "AND":
        value = all(results)
    elif connector == "OR":
        value = any(results)
    else:
        value = sum(results) % 2 == 1
    return value is not negated


class TestQProperties:
    @hypothesis_settings
    @given(trees, objects, st.none() | objects)
    def test_agrees_with_reference(self, tree, obj, previous):
        """Q evaluates any tree exactly as a plain-Python reference evaluator."""
        assert reference(tree, obj, previous) is build(tree)(obj, previous)

    @hypothesis_settings
    @given(trees, objects, st.none() | objects)
    def test_django_built_tree_agrees_with_reference(self, tree, obj, previous):
        """A tree built from Django Q objects converts to a Q with the same meaning."""
        q = Q(build(tree, DjangoQ))
        assert reference(tree, obj, previous) is q(obj, previous)
        assert any_transition(tree) is q.uses_transitions

    @hypothesis_settings
    @given(trees, trees, objects, st.none() | objects)
    def test_operator_laws(self, tree_a, tree_b, obj, previous):
        """~, &, | and ^ mean not, and, or and xor of the operands' results."""
        a, b = build(tree_a), build(tree_b)
        ra, rb = a(obj, previous), b(obj, previous)
        assert (not ra) is (~a)(obj, previous)
        assert (ra and rb) is (a & b)(obj, previous)
        assert (ra or rb) is (a | b)(obj, previous)
        assert (ra != rb) is (a ^ b)(obj, previous)
        assert (a.uses_transitions or b.uses_transitions) is (a & b).uses_transitions

    @hypothesis_settings
    @given(st.lists(trees, min_size=1, max_size=4), objects)
    def test_chained_operators_agree_with_reference(self, tree_list, obj):
        """Chaining & / | / ^ over many operands matches all / any / odd count."""
        qs = [build(tree) for tree in tree_list]
        results = [reference(tree, obj, None) for tree in tree_list]
        assert all(results) is functools.reduce(operator.and_, qs)(obj)
        assert any(results) is functools.reduce(operator.or_, qs)(obj)
        assert (sum(results) % 2 == 1) is functools.reduce(operator.xor, qs)(obj)


def any_transition(tree: Any) -> bool:
    if is_leaf(tree):
        return bool(tree[2])
    return any(any_transition(child) for child in tree[2])
