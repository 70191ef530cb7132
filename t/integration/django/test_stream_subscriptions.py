"""Stream-only subscriptions: made through the API, recorded, never POSTed, pruned when forgotten.

The stream itself is served here by Django's test client (the WSGI path);
``t/integration/stream`` serves it with uvicorn.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from thorn._state import current_app
from thorn.django.models import DeliveryRecord, MessageRecord, StreamLease, Subscriber
from thorn.django.stream import leases

from t.proj.blog.models import Article
from t.receiver import Receiver

pytestmark = pytest.mark.django_db

LIST = "/hooks/"


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def stream_only(owner: Any, event: str = "article.*", **fields: Any) -> Subscriber:
    return Subscriber.objects.create(
        event=event, user=owner, delivery_mode="stream", url="", **fields
    )


# -- through the API ------------------------------------------------------------------------


def test_a_stream_subscription_has_no_url(api: APIClient, alice: Any) -> None:
    """POST {"delivery": "stream"} without a URL: 201, stored stream-only, with a secret."""
    response = api.post(LIST, {"event": "article.*", "delivery": "stream"}, format="json")

    assert 201 == response.status_code, response.json()
    body = response.json()
    assert ("stream", "", alice.pk) == (body["delivery"], body["url"], body["user"])
    assert body["hmac_secret"]
    assert Subscriber.objects.get(uuid=body["id"]).streams_only


def test_two_stream_subscriptions_to_one_event_are_not_duplicates(api: APIClient) -> None:
    """Each `thorn listen` makes its own: no URL, so no duplicate."""
    for _ in range(2):
        response = api.post(LIST, {"event": "article.*", "delivery": "stream"}, format="json")
        assert 201 == response.status_code


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(
            {"event": "article.*", "delivery": "stream", "url": "https://e.com/h"},
            "A stream-only subscription has no URL: leave it out.",
            id="stream-with-url",
        ),
        pytest.param({"event": "article.*"}, "This field is required.", id="post-without-url"),
        pytest.param(
            {"event": "article.*", "delivery": "post", "url": ""},
            "This field is required.",
            id="post-with-empty-url",
        ),
    ],
)
def test_a_url_that_does_not_fit_the_delivery_mode_is_400(
    api: APIClient, payload: dict[str, str], message: str
) -> None:
    response = api.post(LIST, payload, format="json")

    assert 400 == response.status_code
    assert {"url": [message]} == response.json()
    assert not Subscriber.objects.exists()


def test_an_unknown_delivery_mode_is_400(api: APIClient) -> None:
    response = api.post(LIST, {"event": "article.*", "delivery": "email"}, format="json")

    assert 400 == response.status_code
    assert {"delivery": ['Not a delivery mode: use "post" or "stream".']} == response.json()


def test_patching_a_subscription_to_stream_drops_its_url(api: APIClient, alice: Any) -> None:
    subscriber = Subscriber.objects.create(event="article.*", url="https://e.com/h", user=alice)

    response = api.patch(f"{LIST}{subscriber.uuid}/", {"delivery": "stream"}, format="json")

    assert 200 == response.status_code
    subscriber.refresh_from_db()
    assert ("stream", "") == (subscriber.delivery_mode, subscriber.url)


# -- recorded, never POSTed -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("records", ["all", "failed"])
def test_deliveries_are_recorded_as_streamed_and_never_posted(
    settings: Any, receiver: Receiver, alice: Any, records: str
) -> None:
    """Whatever THORN_DELIVERY_RECORDS says; the relay never takes them; the POST one is sent."""
    settings.THORN_DELIVERY_RECORDS = records
    subscriber = stream_only(alice)
    Subscriber.objects.create(event="article.*", url=receiver.url("/posted"))

    Article.objects.create(title="streamed")
    receiver.wait_for_path("/posted")

    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert ("streamed", 0, "") == (record.state, record.attempts, record.url)
    assert record.completed_at is not None
    assert [] == current_app().store.due_deliveries(100)
    assert [] == current_app().store.redeliver([str(record.id)])
    assert ["/posted"] == [received.path for received in receiver.wait_for(1)]
    subscriber.refresh_from_db()
    assert (None, True) == (subscriber.failing_since, subscriber.is_active)


def test_redelivering_a_streamed_delivery_is_409(
    api: APIClient, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscriber = stream_only(alice)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="once")
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)

    url = f"{LIST}{subscriber.uuid}/deliveries/{record.id}/redeliver/"
    response = api.post(url)

    assert 409 == response.status_code
    assert "never POSTed" in response.json()["detail"]
    listed = api.get(f"{LIST}{subscriber.uuid}/deliveries/", {"status": "streamed"})
    assert [str(record.id)] == [item["id"] for item in listed.json()["results"]]


# -- the stream under WSGI (Django's test client) -------------------------------------------


@pytest.mark.django_db(transaction=True)  # closing the response closes the connection
def test_the_wsgi_stream_sends_a_save_then_gives_its_lease_back(
    api: APIClient, alice: Any, settings: Any
) -> None:
    """The synchronous iterator: opening, the delivery as an event; closing frees the lease."""
    settings.THORN_STREAM_POLL_INTERVAL = 0.01
    subscriber = stream_only(alice)
    response = api.get(f"{LIST}{subscriber.uuid}/stream/", HTTP_ACCEPT="text/event-stream")
    assert 200 == response.status_code
    assert "text/event-stream" == response["Content-Type"]
    chunks = iter(response.streaming_content)
    assert b"retry: 1000\n\n: connected\n\n" == next(chunks)
    assert 1 == StreamLease.objects.filter(user=alice).count()

    Article.objects.create(title="over wsgi")
    event = next(chunks).decode()

    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    lines = event.splitlines()
    assert [f"id: {record.id}", "event: article.created"] == lines[:2]
    data = json.loads(lines[2].removeprefix("data: "))
    assert "over wsgi" == json.loads(data["body"])["data"]["title"]
    response.close()  # the client went away
    assert not StreamLease.objects.exists()
    subscriber.refresh_from_db()
    assert subscriber.stream_seen_at is not None


def test_a_stream_whose_lease_is_gone_ends(api: APIClient, alice: Any, settings: Any) -> None:
    """At its next heartbeat (its lease expired and was taken, or was deleted)."""
    settings.THORN_STREAM_HEARTBEAT = 0.05
    settings.THORN_STREAM_POLL_INTERVAL = 0.01
    subscriber = stream_only(alice)
    response = api.get(f"{LIST}{subscriber.uuid}/stream/", HTTP_ACCEPT="text/event-stream")
    chunks = iter(response.streaming_content)
    next(chunks)
    assert b": heartbeat\n\n" == next(chunks)

    StreamLease.objects.all().delete()

    assert [] == list(chunks)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_cannot_be_made_again_is_logged_and_skipped(
    api: APIClient, alice: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken record must not end every stream at the same place."""
    settings.THORN_STREAM_POLL_INTERVAL = 0.01
    subscriber = stream_only(alice)
    response = api.get(f"{LIST}{subscriber.uuid}/stream/", HTTP_ACCEPT="text/event-stream")
    chunks = iter(response.streaming_content)
    next(chunks)
    Article.objects.create(title="broken")
    broken = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    MessageRecord.objects.filter(deliveries=broken).update(data={})
    Article.objects.create(title="fine")

    event = next(chunks).decode()

    assert "fine" in event
    assert f"Delivery {broken.id} cannot be sent on its stream" in caplog.text
    response.close()


