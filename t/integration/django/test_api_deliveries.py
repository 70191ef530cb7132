"""A subscription's deliveries in the ``/hooks/`` API: list, show, redeliver, recover, re-enable.

Through DRF's APIClient against the test project's URLs; deliveries go over
the wire to the loopback receiver (default dispatcher, this process).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from thorn._state import current_app
from thorn.django.models import DeliveryRecord, Subscriber
from thorn.relay import relay_once

from t.proj.blog.models import Article
from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("alice")
    return user


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def no_retries(settings: Any) -> Any:
    """A failed delivery fails at once (the retries are the relay's, tested elsewhere)."""
    settings.THORN_RETRY_SCHEDULE = []
    return settings


def subscribe(api: APIClient, receiver: Receiver, path: str, event: str = "article.created"):
    """Subscribe through the API; return the answer's body."""
    response = api.post("/hooks/", {"event": event, "url": receiver.url(path)}, format="json")
    assert 201 == response.status_code, response.content
    return response.json()


def deliveries_of(api: APIClient, subscription: str, query: str = "") -> Any:
    response = api.get(f"/hooks/{subscription}/deliveries/{query}")
    assert 200 == response.status_code, response.content
    return response.json()


# -- the story of the issue --------------------------------------------------------------------


def test_the_owner_sees_a_failure_and_why_redelivers_it_and_sees_it_succeed(
    api, receiver, no_retries
):
    """Through the API alone: a 503 is listed with its answer, redelivered (202), and succeeds."""
    receiver.answer("/flaky", Answer(status=503, body=b"down for maintenance"), 200)
    subscription = subscribe(api, receiver, "/flaky")["id"]
    Article.objects.create(title="Hello")

    [failed] = deliveries_of(api, subscription)["results"]
    assert ("article.created", "failed", 503, 1) == (
        failed["event"],
        failed["status"],
        failed["status_code"],
        failed["attempt_count"],
    )
    assert "503" in failed["error"]
    detail = api.get(failed["delivery"]).json()
    [attempt] = detail["attempts"]
    assert (1, 503, "down for maintenance") == (
        attempt["number"],
        attempt["status_code"],
        attempt["response_body"],
    )
    assert ("article.created", "Hello") == (
        detail["payload"]["event"],
        detail["payload"]["data"]["title"],
    )

    response = api.post(f"{failed['delivery']}redeliver/")

    assert 202 == response.status_code, response.content
    assert (failed["id"], "retrying") == (response.json()["id"], response.json()["status"])
    detail = api.get(failed["delivery"]).json()
    assert ("succeeded", 2, 200) == (
        detail["status"],
        detail["attempt_count"],
        detail["status_code"],
    )
    assert [503, 200] == [attempt["status_code"] for attempt in detail["attempts"]]
    first, second = receiver.for_path("/flaky")
    assert failed["id"] == first.header("Hook-Delivery") == second.header("Hook-Delivery")
    shown = api.get(f"/hooks/{subscription}/").json()
    assert (failed["id"], "succeeded", 200) == (
        shown["last_delivery"]["id"],
        shown["last_delivery"]["status"],
        shown["last_delivery"]["status_code"],
    )


# -- listing -----------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_a_page_at_a_time(api, receiver):
    """Cursor pagination: page_size=2 over three deliveries, then the next page."""
    subscription = subscribe(api, receiver, "/list")["id"]
    for title in ("one", "two", "three"):
        Article.objects.create(title=title)
    records = DeliveryRecord.objects.filter(subscription=subscription).order_by("-created_at")
    newest_first = [str(record.id) for record in records]

    page = deliveries_of(api, subscription, "?page_size=2")

    assert newest_first[:2] == [item["id"] for item in page["results"]]
    assert page["previous"] is None
    following = api.get(page["next"]).json()
    assert newest_first[2:] == [item["id"] for item in following["results"]]
    assert following["next"] is None


def test_deliveries_are_filtered_by_status_and_event(api, receiver, no_retries):
    receiver.answer("/mixed", 200, 500)
    subscription = subscribe(api, receiver, "/mixed", event="article.*")["id"]
    Article.objects.create(title="created: 200")
    Article.objects.get().delete()  # article.removed: 500

    def events(query: str) -> list[tuple[str, str]]:
        results = deliveries_of(api, subscription, query)["results"]
        return [(item["event"], item["status"]) for item in results]

    assert [("article.removed", "failed")] == events("?status=failed")
    assert [("article.created", "succeeded")] == events("?event=article.created")
    assert 2 == len(events("?status=failed&status=succeeded"))
    assert [] == events("?status=failed&event=article.created")


def test_an_unknown_status_is_a_400(api, receiver):
    subscription = subscribe(api, receiver, "/list")["id"]

    response = api.get(f"/hooks/{subscription}/deliveries/?status=lost")

    assert 400 == response.status_code
    assert "Not a status: 'lost'" in response.json()["status"][0]


def test_a_response_excerpt_is_text_never_html(api, receiver, no_retries):
    """A body with <script> is a JSON string, and escaped in the browsable API."""
    script = b"<script>alert('owned')</script>"
    receiver.answer("/xss", Answer(status=500, body=script, headers={"Content-Type": "text/html"}))
    subscription = subscribe(api, receiver, "/xss")["id"]
    Article.objects.create(title="Hello")
    [item] = deliveries_of(api, subscription)["results"]

    assert script.decode() == api.get(item["delivery"]).json()["attempts"][0]["response_body"]
    page = api.get(item["delivery"], HTTP_ACCEPT="text/html")
    assert page["Content-Type"].startswith("text/html")
    assert script not in page.content
    assert b"&lt;script&gt;alert(" in page.content


def test_without_records_of_successes_only_failures_are_listed(api, receiver, settings):
    """THORN_DELIVERY_RECORDS = "failed": a first-attempt success leaves nothing to list."""
    settings.THORN_DELIVERY_RECORDS = "failed"
    settings.THORN_RETRY_SCHEDULE = []
    receiver.answer("/lean", 200, 500)
    subscription = subscribe(api, receiver, "/lean")["id"]
    Article.objects.create(title="delivered")
    Article.objects.create(title="failed")

    assert ["failed"] == [item["status"] for item in deliveries_of(api, subscription)["results"]]


def test_the_list_of_subscriptions_finds_last_deliveries_in_two_queries(
    api, receiver, django_assert_max_num_queries
):
    """Five subscriptions with deliveries: the list costs the same queries as one."""
    for n in range(5):
        subscribe(api, receiver, f"/many/{n}")
    Article.objects.create(title="Hello")

    with django_assert_max_num_queries(4):
        items = api.get("/hooks/").json()

    assert 5 == len(items)
    assert {"succeeded"} == {item["last_delivery"]["status"] for item in items}


# -- whose -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        pytest.param("get", "deliveries/", id="list"),
        pytest.param("get", "deliveries/{delivery}/", id="detail"),
        pytest.param("post", "deliveries/{delivery}/redeliver/", id="redeliver"),
        pytest.param("post", "recover/", id="recover"),
    ],
)
def test_another_users_subscription_is_404(api, receiver, django_user_model, method, suffix):
    """Bob's subscription and deliveries are a 404 for alice, and stay as they are."""
    bob = APIClient()
    bob.force_authenticate(django_user_model.objects.create_user("bob"))
    subscription = subscribe(bob, receiver, "/bob")["id"]
    Article.objects.create(title="Hello")
    record = DeliveryRecord.objects.get(subscription=subscription)
    path = f"/hooks/{subscription}/" + suffix.format(delivery=record.id)

    response = getattr(api, method)(path, {"since": "2020-01-01T00:00:00Z"}, format="json")

    assert 404 == response.status_code
    assert 1 == len(receiver.for_path("/bob"))
    assert 1 == DeliveryRecord.objects.get(pk=record.pk).attempts


