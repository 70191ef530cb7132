"""Leases through the ``/hooks/`` API: ``lease_seconds``, ``expires_at``, expiry and pruning."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from thorn.django.models import Subscriber

from t.proj.blog.models import Article
from t.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/hooks/"
HOUR = 3600


def subscribe(api: APIClient, receiver: Receiver, path: str, **fields: Any) -> Any:
    body = {"event": "article.created", "url": receiver.url(path), **fields}
    return api.post(LIST, body, format="json")


def expires_at(response: Any) -> datetime | None:
    value = response.json()["expires_at"]
    return None if value is None else parse_datetime(value)


def test_without_a_lease_a_subscription_never_expires(api, receiver):
    """The default is no expiry, as in 1.5: expires_at is null, lease_seconds is not shown."""
    response = subscribe(api, receiver, "/forever")

    assert 201 == response.status_code
    assert expires_at(response) is None
    assert "lease_seconds" not in response.json()


def test_lease_seconds_sets_expires_at(api, receiver):
    """expires_at is the time of the request plus lease_seconds."""
    before = timezone.now()
    response = subscribe(api, receiver, "/leased", lease_seconds=HOUR)
    after = timezone.now()

    assert 201 == response.status_code
    expiry = expires_at(response)
    assert expiry is not None
    assert before + timedelta(seconds=HOUR) <= expiry <= after + timedelta(seconds=HOUR)


@pytest.mark.parametrize(
    ("lease", "words"),
    [
        pytest.param(0, "greater than or equal to 1", id="zero"),
        pytest.param(-5, "greater than or equal to 1", id="negative"),
        pytest.param(7201, "THORN_MAX_LEASE_SECONDS", id="over-the-maximum"),
        pytest.param("soon", "valid integer", id="not-a-number"),
    ],
)
def test_a_bad_lease_is_a_400(api, receiver, settings, lease, words):
    """lease_seconds is an integer from 1 to THORN_MAX_LEASE_SECONDS."""
    settings.THORN_MAX_LEASE_SECONDS = 2 * HOUR

    response = subscribe(api, receiver, "/bad", lease_seconds=lease)

    assert 400 == response.status_code
    assert words in response.json()["lease_seconds"][0]


def test_an_expired_subscription_receives_nothing(api, receiver, sentinel):
    """Before expires_at it receives events; after it, nothing (the index compares the time)."""
    assert 201 == subscribe(api, receiver, "/expiring", lease_seconds=HOUR).status_code
    Article.objects.create(title="Within")
    sentinel()

    with time_machine.travel(timezone.now() + timedelta(seconds=HOUR + 1)):
        Article.objects.create(title="After")
        sentinel()

    assert ["Within"] == [r.json()["data"]["title"] for r in receiver.for_path("/expiring")]


def test_a_patch_with_lease_seconds_renews_the_lease(api, receiver, sentinel):
    """Renewed before it ends, the subscription keeps receiving past the first expiry."""
    response = subscribe(api, receiver, "/renewed", lease_seconds=HOUR)
    detail = response.json()["subscription"]
    first = expires_at(response)
    assert first is not None

    with time_machine.travel(timezone.now() + timedelta(seconds=HOUR // 2)):
        renewed = api.patch(detail, {"lease_seconds": HOUR}, format="json")
    assert 200 == renewed.status_code
    second = expires_at(renewed)
    assert second is not None
    assert second - first >= timedelta(seconds=HOUR // 2 - 1)

    with time_machine.travel(first + timedelta(seconds=1)):
        Article.objects.create(title="Renewed")
        sentinel()

    assert ["Renewed"] == [r.json()["data"]["title"] for r in receiver.for_path("/renewed")]


def test_a_patch_with_a_null_lease_removes_the_expiry(api, receiver):
    """lease_seconds: null makes the subscription permanent again."""
    detail = subscribe(api, receiver, "/unleased", lease_seconds=HOUR).json()["subscription"]

    response = api.patch(detail, {"lease_seconds": None}, format="json")

    assert 200 == response.status_code
    assert expires_at(response) is None


def test_prune_deletes_subscriptions_expired_longer_than_the_grace(api, receiver, settings):
    """manage.py thorn prune keeps the unexpired and the recently expired ones."""
    settings.THORN_EXPIRED_SUBSCRIPTION_GRACE = timedelta(days=1)
    subscribe(api, receiver, "/long-gone", lease_seconds=HOUR)
    subscribe(api, receiver, "/just-gone", lease_seconds=2 * 24 * HOUR - 60)
    subscribe(api, receiver, "/forever")

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        out = StringIO()
        call_command("thorn", "prune", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert (1, 24 * HOUR) == (result["expired_subscriptions"], result["grace_seconds"])
    assert {receiver.url("/just-gone"), receiver.url("/forever")} == set(
        Subscriber.objects.values_list("url", flat=True)
    )