def test_a_user_without_streams_left_gets_429(api: APIClient, alice: Any, settings: Any) -> None:
    settings.THORN_MAX_STREAMS_PER_USER = 0
    subscriber = stream_only(alice)

    response = api.get(f"{LIST}{subscriber.uuid}/stream/", HTTP_ACCEPT="text/event-stream")

    assert 429 == response.status_code
    assert "application/json" == response["Content-Type"]


def test_head_opens_no_stream(api: APIClient, alice: Any) -> None:
    """HEAD would hold a lease for a stream nobody reads: 405."""
    subscriber = stream_only(alice)

    assert 405 == api.head(f"{LIST}{subscriber.uuid}/stream/").status_code
    assert not StreamLease.objects.exists()


def test_an_expired_lease_does_not_count(alice: Any, settings: Any) -> None:
    """A process that died leaves its lease behind until it expires."""
    settings.THORN_MAX_STREAMS_PER_USER = 1
    subscriber = stream_only(alice)
    dead = leases.acquire(alice, subscriber, current_app().settings)
    assert dead is not None
    assert leases.acquire(alice, subscriber, current_app().settings) is None

    StreamLease.objects.filter(pk=dead.pk).update(expires_at=timezone.now())

    assert leases.acquire(alice, subscriber, current_app().settings) is not None
    assert 1 == StreamLease.objects.count()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="row locks: PostgreSQL only",
)
def test_leases_taken_at_once_never_pass_the_limit(alice: Any, settings: Any) -> None:
    """20 threads take a lease at the same moment: 5 get one, 15 get None, none deadlocks."""
    settings.THORN_MAX_STREAMS_PER_USER = 5
    subscriber = stream_only(alice)
    start = threading.Barrier(20)
    taken: list[StreamLease | None] = []
    errors: list[Exception] = []

    def take() -> None:
        try:
            connection.ensure_connection()  # every thread ready to go at once
            start.wait(10)
            taken.append(leases.acquire(alice, subscriber, current_app().settings))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [] == errors
    assert (5, 20) == (sum(lease is not None for lease in taken), len(taken))
    assert 5 == StreamLease.objects.count()