def test_a_delivery_of_another_subscription_is_404(api, receiver):
    """A delivery id is found only under its own subscription's URL."""
    first = subscribe(api, receiver, "/first")["id"]
    second = subscribe(api, receiver, "/second")["id"]
    Article.objects.create(title="Hello")
    record = DeliveryRecord.objects.get(subscription=first)

    assert 404 == api.get(f"/hooks/{second}/deliveries/{record.id}/").status_code
    assert 404 == api.post(f"/hooks/{second}/deliveries/{record.id}/redeliver/").status_code


def test_anonymous_cannot_see_deliveries(api, receiver):
    subscription = subscribe(api, receiver, "/list")["id"]

    assert 403 == APIClient().get(f"/hooks/{subscription}/deliveries/").status_code


# -- redelivery --------------------------------------------------------------------------------


def test_redelivering_to_a_disabled_subscription_is_a_409(api, receiver):
    """410 Gone disabled it: redeliver and recover answer 409 until it is enabled."""
    receiver.answer("/gone", 410)
    subscription = subscribe(api, receiver, "/gone")["id"]
    Article.objects.create(title="Hello")
    [item] = deliveries_of(api, subscription)["results"]

    response = api.post(f"{item['delivery']}redeliver/")
    recovered = api.post(f"/hooks/{subscription}/recover/", {"since": "2020-01-01T00:00:00Z"})

    assert (409, 409) == (response.status_code, recovered.status_code)
    assert "disabled" in response.json()["detail"]
    assert 1 == len(receiver.for_path("/gone"))


