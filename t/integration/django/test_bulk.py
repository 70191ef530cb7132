"""thorn.django.bulk.insert: the records' INSERT ... ON CONFLICT, on SQLite and PostgreSQL.

Each test runs twice: with the statement written by thorn, and with the
``bulk_create()`` other databases get.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from thorn.django import bulk
from thorn.django.bulk import insert
from thorn.django.models import AttemptRecord, DeliveryRecord, MessageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["statement", "bulk_create"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which way rows are written."""
    if request.param == "bulk_create":
        monkeypatch.setattr(bulk, "VENDORS", frozenset())
    yield request.param


def message(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event": "a.b",
        "data": {"payload": {"n": 1}, "list": [1, "é"]},
        "created_at": timezone.now(),
        **fields,
    }


def delivery(message_id: str, **fields: Any) -> dict[str, Any]:
    now = timezone.now()
    return {
        "id": str(uuid.uuid4()),
        "message_id": message_id,
        "subscription": uuid.uuid4(),
        "event": "a.b",
        "url": "https://example.com/hook",
        "next_attempt_at": now,
        "created_at": now,
        **fields,
    }


def test_rows_are_written_with_their_values_and_the_defaults(writer: str) -> None:
    """Given values round-trip (dates, UUIDs, JSON); the others get the fields' defaults."""
    row = message()
    insert(MessageRecord, [row], using="default")
    [d] = [delivery(row["id"], lease="abc")]
    insert(DeliveryRecord, [d], using="default")

    stored = MessageRecord.objects.get()
    assert (row["id"], row["data"], row["created_at"]) == (
        str(stored.id),
        stored.data,
        stored.created_at,
    )
    assert stored.planned_at is None
    record = DeliveryRecord.objects.get()
    assert (d["subscription"], "abc", "pending", 0, "") == (
        record.subscription,
        record.lease,
        record.state,
        record.attempts,
        record.last_error,
    )


def test_ignore_keeps_the_existing_row_and_returns_the_new_ones(writer: str) -> None:
    """on_conflict="ignore": rows already there stay as they are; the new ones are returned."""
    row = message()
    insert(MessageRecord, [row], using="default")
    first = delivery(row["id"], lease="first")
    insert(DeliveryRecord, [first], using="default")
    again, new = dict(first, lease="second"), delivery(row["id"], lease="second")

    written = insert(
        DeliveryRecord, [again, new], using="default", on_conflict="ignore", returning=True
    )

    leases = dict(DeliveryRecord.objects.values_list("id", "lease"))
    assert {uuid.UUID(first["id"]): "first", uuid.UUID(new["id"]): "second"} == leases
    if writer == "statement":
        assert [new["id"]] == written
    else:
        assert written is None  # the caller asks the database


def test_update_overwrites_only_the_named_fields(writer: str) -> None:
    row = message()
    insert(MessageRecord, [row], using="default")
    planned = timezone.now() + timedelta(seconds=5)

    insert(
        MessageRecord,
        [dict(row, event="changed", planned_at=planned)],
        using="default",
        on_conflict="update",
        update=["planned_at"],
    )

    stored = MessageRecord.objects.get()
    assert ("a.b", planned) == (stored.event, stored.planned_at)


def test_a_duplicate_raises_without_on_conflict(writer: str) -> None:
    row = message()
    insert(MessageRecord, [row], using="default")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert(MessageRecord, [row], using="default")


def test_many_rows_are_split_in_batches_the_database_takes(writer: str) -> None:
    """More parameters than SQLite takes at once: every row is written, every id returned."""
    row = message()
    insert(MessageRecord, [row], using="default")
    rows = [delivery(row["id"]) for _ in range(1500)]

    written = insert(DeliveryRecord, rows, using="default", on_conflict="ignore", returning=True)

    assert 1500 == DeliveryRecord.objects.count()
    if writer == "statement":
        assert {r["id"] for r in rows} == set(written or ())


def test_an_auto_primary_key_is_left_to_the_database(writer: str) -> None:
    row = message()
    insert(MessageRecord, [row], using="default")
    d = delivery(row["id"])
    insert(DeliveryRecord, [d], using="default")

    insert(
        AttemptRecord,
        [
            {"delivery_id": d["id"], "number": n, "started_at": timezone.now(), "duration": 0.1}
            for n in (1, 2)
        ],
        using="default",
    )

    attempts = list(AttemptRecord.objects.order_by("number"))
    assert [1, 2] == [a.number for a in attempts]
    assert attempts[0].pk != attempts[1].pk
    assert {} == attempts[0].response_headers  # a callable default


def test_nothing_to_insert_runs_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert [] == insert(DeliveryRecord, [], using="default", returning=True)


def test_the_statement_is_used_on_this_database() -> None:
    """SQLite and PostgreSQL (the two runs of the suite) get thorn's statement."""
    assert connection.vendor in bulk.VENDORS


def test_auto_now_dates_get_the_time(writer: str) -> None:
    """A subscription written without its dates gets now, as save() would give it."""
    from thorn.django.models import Subscriber

    before = timezone.now()
    insert(Subscriber, [{"event": "a.b", "url": "https://example.com/"}], using="default")

    subscriber = Subscriber.objects.get()
    assert before <= subscriber.created_at <= timezone.now()
    assert before <= subscriber.updated_at <= timezone.now()
    assert subscriber.hmac_secret  # a callable default, called


def test_each_row_gets_its_own_default(writer: str) -> None:
    """A callable default (a uuid) is called for every row, never shared between rows."""
    from thorn.django.models import Subscriber

    rows = [{"event": "a.b", "url": f"https://example.com/{i}"} for i in range(500)]
    insert(Subscriber, rows, using="default")

    assert 500 == len(set(Subscriber.objects.values_list("uuid", flat=True)))
