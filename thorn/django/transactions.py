"""Transactions that read rows, then write: :func:`write_transaction`.

Taking due deliveries (the relay), redelivering them (the API, the admin),
checking a user's subscriptions before saving one (the REST API): each reads
rows, then writes, in one transaction.  PostgreSQL locks the rows it reads
(``SELECT ... FOR UPDATE``).  SQLite has no row locks, and a transaction
that read first is refused at once ("database is locked", without waiting
for the busy timeout) when it then wants to write while another connection
holds the write lock: another process's relay, web request or stream.

On SQLite, :func:`write_transaction` takes the write lock first, with a
write that changes nothing.  The transaction waits for other writers (up
to the database's ``timeout`` option, 5 seconds by default), reads what
they committed, and other writers wait for it.  This is what
``"OPTIONS": {"transaction_mode": "IMMEDIATE"}`` does for every transaction
on Django 5.1 and later; thorn does it for its own on every version.

.. versionadded:: 2.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, models, router, transaction

__all__ = ["write_transaction"]


@contextmanager
def write_transaction(model: type[models.Model], using: str | None = None) -> Iterator[str]:
    """``transaction.atomic()`` on ``model``'s database, holding SQLite's write lock from the start.

    Arguments:
        model: A model of the rows the transaction writes; on SQLite its
            table takes the write that changes nothing.
        using: The database; by default the one ``model`` is written to.

    Yields:
        The alias of the database.

    Nested in a transaction that already read, it cannot help: SQLite
    decides when the outer transaction first writes.
    """
    using = using or router.db_for_write(model)
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "sqlite":
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(model._meta.pk.column)
            nothing = f"UPDATE {table} SET {column} = {column} WHERE 0"  # noqa: S608 (quoted names)
            with connection.cursor() as cursor:
                cursor.execute(nothing)
        yield using
