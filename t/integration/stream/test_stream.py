"""``GET /hooks/<uuid>/stream/`` served by a real uvicorn, from the records of saves."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from typing import Any

import django
import pytest
import requests

from thorn.django.models import AttemptRecord, DeliveryRecord, Subscriber

from t.integration.stream.conftest import (
    DEADLINE,
    PASSWORD,
    Server,
    Stream,
    verified_status,
    wait_for,
)
from t.proj.blog.models import Account, Article, Author
from t.receiver import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Fast heartbeats, so that a lease given back by a dropped stream is seen soon.
FAST = {"THORN_STREAM_HEARTBEAT": 1.0}


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password=PASSWORD)


ALICE = ("alice", PASSWORD)
BOB = ("bob", PASSWORD)


def stream_only(owner: Any, event: str = "article.*") -> Subscriber:
    return Subscriber.objects.create(event=event, user=owner, delivery_mode="stream", url="")


def verifies(subscriber: Subscriber, body: bytes, headers: dict[str, str]) -> int:
    """The status ``verify_webhook`` with the subscription's secret answers for this request."""
    return verified_status(subscriber.hmac_secret, body, headers, subscriber.hmac_digest)


def test_a_save_shows_up_on_the_stream_within_a_second(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any
) -> None:
    """A stream-only subscription: the saved article is on the stream within 1 s, signed."""
    server = asgi_server()
    subscriber = stream_only(alice)
    stream = open_stream(server, subscriber.uuid, ALICE)

    saved = time.monotonic()
    Article.objects.create(title="live")
    event = stream.next()

    assert event.received_at - saved < 1.0
    record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert (str(record.id), "article.created") == (event.id, event.event)
    body, headers = event.data["body"].encode(), event.data["headers"]
    assert {"title": "live", "state": "PENDING"} == json.loads(body)["data"]
    assert str(record.id) == headers["Hook-Delivery"] == headers["webhook-id"]
    assert str(subscriber.uuid) == headers["Hook-Subscription"]
    assert "PENDING" == headers["X-Article-State"]
    assert 204 == verifies(subscriber, body, headers)
    # Recorded for the stream, never POSTed.
    assert ("streamed", 0) == (record.state, record.attempts)
    assert not AttemptRecord.objects.filter(delivery=record).exists()


def test_an_ordinary_subscription_streams_the_bytes_it_posts(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any, receiver: Receiver
) -> None:
    """The stream of a POST subscription carries the POSTed body; reading it is no success."""
    receiver.answer("/failing", 500)
    subscriber = Subscriber.objects.create(
        event="article.created", url=receiver.url("/failing"), user=alice
    )
    server = asgi_server()
    stream = open_stream(server, subscriber.uuid, ALICE)

    Article.objects.create(title="posted")
    event = stream.next()
    [posted] = receiver.wait_for_path("/failing")

    assert posted.body == event.data["body"].encode()
    assert posted.header("Hook-Delivery") == event.id
    assert posted.header("Hook-HMAC") == event.data["headers"]["Hook-HMAC"]
    assert 204 == verifies(subscriber, posted.body, event.data["headers"])
    record = DeliveryRecord.objects.get(id=event.id)
    assert ("retrying", 1) == (record.state, record.attempts)
    subscriber.refresh_from_db()
    assert subscriber.failing_since is not None


def test_a_reconnect_with_last_event_id_misses_nothing(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any
) -> None:
    """Events saved while disconnected come first after a reconnect, in order, and only once."""
    server = asgi_server()
    subscriber = stream_only(alice)
    first = open_stream(server, subscriber.uuid, ALICE)
    Article.objects.create(title="one")
    seen = first.next()
    first.close()

    Article.objects.create(title="two")
    Article.objects.create(title="three")
    again = open_stream(server, subscriber.uuid, ALICE, last_event_id=seen.id)
    Article.objects.create(title="four")

    titles = [json.loads(again.next().data["body"])["data"]["title"] for _ in "123"]
    assert ["two", "three", "four"] == titles
    with pytest.raises(queue.Empty):
        again.next(timeout=1.5)  # nothing more: "one" is not sent again


