"""``POST /hooks/<uuid>/ping/``: a ``thorn.ping`` to one subscription, signed and recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from thorn.django.models import DeliveryRecord, Subscriber

from t.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/hooks/"


def subscribe(api: APIClient, receiver: Receiver, path: str, **fields: Any) -> dict[str, Any]:
    body = {"event": "article.*", "url": receiver.url(path), **fields}
    response = api.post(LIST, body, format="json")
    assert 201 == response.status_code
    created: dict[str, Any] = response.json()
    return created


def test_a_ping_is_delivered_signed_and_shows_in_the_deliveries(api, receiver):
    """202 with the delivery id; the receiver gets it signed; the deliveries API lists it."""
    subscription = subscribe(api, receiver, "/pinged", filter={"data__state__eq": "PUBLISHED"})
    before = timezone.now()

    response = api.post(f"{subscription['subscription']}ping/")

    assert 202 == response.status_code
    delivery = response.json()["id"]
    [received] = receiver.wait_for_path("/pinged")
    received.assert_signed_for(Subscriber.objects.get(uuid=subscription["id"]))
    assert ("thorn.ping", delivery) == (
        received.header("Hook-Event"),
        received.header("Hook-Delivery"),
    )
    data = received.json()["data"]
    assert (subscription["id"], "article.*") == (data["subscription"], data["event"])
    assert before <= parse_datetime(data["timestamp"]) <= timezone.now()
    listed = api.get(f"{subscription['subscription']}deliveries/").json()["results"]
    assert [(delivery, "thorn.ping", "succeeded")] == [
        (item["id"], item["event"], item["status"]) for item in listed
    ]
    assert listed[0]["delivery"] == response.json()["delivery"]


def test_a_ping_goes_to_that_subscription_only(api, receiver):
    """Subscriptions to "*" or "thorn.*" do not receive another subscription's ping."""
    subscription = subscribe(api, receiver, "/one")
    subscribe(api, receiver, "/everything", event="*")
    # The API refuses "thorn.*" (no declared event matches it); code can store it.
    Subscriber.objects.create(event="thorn.*", url=receiver.url("/thorn"))

    assert 202 == api.post(f"{subscription['subscription']}ping/").status_code

    assert 1 == len(receiver.wait_for_path("/one"))
    assert [] == receiver.for_path("/everything") + receiver.for_path("/thorn")
    assert 1 == DeliveryRecord.objects.count()


def test_a_failed_ping_is_recorded_as_failed_without_retries(api, receiver):
    """A 503 is a failed ping: recorded as such, not retried."""
    receiver.answer("/down", 503)
    subscription = subscribe(api, receiver, "/down")

    response = api.post(f"{subscription['subscription']}ping/")

    assert 202 == response.status_code
    record = DeliveryRecord.objects.get(id=response.json()["id"])
    assert ("failed", 503) == (record.state, record.last_status_code)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param({"is_active": False}, "disabled", id="disabled"),
        pytest.param({"lease_seconds": 60}, "lease", id="expired"),
    ],
)
def test_a_subscription_that_receives_nothing_is_not_pinged(api, receiver, change, words):
    """409 for a disabled or expired subscription; nothing is sent or recorded."""
    subscription = subscribe(api, receiver, "/no", **change)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = api.post(f"{subscription['subscription']}ping/")

    assert 409 == response.status_code
    assert words in response.json()["detail"]
    assert [] == receiver.for_path("/no")
    assert not DeliveryRecord.objects.exists()


def test_another_users_subscription_cannot_be_pinged(api, receiver, django_user_model):
    """Another user's subscription is a 404."""
    other = Subscriber.objects.create(
        event="article.*",
        url=receiver.url("/theirs"),
        user=django_user_model.objects.create_user("bob"),
    )

    assert 404 == api.post(f"{LIST}{other.uuid}/ping/").status_code
