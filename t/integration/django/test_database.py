"""The database harness itself: the backend THORN_TEST_DATABASE asks for, real transactions."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

REQUESTED = os.environ.get("THORN_TEST_DATABASE") or "sqlite"


class Boom(Exception):
    """Raised inside ``transaction.atomic()`` to roll it back."""


@pytest.mark.django_db
def test_the_backend_is_the_one_requested():
    assert REQUESTED == connection.vendor
    if REQUESTED == "postgresql":
        assert "127.0.0.1" == connection.settings_dict["HOST"]
        assert connection.settings_dict["PORT"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert ("test_thorn",) == cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_row_is_not_visible():
    assert not connection.in_atomic_block  # no test-wide transaction around us
    with pytest.raises(Boom), transaction.atomic():
        Group.objects.create(name="rolled back")
        raise Boom

    assert not Group.objects.filter(name="rolled back").exists()
    assert 0 == Group.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_committed_row_is_visible():
    assert not connection.in_atomic_block
    with transaction.atomic():
        Group.objects.create(name="committed")

    assert ["committed"] == list(Group.objects.values_list("name", flat=True))