def test_another_users_stream_is_404_and_their_events_are_not_shown(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any, bob: Any
) -> None:
    """Bob cannot read Alice's stream; Alice's stream never shows Bob's articles."""
    server = asgi_server()
    subscriber = stream_only(alice)

    refused = open_stream(server, subscriber.uuid, BOB)
    assert 404 == refused.status_code
    assert "detail" in refused.json()
    anonymous = requests.get(f"{server.url}/hooks/{subscriber.uuid}/stream/", timeout=DEADLINE)
    assert anonymous.status_code in (401, 403)
    bad = open_stream(server, subscriber.uuid, ALICE, last_event_id="not-a-delivery")
    assert 400 == bad.status_code
    assert ["Last-Event-ID"] == list(bad.json())

    stream = open_stream(server, subscriber.uuid, ALICE)
    bobs = Author.objects.create(account=Account.objects.create(user=bob))
    Article.objects.create(title="bob's", author=bobs)
    Article.objects.create(title="everyone's")
    event = stream.next()
    assert "everyone's" == json.loads(event.data["body"])["data"]["title"]


def test_the_sixth_stream_is_429_across_processes(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any
) -> None:
    """Five streams over two servers: the sixth, on either, is a 429."""
    first, second = asgi_server(FAST), asgi_server(FAST)
    subscriber = stream_only(alice)
    streams = [
        open_stream(server, subscriber.uuid, ALICE) for server in (first, second) * 2 + (first,)
    ]
    refusals = [(s.status_code, s.text) for s in streams if not isinstance(s, Stream)]
    assert [] == refusals

    for server in (first, second):
        refused = open_stream(server, subscriber.uuid, ALICE)
        assert 429 == refused.status_code
        assert "THORN_MAX_STREAMS_PER_USER" in refused.json()["detail"]


@pytest.mark.skipif(
    django.VERSION < (5, 0), reason="Django 4.2's ASGI handler is not told that a client left"
)
def test_a_closed_stream_gives_its_place_back_at_once(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any
) -> None:
    """At the limit, closing a stream lets the next one in, without waiting for its lease."""
    server = asgi_server()  # heartbeats every 15 s: a lease lasts 45 s
    subscriber = stream_only(alice)
    streams = [open_stream(server, subscriber.uuid, ALICE) for _ in range(5)]
    assert 429 == open_stream(server, subscriber.uuid, ALICE).status_code

    streams[0].close()
    reopened = wait_for(
        lambda: isinstance(s := open_stream(server, subscriber.uuid, ALICE), Stream) and s,
        "the closed stream's lease to be given back",
        timeout=5.0,
    )

    assert isinstance(reopened, Stream)


def test_with_redis_an_event_saved_in_one_server_reaches_a_stream_on_another(
    asgi_server: Callable[..., Server], open_stream: Any, alice: Any, redis_server: Any
) -> None:
    """THORN_STREAM_REDIS_URL: the save in server A wakes the stream held by server B at once.

    Polling and heartbeats are 30 s apart, so only the pub/sub can bring it within a second.
    """
    slow = {
        "THORN_STREAM_REDIS_URL": redis_server.url,
        "THORN_STREAM_POLL_INTERVAL": 30.0,
        "THORN_STREAM_HEARTBEAT": 30.0,
    }
    saving, streaming = asgi_server(slow), asgi_server(slow)
    subscriber = stream_only(alice)
    stream = open_stream(streaming, subscriber.uuid, ALICE)

    saved = time.monotonic()
    response = requests.post(f"{saving.url}/articles/", data=b"from A", timeout=DEADLINE)
    assert 201 == response.status_code
    event = stream.next(timeout=5.0)

    assert event.received_at - saved < 1.0
    assert "from A" == json.loads(event.data["body"])["data"]["title"]
