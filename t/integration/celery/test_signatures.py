"""Standard Webhooks signatures of the celery dispatcher, verified by ``standardwebhooks``.

The test process publishes (``THORN_DISPATCHER = "celery"``); a real worker
loads the stored subscription, signs and delivers to the loopback receiver.
What arrived is verified by the reference Python library of Standard
Webhooks with the subscription's ``whsec_`` secret, as a receiver would.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from celery import Celery
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from thorn import _state
from thorn.django.models import Subscriber
from thorn.utils.hmac import signing_secret, verify

from t.proj.blog.models import Article
from t.receiver import Received, Receiver
from t.services import WorkerFactory

pytestmark = [
    pytest.mark.celery,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

#: Fast retries, so a failed first attempt is retried at once.
WORKER_SETTINGS = {"THORN_RETRY_DELAY": 0.2, "THORN_RETRY_MAX": 3}
#: Seconds to wait for a delivery made by the worker.
DEADLINE = 15.0


@pytest.fixture(autouse=True)
def celery_dispatcher(settings: Any, celery_app: Celery, celery_queue: str) -> Iterator[None]:
    """This process publishes through the celery dispatcher, to the test's queue."""
    settings.THORN_DISPATCHER = "celery"
    celery_app.set_current()
    _state._current_app.set(None)
    yield


def library_verify(received: Received, subscriber: Subscriber) -> Any:
    """Verify ``received`` with standardwebhooks and the subscription's ``whsec_`` secret."""
    webhook = standardwebhooks.Webhook(signing_secret(subscriber.hmac_secret))
    return webhook.verify(received.body, received.headers)


def test_the_library_verifies_deliveries_of_the_worker(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """A model event delivered by a worker verifies with standardwebhooks, and its retry too."""
    receiver.answer("/flaky", 500, 200)
    subscriber = Subscriber.objects.create(event="article.created", url=receiver.url("/flaky"))
    celery_worker_factory(settings=WORKER_SETTINGS)

    article = Article.objects.create(title="Signed by a worker")

    first, retry = receiver.wait_for_path("/flaky", 2, timeout=DEADLINE)
    for received in (first, retry):
        assert {"title": "Signed by a worker", "state": "PENDING"} == library_verify(
            received, subscriber
        )["data"]
        assert received.header("Hook-Delivery") == received.header("webhook-id")
        assert verify(received.header("Hook-HMAC"), "sha256", subscriber.hmac_secret, received.body)
    assert first.header("webhook-id") == retry.header("webhook-id")
    assert f"/article/{article.uuid}/" == first.json()["ref"]


def test_the_worker_signs_with_both_secrets_during_a_rotation(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """The worker loads the rotated subscription: old and new secrets both verify."""
    subscriber = Subscriber.objects.create(event="article.created", url=receiver.url("/rotated"))
    old = subscriber.hmac_secret
    new = subscriber.rotate_secret()
    celery_worker_factory(settings=WORKER_SETTINGS)

    Article.objects.create(title="Rotated")

    (received,) = receiver.wait_for_path("/rotated", timeout=DEADLINE)
    for secret in (new, old):
        webhook = standardwebhooks.Webhook(signing_secret(secret))
        assert "Rotated" == webhook.verify(received.body, received.headers)["data"]["title"]
    assert 2 == len((received.header("webhook-signature") or "").split(" "))
    assert verify(received.header("Hook-HMAC"), "sha256", new, received.body)


def test_the_worker_signs_an_ed25519_subscription_with_v1a(
    celery_worker_factory: WorkerFactory, receiver: Receiver
) -> None:
    """The worker signs with the stored private key, both keys during a rotation.

    Verified by ``cryptography`` with each public key, as a receiver given
    ``signing_public_key`` would.
    """
    subscriber = Subscriber.objects.create(
        event="article.created", url=receiver.url("/ed25519"), signing_algorithm="ed25519"
    )
    old_public = subscriber.signing_public_key
    subscriber.rotate_secret()
    celery_worker_factory(settings=WORKER_SETTINGS)

    Article.objects.create(title="Signed with Ed25519")

    (received,) = receiver.wait_for_path("/ed25519", timeout=DEADLINE)
    entries = (received.header("webhook-signature") or "").split(" ")
    assert ["v1a", "v1a"] == [entry.partition(",")[0] for entry in entries]
    content = (
        f"{received.header('webhook-id')}.{received.header('webhook-timestamp')}.".encode()
        + received.body
    )
    for public, entry in zip((subscriber.signing_public_key, old_public), entries, strict=True):
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public[len("whpk_") :]))
        key.verify(base64.b64decode(entry.partition(",")[2]), content)  # raises if not
    assert verify(received.header("Hook-HMAC"), "sha256", subscriber.hmac_secret, received.body)
