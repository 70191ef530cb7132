"""Simultaneous ``POST /hooks/`` of one user: the duplicate check and the limit hold.

Each request comes from its own thread, with its own database connection,
and all of them save at the same moment.  PostgreSQL locks the user's row;
SQLite holds its write lock from the start of the transaction
(:func:`~thorn.django.transactions.write_transaction`).  So these run on
PostgreSQL and on SQLite in a file (``THORN_TEST_DATABASE=sqlite-file``,
which ``make test`` runs), not on the in-memory SQLite, whose database is
one per thread.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from thorn.django.models import Subscriber
from thorn.django.rest_framework.serializers import SubscriberSerializer

_database = django_settings.DATABASES["default"]
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        _database["NAME"] == ":memory:",
        reason="a database shared by threads: PostgreSQL or THORN_TEST_DATABASE=sqlite-file",
    ),
]

BODY = {"event": "article.*", "url": "https://e.com/h/article?u=1"}
#: How long a request that has checked waits for the others (seconds): less
#: than SQLite's busy timeout (5 s), which the others wait on with the lock.
MEET = 1.0


@pytest.fixture
def alice(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("alice")
    return user


def post_at_once(user: User, bodies: list[dict[str, Any]]) -> list[int]:
    """POST each of ``bodies`` to /hooks/ as ``user``, each from its own thread and connection.

    Each request, once it has checked for a duplicate (inside the lock),
    waits up to ``MEET`` seconds for the others to check too; then it saves.
    Without a lock they all meet, and each saves what it checked before any
    of them saved.  With it, the others cannot check until the first one
    commits, so its wait runs out.  Returns the statuses, sorted.
    """
    barrier = threading.Barrier(len(bodies), timeout=MEET)
    refuse_duplicate = SubscriberSerializer.refuse_duplicate

    def check_together(self: SubscriberSerializer, attrs: dict[str, Any]) -> None:
        refuse_duplicate(self, attrs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    statuses: list[int] = []
    errors: list[BaseException] = []

    def post(body: dict[str, Any]) -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            statuses.append(client.post("/hooks/", body, format="json").status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SubscriberSerializer, "refuse_duplicate", check_together)
        threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert [] == errors
    return sorted(statuses)


def test_simultaneous_duplicates_make_one_subscription(alice: User) -> None:
    """Two identical POSTs saving at the same moment: one 201, one 400."""
    statuses = post_at_once(alice, [BODY, BODY])

    assert [201, 400] == statuses
    assert 1 == Subscriber.objects.count()


def test_simultaneous_subscriptions_cannot_pass_the_limit(settings: Any, alice: User) -> None:
    """With a limit of 1, two different POSTs saving at the same moment: one 201, one 400."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    bodies = [{**BODY, "url": f"https://e.com/h/{n}"} for n in range(2)]

    statuses = post_at_once(alice, bodies)

    assert [201, 400] == statuses
    assert 1 == Subscriber.objects.count()
