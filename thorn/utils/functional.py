"""Functional helpers: chunking iterables, and the ``Q`` filter for Python objects."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from difflib import get_close_matches
from functools import lru_cache
from itertools import islice
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, Union

__all__ = ["OPERATORS", "Q", "chunks", "like_to_regex"]

_T = TypeVar("_T")

#: A compiled filter: ``predicate(obj, previous) -> truthy``.
_Predicate = Callable[[Any, Any], Any]

#: A ``Q`` child: a ``(key, value)`` leaf or a nested :class:`Q`.
_Child = Union[tuple[str, Any], "Q"]


def chunks(it: Iterable[_T], n: int) -> Iterator[list[_T]]:
    """Split an iterable into lists of ``n`` items.

    The last list is shorter when the items do not divide evenly.

    Arguments:
        it: Any iterable, consumed lazily.
        n: Number of items per chunk.

    Raises:
        ValueError: if ``n`` is less than 1 (raised at call time,
            not when the first chunk is requested).

    Examples:
        >>> from thorn.utils.functional import chunks
        >>> list(chunks(range(5), 2))
        [[0, 1], [2, 3], [4]]
    """
    if n < 1:
        raise ValueError(f"chunk size must be at least 1, not {n!r}")
    return _chunks(iter(it), n)


def _chunks(it: Iterator[_T], n: int) -> Iterator[list[_T]]:
    while chunk := list(islice(it, n)):
        yield chunk


def _eq(a: Any, b: Any) -> Any:
    if b is True:
        return bool(a)
    if b is False:
        return not a
    return a == b


def _ne(a: Any, b: Any) -> Any:
    if b is True:
        return not a
    if b is False:
        return bool(a)
    return a != b


def _in(a: Any, b: Any) -> bool:
    return a in b


def _not_in(a: Any, b: Any) -> bool:
    return a not in b


def _contains(a: Any, b: Any) -> bool:
    return b in a


def _startswith(a: Any, b: Any) -> Any:
    return a.startswith(b)


def _endswith(a: Any, b: Any) -> Any:
    return a.endswith(b)


def like_to_regex(pattern: str) -> str:
    """Return the regular expression of the SQL ``LIKE`` pattern ``pattern``.

    ``%`` matches any run of characters, ``_`` any one character, and a
    backslash makes the next character literal (``\\%``).  The expression
    matches the whole text (use it with ``fullmatch``); every other character
    is literal, so the result has no quantifier a text could make slow.

    .. versionadded:: 2.0

    Examples:
        >>> from thorn.utils.functional import like_to_regex
        >>> like_to_regex("A%_b")
        'A.*.b'
    """
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return "".join(parts)


@lru_cache(maxsize=256)
def _compiled_like(pattern: str) -> re.Pattern[str]:
    return re.compile(like_to_regex(pattern), re.DOTALL)


def _like(a: Any, b: Any) -> bool:
    return _compiled_like(b).fullmatch(a) is not None


def _regex(a: Any, b: Any) -> bool:
    # re caches compiled patterns; B may also be a compiled pattern.
    return re.search(b, a) is not None


def _true(a: Any, b: Any) -> bool:
    return bool(a)


def _not(a: Any, b: Any) -> bool:
    return not a


#: Filter operators by name, each a ``function(A, B)`` where A is the attribute
#: value and B the argument given in the filter key (``state__eq="B"``).
#: Each operator except ``true`` and ``not`` also has a transition form, ``now_<op>``.
OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType(
    {
        "eq": _eq,
        "ne": _ne,
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
        "in": _in,
        "not_in": _not_in,
        "contains": _contains,
        "startswith": _startswith,
        "endswith": _endswith,
        "like": _like,
        "regex": _regex,
        "is": operator.is_,
        "is_not": operator.is_not,
        # Undocumented in 1.5 but accepted there; B is ignored.
        "true": _true,
        "not": _not,
    }
)

_NOW = "now_"
_TRANSITION_OPS = frozenset(OPERATORS) - {"true", "not"}
_ALL_OPS = sorted([*OPERATORS, *(_NOW + op for op in _TRANSITION_OPS)])


def _bind(op: str, b: Any) -> Callable[[Any, Any], Any]:
    # Resolve eq/ne's True/False special case once, not on every save.
    if op == "eq" and (b is True or b is False):
        return _true if b else _not
    if op == "ne" and (b is True or b is False):
        return _not if b else _true
    return OPERATORS[op]


def _parse_key(key: object) -> tuple[str, str, bool]:
    """Split ``a__b__now_op`` into ``("a.b", "op", True)`` or raise ValueError."""
    if not isinstance(key, str):
        raise TypeError(f"filter field argument must be a string, not {key!r}")
    path, sep, op = key.rpartition("__")
    transition = op.startswith(_NOW)
    base = op[len(_NOW) :] if transition else op
    known = base in _TRANSITION_OPS if transition else base in OPERATORS
    if sep and path and known:
        if not all(path.split("__")):
            raise ValueError(
                f"filter field argument {key!r} not allowed: empty attribute name in path"
            )
        return path.replace("__", "."), base, transition
    # The last segment may be a misspelt operator or an attribute (no operator).
    close = get_close_matches(op, _ALL_OPS, n=1) if sep and path else []
    suggestions = " or ".join(repr(s) for s in [*(f"{path}__{c}" for c in close), f"{key}__eq"])
    raise ValueError(f"filter field argument {key!r} not allowed: did you mean {suggestions}?")


def _compile_leaf(key: str, value: Any) -> tuple[_Predicate, bool]:
    path, op, transition = _parse_key(key)
    get = operator.attrgetter(path)
    fn = _bind(op, value)

    if not transition:

        def leaf(obj: Any, previous: Any) -> Any:
            return fn(get(obj), value)

        return leaf, False

    def now(obj: Any, previous: Any) -> Any:
        if not fn(get(obj), value):
            return False
        if previous is None:
            return True
        try:
            return not fn(get(previous), value)
        except (AttributeError, TypeError):
            # An old value that is missing, None, or of another type cannot
            # have satisfied the operator, so this save is the transition.
            return True

    return now, True


def _always(obj: Any, previous: Any) -> bool:
    return True


def _compile_node(preds: tuple[_Predicate, ...], connector: str, negated: bool) -> _Predicate:
    base: _Predicate
    if not preds:
        base = _always
    elif len(preds) == 1:
        base = preds[0]
    elif connector == Q.AND:
        # Explicit loops: about twice as fast as all()/any() over a generator,
        # and this runs on every save of a model with events.
        def base(obj: Any, previous: Any) -> bool:
            for pred in preds:  # noqa: SIM110
                if not pred(obj, previous):
                    return False
            return True

    elif connector == Q.OR:

        def base(obj: Any, previous: Any) -> bool:
            for pred in preds:  # noqa: SIM110
                if pred(obj, previous):
                    return True
            return False

    else:

        def base(obj: Any, previous: Any) -> bool:
            odd = False
            for pred in preds:
                if pred(obj, previous):
                    odd = not odd
            return odd

    if not negated:
        return base

    def negation(obj: Any, previous: Any) -> bool:
        return not base(obj, previous)

    return negation


def _is_node(obj: object) -> bool:
    # Django's Q (and any compatible tree) is accepted without importing Django.
    return all(hasattr(obj, attr) for attr in ("children", "connector", "negated"))


class Q:
    """A boolean filter over Python objects, like Django's ``Q`` for rows.

    Keyword arguments are ``path__op=B`` tests: ``path`` is an attribute
    name, nested with ``__`` (``author__last_name`` reads
    ``obj.author.last_name``), and ``op`` is a name in
    :data:`~thorn.utils.functional.OPERATORS` or
    its transition form ``now_<op>``.
    Keyword children are sorted by key and ANDed, as in Django.
    Positional children are other ``Q`` objects, Django ``Q`` objects
    (converted), or ``(key, value)`` tuples.

    Combine filters with ``&`` (and), ``|`` (or), ``^`` (xor: an odd number
    of children hold) and ``~`` (not); Python's precedence applies, so
    ``A | B & ~C`` means ``A or (B and not C)``.
    An empty ``Q()`` matches everything.

    ``eq=True`` / ``eq=False`` test for a truthy / falsy value, and
    ``ne=True`` / ``ne=False`` for a falsy / truthy one (only the ``True`` and
    ``False`` singletons are special: ``eq=1`` is an ordinary equality).

    ``now_<op>=B`` holds when ``<op>(A, B)`` holds for ``obj`` and did not
    hold for ``previous`` (the version before the change).
    With no previous version it is ``<op>(A, B)``.
    An old value that is missing, or that the operator cannot be applied to
    (``None``, another type), counts as "did not hold".

    ``Q`` objects are immutable once built; the operators return new ones.

    .. versionchanged:: 2.0
        Keys are validated when the ``Q`` is built, not when first called.
        ``^`` is supported, and the transition operators follow one rule
        (1.5's ``now_ne``, ``now_is_not``, ``now_gte`` and ``now_lte``
        differed from the docs, and ``now_*`` raised on a missing old value).
        ``Q`` no longer subclasses Django's ``Q``, so the core does not need
        Django; Django ``Q`` objects are still accepted anywhere.

    Arguments:
        *children: ``Q`` objects, Django ``Q`` objects or ``(key, value)`` tuples.
        _connector: ``Q.AND`` (default), ``Q.OR`` or ``Q.XOR``.
        _negated: Negate the whole node.
        **kwargs: ``path__op=B`` tests.

    Raises:
        ValueError: if a key has no operator or an unknown one (the message
            names the key), or the connector is unknown.
        TypeError: if a positional child is not a ``Q`` or ``(key, value)`` tuple.

    Examples:
        >>> from types import SimpleNamespace as Obj
        >>> from thorn import Q
        >>> article = Obj(state="PUBLISHED", title="The End", author=Obj(name="Benes"))
        >>> Q(state__eq="PUBLISHED", author__name__startswith="B")(article)
        True
        >>> (Q(state__eq="DRAFT") | ~Q(title__startswith="The"))(article)
        False
        >>> Q(state__now_eq="PUBLISHED")(article, previous=Obj(state="PUBLISHED"))
        False
        >>> Q(state="PUBLISHED")
        Traceback (most recent call last):
          ...
        ValueError: filter field argument 'state' not allowed: did you mean 'state__eq'?
    """

    __slots__ = ("_predicate", "_uses_transitions", "children", "connector", "negated")

    AND: ClassVar[str] = "AND"
    OR: ClassVar[str] = "OR"
    XOR: ClassVar[str] = "XOR"
    default: ClassVar[str] = AND
    #: Tells Django's ``Q`` that it may combine with this object
    #: (``django_q & thorn_q``); the result converts back when wrapped in a ``Q``.
    conditional: ClassVar[bool] = True

    #: ``(key, value)`` leaves and nested :class:`Q` nodes.
    children: list[_Child]
    #: How the children combine, ``AND``, ``OR`` or ``XOR``.
    connector: str
    #: Whether the combined result is negated.
    negated: bool
    _predicate: _Predicate
    _uses_transitions: bool

    def __init__(
        self,
        *children: Any,
        _connector: str | None = None,
        _negated: bool = False,
        **kwargs: Any,
    ) -> None:
        self._setup([*children, *sorted(kwargs.items())], _connector or self.default, _negated)

    def _setup(self, children: Iterable[Any], connector: str, negated: bool) -> None:
        if connector not in (self.AND, self.OR, self.XOR):
            raise ValueError(f"Q connector must be 'AND', 'OR' or 'XOR', not {connector!r}")
        nodes: list[_Child] = []
        preds: list[_Predicate] = []
        uses_transitions = False
        for child in children:
            if isinstance(child, tuple) and len(child) == 2:
                key, value = child
                pred, transition = _compile_leaf(key, value)
                nodes.append((key, value))
            else:
                node = self._coerce(child)
                if node is None:
                    raise TypeError(
                        f"Q children must be Q objects or (key, value) tuples, not {child!r}"
                    )
                pred, transition = node._predicate, node._uses_transitions
                nodes.append(node)
            preds.append(pred)
            uses_transitions = uses_transitions or transition
        self.children = nodes
        self.connector = connector
        self.negated = bool(negated)
        self._uses_transitions = uses_transitions
        self._predicate = _compile_node(tuple(preds), connector, self.negated)

    @classmethod
    def _coerce(cls, other: object) -> Q | None:
        if isinstance(other, Q):
            return other
        if _is_node(other):
            node: Any = other
            return cls(*node.children, _connector=node.connector, _negated=node.negated)
        return None

    def __call__(self, obj: Any, previous: Any = None) -> bool:
        """Return whether ``obj`` matches the filter.

        Arguments:
            obj: The object to test.
            previous: The previous version of ``obj``, read by the
                ``now_*`` operators; ``None`` when there is none.

        Raises:
            AttributeError: if ``obj`` lacks an attribute named in a key
                (or a ``startswith``/``endswith`` value lacks the method).
            TypeError: if an operator cannot compare the current value
                (``None > 3``).
        """
        return bool(self._predicate(obj, previous))

    @property
    def uses_transitions(self) -> bool:
        """Whether any node of the tree uses a ``now_*`` operator.

        .. versionadded:: 2.0
        """
        return self._uses_transitions

    def copy(self) -> Q:
        """Return a copy of this node (Django's ``Q`` calls it when combining)."""
        return type(self)(*self.children, _connector=self.connector, _negated=self.negated)

    def _combine(self, other: Q, connector: str) -> Q:
        # Squash operands with the same connector, as Django does: (A & B) & C
        # becomes AND(A, B, C). Empty operands are kept as children, since an
        # empty Q matches everything (Django drops them instead).
        children: list[_Child] = []
        for operand in (self, other):
            if (
                operand.children
                and not operand.negated
                and (operand.connector == connector or len(operand.children) == 1)
            ):
                children.extend(operand.children)
            else:
                children.append(operand)
        return type(self)(*children, _connector=connector)

    def __and__(self, other: object) -> Q:
        node = self._coerce(other)
        if node is None:
            return NotImplemented
        return self._combine(node, self.AND)

    def __or__(self, other: object) -> Q:
        node = self._coerce(other)
        if node is None:
            return NotImplemented
        return self._combine(node, self.OR)

    def __xor__(self, other: object) -> Q:
        node = self._coerce(other)
        if node is None:
            return NotImplemented
        return self._combine(node, self.XOR)

    def __invert__(self) -> Q:
        return type(self)(*self.children, _connector=self.connector, _negated=not self.negated)

    def __len__(self) -> int:
        return len(self.children)

    def __bool__(self) -> bool:
        # As Django's Q: false when there is nothing to test (it still matches everything).
        return bool(self.children)

    def __str__(self) -> str:
        inner = f"({self.connector}: {', '.join(str(child) for child in self.children)})"
        return f"(NOT {inner})" if self.negated else inner

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Q):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.connector == other.connector
            and self.negated == other.negated
            and self.children == other.children
        )

    def __hash__(self) -> int:
        # Values may be unhashable (``in=[...]``), so hash the shape only.
        shape = tuple(c[0] if isinstance(c, tuple) else hash(c) for c in self.children)
        return hash((type(self).__name__, self.connector, self.negated, shape))

    def __getstate__(self) -> dict[str, Any]:
        # Compiled predicates are closures; pickle the tree and recompile it.
        return {"children": self.children, "connector": self.connector, "negated": self.negated}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["children"], state["connector"], state["negated"])