# -- forgotten ones are pruned --------------------------------------------------------------


def test_prune_deletes_the_stream_subscriptions_nobody_read(alice: Any, settings: Any) -> None:
    """Past THORN_STREAM_SUBSCRIPTION_TTL without a reader, and no live lease: deleted."""
    settings.THORN_STREAM_SUBSCRIPTION_TTL = 60.0
    long_ago = timezone.now() - timedelta(minutes=5)
    forgotten = stream_only(alice)
    Subscriber.objects.filter(pk=forgotten.pk).update(created_at=long_ago)
    read_lately = stream_only(alice, stream_seen_at=timezone.now())
    held = stream_only(alice)
    Subscriber.objects.filter(pk=held.pk).update(created_at=long_ago, stream_seen_at=long_ago)
    StreamLease.objects.create(
        user=alice,
        subscription=held.uuid,
        started_at=long_ago,
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    posting = Subscriber.objects.create(event="article.*", url="https://e.com/h", user=alice)
    Subscriber.objects.filter(pk=posting.pk).update(created_at=long_ago)

    out = StringIO()
    call_command("thorn", "prune", "--json", stdout=out)

    assert 1 == json.loads(out.getvalue())["stream_subscriptions_deleted"]
    remaining = set(Subscriber.objects.values_list("uuid", flat=True))
    assert {read_lately.uuid, held.uuid, posting.uuid} == remaining


# -- the model and the checks ---------------------------------------------------------------


def test_the_model_refuses_a_url_that_does_not_fit(alice: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="has no URL"):
        Subscriber(event="a.b", delivery_mode="stream", url="https://e.com/h").full_clean()
    with pytest.raises(ValidationError, match="required"):
        Subscriber(event="a.b", url="").full_clean()
    assert "a.b -> (stream)" == str(Subscriber(event="a.b", delivery_mode="stream"))


def test_a_redis_url_without_the_redis_package_is_a_warning(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thorn.django import checks as thorn_checks

    settings.THORN_STREAM_REDIS_URL = "redis://localhost:6379/0"
    assert [] == thorn_checks.check_stream_redis()
    monkeypatch.setattr(thorn_checks, "find_spec", lambda name: None)

    [warning] = thorn_checks.check_stream_redis()

    assert ("thorn.W070", checks.WARNING) == (warning.id, warning.level)
