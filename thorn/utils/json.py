"""The JSON codec of webhook bodies (``application/json``)."""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["JsonEncoder", "dumps"]


def _is_lazy_string(obj: Any) -> bool:
    # Django's lazy objects (``gettext_lazy``) are ``Promise`` instances.  The
    # core must not import Django, and a Promise can only exist once Django's
    # functional module has been imported, so look it up in sys.modules.
    functional = sys.modules.get("django.utils.functional")
    promise = getattr(functional, "Promise", None)
    return promise is not None and isinstance(obj, promise)


class JsonEncoder(json.JSONEncoder):
    """JSON encoder that also writes dates, times, decimals, UUIDs and lazy strings.

    The formats are those of Thorn 1.5:

    * aware :class:`~datetime.datetime`: ISO 8601 with microseconds, a UTC
      offset written as ``Z`` (``2016-01-02T03:04:05.678901Z``), other
      offsets kept (``+05:00``);
    * naive :class:`~datetime.datetime`: ISO 8601 (``2016-01-02T03:04:05``);
    * :class:`~datetime.date`: the datetime at midnight
      (``2016-01-02T00:00:00``);
    * :class:`~datetime.time`: ISO 8601 (``01:02:03.000004``);
    * :class:`~decimal.Decimal`, :class:`~uuid.UUID` and Django lazy strings:
      :class:`str`.

    Unlike Django's ``DjangoJSONEncoder``, microseconds are kept.

    Raises:
        TypeError: for any other type (sets, bytes, model instances...).

    Examples:
        >>> import datetime
        >>> from thorn.utils.json import JsonEncoder
        >>> JsonEncoder().encode(datetime.date(2016, 1, 2))
        '"2016-01-02T00:00:00"'
    """

    def default(self, o: Any) -> Any:
        """Return a JSON-encodable version of ``o``.

        Raises:
            TypeError: if ``o`` has no JSON form.
        """
        if isinstance(o, datetime.date):
            if not isinstance(o, datetime.datetime):
                o = datetime.datetime(o.year, o.month, o.day)
            text = o.isoformat()
            if text.endswith("+00:00"):
                text = text[: -len("+00:00")] + "Z"
            return text
        if isinstance(o, datetime.time):
            return o.isoformat()
        if isinstance(o, Decimal | uuid.UUID) or _is_lazy_string(o):
            return str(o)
        return super().default(o)


def dumps(obj: Any, **kwargs: Any) -> str:
    """Serialize ``obj`` to JSON text with :class:`JsonEncoder`.

    The output is byte-compatible with Thorn 1.5: separators ``", "`` and
    ``": "``, ASCII only, keys in insertion order, no trailing newline.

    .. versionchanged:: 2.0
        Always uses the standard library :mod:`json`; Thorn 1.5 preferred
        ``simplejson`` when it was installed.

    Arguments:
        obj: The payload.
        **kwargs: Passed to :func:`json.dumps` (for example ``indent``).

    Raises:
        TypeError: if ``obj`` contains a value that has no JSON form.

    Examples:
        >>> from thorn.utils.json import dumps
        >>> dumps({"event": "article.created", "sender": None})
        '{"event": "article.created", "sender": null}'
    """
    kwargs.setdefault("cls", JsonEncoder)
    return json.dumps(obj, **kwargs)
