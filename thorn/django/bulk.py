"""Bulk writes of records: many rows in one ``INSERT ... ON CONFLICT`` statement.

Django's ``bulk_create()`` builds a model instance per row and compiles
every value through the ORM, which costs more than the delivery the row
records.  :func:`insert` takes plain values (by field name), prepares only
those that need it (dates, UUIDs, JSON) with the field's own
``get_db_prep_save()``, and writes them in one statement per batch.  On
SQLite and PostgreSQL the statement is written here (both speak
``ON CONFLICT``, and ``RETURNING``); other databases get ``bulk_create()``.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections, models
from django.utils import timezone

__all__ = ["insert"]

#: Databases whose ``INSERT`` is written here.
VENDORS = frozenset({"sqlite", "postgresql"})

#: Fields whose Python values are what the database driver takes.
_PLAIN = (
    models.BooleanField,
    models.CharField,  # and URLField, SlugField...
    models.FloatField,
    models.IntegerField,  # and the positive, small and big ones
    models.TextField,
)

_NOT_GIVEN = object()


@dataclass(frozen=True)
class _Column:
    name: str  # the field's attname: "message_id" for a foreign key
    column: str
    default: Callable[[], Any]
    prepare: Callable[[Any, Any], Any] | None  # (value, connection)


@cache
def _columns(model: type[models.Model]) -> tuple[_Column, ...]:
    """The columns of ``model`` that an insert writes: every concrete field but an auto key."""
    columns = []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.AutoField):
            continue
        default = field.get_default
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = timezone.now  # what their pre_save() would set
        prepare: Callable[[Any, Any], Any] | None = field.get_db_prep_save
        if isinstance(field, _PLAIN):
            prepare = None
        elif isinstance(field, models.DateTimeField):
            # Thorn's dates are aware: what the field would check is known.
            prepare = _adapt_datetime
        columns.append(_Column(field.attname, _column(field), default, prepare))
    return tuple(columns)


def insert(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    using: str,
    on_conflict: str = "",
    update: Sequence[str] = (),
    returning: bool = False,
) -> list[str] | None:
    """Insert ``rows`` of ``model``: dicts of values by field name (attname).

    Fields a row leaves out get their defaults (the time, for ``auto_now``
    and ``auto_now_add`` dates).

    Arguments:
        model: The model.
        rows: The rows.
        using: The database.
        on_conflict: ``""`` (a duplicate primary key raises), ``"ignore"``
            (a row whose primary key exists is left as it is) or
            ``"update"`` (its ``update`` fields are overwritten).
        update: The fields an ``"update"`` overwrites.
        returning: Return the primary keys (as strings) of the rows
            written, when the database can tell.

    Returns:
        The primary keys of the rows inserted or updated (with
        ``returning``, on SQLite and PostgreSQL), else ``None``.
    """
    if not rows:
        return [] if returning else None
    connection = connections[using]
    if connection.vendor not in VENDORS:
        _bulk_create(model, rows, using, on_conflict, update)
        return None
    columns = _columns(model)
    quote = connection.ops.quote_name
    names = ", ".join(quote(column.column) for column in columns)
    table = quote(model._meta.db_table)
    pk = _primary_key(model)
    key = quote(_column(pk))
    suffix = ""
    if on_conflict == "ignore":
        suffix = f" ON CONFLICT ({key}) DO NOTHING"
    elif on_conflict == "update":
        updated = [quote(_column(model._meta.get_field(name))) for name in update]
        sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in updated)
        suffix = f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    if returning:
        suffix += f" RETURNING {key}"
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    batch = max(1, connection.ops.bulk_batch_size([pk] * len(columns), rows))
    written: list[str] = []
    prepared: dict[tuple[int, int], Any] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [
                value for row in chunk for value in _values(columns, row, connection, prepared)
            ]
            values = ", ".join([placeholder] * len(chunk))
            # Names are quoted by the database backend; values are parameters.
            sql = f"INSERT INTO {table} ({names}) VALUES {values}{suffix}"  # noqa: S608
            cursor.execute(sql, params)
            if returning:
                written.extend(str(pk.to_python(found)) for (found,) in cursor.fetchall())
    return written if returning else None


def _adapt_datetime(value: Any, connection: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _primary_key(model: type[models.Model]) -> Any:
    pk = model._meta.pk
    if pk is None:  # only abstract models have none
        raise TypeError(f"{model.__name__} has no primary key")
    return pk


def _column(field: Any) -> str:
    column: str | None = getattr(field, "column", None)
    if column is None:
        raise TypeError(f"{field!r} has no column")
    return column


def _values(
    columns: Sequence[_Column],
    row: Mapping[str, Any],
    connection: Any,
    prepared: dict[tuple[int, int], Any],
) -> list[Any]:
    """The row's values, prepared; ``prepared`` keeps those of values seen in earlier rows."""
    values = []
    for i, column in enumerate(columns):
        value = row.get(column.name, _NOT_GIVEN)
        if value is _NOT_GIVEN:
            value = column.default()
            if column.prepare is not None and value is not None:
                value = column.prepare(value, connection)
        elif column.prepare is not None and value is not None:
            # The rows of one insert share values (now, the message): each is
            # prepared once.  The rows keep them alive, so ids are not reused
            # (a default made above is not: it is prepared on its own).
            key = (i, id(value))
            if key in prepared:
                value = prepared[key]
            else:
                value = prepared[key] = column.prepare(value, connection)
        values.append(value)
    return values


def _bulk_create(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    using: str,
    on_conflict: str,
    update: Sequence[str],
) -> None:
    pk = _primary_key(model)
    options: dict[str, Any] = {}
    if on_conflict == "ignore":
        options = {"ignore_conflicts": True}
    elif on_conflict == "update":
        options = {"update_conflicts": True, "unique_fields": [pk.name], "update_fields": update}
    model._default_manager.using(using).bulk_create([model(**row) for row in rows], **options)
