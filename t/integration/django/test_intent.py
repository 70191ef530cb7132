"""Verification of intent (WebSub §5.3) through the ``/hooks/`` API and the loopback receiver."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from thorn.django.models import Subscriber

from t.proj.blog.models import Article
from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/hooks/"
ECHO = Answer(echo="hub.challenge")


@pytest.fixture(autouse=True)
def verify_intent(settings: Any) -> None:
    settings.THORN_VERIFY_INTENT = True
    settings.THORN_VERIFY_TIMEOUT = 0.5


def subscribe(api: APIClient, receiver: Receiver, path: str, **fields: Any) -> Any:
    body = {"event": "article.created", "url": receiver.url(path), **fields}
    response = api.post(LIST, body, format="json")
    assert 201 == response.status_code
    return response


def hub_params(received: Any) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(received.path).query).items()}


def test_a_callback_that_echoes_the_challenge_is_verified(api, receiver, sentinel):
    """GET with the hub.* parameters; the challenge echoed: verified, and it receives events."""
    receiver.answer("/echo", ECHO)
    response = subscribe(api, receiver, "/echo?token=t", lease_seconds=600)

    body = response.json()
    assert (True, "", True) == (
        body["verified"],
        body["verification_error"],
        body["verification_attempted_at"] is not None,
    )
    [challenge] = [r for r in receiver.for_path_prefix("/echo") if r.method == "GET"]
    params = hub_params(challenge)
    assert ("t", "subscribe", "article.created") == (
        params["token"],
        params["hub.mode"],
        params["hub.topic"],
    )
    assert 590 <= int(params["hub.lease_seconds"]) <= 600
    assert len(params["hub.challenge"]) >= 32

    Article.objects.create(title="Delivered")
    sentinel()
    posts = [r for r in receiver.for_path("/echo?token=t") if r.method == "POST"]
    assert ["Delivered"] == [r.json()["data"]["title"] for r in posts]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        pytest.param(
            Answer(body=b"not-the-challenge"), "did not answer with the challenge", id="wrong"
        ),
        pytest.param(Answer(status=404, echo="hub.challenge"), "404", id="not-2xx"),
        pytest.param(
            Answer(delay=2.0, echo="hub.challenge"), "did not answer within", id="timeout"
        ),
    ],
)
def test_a_callback_that_does_not_echo_is_not_verified(api, receiver, sentinel, answer, words):
    """Wrong body, an error status, or too slow: not verified, the error recorded, nothing sent."""
    receiver.answer("/bad", answer)
    started = timezone.now()

    body = subscribe(api, receiver, "/bad").json()

    assert (timezone.now() - started).total_seconds() < 1.5  # bounded by THORN_VERIFY_TIMEOUT
    assert body["verified"] is False
    assert words in body["verification_error"]
    assert started <= parse_datetime(body["verification_attempted_at"])
    Article.objects.create(title="Not delivered")
    sentinel()
    assert [] == [r for r in receiver.for_path("/bad") if r.method == "POST"]


def test_a_failed_verification_can_be_retried(api, receiver, sentinel):
    """POST /hooks/<uuid>/verify/ asks again; once echoed, the subscription receives events."""
    receiver.answer("/later", Answer(status=503), ECHO)
    created = subscribe(api, receiver, "/later").json()
    detail = created["subscription"]
    assert Subscriber.objects.get(uuid=created["id"]).verified is False

    response = api.post(f"{detail}verify/")

    assert 200 == response.status_code
    assert (True, "") == (response.json()["verified"], response.json()["verification_error"])
    Article.objects.create(title="Now")
    sentinel()
    assert ["Now"] == [
        r.json()["data"]["title"] for r in receiver.for_path("/later") if r.method == "POST"
    ]


def test_changing_the_url_verifies_it_again(api, receiver):
    """A PATCH of the URL sends a challenge to the new URL; other changes send none."""
    receiver.answer("/first", ECHO)
    detail = subscribe(api, receiver, "/first").json()["subscription"]

    assert (
        200 == api.patch(detail, {"content_type": "application/x-www-form-urlencoded"}).status_code
    )
    assert 1 == len(receiver.for_path_prefix("/first"))
    response = api.patch(detail, {"url": receiver.url("/second")}, format="json")

    assert response.json()["verified"] is False
    [challenge] = receiver.for_path_prefix("/second")
    assert "subscribe" == hub_params(challenge)["hub.mode"]


def test_unsubscribing_tells_the_callback(api, receiver):
    """DELETE sends hub.mode=unsubscribe; its answer does not matter."""
    receiver.answer("/bye", ECHO)
    detail = subscribe(api, receiver, "/bye").json()["subscription"]
    receiver.answer("/bye", 500)

    assert 204 == api.delete(detail).status_code

    notice = receiver.for_path_prefix("/bye")[-1]
    assert ("GET", "unsubscribe", "article.created") == (
        notice.method,
        hub_params(notice)["hub.mode"],
        hub_params(notice)["hub.topic"],
    )
    assert not Subscriber.objects.exists()


def test_without_the_setting_nothing_is_verified(api, receiver, settings, sentinel):
    """THORN_VERIFY_INTENT = False (the default): no challenge, and the subscription receives."""
    settings.THORN_VERIFY_INTENT = False

    body = subscribe(api, receiver, "/trusted").json()
    Article.objects.create(title="Sent")
    sentinel()

    assert (True, None) == (body["verified"], body["verification_attempted_at"])
    assert ["POST"] == [r.method for r in receiver.for_path("/trusted")]


def test_an_unverified_subscription_is_not_pinged(api, receiver):
    """A ping would post to a URL that never confirmed: 409."""
    receiver.answer("/unconfirmed", 404)
    detail = subscribe(api, receiver, "/unconfirmed").json()["subscription"]

    response = api.post(f"{detail}ping/")

    assert 409 == response.status_code
    assert "not verified" in response.json()["detail"]
