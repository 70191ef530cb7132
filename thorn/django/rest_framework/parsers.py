"""Request parsers of the ``/hooks/`` API: a body that cannot be parsed is a 400.

The views keep the parsers of the project's Django REST Framework settings
(``DEFAULT_PARSER_CLASSES``), each subclassed by :func:`guarded`, so that a
body the parser cannot decode is a :exc:`~rest_framework.exceptions.ParseError`
(``400 Bad Request``) and never a server error.  DRF's ``JSONParser`` turns a
:exc:`ValueError` into a ``ParseError``, but not the :exc:`RecursionError`
that :func:`json.loads` raises for deeply nested input: a 10 KB body of
5,000 nested arrays made the API answer 500.  Nor does it refuse a charset
that is not a text encoding (``charset=rot13``), whose decoder raises
:exc:`TypeError` (Django REST Framework 3.17 answered 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

__all__ = ["GuardedParser", "guarded"]


class GuardedParser(BaseParser):
    """Mixed in before a parser: what the parser cannot decode is a ``ParseError``.

    .. versionadded:: 2.0
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding")
        if encoding is not None:
            _check_charset(encoding)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("Malformed request body: it is nested too deeply.") from exc
        except ValueError as exc:
            # Not the message: it may quote the body (and a lone surrogate
            # in it cannot be rendered as JSON).
            raise ParseError(f"Malformed request body ({type(exc).__name__}).") from exc


def _check_charset(encoding: str) -> None:
    """Refuse a charset that is unknown, or not a text encoding (``rot13``)."""
    try:
        # Not b"": decoding nothing looks no codec up.
        b"\0".decode(encoding)
    except LookupError as exc:
        raise ParseError(f"Unsupported charset: {encoding!r}.") from exc
    except ValueError:
        pass  # a text encoding for which one byte is too few (UTF-16)


#: The guarded subclass of each parser class, made once.
_GUARDED: dict[type[BaseParser], type[BaseParser]] = {}


def guarded(parser_class: type[BaseParser]) -> type[BaseParser]:
    """Return ``parser_class`` with :class:`GuardedParser` mixed in (one class per parser).

    The subclass keeps the parser's name, media type and behaviour, and is
    still an instance of ``parser_class`` (DRF reads JSON and form bodies
    differently, by ``isinstance``).
    """
    if issubclass(parser_class, GuardedParser):
        return parser_class
    made = _GUARDED.get(parser_class)
    if made is None:
        subclass = type(
            parser_class.__name__,
            (GuardedParser, parser_class),
            {"__module__": __name__, "__doc__": parser_class.__doc__},
        )
        # Two threads may both make one; the first stored is used by all.
        made = _GUARDED.setdefault(parser_class, subclass)
    return made
