"""thorn's Django signals with the default dispatcher: sent in the process that records outcomes.

Deliveries go over the wire to the loopback receiver; the relay runs in
this process.  The celery dispatcher's signals, sent in the worker, are in
``t/integration/celery/test_delivery_signals.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

import thorn.signals
from thorn._state import current_app
from thorn.django import delivery_signals
from thorn.django.models import DeliveryRecord, Subscriber
from thorn.relay import relay_once

from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = [
    "delivery_succeeded",
    "delivery_failed",
    "delivery_retry_scheduled",
    "subscription_disabled",
    "subscription_enabled",
]


class Recorder:
    """Receives every thorn signal and keeps ``(name, sender, kwargs)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _, _ in self.sent]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for sent, _, kwargs in self.sent if sent == name]


@pytest.fixture
def signals() -> Iterator[Recorder]:
    recorder = Recorder()
    receivers = {}
    for name in NAMES:

        def receive(sender: Any, name: str = name, **kwargs: Any) -> None:
            kwargs.pop("signal")
            recorder.sent.append((name, sender, kwargs))

        receivers[name] = receive
        getattr(delivery_signals, name).connect(receive)
    yield recorder
    for name, receive in receivers.items():
        getattr(delivery_signals, name).disconnect(receive)


def relay_until(predicate, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        assert time.monotonic() < end, "timed out"
        relay_once(current_app())
        time.sleep(0.05)


def test_thorn_signals_are_the_django_signals():
    """``thorn.signals`` names the signals of ``thorn.django.delivery_signals``, nothing else."""
    for name in NAMES:
        assert getattr(delivery_signals, name) is getattr(thorn.signals, name)
    assert sorted(NAMES) == thorn.signals.__all__
    with pytest.raises(AttributeError, match="no attribute 'send_outcomes'"):
        thorn.signals.send_outcomes  # noqa: B018


def test_a_success_sends_delivery_succeeded(receiver, subscribe, signals):
    """A 2xx: delivery_succeeded with the delivery (its id is Hook-Delivery) and the outcome."""
    subscriber = subscribe("article.created", "/ok")

    Article.objects.create(title="Hello")

    assert ["delivery_succeeded"] == signals.names()
    [(_, sender, kwargs)] = signals.sent
    [received] = receiver.for_path("/ok")
    assert Subscriber is sender
    assert received.header("Hook-Delivery") == kwargs["delivery"].id
    assert (subscriber.uuid, 1) == (kwargs["delivery"].subscriber.uuid, kwargs["delivery"].attempt)
    assert (200, None) == (kwargs["outcome"].status, kwargs["outcome"].error)
    assert kwargs["request"].delivery is kwargs["delivery"]


def test_a_retry_then_a_last_failure(receiver, subscribe, signals, settings):
    """500 with one retry left: delivery_retry_scheduled (retry_in), then delivery_failed."""
    settings.THORN_RETRY_SCHEDULE = [0.2]
    receiver.answer("/down", 500)
    subscriber = subscribe("article.created", "/down")

    Article.objects.create(title="Down")
    assert ["delivery_retry_scheduled"] == signals.names()
    [retry] = signals.of("delivery_retry_scheduled")
    assert 0.15 <= retry["retry_in"] <= 0.25
    assert 500 == retry["outcome"].status
    relay_until(lambda: len(signals.sent) == 2)

    assert ["delivery_retry_scheduled", "delivery_failed"] == signals.names()
    [failed] = signals.of("delivery_failed")
    assert (2, 500) == (failed["delivery"].attempt, failed["outcome"].status)
    assert "answered 500" in str(failed["outcome"].error)
    [record] = DeliveryRecord.objects.filter(subscription=subscriber.uuid)
    assert str(record.id) == failed["delivery"].id


def test_410_sends_delivery_failed_then_subscription_disabled(receiver, subscribe, signals):
    """The outcome that disabled the subscription comes with subscription_disabled."""
    receiver.answer("/gone", 410)
    subscriber = subscribe("article.created", "/gone")

    Article.objects.create(title="Gone")

    assert ["delivery_failed", "subscription_disabled"] == signals.names()
    [disabled] = signals.of("subscription_disabled")
    assert subscriber.uuid == disabled["subscription"].uuid
    assert disabled["subscription"].is_active is False
    assert "410 Gone" in disabled["reason"]
    assert 410 == disabled["outcome"].status


def test_enabling_again_sends_subscription_enabled(receiver, subscribe, signals):
    """Saving a disabled subscription active again: subscription_enabled, once."""
    receiver.answer("/gone", 410)
    subscriber = subscribe("article.created", "/gone")
    Article.objects.create(title="Gone")
    subscriber.refresh_from_db()

    subscriber.is_active = True
    subscriber.save(update_fields=["is_active"])
    subscriber.save()

    [enabled] = signals.of("subscription_enabled")
    assert subscriber is enabled["subscription"]
    subscriber.refresh_from_db()
    assert (True, "", None) == (
        subscriber.is_active,
        subscriber.disabled_reason,
        subscriber.disabled_at,
    )


def test_disabling_by_hand_is_stamped_and_sent(subscribe, signals):
    """Saved inactive by hand: disabled_at and a reason are kept, and the signal has no outcome."""
    subscriber = subscribe("article.created")

    subscriber.is_active = False
    subscriber.save(update_fields=["is_active"])

    [disabled] = signals.of("subscription_disabled")
    assert (None, "disabled by hand") == (disabled["outcome"], disabled["reason"])
    stored = Subscriber.objects.get(pk=subscriber.pk)
    assert (False, "disabled by hand") == (stored.is_active, stored.disabled_reason)
    assert stored.disabled_at is not None
    stored.is_active = True
    stored.save()
    assert ["subscription_disabled", "subscription_enabled"] == signals.names()


def test_a_receiver_that_raises_is_logged_and_stops_nothing(receiver, subscribe, signals, caplog):
    """The delivery is recorded and the other receivers called; the error is logged."""

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    delivery_signals.delivery_succeeded.connect(broken)
    try:
        subscriber = subscribe("article.created", "/ok")
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            Article.objects.create(title="Hello")
    finally:
        delivery_signals.delivery_succeeded.disconnect(broken)

    assert ["delivery_succeeded"] == signals.names()
    assert "succeeded" == DeliveryRecord.objects.get(subscription=subscriber.uuid).state
    [logged] = [r for r in caplog.records if "receiver bug" in r.getMessage()]
    assert logged.exc_info is not None


def test_signals_are_sent_without_records_of_successes(receiver, subscribe, signals, settings):
    """THORN_DELIVERY_RECORDS = "failed": no record of the success, the signal all the same."""
    settings.THORN_DELIVERY_RECORDS = "failed"
    subscriber = subscribe("article.created", "/ok")

    Article.objects.create(title="Hello")

    assert ["delivery_succeeded"] == signals.names()
    assert not DeliveryRecord.objects.filter(subscription=subscriber.uuid).exists()


def test_static_subscribers_send_signals_too(receiver, signals, settings):
    """A THORN_SUBSCRIBERS URL: the sender is the static subscriber's class."""
    settings.THORN_SUBSCRIBERS = {"article.created": [receiver.url("/static")]}

    Article.objects.create(title="Hello")

    [(name, sender, kwargs)] = signals.sent
    assert "delivery_succeeded" == name
    assert sender is type(kwargs["delivery"].subscriber)
    assert sender is not Subscriber
