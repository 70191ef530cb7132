"""The subscription index: answers in memory, and stays fresh.

A change in this process is seen at once, a rolled-back one never; changes
that bypass the ORM are seen after ``subscriptions_changed()`` or
``THORN_INDEX_MAX_AGE``.  (A change in another process: see
t/integration/celery/test_index_processes.py, on PostgreSQL.)
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from thorn._state import current_app
from thorn.django.index import subscriptions_changed
from thorn.django.models import Subscriber

from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


def receivers(event: str, sender: Any = None) -> list[str]:
    """The URLs the app finds for ``event`` (through the index)."""
    return sorted(s.url for s in current_app().env.stored_subscribers(event, sender))


def test_a_change_is_seen_at_once_in_this_process():
    """Created, disabled, deleted: each change is seen by the next lookup."""
    assert [] == receivers("order.placed")
    subscriber = Subscriber.objects.create(event="order.*", url="https://a.example/")
    assert ["https://a.example/"] == receivers("order.placed")

    subscriber.is_active = False
    subscriber.save()
    assert [] == receivers("order.placed")
    subscriber.is_active = True
    subscriber.save()
    subscriber.delete()
    assert [] == receivers("order.placed")


def test_patterns_owners_and_inactive_subscriptions():
    """ "a.*", "*.b", "*" and the exact name match; owners get their own; inactive ones nothing."""
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    for event, url in [
        ("order.placed", "https://exact.example/"),
        ("order.*", "https://topic.example/"),
        ("*.placed", "https://name.example/"),
        ("*", "https://all.example/"),
        ("order.cancelled", "https://other.example/"),
    ]:
        Subscriber.objects.create(event=event, url=url)
    Subscriber.objects.create(event="order.*", url="https://alice.example/", user=alice)
    Subscriber.objects.create(event="order.*", url="https://off.example/", is_active=False)

    everyone = receivers("order.placed")
    assert [
        "https://alice.example/",
        "https://all.example/",
        "https://exact.example/",
        "https://name.example/",
        "https://topic.example/",
    ] == everyone
    assert "https://alice.example/" in receivers("order.placed", alice)
    assert "https://alice.example/" not in receivers("order.placed", bob)


def test_a_rolled_back_change_is_never_seen():
    """Inside the transaction it is seen (the same connection); after the rollback, gone."""
    with pytest.raises(RuntimeError), transaction.atomic():
        Subscriber.objects.create(event="order.placed", url="https://phantom.example/")
        assert ["https://phantom.example/"] == receivers("order.placed")
        raise RuntimeError("roll back")

    assert [] == receivers("order.placed")
    assert not current_app().env.may_receive("order.placed")


def test_an_event_nobody_subscribes_to_costs_no_query():
    """Once loaded, a lookup that finds nobody, or somebody, is answered in memory."""
    Subscriber.objects.create(event="order.placed", url="https://a.example/")
    receivers("order.placed")  # loads the index

    with CaptureQueriesContext(connection) as captured:
        for _ in range(100):
            assert [] == receivers("nothing.here")
            assert ["https://a.example/"] == receivers("order.placed")

    assert [] == captured.captured_queries


def test_changes_that_bypass_the_orm_wait_for_subscriptions_changed():
    """QuerySet.update() sends no signal: seen after subscriptions_changed()."""
    Subscriber.objects.create(event="order.placed", url="https://a.example/")
    assert ["https://a.example/"] == receivers("order.placed")

    Subscriber.objects.update(is_active=False)
    assert ["https://a.example/"] == receivers("order.placed")  # stale: nobody said
    subscriptions_changed(Subscriber)

    assert [] == receivers("order.placed")


def test_changes_that_bypass_the_orm_are_seen_after_the_max_age(settings):
    """THORN_INDEX_MAX_AGE bounds how stale the index can be."""
    settings.THORN_INDEX_MAX_AGE = 1.0
    Subscriber.objects.create(event="order.placed", url="https://a.example/")
    assert ["https://a.example/"] == receivers("order.placed")
    Subscriber.objects.update(url="https://b.example/")

    deadline = time.monotonic() + 5
    while receivers("order.placed") != ["https://b.example/"]:
        assert time.monotonic() < deadline, "never reloaded"
        time.sleep(0.1)


def test_a_max_age_of_0_turns_the_index_off(settings):
    """With THORN_INDEX_MAX_AGE = 0 every lookup reads the database."""
    settings.THORN_INDEX_MAX_AGE = 0
    Subscriber.objects.create(event="order.placed", url="https://a.example/")
    Subscriber.objects.update(url="https://b.example/")

    with CaptureQueriesContext(connection) as captured:
        assert ["https://b.example/"] == receivers("order.placed")

    assert 1 == len(captured.captured_queries)


def test_nobody_subscribed_means_no_payload(monkeypatch, caplog):
    """An event nobody can receive does not build its payload (nor its message)."""

    def payload(instance: Any) -> Any:
        raise AssertionError("the payload was built")

    monkeypatch.setattr(Article.webhooks, "payload", payload)

    Article.objects.create(title="Unheard")

    assert [] == [r for r in caplog.records if r.levelname == "ERROR"]
