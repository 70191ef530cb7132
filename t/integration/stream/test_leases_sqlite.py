"""Taking a stream's lease while another process writes to the same SQLite file.

SQLite refuses at once ("database is locked", without waiting for its busy
timeout) a transaction that read first and then wants to write while
another connection holds the write lock.  Taking a lease therefore writes
first, so that SQLite waits for the other writer instead.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from django.conf import settings as django_settings

from thorn._state import current_app
from thorn.django.models import StreamLease, Subscriber
from thorn.django.stream import leases

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="SQLite's locking only",
    ),
]

#: How long the other process holds SQLite's write lock (seconds).
HELD = 0.5


def test_a_lease_waits_for_another_writer_instead_of_failing(alice: Any) -> None:
    """Another connection holds the write lock: acquire() waits for it, then takes the lease."""
    subscriber = Subscriber.objects.create(
        event="article.*", user=alice, delivery_mode="stream", url=""
    )
    holding, done = threading.Event(), threading.Event()

    def other_writer() -> None:
        other = sqlite3.connect(django_settings.DATABASES["default"]["NAME"], isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock, as a heartbeat's UPDATE takes it
            holding.set()
            done.wait(HELD)
            other.execute("COMMIT")
        finally:
            other.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert holding.wait(5.0)
        lease = leases.acquire(alice, subscriber, current_app().settings)
    finally:
        done.set()
        thread.join(5.0)

    assert lease is not None
    assert [lease.pk] == list(StreamLease.objects.values_list("pk", flat=True))
