"""Celery beat's tasks, ``thorn.tasks.relay`` and ``thorn.tasks.prune``, run by a real worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.utils import timezone

from thorn.django.models import DeliveryRecord, MessageRecord, Subscriber

from t.integration.celery.conftest import EnvFactory
from t.integration.celery.test_durability import crash_after_the_commit, subscribe
from t.integration.durability import wait_for
from t.receiver import Receiver
from t.services import WorkerFactory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def test_relay_hands_over_what_a_crashed_process_left(
    celery_worker_factory: WorkerFactory,
    celery_app: Celery,
    process_env: EnvFactory,
    receiver: Receiver,
) -> None:
    """A web process died between its commit and the hand-over: beat's relay task delivers it."""
    subscriber = subscribe(receiver, "article.created", "/relayed-by-beat")
    crash_after_the_commit(process_env({"THORN_DISPATCHER": "celery"}), "Left behind")
    assert MessageRecord.objects.get().planned_at is None  # never handed over
    celery_worker_factory(settings={"THORN_DISPATCHER": "celery", "THORN_RELAY_AFTER": 0})

    celery_app.send_task("thorn.tasks.relay")

    [received] = receiver.wait_for_path("/relayed-by-beat")
    assert "Left behind" == received.json()["data"]["title"]
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert str(record.id) == received.header("Hook-Delivery")
    wait_for(
        lambda: DeliveryRecord.objects.filter(pk=record.pk, state="succeeded").exists(),
        "the delivery recorded as made",
    )


def test_prune_deletes_what_the_command_deletes(
    celery_worker_factory: WorkerFactory, celery_app: Celery, django_user_model: Any
) -> None:
    """Expired subscriptions past their grace and forgotten stream-only ones go; the rest stay."""
    owner = django_user_model.objects.create_user("owner")
    two_hours_ago = timezone.now() - timedelta(hours=2)
    expired = Subscriber.objects.create(
        event="article.created", url="https://example.com/expired", expires_at=two_hours_ago
    )
    expiring = Subscriber.objects.create(
        event="article.created",
        url="https://example.com/expiring",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    forgotten = Subscriber.objects.create(
        event="article.*", user=owner, delivery_mode="stream", url=""
    )
    Subscriber.objects.filter(pk=forgotten.pk).update(created_at=two_hours_ago)
    kept = Subscriber.objects.create(event="article.created", url="https://example.com/kept")
    celery_worker_factory(
        settings={"THORN_EXPIRED_SUBSCRIPTION_GRACE": 3600, "THORN_STREAM_SUBSCRIPTION_TTL": 3600}
    )

    celery_app.send_task("thorn.tasks.prune")

    gone = {expired.uuid, forgotten.uuid}
    wait_for(
        lambda: not Subscriber.objects.filter(uuid__in=gone).exists(), "the pruned subscriptions"
    )
    remaining = set(Subscriber.objects.values_list("uuid", flat=True))
    assert {expiring.uuid, kept.uuid} == remaining
