"""The form codec of webhook bodies (``application/x-www-form-urlencoded``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from thorn.utils.json import JsonEncoder

__all__ = ["dumps"]

#: Encoder of nested values: compact JSON (no spaces after ``,`` and ``:``).
_compact = JsonEncoder(separators=(",", ":"))


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        # The JSON spelling: ``true``/``false``, ``1.5``, ``1e+20``.
        return _compact.encode(value)
    if isinstance(value, Mapping | list | tuple):
        return _compact.encode(value)
    # Dates, decimals, UUIDs, lazy strings: the same text as in a JSON body
    # (without the quotes); anything else raises TypeError.
    text: str = _compact.default(value)
    return text


def dumps(payload: Mapping[str, Any]) -> str:
    """Encode ``payload`` as an ``application/x-www-form-urlencoded`` body.

    Each top-level key becomes one form field, in order:

    * strings are sent as they are;
    * ``None`` becomes an empty string;
    * booleans and numbers are written as in JSON (``true``, ``false``,
      ``3``, ``1.5``);
    * dates, times, decimals, UUIDs and lazy strings are written as by
      :class:`~thorn.utils.json.JsonEncoder`;
    * nested values (mappings and lists, such as the envelope's ``data``)
      become compact JSON strings (separators ``,`` and ``:``).

    The body is signed as it is, so receivers must verify the raw body before
    decoding it.

    .. versionadded:: 2.0
        Thorn 1.5 had no form codec, and form subscribers never received
        anything.

    Arguments:
        payload: A mapping with string keys (the event envelope).

    Raises:
        TypeError: if ``payload`` is not a mapping, a key is not a string, or
            a value has no JSON form.

    Examples:
        >>> from thorn.utils.form import dumps
        >>> dumps({"event": "article.created", "sender": None, "data": {"n": 1}})
        'event=article.created&sender=&data=%7B%22n%22%3A1%7D'
    """
    if not isinstance(payload, Mapping):
        raise TypeError(
            "a form-encoded body needs a mapping of field names to values, "
            f"not {type(payload).__name__}"
        )
    fields: list[tuple[str, str]] = []
    for key, value in payload.items():
        if not isinstance(key, str):
            raise TypeError(f"form field names must be strings, not {key!r}")
        fields.append((key, _field(value)))
    return urlencode(fields)