def test_a_delivery_being_attempted_is_a_409(api, receiver, no_retries):
    receiver.answer("/held", 500)
    subscription = subscribe(api, receiver, "/held")["id"]
    Article.objects.create(title="Hello")
    record = DeliveryRecord.objects.get(subscription=subscription)
    DeliveryRecord.objects.filter(pk=record.pk).update(
        state="retrying", locked_until=timezone.now() + timedelta(minutes=1), lease="worker"
    )

    response = api.post(f"/hooks/{subscription}/deliveries/{record.id}/redeliver/")

    assert 409 == response.status_code
    assert "being attempted" in response.json()["detail"]


# -- recovery ----------------------------------------------------------------------------------


def test_recover_redelivers_what_failed_since_a_time(api, receiver, no_retries):
    """202 with the count; the relay sends them, with their ids."""
    receiver.answer("/recover", 500)
    subscription = subscribe(api, receiver, "/recover")["id"]
    Article.objects.create(title="one")
    Article.objects.create(title="two")
    receiver.answer("/recover", 200)
    since = (timezone.now() - timedelta(minutes=5)).isoformat()

    response = api.post(f"/hooks/{subscription}/recover/", {"since": since}, format="json")

    assert 202 == response.status_code, response.content
    assert (2, False) == (response.json()["recovered"], response.json()["more"])
    assert {"retrying"} == {item["status"] for item in deliveries_of(api, subscription)["results"]}
    deadline = time.monotonic() + 10
    while len(receiver.for_path("/recover")) < 4:
        assert time.monotonic() < deadline
        relay_once(current_app())
    results = deliveries_of(api, subscription)["results"]
    assert {("succeeded", 2)} == {(item["status"], item["attempt_count"]) for item in results}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"since": "yesterday"}, id="not-a-time"),
        pytest.param({"since": None}, id="null"),
    ],
)
def test_recover_needs_a_time(api, receiver, body):
    subscription = subscribe(api, receiver, "/recover")["id"]

    response = api.post(f"/hooks/{subscription}/recover/", body, format="json")

    assert 400 == response.status_code
    assert ["since"] == list(response.json())


# -- health ------------------------------------------------------------------------------------


def test_a_disabled_subscription_shows_why_and_is_enabled_by_patch(api, receiver, sentinel):
    """410: is_active false with the reason; PATCH is_active true enables it, and it receives."""
    receiver.answer("/gone", 410, 200)
    subscription = subscribe(api, receiver, "/gone")["id"]
    Article.objects.create(title="Gone")

    shown = api.get(f"/hooks/{subscription}/").json()
    assert (False, "the URL answered 410 Gone", "failed", 410) == (
        shown["is_active"],
        shown["disabled_reason"],
        shown["last_delivery"]["status"],
        shown["last_delivery"]["status_code"],
    )
    assert shown["disabled_at"] is not None

    response = api.patch(f"/hooks/{subscription}/", {"is_active": True}, format="json")

    assert 200 == response.status_code
    assert (True, "", None, None) == (
        response.json()["is_active"],
        response.json()["disabled_reason"],
        response.json()["disabled_at"],
        response.json()["failing_since"],
    )
    Article.objects.create(title="Back")
    sentinel()
    assert 2 == len(receiver.for_path("/gone"))
    results = deliveries_of(api, subscription)["results"]
    assert [("succeeded", 200), ("failed", 410)] == [
        (item["status"], item["status_code"]) for item in results
    ]
    assert Subscriber.objects.get(uuid=subscription).is_active


def test_the_owner_can_disable_a_subscription(api, receiver):
    subscription = subscribe(api, receiver, "/off")["id"]

    shown = api.patch(f"/hooks/{subscription}/", {"is_active": False}, format="json").json()

    assert (False, "disabled by hand") == (shown["is_active"], shown["disabled_reason"])
    assert shown["disabled_at"] is not None


def test_a_subscription_without_deliveries_has_no_last_delivery(api, receiver):
    assert subscribe(api, receiver, "/new")["last_delivery"] is None
