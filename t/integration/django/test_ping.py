"""``thorn.django.ping``: a thorn.ping delivered now, recorded, and redeliverable."""

from __future__ import annotations

import pytest

from thorn._state import current_app
from thorn.django.models import DeliveryRecord, Subscriber
from thorn.django.ping import PING, ping
from thorn.recovery import redeliver

from t.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ping_is_delivered_now_signed_and_recorded(receiver: Receiver):
    """The subscription gets thorn.ping, signed with its secret; the delivery is recorded."""
    subscription = Subscriber.objects.create(event="article.created", url=receiver.url("/p"))

    request = ping(subscription)

    [received] = receiver.for_path("/p")
    received.assert_signed_for(subscription)
    data = received.json()["data"]
    assert (PING, str(subscription.uuid), "article.created") == (
        received.json()["event"],
        data["subscription"],
        data["event"],
    )
    record = DeliveryRecord.objects.get()
    assert (str(record.id), "succeeded") == (request.id, record.state)


def test_a_ping_can_be_redelivered_whatever_the_event_pattern(receiver: Receiver):
    """A subscription to article.created does not match thorn.ping, yet its ping is redelivered."""
    receiver.answer("/p", 503, 200)
    subscription = Subscriber.objects.create(event="article.created", url=receiver.url("/p"))
    request = ping(subscription)

    redeliver(current_app(), [request.id]).hand_over()

    first, second = receiver.for_path("/p")
    assert request.id == first.header("Hook-Delivery") == second.header("Hook-Delivery")
    assert ("succeeded", 2) == DeliveryRecord.objects.values_list("state", "attempts").get()
