"""The ``/hooks/`` REST API, through DRF's APIClient against the test project's URLs.

The project mounts ``thorn.django.rest_framework.urls`` at ``/hooks/`` with
the ``webhook`` namespace and keeps DRF's default authentication (session,
then basic), so an anonymous request is refused with 403.  The Django
conftest turns the recipient validators off (deliveries go to loopback); the
tests of recipient validation turn the defaults back on and resolve host
names with a fake resolver, so no real DNS is used.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
import standardwebhooks
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.permissions import BasePermission
from rest_framework.test import APIClient

from thorn import Event
from thorn._state import current_app
from thorn.django.models import Subscriber
from thorn.django.rest_framework.views import MAX_BODY_SIZE
from thorn.exceptions import ImproperlyConfigured
from thorn.transport import Transport
from thorn.utils.hmac import verify

from t.proj.blog.models import Account, Article, Author
from t.receiver import Receiver

pytestmark = pytest.mark.django_db

LIST = "/hooks/"
#: The keys of the documented create response ("Subscribing to events").
DOC_KEYS = [
    "event",
    "url",
    "content_type",
    "user",
    "id",
    "created_at",
    "updated_at",
    "subscription",
    "hmac_secret",
    "hmac_digest",
    "signing_secret",
    # new in 2.0: Ed25519 (v1a) signatures
    "signing_algorithm",
    "signing_public_key",
    # new in 2.0: the endpoint's health
    "is_active",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "last_delivery",
    # new in 2.0: filters, leases, verification of intent
    "filter",
    "expires_at",
    "verified",
    "verification_error",
    "verification_attempted_at",
    # new in 2.0: "post" or "stream"
    "delivery",
]
#: The keys of an item of the documented list ("Listing subscriptions"): no secret.
LIST_KEYS = [key for key in DOC_KEYS if key not in ("hmac_secret", "signing_secret")]
#: The body of the docs' curl example.
DOCS_EXAMPLE = {"event": "article.*", "url": "https://e.com/h/article?u=1"}
FORM = "application/x-www-form-urlencoded"
#: A chosen secret (within the 1..512 bounds).
SECRET = "s3cr3t-0f-the-subscriber-with-enough-length"


class StaffOnly(BasePermission):
    """Only staff users may use the API."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


class AllowAnyone(BasePermission):
    """Lets every request through (thorn must still require authentication)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return True


class NoSecretEvents(BasePermission):
    """Object-level: subscriptions to ``secret.*`` cannot be read or changed."""

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return not obj.event.startswith("secret.")


# -- helpers -----------------------------------------------------------------


def detail(ident: Any) -> str:
    """Path of the detail view of the subscription ``ident``."""
    return f"/hooks/{ident}/"


def absolute(ident: Any) -> str:
    """The ``subscription`` URL the API gives for ``ident`` (test client host)."""
    return f"http://testserver/hooks/{ident}/"


def client_for(user: User | None) -> APIClient:
    """An APIClient authenticated as ``user`` (anonymous for ``None``)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def whsec(secret: str) -> str:
    """``secret`` in the Standard Webhooks format, computed here (not with thorn's function)."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def row_of(subscriber: Subscriber) -> dict[str, Any]:
    """Every column of ``subscriber`` as stored now."""
    values: dict[str, Any] = Subscriber.objects.filter(pk=subscriber.pk).values().get()
    return values


def owned(user: User, event: str = "article.created", **fields: Any) -> Subscriber:
    """A subscription of ``user`` stored directly (not through the API)."""
    fields.setdefault("url", f"https://{user.username}.example/hook")
    fields.setdefault("hmac_secret", f"secret-of-{user.username}-" + "x" * 20)
    return Subscriber.objects.create(user=user, event=event, **fields)


def errors_of(response: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = response.json()
    return errors


def post_json(client: APIClient, path: str, body: str, method: str = "post") -> Any:
    """Send ``body`` (already encoded JSON) with ``method``."""
    return getattr(client, method)(path, data=body, content_type="application/json")


def parse_timestamp(value: str) -> datetime:
    assert value.endswith("Z"), value
    # Python 3.10's fromisoformat() does not read "Z" (3.11's does).
    return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")


@pytest.fixture
def alice(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("alice")
    return user


@pytest.fixture
def bob(django_user_model: Any) -> User:
    user: User = django_user_model.objects.create_user("bob")
    return user


@pytest.fixture
def api(alice: User) -> APIClient:
    """The API as alice."""
    return client_for(alice)


@pytest.fixture
def anonymous() -> APIClient:
    return client_for(None)


# -- the docs' examples ------------------------------------------------------------


def test_subscribe_as_in_the_docs_returns_the_documented_fields(api, alice):
    """POST of the docs' example: 201 with exactly the documented keys, in 1.5's order."""
    before = datetime.now().astimezone()

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert 201 == response.status_code
    body = response.json()
    assert DOC_KEYS == list(body)
    subscriber = Subscriber.objects.get()
    assert str(subscriber.uuid) == body["id"]
    assert "article.*" == body["event"]
    assert "https://e.com/h/article?u=1" == body["url"]
    assert alice.pk == body["user"]
    assert "sha256" == body["hmac_digest"]
    assert "application/json" == body["content_type"]
    assert 64 == len(body["hmac_secret"])
    assert absolute(body["id"]) == body["subscription"]
    created, updated = parse_timestamp(body["created_at"]), parse_timestamp(body["updated_at"])
    after = datetime.now().astimezone()
    assert before - timedelta(seconds=1) <= created <= updated <= after + timedelta(seconds=1)


def test_subscribe_stores_the_row_for_the_caller(api, alice):
    """The created row belongs to the caller and holds what the response shows."""
    body = api.post(LIST, DOCS_EXAMPLE, format="json").json()

    subscriber = Subscriber.objects.get(uuid=body["id"])
    assert alice.pk == subscriber.user_id
    assert ("article.*", "https://e.com/h/article?u=1") == (subscriber.event, subscriber.url)
    assert (body["hmac_secret"], "sha256") == (subscriber.hmac_secret, subscriber.hmac_digest)
    assert "application/json" == subscriber.content_type


def test_subscribe_location_header_is_the_subscription_url(api):
    """The 201 Location header is the new subscription's own URL, not the callback URL."""
    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    body = response.json()
    assert absolute(body["id"]) == response["Location"]
    assert body["subscription"] == response["Location"]


def test_each_subscription_gets_its_own_random_secret(api):
    """Two subscriptions made without a secret get two different 64-character secrets."""
    first = api.post(LIST, DOCS_EXAMPLE, format="json").json()["hmac_secret"]
    second = api.post(LIST, {**DOCS_EXAMPLE, "event": "comment.*"}, format="json").json()
    second = second["hmac_secret"]

    assert [64, 64] == [len(first), len(second)]
    assert first != second


def test_list_shows_the_callers_subscriptions_without_secrets(api, alice, bob):
    """GET /hooks/ lists only the caller's subscriptions, by url then newest, without secrets."""
    b = owned(alice, "article.changed", url="https://b.example/hook", hmac_secret="B" * 40)
    a_old = owned(alice, "article.created", url="https://a.example/hook", hmac_secret="O" * 40)
    a_new = owned(alice, "article.removed", url="https://a.example/hook", hmac_secret="N" * 40)
    owned(bob, url="https://0-first.example/hook", hmac_secret="X" * 40)

    response = api.get(LIST)

    assert 200 == response.status_code
    items = response.json()
    assert [str(s.uuid) for s in (a_new, a_old, b)] == [item["id"] for item in items]
    assert [LIST_KEYS] * 3 == [list(item) for item in items]
    assert {alice.pk} == {item["user"] for item in items}
    assert [absolute(s.uuid) for s in (a_new, a_old, b)] == [i["subscription"] for i in items]
    for secret in ("B" * 40, "O" * 40, "N" * 40, "X" * 40):
        assert secret.encode() not in response.content


def test_list_of_a_user_without_subscriptions_is_empty(api, bob):
    """A caller with no subscription gets an empty list, not other users' subscriptions."""
    owned(bob)

    response = api.get(LIST)

    assert 200 == response.status_code
    assert [] == response.json()


def test_browsable_list_shows_no_secret(api, alice):
    """The HTML (browsable API) page of the list does not show secrets either."""
    owned(alice, hmac_secret=SECRET)

    response = api.get(LIST, HTTP_ACCEPT="text/html")

    assert 200 == response.status_code
    assert response["Content-Type"].startswith("text/html")
    assert SECRET.encode() not in response.content


def test_options_describes_the_writable_fields(api):
    """OPTIONS /hooks/ (authenticated) is 200 and describes POST: event is required."""
    response = api.options(LIST)

    assert 200 == response.status_code
    post = response.json()["actions"]["POST"]
    # lease_seconds is write-only: in OPTIONS, not in the answers.
    assert [*DOC_KEYS[:19], "lease_seconds", *DOC_KEYS[19:]] == list(post)
    # The URL is required unless "delivery" is "stream" (2.0): the serializer checks it.
    assert ["event"] == [name for name, info in post.items() if info["required"]]
    writable = [name for name, info in post.items() if not info["read_only"]]
    assert [
        "event",
        "url",
        "content_type",
        "hmac_secret",
        "hmac_digest",
        "signing_algorithm",
        "is_active",
        "filter",
        "lease_seconds",
        "delivery",
    ] == writable


def test_detail_shows_the_secret(api, alice):
    """GET /hooks/<id>/ shows every documented field, the secret included."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.get(detail(subscriber.uuid))

    assert 200 == response.status_code
    body = response.json()
    assert DOC_KEYS == list(body)
    assert SECRET == body["hmac_secret"]
    assert str(subscriber.uuid) == body["id"]
    assert absolute(subscriber.uuid) == body["subscription"]
    assert alice.pk == body["user"]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="generated"),
        pytest.param(SECRET, id="chosen"),
        pytest.param("é\\ ☃ '\"", id="chosen-non-ascii"),
    ],
)
def test_signing_secret_is_the_secret_for_standard_webhooks_libraries(
    api, receiver, django_capture_on_commit_callbacks, secret
):
    """signing_secret is whsec_ + base64(hmac_secret): standardwebhooks verifies real deliveries."""
    body = {"event": "article.created", "url": receiver.url("/standard")}
    if secret is not None:
        body["hmac_secret"] = secret
    created = api.post(LIST, body, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Verified")

    (received,) = receiver.wait_for_path("/standard")
    webhook = standardwebhooks.Webhook(created["signing_secret"])
    assert "Verified" == webhook.verify(received.body, received.headers)["data"]["title"]
    expected = whsec(created["hmac_secret"])
    assert expected == created["signing_secret"]
    assert expected == api.get(detail(created["id"])).json()["signing_secret"]
    if secret is not None:
        assert secret == created["hmac_secret"]


def test_signing_secret_is_read_only(api, alice):
    """A signing_secret sent by the client is ignored: it always follows hmac_secret."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.patch(detail(subscriber.uuid), {"signing_secret": "whsec_AAAA"}, format="json")

    assert 200 == response.status_code
    assert SECRET == row_of(subscriber)["hmac_secret"]
    assert whsec(SECRET) == response.json()["signing_secret"]


def test_unsubscribe_deletes_the_row(api, alice):
    """DELETE /hooks/<id>/ answers 204; the detail is then 404 and the row is gone."""
    ident = api.post(LIST, DOCS_EXAMPLE, format="json").json()["id"]

    response = api.delete(detail(ident))

    assert 204 == response.status_code
    assert b"" == response.content
    assert 404 == api.get(detail(ident)).status_code
    assert 404 == api.delete(detail(ident)).status_code
    assert not Subscriber.objects.filter(uuid=ident).exists()
    assert [] == api.get(LIST).json()


def test_subscribe_with_every_optional_field(api):
    """hmac_secret, hmac_digest and content_type are stored as posted (digest in lower case)."""
    payload = {**DOCS_EXAMPLE, "hmac_secret": SECRET, "hmac_digest": "SHA512", "content_type": FORM}

    response = api.post(LIST, payload, format="json")

    assert 201 == response.status_code
    body = response.json()
    assert (SECRET, "sha512", FORM) == (
        body["hmac_secret"],
        body["hmac_digest"],
        body["content_type"],
    )
    subscriber = Subscriber.objects.get(uuid=body["id"])
    assert (SECRET, "sha512", FORM) == (
        subscriber.hmac_secret,
        subscriber.hmac_digest,
        subscriber.content_type,
    )


@pytest.mark.parametrize(
    ("posted", "stored"),
    [("sha1", "sha1"), ("sha256", "sha256"), ("SHA256", "sha256"), ("Sha512", "sha512")],
)
def test_hmac_digest_is_accepted_in_any_case_and_stored_lower(api, posted, stored):
    """Every documented digest is accepted in any case and stored (and shown) in lower case."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "hmac_digest": posted}, format="json")

    assert 201 == response.status_code
    assert stored == response.json()["hmac_digest"]
    assert stored == Subscriber.objects.get().hmac_digest


@pytest.mark.parametrize(
    "secret", ["x", "s3cr3t", "x" * 15, "x" * 16, "y" * 512, "  spaces kept around  ", " x "]
)
def test_hmac_secret_of_any_length_up_to_512_is_accepted_and_kept(api, secret):
    """Secrets of 1 to 512 characters are accepted as in Thorn 1.5, and stored exactly."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "hmac_secret": secret}, format="json")

    assert 201 == response.status_code
    assert secret == response.json()["hmac_secret"]
    assert secret == Subscriber.objects.get().hmac_secret


def test_form_encoded_request_body_is_accepted(api, alice):
    """The API also parses form-encoded request bodies (DRF's default parsers)."""
    response = api.post(LIST, DOCS_EXAMPLE)  # multipart, as a browser form would

    assert 201 == response.status_code
    assert alice == Subscriber.objects.get().user


# -- duplicates ----------------------------------------------------------------


def non_field_error(response: Any, says: str) -> str:
    """The single non-field error of a 400 response, which must say ``says``."""
    assert 400 == response.status_code, response.content
    errors = errors_of(response)
    assert ["non_field_errors"] == list(errors)
    [error] = errors["non_field_errors"]
    assert says in error
    return error


def duplicate_error(response: Any) -> str:
    return non_field_error(response, "duplicate")


def test_a_duplicate_subscription_is_refused(api, alice):
    """A second POST of the same event and URL by the same user is a 400 naming the first."""
    first = api.post(LIST, DOCS_EXAMPLE, format="json").json()

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert first["id"] in duplicate_error(response)
    assert [first["id"]] == [str(s.uuid) for s in Subscriber.objects.all()]


def test_a_duplicate_with_other_options_is_still_refused(api, alice):
    """Another secret, digest or content type does not make the same event and URL new."""
    api.post(LIST, DOCS_EXAMPLE, format="json")

    response = api.post(
        LIST,
        {**DOCS_EXAMPLE, "hmac_secret": SECRET, "hmac_digest": "sha512", "content_type": FORM},
        format="json",
    )

    duplicate_error(response)
    assert 1 == Subscriber.objects.count()


def test_a_duplicate_of_a_subscription_made_in_code_is_refused(api, alice):
    """The caller's subscriptions made in the admin or in code count as well."""
    mine = owned(alice, "article.*", url=DOCS_EXAMPLE["url"])

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert str(mine.uuid) in duplicate_error(response)
    assert 1 == Subscriber.objects.count()


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"event": "article.created"}, id="other-event"),
        pytest.param({"url": "https://e.com/h/article?u=2"}, id="other-url"),
        pytest.param({"url": "https://E.com/h/article?u=1"}, id="url-written-otherwise"),
    ],
)
def test_another_event_or_url_is_not_a_duplicate(api, other):
    """Event and URL are compared exactly: another event, or another URL string, is accepted."""
    api.post(LIST, DOCS_EXAMPLE, format="json")

    response = api.post(LIST, {**DOCS_EXAMPLE, **other}, format="json")

    assert 201 == response.status_code
    assert 2 == Subscriber.objects.count()


def test_the_same_subscription_as_another_user_is_accepted(api, bob):
    """Bob's subscription of the same event and URL does not stop alice's (nor reveal it)."""
    theirs = owned(bob, "article.*", url=DOCS_EXAMPLE["url"])

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert 201 == response.status_code
    assert str(theirs.uuid).encode() not in response.content
    assert 2 == Subscriber.objects.count()


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("patch", {"event": "article.*"}),
        ("patch", {"event": "article.*", "url": "https://e.com/h/article?u=1"}),
        ("put", {"event": "article.*", "url": "https://e.com/h/article?u=1"}),
        ("post", {"url": "https://e.com/h/article?u=1", "event": "article.*"}),
    ],
)
def test_changing_a_subscription_into_a_duplicate_is_refused(api, alice, method, payload):
    """PUT, PATCH or POST that would make a subscription equal another of the owner: a 400."""
    first = owned(alice, "article.*", url=DOCS_EXAMPLE["url"])
    second = owned(alice, "comment.*", url=DOCS_EXAMPLE["url"])
    before = row_of(second)

    response = getattr(api, method)(detail(second.uuid), payload, format="json")

    assert str(first.uuid) in duplicate_error(response)
    assert before == row_of(second)


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("patch", {"event": "article.*"}),
        ("put", {"event": "article.*", "url": "https://e.com/h/article?u=1"}),
        ("post", {"hmac_digest": "sha512"}),
    ],
)
def test_saving_a_subscription_as_it_is_is_not_a_duplicate(api, alice, method, payload):
    """A subscription re-sent with its own event and URL is not a duplicate of itself: 200."""
    mine = owned(alice, "article.*", url=DOCS_EXAMPLE["url"])

    response = getattr(api, method)(detail(mine.uuid), payload, format="json")

    assert 200 == response.status_code
    assert 1 == Subscriber.objects.count()


@pytest.mark.django_db(transaction=True)
def test_identical_subscriptions_do_not_multiply_deliveries(api, receiver, sentinel):
    """Five POSTs of one subscription make one subscription: a save sends one webhook, not five."""
    body = {"event": "article.created", "url": receiver.url("/flood")}

    statuses = [api.post(LIST, body, format="json").status_code for _ in range(5)]
    Article.objects.create(title="Once")

    assert [201, 400, 400, 400, 400] == statuses
    sentinel()
    assert ["Once"] == [json.loads(r.body)["data"]["title"] for r in receiver.for_path("/flood")]


# -- THORN_MAX_SUBSCRIPTIONS_PER_USER ---------------------------------------------


def fill(user: User, count: int) -> None:
    """Give ``user`` ``count`` subscriptions, made in code (which is not limited)."""
    Subscriber.objects.bulk_create(
        Subscriber(user=user, event="article.created", url=f"https://fill.example/{n}")
        for n in range(count)
    )


def subscribe_number(client: APIClient, n: int) -> Any:
    """POST a subscription of its own (the n-th URL) through ``client``."""
    return client.post(LIST, {**DOCS_EXAMPLE, "url": f"https://e.com/h/{n}"}, format="json")


def limit_error(response: Any) -> str:
    return non_field_error(response, "THORN_MAX_SUBSCRIPTIONS_PER_USER")


def test_subscribing_past_the_default_limit_of_100_is_refused(api, alice):
    """With 100 subscriptions, alice's next POST is a 400 naming the limit; nothing is stored."""
    fill(alice, 100)

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert (
        "You have reached the limit of 100 subscriptions (THORN_MAX_SUBSCRIPTIONS_PER_USER)."
        == limit_error(response)
    )
    assert 100 == Subscriber.objects.filter(user=alice).count()


def test_the_limit_counts_up_to_the_configured_number(settings, api, alice):
    """With a limit of 3, three POSTs are 201 and the fourth is a 400."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 3

    statuses = [subscribe_number(api, n).status_code for n in range(3)]
    refused = subscribe_number(api, 3)

    assert [201, 201, 201] == statuses
    assert "limit of 3 subscriptions" in limit_error(refused)
    assert 3 == Subscriber.objects.count()


def test_unsubscribing_makes_room_under_the_limit(settings, api, alice):
    """At the limit, deleting a subscription lets the user subscribe again."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    first = subscribe_number(api, 0).json()
    limit_error(subscribe_number(api, 1))

    assert 204 == api.delete(detail(first["id"])).status_code

    assert 201 == subscribe_number(api, 1).status_code


def test_a_limit_of_none_is_no_limit(settings, api, alice):
    """THORN_MAX_SUBSCRIPTIONS_PER_USER = None: past 100 subscriptions alice can still subscribe."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = None
    fill(alice, 100)

    response = api.post(LIST, DOCS_EXAMPLE, format="json")

    assert 201 == response.status_code
    assert 101 == Subscriber.objects.filter(user=alice).count()


def test_a_limit_of_0_refuses_every_subscription(settings, api):
    """THORN_MAX_SUBSCRIPTIONS_PER_USER = 0: users cannot subscribe through the API at all."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 0

    assert "limit of 0 subscriptions" in limit_error(api.post(LIST, DOCS_EXAMPLE, format="json"))
    assert 0 == Subscriber.objects.count()


def test_other_users_subscriptions_do_not_count(settings, api, bob):
    """Bob's subscriptions do not count toward alice's limit."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 2
    fill(bob, 5)

    assert [201, 201] == [subscribe_number(api, n).status_code for n in range(2)]


def test_changing_a_subscription_at_the_limit_is_allowed(settings, api, alice):
    """The limit is on creating: at the limit, PATCH, PUT and POST to a subscription still work."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    mine = owned(alice)

    assert (
        200 == api.patch(detail(mine.uuid), {"event": "article.changed"}, format="json").status_code
    )
    assert (
        200 == api.post(detail(mine.uuid), {"event": "article.removed"}, format="json").status_code
    )
    put = {"event": "article.tagged", "url": "https://put.example/"}
    assert 200 == api.put(detail(mine.uuid), put, format="json").status_code


def test_staff_users_are_not_limited(settings, django_user_model):
    """A staff user past the limit still subscribes through the API."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    fill(staff, 3)

    response = client_for(staff).post(LIST, DOCS_EXAMPLE, format="json")

    assert 201 == response.status_code
    assert 4 == Subscriber.objects.filter(user=staff).count()


def test_code_and_the_admin_are_not_limited(settings, alice, admin_client):
    """Past the limit, code (objects.create) and the admin still add subscriptions for alice."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    owned(alice, url="https://code.example/1")
    owned(alice, url="https://code.example/2")

    response = admin_client.post(
        "/admin/webhooks/subscriber/add/",
        {
            "event": "article.created",
            "url": "https://admin.example/hook",
            "delivery_mode": "post",
            "user": str(alice.pk),
            "content_type": "application/json",
            "hmac_digest": "sha256",
            "signing_algorithm": "hmac",
            "hmac_secret": SECRET,
        },
    )

    assert 302 == response.status_code
    assert 3 == Subscriber.objects.filter(user=alice).count()


def test_a_user_at_the_limit_costs_no_dns_lookup(settings, api, alice, resolver):
    """At the limit, the POST is refused before its URL is validated: the host is not resolved."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = 1
    owned(alice)

    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example/"}, format="json")

    limit_error(response)
    assert [] == resolver.calls


def test_an_unusable_limit_names_the_setting(settings, api):
    """A limit that is not None nor an integer of at least 0 raises ImproperlyConfigured."""
    settings.THORN_MAX_SUBSCRIPTIONS_PER_USER = "100"

    with pytest.raises(ImproperlyConfigured, match="THORN_MAX_SUBSCRIPTIONS_PER_USER"):
        api.post(LIST, DOCS_EXAMPLE, format="json")
    assert 0 == Subscriber.objects.count()


# -- update ----------------------------------------------------------------


def test_put_replaces_the_subscription(api, alice):
    """PUT with every writable field: 200 and the row has the new values (same id)."""
    subscriber = owned(alice, hmac_secret=SECRET)
    created_at = subscriber.created_at
    new = {
        "event": "comment.*",
        "url": "https://new.example/hook",
        "content_type": FORM,
        "hmac_digest": "SHA1",
        "hmac_secret": "n" * 20,
    }

    response = api.put(detail(subscriber.uuid), new, format="json")

    assert 200 == response.status_code
    body = response.json()
    assert DOC_KEYS == list(body)
    assert {**new, "hmac_digest": "sha1"} == {key: body[key] for key in new}
    assert str(subscriber.uuid) == body["id"]
    row = row_of(subscriber)
    assert {**new, "hmac_digest": "sha1"} == {key: row[key] for key in new}
    assert (alice.pk, subscriber.uuid, created_at) == (
        row["user_id"],
        row["uuid"],
        row["created_at"],
    )
    assert row["updated_at"] > subscriber.updated_at


def test_put_without_a_secret_keeps_the_secret(api, alice):
    """PUT with only event and url keeps the stored secret (it is optional, not reset)."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.put(
        detail(subscriber.uuid),
        {"event": "article.changed", "url": "https://put.example/"},
        format="json",
    )

    assert 200 == response.status_code
    assert SECRET == response.json()["hmac_secret"]
    assert ("article.changed", SECRET) == (
        row_of(subscriber)["event"],
        row_of(subscriber)["hmac_secret"],
    )


@pytest.mark.parametrize("missing", ["event", "url"])
def test_put_requires_event_and_url(api, alice, missing):
    """PUT is a full update: without event or url it is 400 and the row is unchanged."""
    subscriber = owned(alice)
    before = row_of(subscriber)
    payload = {"event": "comment.*", "url": "https://new.example/hook"}
    del payload[missing]

    response = api.put(detail(subscriber.uuid), payload, format="json")

    assert 400 == response.status_code
    assert ["This field is required."] == errors_of(response)[missing]
    assert before == row_of(subscriber)


def test_patch_changes_only_the_given_fields(api, alice):
    """PATCH {"event"}: 200, the event changes and everything else stays."""
    subscriber = owned(alice, hmac_secret=SECRET)
    before = row_of(subscriber)

    response = api.patch(detail(subscriber.uuid), {"event": "article.removed"}, format="json")

    assert 200 == response.status_code
    assert "article.removed" == response.json()["event"]
    after = row_of(subscriber)
    assert "article.removed" == after["event"]
    unchanged = ["url", "hmac_secret", "hmac_digest", "content_type", "user_id", "uuid"]
    assert {k: before[k] for k in unchanged} == {k: after[k] for k in unchanged}


def test_patch_to_a_short_secret_is_accepted(api, alice):
    """PATCH {"hmac_secret": "k"}: a one-character secret is accepted and stored, as in 1.5."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.patch(detail(subscriber.uuid), {"hmac_secret": "k"}, format="json")

    assert 200 == response.status_code
    assert "k" == response.json()["hmac_secret"]
    assert "k" == row_of(subscriber)["hmac_secret"]


def test_patch_validates_what_it_changes(api, alice):
    """PATCH with an invalid value is 400 on that field and changes nothing."""
    subscriber = owned(alice)
    before = row_of(subscriber)

    response = api.patch(
        detail(subscriber.uuid), {"event": "a.b.*", "hmac_digest": "md5"}, format="json"
    )

    assert 400 == response.status_code
    assert ["event", "hmac_digest"] == sorted(errors_of(response))
    assert before == row_of(subscriber)


def test_post_to_a_subscription_updates_it_like_patch(api, alice):
    """POST /hooks/<id>/ {"event"} (1.5's documented POST|PATCH): 200, only the event changes."""
    subscriber = owned(alice, hmac_secret=SECRET)
    before = row_of(subscriber)

    response = api.post(detail(subscriber.uuid), {"event": "article.removed"}, format="json")

    assert 200 == response.status_code
    body = response.json()
    assert DOC_KEYS == list(body)
    assert ("article.removed", str(subscriber.uuid)) == (body["event"], body["id"])
    after = row_of(subscriber)
    assert {**before, "event": "article.removed", "updated_at": after["updated_at"]} == after
    assert 1 == Subscriber.objects.count()


def test_post_to_a_subscription_accepts_a_form(api, alice):
    """POST /hooks/<id>/ with a form body (as a browser would send it) updates like PATCH."""
    subscriber = owned(alice)

    response = api.post(detail(subscriber.uuid), {"url": "https://form.example/hook"})

    assert 200 == response.status_code
    assert "https://form.example/hook" == row_of(subscriber)["url"]


def test_post_to_a_subscription_validates_what_it_changes(api, alice):
    """POST /hooks/<id>/ with an invalid value is a 400 on that field and changes nothing."""
    subscriber = owned(alice)
    before = row_of(subscriber)

    response = api.post(detail(subscriber.uuid), {"hmac_digest": "md5"}, format="json")

    assert 400 == response.status_code
    assert ["hmac_digest"] == list(errors_of(response))
    assert before == row_of(subscriber)


def test_detail_allows_post(api, alice):
    """OPTIONS /hooks/<id>/ lists POST among the allowed methods, next to PUT and PATCH."""
    subscriber = owned(alice)

    response = api.options(detail(subscriber.uuid))

    assert 200 == response.status_code
    allowed = {method.strip() for method in response["Allow"].split(",")}
    assert {"GET", "PUT", "PATCH", "POST", "DELETE"} <= allowed


# -- authentication and ownership ---------------------------------------------


@pytest.mark.parametrize("method", ["get", "options"])
def test_anonymous_cannot_read_the_list(anonymous, alice, method):
    """Anonymous GET (or OPTIONS) of /hooks/ is refused with DRF's 403 (session auth first)."""
    owned(alice, hmac_secret=SECRET)

    response = getattr(anonymous, method)(LIST)

    assert 403 == response.status_code
    assert {"detail": "Authentication credentials were not provided."} == response.json()


def test_anonymous_cannot_subscribe(anonymous):
    """Anonymous POST /hooks/ is 403 and creates nothing."""
    response = anonymous.post(LIST, DOCS_EXAMPLE, format="json")

    assert 403 == response.status_code
    assert 0 == Subscriber.objects.count()


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("get", None),
        ("put", {"event": "comment.*", "url": "https://evil.example/"}),
        ("patch", {"url": "https://evil.example/"}),
        ("post", {"url": "https://evil.example/"}),
        ("delete", None),
    ],
)
def test_anonymous_cannot_touch_a_subscription(anonymous, alice, method, payload):
    """Anonymous GET/PUT/PATCH/POST/DELETE of a subscription is 403; nothing is shown or changed."""
    subscriber = owned(alice, hmac_secret=SECRET)
    before = row_of(subscriber)

    response = getattr(anonymous, method)(detail(subscriber.uuid), payload, format="json")

    assert 403 == response.status_code
    assert SECRET.encode() not in response.content
    assert before == row_of(subscriber)


def test_session_authenticated_writes_need_the_csrf_token(alice):
    """With session login (force_login), a POST without the CSRF token is refused (403)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(LIST, DOCS_EXAMPLE, format="json")

    assert 403 == response.status_code
    assert "CSRF" in response.json()["detail"]
    assert 0 == Subscriber.objects.count()
    assert 200 == client.get(LIST).status_code  # a safe method needs no token


def test_session_login_can_use_the_api(alice):
    """A user logged in with a session (force_login) can subscribe and list."""
    client = APIClient()
    client.force_login(alice)

    response = client.post(LIST, DOCS_EXAMPLE, format="json")

    assert 201 == response.status_code
    assert [response.json()["id"]] == [item["id"] for item in client.get(LIST).json()]


def test_others_subscription_is_not_in_the_list(api, bob):
    """Bob's subscription is not in alice's list."""
    theirs = owned(bob)
    mine = api.post(LIST, DOCS_EXAMPLE, format="json").json()

    ids = [item["id"] for item in api.get(LIST).json()]

    assert [mine["id"]] == ids
    assert str(theirs.uuid) not in ids


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("get", None),
        ("put", {"event": "comment.*", "url": "https://alice.example/stolen"}),
        ("patch", {"url": "https://alice.example/stolen"}),
        ("post", {"url": "https://alice.example/stolen"}),
        ("delete", None),
    ],
)
def test_others_subscription_is_404_and_untouched(api, bob, method, payload):
    """Any method on bob's subscription by alice is a 404 (never 403); bob's row stays."""
    theirs = owned(bob, hmac_secret=SECRET)
    before = row_of(theirs)

    response = getattr(api, method)(detail(theirs.uuid), payload, format="json")

    assert 404 == response.status_code
    assert SECRET.encode() not in response.content
    assert before == row_of(theirs)


def test_subscriptions_without_owner_are_not_in_the_api(api):
    """A subscription without owner (admin or code) is neither listed nor reachable: 404."""
    unowned = Subscriber.objects.create(event="article.*", url="https://site.example/hook")
    before = row_of(unowned)

    assert [] == api.get(LIST).json()
    assert 404 == api.get(detail(unowned.uuid)).status_code
    assert 404 == api.patch(detail(unowned.uuid), {"event": "x.y"}, format="json").status_code
    assert 404 == api.delete(detail(unowned.uuid)).status_code
    assert before == row_of(unowned)


def test_a_missing_subscription_is_404_like_anothers(api, bob):
    """A uuid that exists for another user and one that does not exist answer the same."""
    theirs = owned(bob)

    other = api.get(detail(theirs.uuid))
    missing = api.get(detail(uuid.uuid4()))

    assert (404, 404) == (other.status_code, missing.status_code)
    assert other.json() == missing.json()


def test_owner_cannot_be_chosen_on_create(api, alice, bob):
    """ "user": <bob's pk> in the POST body is ignored: the owner is the caller."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "user": bob.pk}, format="json")

    assert 201 == response.status_code
    assert alice.pk == response.json()["user"]
    assert alice == Subscriber.objects.get().user
    assert 0 == Subscriber.objects.filter(user=bob).count()


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("put", {"event": "comment.*", "url": "https://alice.example/new", "user": "BOB"}),
        ("patch", {"user": "BOB"}),
        ("patch", {"user": None}),
    ],
)
def test_owner_cannot_be_changed_on_update(api, alice, bob, method, payload):
    """ "user" in a PUT or PATCH body (bob's pk, or null) is ignored: 200, alice stays the owner."""
    mine = owned(alice)
    payload = {k: (bob.pk if v == "BOB" else v) for k, v in payload.items()}

    response = getattr(api, method)(detail(mine.uuid), payload, format="json")

    assert 200 == response.status_code
    assert alice.pk == response.json()["user"]
    assert alice.pk == row_of(mine)["user_id"]
    assert [] == client_for(bob).get(LIST).json()


def test_read_only_fields_are_ignored_on_create(api):
    """Client-supplied id, created_at, updated_at and subscription are ignored on create."""
    chosen = uuid.uuid4()
    payload = {
        **DOCS_EXAMPLE,
        "id": str(chosen),
        "created_at": "2001-01-01T00:00:00Z",
        "updated_at": "2001-01-01T00:00:00Z",
        "subscription": "https://evil.example/hooks/x/",
    }

    response = api.post(LIST, payload, format="json")

    assert 201 == response.status_code
    body = response.json()
    assert str(chosen) != body["id"]
    assert absolute(body["id"]) == body["subscription"]
    assert absolute(body["id"]) == response["Location"]
    assert 2001 != parse_timestamp(body["created_at"]).year
    assert 2001 != parse_timestamp(body["updated_at"]).year
    assert not Subscriber.objects.filter(uuid=chosen).exists()


def test_read_only_fields_are_ignored_on_update(api, alice, bob):
    """A PATCH cannot change the id (so it cannot take over another uuid) nor created_at."""
    mine = owned(alice)
    theirs = owned(bob)
    before = row_of(mine)

    response = api.patch(
        detail(mine.uuid),
        {"id": str(theirs.uuid), "uuid": str(theirs.uuid), "created_at": "2001-01-01T00:00:00Z"},
        format="json",
    )

    assert 200 == response.status_code
    assert str(mine.uuid) == response.json()["id"]
    after = row_of(mine)
    assert (before["uuid"], before["created_at"]) == (after["uuid"], after["created_at"])
    assert bob.pk == row_of(theirs)["user_id"]


@pytest.mark.parametrize("method", ["get", "put", "patch", "post", "delete"])
@pytest.mark.parametrize("ident", ["abc", "not-a-uuid", "12345", "c91fe938-55fb-4190-a5ed"])
def test_malformed_uuid_is_404(api, alice, method, ident):
    """/hooks/<not a uuid>/ is a 404 for every method (1.5 answered 500)."""
    owned(alice)

    response = getattr(api, method)(detail(ident), {"event": "comment.*"}, format="json")

    assert 404 == response.status_code
    assert 1 == Subscriber.objects.count()


def test_upper_case_uuid_finds_the_subscription(api, alice):
    """A uuid written in upper case names the same subscription (1.5's route accepted it)."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.get(detail(str(subscriber.uuid).upper()))

    assert 200 == response.status_code
    assert str(subscriber.uuid) == response.json()["id"]


# -- THORN_DRF_PERMISSION_CLASSES --------------------------------------------------


STAFF_ONLY_FORMS = [
    pytest.param([StaffOnly], id="class"),
    pytest.param(["t.integration.django.test_api:StaffOnly"], id="colon-path"),
    pytest.param(("t.integration.django.test_api.StaffOnly",), id="dotted-path-tuple"),
]


@pytest.mark.parametrize("classes", STAFF_ONLY_FORMS)
def test_permission_classes_refuse_a_non_staff_user(settings, api, alice, classes):
    """With StaffOnly configured, a non-staff user gets 403 everywhere and changes nothing."""
    settings.THORN_DRF_PERMISSION_CLASSES = classes
    mine = owned(alice)
    before = row_of(mine)

    assert 403 == api.get(LIST).status_code
    assert 403 == api.post(LIST, DOCS_EXAMPLE, format="json").status_code
    assert 403 == api.get(detail(mine.uuid)).status_code
    assert 403 == api.patch(detail(mine.uuid), {"event": "x.y"}, format="json").status_code
    assert 403 == api.post(detail(mine.uuid), {"event": "x.y"}, format="json").status_code
    assert 403 == api.delete(detail(mine.uuid)).status_code
    assert [before] == [row_of(s) for s in Subscriber.objects.all()]


@pytest.mark.parametrize("classes", STAFF_ONLY_FORMS)
def test_permission_classes_let_a_staff_user_through(settings, django_user_model, classes):
    """With StaffOnly configured, a staff user subscribes (201), lists and reads (200)."""
    settings.THORN_DRF_PERMISSION_CLASSES = classes
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    client = client_for(staff)

    created = client.post(LIST, DOCS_EXAMPLE, format="json")
    listed = client.get(LIST)
    shown = client.get(detail(created.json()["id"]))

    assert (201, 200, 200) == (created.status_code, listed.status_code, shown.status_code)
    assert [created.json()["id"]] == [item["id"] for item in listed.json()]
    assert staff == Subscriber.objects.get().user


@pytest.mark.parametrize(
    "classes", [[StaffOnly], [AllowAnyone], ["rest_framework.permissions:AllowAny"]]
)
def test_permission_classes_do_not_lift_authentication(settings, anonymous, alice, classes):
    """Even with a permission that allows anyone, anonymous requests are 403 (1.5: 500)."""
    settings.THORN_DRF_PERMISSION_CLASSES = classes
    mine = owned(alice)
    before = row_of(mine)

    assert 403 == anonymous.get(LIST).status_code
    assert 403 == anonymous.post(LIST, DOCS_EXAMPLE, format="json").status_code
    assert 403 == anonymous.get(detail(mine.uuid)).status_code
    assert 403 == anonymous.delete(detail(mine.uuid)).status_code
    assert [before] == [row_of(s) for s in Subscriber.objects.all()]


def test_object_permissions_are_checked(settings, api, alice):
    """Object-level permissions apply to the detail view (1.5 skipped them)."""
    settings.THORN_DRF_PERMISSION_CLASSES = [NoSecretEvents]
    hidden = owned(alice, "secret.created", url="https://hidden.example/")
    visible = owned(alice, "article.created", url="https://visible.example/")
    before = row_of(hidden)

    assert 200 == api.get(detail(visible.uuid)).status_code
    assert 403 == api.get(detail(hidden.uuid)).status_code
    assert 403 == api.patch(detail(hidden.uuid), {"event": "x.y"}, format="json").status_code
    assert 403 == api.post(detail(hidden.uuid), {"event": "x.y"}, format="json").status_code
    assert 403 == api.delete(detail(hidden.uuid)).status_code
    assert before == row_of(hidden)


def test_object_permissions_do_not_reveal_others_subscriptions(settings, api, bob):
    """Another user's subscription stays a 404 even when an object permission would refuse it."""
    settings.THORN_DRF_PERMISSION_CLASSES = [NoSecretEvents]
    theirs = owned(bob, "secret.created")

    assert 404 == api.get(detail(theirs.uuid)).status_code


@pytest.mark.parametrize(
    "classes",
    [["t.integration.django.test_api:NoSuchPermission"], [StaffOnly()]],
    ids=["missing-path", "instance"],
)
def test_bad_permission_classes_name_the_setting(settings, api, classes):
    """A path that does not import, or an instance instead of a class, is ImproperlyConfigured."""
    settings.THORN_DRF_PERMISSION_CLASSES = classes

    with pytest.raises(ImproperlyConfigured, match="THORN_DRF_PERMISSION_CLASSES"):
        api.get(LIST)


# -- validation ---------------------------------------------------------------


INVALID = [
    pytest.param({"url": DOCS_EXAMPLE["url"]}, "event", "This field is required.", id="no-event"),
    pytest.param({"event": "article.*"}, "url", "This field is required.", id="no-url"),
    pytest.param({**DOCS_EXAMPLE, "event": "a.b.*"}, "event", "not an event pattern", id="a.b.*"),
    pytest.param({**DOCS_EXAMPLE, "event": "*.*"}, "event", "not an event pattern", id="*.*"),
    pytest.param({**DOCS_EXAMPLE, "event": ""}, "event", "may not be blank", id="empty-event"),
    pytest.param(
        {**DOCS_EXAMPLE, "event": "has space"}, "event", "not an event pattern", id="space"
    ),
    pytest.param({**DOCS_EXAMPLE, "event": None}, "event", "may not be null", id="null-event"),
    pytest.param(
        {**DOCS_EXAMPLE, "event": "a" * 191}, "event", "no more than 190", id="long-event"
    ),
    pytest.param({**DOCS_EXAMPLE, "url": "ftp://e.com/h"}, "url", "Only http and https", id="ftp"),
    pytest.param(
        {**DOCS_EXAMPLE, "url": "javascript:alert(1)"}, "url", "valid URL", id="javascript"
    ),
    pytest.param({**DOCS_EXAMPLE, "url": "hooks"}, "url", "valid URL", id="bare-word"),
    pytest.param({**DOCS_EXAMPLE, "url": None}, "url", "may not be null", id="null-url"),
    pytest.param(
        {**DOCS_EXAMPLE, "url": "https://e.com/" + "a" * (2049 - len("https://e.com/"))},
        "url",
        "no more than 2048",
        id="url-2049",
    ),
    pytest.param(
        {**DOCS_EXAMPLE, "content_type": "text/plain"},
        "content_type",
        "Not a valid content type",
        id="content-type",
    ),
    pytest.param(
        {**DOCS_EXAMPLE, "hmac_digest": "md5"}, "hmac_digest", "not a valid digest", id="md5"
    ),
    pytest.param({**DOCS_EXAMPLE, "hmac_secret": ""}, "hmac_secret", "blank", id="empty-secret"),
    pytest.param(
        {**DOCS_EXAMPLE, "hmac_secret": " \t "}, "hmac_secret", "blank", id="blank-secret"
    ),
    pytest.param(
        {**DOCS_EXAMPLE, "hmac_secret": "x" * 513},
        "hmac_secret",
        "no more than 512",
        id="secret-513",
    ),
    pytest.param(
        {**DOCS_EXAMPLE, "hmac_secret": None}, "hmac_secret", "may not be null", id="null-secret"
    ),
]


@pytest.mark.parametrize(("payload", "field", "message"), INVALID)
def test_invalid_subscription_is_400_on_the_field(api, payload, field, message):
    """An invalid value is a 400 whose only error is on that field, and no row is stored."""
    response = api.post(LIST, payload, format="json")

    assert 400 == response.status_code
    errors = errors_of(response)
    assert [field] == list(errors)
    assert any(message in error for error in errors[field]), errors
    assert 0 == Subscriber.objects.count()


def test_url_of_2048_characters_is_accepted(api):
    """2048 characters is the longest URL a subscription may have."""
    url = "https://e.com/" + "a" * (2048 - len("https://e.com/"))

    response = api.post(LIST, {**DOCS_EXAMPLE, "url": url}, format="json")

    assert 201 == response.status_code
    assert url == Subscriber.objects.get().url


@pytest.mark.parametrize(
    "event", ["article.created", "*.created", "article.*", "*", "a.b.c", "*.b.c", "e" * 190]
)
def test_valid_patterns_are_accepted(api, event):
    """Event names and the documented patterns are accepted (matching a declared event)."""
    declared = [Event("a.b.c"), Event("e" * 190)]  # in the event catalog while they exist
    response = api.post(LIST, {**DOCS_EXAMPLE, "event": event}, format="json")

    assert 201 == response.status_code
    assert event == Subscriber.objects.get().event
    del declared


def test_event_choices_refuse_unlisted_events(settings, api):
    """With THORN_EVENT_CHOICES set, an event (or pattern) not listed is a 400 on "event"."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.removed"]

    response = api.post(LIST, DOCS_EXAMPLE, format="json")  # article.*

    assert 400 == response.status_code
    [error] = errors_of(response)["event"]
    assert "'article.*' is not one of the events" in error
    assert "article.created" in error
    assert 0 == Subscriber.objects.count()


def test_event_choices_accept_listed_events(settings, api):
    """With THORN_EVENT_CHOICES set, a listed event is accepted."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.removed"]

    response = api.post(LIST, {**DOCS_EXAMPLE, "event": "article.removed"}, format="json")

    assert 201 == response.status_code
    assert "article.removed" == Subscriber.objects.get().event


def test_event_choices_apply_to_updates(settings, api, alice):
    """With THORN_EVENT_CHOICES set, a PATCH to an unlisted event is a 400 and changes nothing."""
    settings.THORN_EVENT_CHOICES = ["article.created"]
    mine = owned(alice, "article.created")

    response = api.patch(detail(mine.uuid), {"event": "article.*"}, format="json")

    assert 400 == response.status_code
    assert ["event"] == list(errors_of(response))
    assert "article.created" == row_of(mine)["event"]


def test_unknown_fields_are_ignored_on_create(api, alice, bob):
    """Unknown keys (also model names such as uuid and user_id) are ignored: 201, stored nowhere."""
    chosen = uuid.uuid4()
    marker = "unknown-marker-7f3a"
    payload = {
        **DOCS_EXAMPLE,
        "colour": marker,
        "uuid": str(chosen),
        "user_id": bob.pk,
        "pk": 4242,
        "hmac": marker,
    }

    response = api.post(LIST, payload, format="json")

    assert 201 == response.status_code
    assert DOC_KEYS == list(response.json())
    assert marker.encode() not in response.content
    subscriber = Subscriber.objects.get()
    assert chosen != subscriber.uuid
    assert alice == subscriber.user
    assert 4242 != subscriber.pk
    assert marker not in repr(row_of(subscriber))


def test_unknown_fields_are_ignored_on_update(api, alice):
    """Unknown keys in a PATCH are ignored the same way: 200 and the row is unchanged."""
    mine = owned(alice)
    before = row_of(mine)

    response = api.patch(detail(mine.uuid), {"colour": "unknown-marker-7f3a"}, format="json")

    assert 200 == response.status_code
    assert DOC_KEYS == list(response.json())
    after = row_of(mine)
    assert {**before, "updated_at": after["updated_at"]} == after


def test_malformed_json_is_400(api):
    """A body that is not JSON is a 400 parse error and stores nothing."""
    response = post_json(api, LIST, '{"event": "article.*", "url": ')

    assert 400 == response.status_code
    assert "JSON parse error" in response.json()["detail"]
    assert 0 == Subscriber.objects.count()


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    """JSON nested ``depth`` levels deep: ``[[[...]]]``, or objects with ``'{"a":'``."""
    inner = "1" if opening.endswith(":") else ""
    return opening * depth + inner + closing * depth


#: Bodies nested far deeper than Python's recursion limit, all under the 16 KiB cap,
#: with the status of the answer when the json module can parse them.
DEEPLY_NESTED = [
    pytest.param(nested(5000), 400, id="arrays-5000"),
    pytest.param(nested(2500, '{"a":', "}"), 400, id="objects-2500"),
    pytest.param(
        '{"event": "article.*", "url": "https://e.com/", "pad": ' + nested(5000) + "}",
        201,
        id="in-an-unknown-field",
    ),
]


def json_parses(body: str) -> bool:
    """Whether this Python's json module parses ``body``.

    Python 3.13's parses any depth; 3.10 to 3.12 raise RecursionError.
    """
    try:
        json.loads(body)
    except RecursionError:
        return False
    return True


@pytest.mark.parametrize(("body", "parsed_status"), DEEPLY_NESTED)
def test_deeply_nested_json_is_never_a_server_error(api, body, parsed_status):
    """A ~10 KB JSON body nested thousands of levels deep: a 400 parse error (it was a 500).

    Unless the json module parses it: then it is a body like any other.
    """
    assert len(body.encode()) <= MAX_BODY_SIZE

    response = post_json(api, LIST, body)

    if json_parses(body):
        assert parsed_status == response.status_code
    else:
        assert 400 == response.status_code
        assert {"detail": "Malformed request body: it is nested too deeply."} == response.json()
        assert 0 == Subscriber.objects.count()


@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_deeply_nested_update_is_400(api, alice, method):
    """A deeply nested PUT, PATCH or POST to a subscription is a 400 and changes nothing."""
    mine = owned(alice)
    before = row_of(mine)

    response = post_json(api, detail(mine.uuid), nested(5000), method=method)

    assert 400 == response.status_code
    assert before == row_of(mine)


@pytest.mark.parametrize("depth", [10, 100, 500, 900, 990, 1000, 1100, 2000, 5000])
def test_nested_field_values_are_400_at_any_depth(api, depth):
    """An event nested at any depth, below or above the recursion limit, is a 400, never a 500."""
    body = '{"url": "https://e.com/", "event": ' + nested(depth) + "}"

    response = post_json(api, LIST, body)

    assert 400 == response.status_code
    assert 0 == Subscriber.objects.count()


MALFORMED = [
    pytest.param("application/json", b'{"event": "article.*", "url": ', id="truncated-json"),
    pytest.param("application/json", b"\xff\xfe{}", id="json-not-utf8"),
    pytest.param("application/json", b'{"event": NaN}', id="json-nan"),
    pytest.param("application/json", b"9" * 5000, id="json-5000-digit-integer"),
    pytest.param("application/json; charset=utf-16", b"{}", id="json-utf16-without-bom"),
    pytest.param("application/json; charset=rot13", b"{}", id="unsupported-charset"),
    pytest.param("application/json; charset=nope", b"{}", id="unknown-charset"),
    pytest.param(FORM + "; charset=rot13", b"a=1", id="form-unsupported-charset"),
    pytest.param("multipart/form-data", b"--x\r\n", id="multipart-without-boundary"),
    pytest.param(FORM, b"a=1&" * 1001, id="form-with-too-many-fields"),
]


@pytest.mark.parametrize(("content_type", "body"), MALFORMED)
def test_malformed_bodies_are_400(api, content_type, body):
    """Every body the parsers cannot decode is a 400 (never a 500), and stores nothing."""
    response = api.generic("POST", LIST, body, content_type=content_type)

    assert 400 == response.status_code
    assert 0 == Subscriber.objects.count()


def test_json_that_is_not_an_object_is_400(api):
    """A JSON list instead of an object is a 400 and stores nothing."""
    response = post_json(api, LIST, json.dumps([DOCS_EXAMPLE]))

    assert 400 == response.status_code
    assert 0 == Subscriber.objects.count()


# -- body size -------------------------------------------------------------------


def padded(size: int, **fields: Any) -> str:
    """The docs' example as JSON, padded with an unknown field to exactly ``size`` bytes."""
    empty = json.dumps({**DOCS_EXAMPLE, **fields, "pad": ""})
    body = json.dumps({**DOCS_EXAMPLE, **fields, "pad": "x" * (size - len(empty))})
    assert size == len(body.encode())
    return body


def test_oversized_body_is_413(api):
    """A 20 KiB JSON body is refused with 413 before it is read; nothing is stored."""
    response = post_json(api, LIST, padded(20 * 1024))

    assert 413 == response.status_code
    assert str(MAX_BODY_SIZE) in response.json()["detail"]
    assert 0 == Subscriber.objects.count()


def test_body_size_limit_is_inclusive(api):
    """A body of exactly MAX_BODY_SIZE bytes is accepted; one byte more is a 413."""
    assert 413 == post_json(api, LIST, padded(MAX_BODY_SIZE + 1)).status_code
    assert 0 == Subscriber.objects.count()

    response = post_json(api, LIST, padded(MAX_BODY_SIZE))

    assert 201 == response.status_code
    assert 1 == Subscriber.objects.count()


@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_oversized_update_is_413(api, alice, method):
    """An oversized PUT, PATCH or POST to a subscription is a 413 and leaves the row unchanged."""
    mine = owned(alice)
    before = row_of(mine)

    response = post_json(api, detail(mine.uuid), padded(20 * 1024, event="x.y"), method=method)

    assert 413 == response.status_code
    assert before == row_of(mine)


def test_invalid_content_length_is_400(api):
    """A Content-Length that is not a number is a 400, not a 500."""
    response = api.generic(
        "POST",
        LIST,
        json.dumps(DOCS_EXAMPLE),
        content_type="application/json",
        CONTENT_LENGTH="lots",
    )

    assert 400 == response.status_code
    assert 0 == Subscriber.objects.count()


# -- recipient validation when subscribing -------------------------------------------------


class FakeResolver:
    """Stands for DNS: answers every host with ``answer`` (or raises it) and records calls."""

    def __init__(self) -> None:
        self.answer: list[str] | Exception = ["93.184.216.34"]
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[Any]:
        self.calls.append((host, port))
        if isinstance(self.answer, Exception):
            raise self.answer
        return [ipaddress.ip_address(address) for address in self.answer]


@pytest.fixture
def resolver(settings: Any) -> Iterator[FakeResolver]:
    """The default recipient validators, with host names resolved by a fake resolver."""
    del settings.THORN_RECIPIENT_VALIDATORS  # back to thorn's defaults
    fake = FakeResolver()
    with current_app().use_transport(Transport(resolver=fake)):
        yield fake


def url_error(response: Any) -> str:
    """The single error on "url" of a 400 response."""
    assert 400 == response.status_code
    errors = errors_of(response)
    assert ["url"] == list(errors)
    [error] = errors["url"]
    return error


def test_public_host_is_accepted(api, resolver):
    """https://hooks.example/ resolving to a public address: 201, resolved on port 443."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example/"}, format="json")

    assert 201 == response.status_code
    assert [("hooks.example", 443)] == resolver.calls
    assert "https://hooks.example/" == Subscriber.objects.get().url


def test_public_http_host_is_resolved_on_port_80(api, resolver):
    """An http URL without a port is resolved on port 80."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "http://hooks.example/h"}, format="json")

    assert 201 == response.status_code
    assert [("hooks.example", 80)] == resolver.calls


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(["10.0.0.1"], id="private"),
        pytest.param(["127.0.0.1"], id="loopback"),
        pytest.param(["169.254.169.254"], id="metadata"),
        pytest.param(["::1"], id="ipv6-loopback"),
        pytest.param(["::ffff:127.0.0.1"], id="ipv4-mapped-loopback"),
        pytest.param(["93.184.216.34", "10.0.0.1"], id="one-of-two-private"),
    ],
)
def test_host_resolving_to_an_internal_address_is_refused(api, resolver, answer):
    """A host resolving to an internal address (any of its addresses) is a 400 on "url"."""
    resolver.answer = answer

    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example/"}, format="json")

    error = url_error(response)
    assert "is private" in error
    assert [("hooks.example", 443)] == resolver.calls
    assert 0 == Subscriber.objects.count()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "http://localhost/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
    ],
)
def test_internal_literal_or_localhost_is_refused_without_resolving(api, resolver, url):
    """IP literals and localhost are judged as written: 400 on "url", the resolver is not asked."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "url": url}, format="json")

    assert "refused" in url_error(response)
    assert [] == resolver.calls
    assert 0 == Subscriber.objects.count()


def test_non_default_port_is_refused(api, resolver):
    """https://hooks.example:8443/ is a 400 on "url" with the default ensure_port(80, 443)."""
    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example:8443/"}, format="json")

    error = url_error(response)
    assert "Port" in error
    assert "8443" in error
    assert 0 == Subscriber.objects.count()


def test_unresolvable_host_is_refused(api, resolver):
    """A host the resolver cannot resolve (OSError) is a 400 "cannot be resolved" on "url"."""
    resolver.answer = OSError("no such host")

    response = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example/"}, format="json")

    error = url_error(response)
    assert "cannot be resolved" in error
    assert [("hooks.example", 443)] == resolver.calls
    assert 0 == Subscriber.objects.count()


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("patch", {"url": "https://inside.example/"}),
        ("put", {"event": "article.*", "url": "https://inside.example/"}),
        ("patch", {"url": "http://127.0.0.1/"}),
    ],
)
def test_updating_to_an_internal_address_is_refused(api, alice, resolver, method, payload):
    """PUT or PATCH of the url to an internal host is a 400 on "url" and changes nothing."""
    mine = owned(alice, url="https://hooks.example/")
    before = row_of(mine)
    resolver.answer = ["10.1.2.3"]

    response = getattr(api, method)(detail(mine.uuid), payload, format="json")

    url_error(response)
    assert before == row_of(mine)


def test_update_without_url_does_not_resolve(api, alice, resolver):
    """A PATCH that does not change the url does not check the url again."""
    mine = owned(alice, url="https://hooks.example/")
    resolver.answer = OSError("DNS is down")

    response = api.patch(detail(mine.uuid), {"event": "article.removed"}, format="json")

    assert 200 == response.status_code
    assert [] == resolver.calls


def test_without_validators_the_host_is_not_resolved(api):
    """With THORN_RECIPIENT_VALIDATORS = [] (the conftest) only the scheme is checked: no DNS."""
    fake = FakeResolver()
    fake.answer = OSError("must not be called")

    with current_app().use_transport(Transport(resolver=fake)):
        accepted = api.post(LIST, {**DOCS_EXAMPLE, "url": "https://hooks.example/"}, format="json")
        refused = api.post(LIST, {**DOCS_EXAMPLE, "url": "ftp://hooks.example/"}, format="json")

    assert 201 == accepted.status_code
    assert "Only http and https" in url_error(refused)
    assert [] == fake.calls


# -- end to end: subscribe through the API, receive real webhooks -------------------------


def subscribe_through_api(client: APIClient, receiver: Receiver, path: str, **fields: Any) -> Any:
    response = client.post(
        LIST, {"event": "article.created", "url": receiver.url(path), **fields}, format="json"
    )
    assert 201 == response.status_code, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_api_subscription_receives_signed_webhooks(api, receiver):
    """A subscription made through the API receives article.created, signed with its secret."""
    created = subscribe_through_api(api, receiver, "/api-hook")

    article = Article.objects.create(title="Through the API")

    [received] = receiver.wait_for_path("/api-hook")
    assert "article.created" == received.header("Hook-Event")
    assert created["id"] == received.header("Hook-Subscription")
    signature = received.header("Hook-HMAC")
    assert signature
    assert verify(signature, created["hmac_digest"], created["hmac_secret"], received.body)
    assert {
        "event": "article.created",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Through the API", "state": "PENDING"},
    } == json.loads(received.body)


@pytest.mark.django_db(transaction=True)
def test_api_subscription_options_are_used_for_delivery(api, receiver):
    """The content_type, digest and secret chosen through the API are those used on the wire."""
    created = subscribe_through_api(
        api, receiver, "/form-hook", content_type=FORM, hmac_digest="SHA512", hmac_secret=SECRET
    )

    Article.objects.create(title="Form encoded")

    [received] = receiver.wait_for_path("/form-hook")
    assert FORM == received.header("Content-Type")
    assert created["id"] == received.header("Hook-Subscription")
    assert verify(received.header("Hook-HMAC") or "", "sha512", SECRET, received.body)
    form = parse_qs(received.body.decode(), keep_blank_values=True)
    assert ["article.created"] == form["event"]
    assert {"title": "Form encoded", "state": "PENDING"} == json.loads(form["data"][0])


@pytest.mark.django_db(transaction=True)
def test_a_short_chosen_secret_signs_the_deliveries(api, receiver):
    """A one-character secret chosen through the API (accepted, as in 1.5) signs the webhooks."""
    created = subscribe_through_api(api, receiver, "/short-secret", hmac_secret="k")

    Article.objects.create(title="Short secret")

    [received] = receiver.wait_for_path("/short-secret")
    assert "k" == created["hmac_secret"]
    assert verify(received.header("Hook-HMAC") or "", "sha256", "k", received.body)


@pytest.mark.django_db(transaction=True)
def test_unsubscribing_through_the_api_stops_deliveries(api, receiver, sentinel):
    """After DELETE through the API, a new Article delivers nothing to that subscription."""
    created = subscribe_through_api(api, receiver, "/api-hook")
    Article.objects.create(title="Before")
    assert 1 == len(receiver.wait_for_path("/api-hook"))

    assert 204 == api.delete(detail(created["id"])).status_code
    Article.objects.create(title="After")

    sentinel()
    assert ["Before"] == [
        json.loads(r.body)["data"]["title"] for r in receiver.for_path("/api-hook")
    ]


@pytest.mark.django_db(transaction=True)
def test_api_subscription_does_not_receive_other_users_events(api, alice, bob, receiver, sentinel):
    """An owned subscription gets its owner's events and sender-less ones, not bob's."""
    subscribe_through_api(api, receiver, "/alice")
    subscribe_through_api(client_for(bob), receiver, "/bob")

    def author(user: User) -> Author:
        return Author.objects.create(account=Account.objects.create(user=user), name=user.username)

    Article.objects.create(title="By bob", author=author(bob))
    Article.objects.create(title="By alice", author=author(alice))
    Article.objects.create(title="By nobody")

    sentinel()
    titles = {
        path: [json.loads(r.body)["data"]["title"] for r in receiver.for_path(path)]
        for path in ("/alice", "/bob")
    }
    assert {"/alice": ["By alice", "By nobody"], "/bob": ["By bob", "By nobody"]} == titles


# -- POST /hooks/<uuid>/rotate-secret/ --------------------------------------------


def rotate(ident: Any) -> str:
    """Path of the rotate-secret view of the subscription ``ident``."""
    return f"/hooks/{ident}/rotate-secret/"


@time_machine.travel(datetime(2026, 5, 1, 12, tzinfo=timezone.utc), tick=False)
def test_rotate_secret_answers_the_new_secret_in_both_forms(api, alice):
    """200 with the subscription as GET shows it, its new secret in both forms."""
    subscriber = owned(alice, hmac_secret=SECRET)

    response = api.post(rotate(subscriber.uuid))

    assert 200 == response.status_code
    body = response.json()
    assert DOC_KEYS == list(body)
    assert str(subscriber.uuid) == body["id"]
    assert 64 == len(body["hmac_secret"])
    assert SECRET != body["hmac_secret"]
    assert whsec(body["hmac_secret"]) == body["signing_secret"]
    row = row_of(subscriber)
    assert (body["hmac_secret"], SECRET) == (row["hmac_secret"], row["previous_hmac_secret"])
    assert datetime(2026, 5, 2, 12, tzinfo=timezone.utc) == row["previous_hmac_secret_expires"]
    assert body == api.get(detail(subscriber.uuid)).json()


def test_rotate_secret_twice_gives_two_new_secrets(api, alice):
    subscriber = owned(alice, hmac_secret=SECRET)

    first = api.post(rotate(subscriber.uuid)).json()["hmac_secret"]
    second = api.post(rotate(subscriber.uuid)).json()["hmac_secret"]

    assert len({SECRET, first, second}) == 3
    assert (second, first) == (
        row_of(subscriber)["hmac_secret"],
        row_of(subscriber)["previous_hmac_secret"],
    )


@pytest.mark.django_db(transaction=True)
def test_rotated_deliveries_verify_with_both_secrets_then_the_new_one(api, alice, receiver):
    """Through the API: during the grace both signing secrets verify; after it, only the new one."""
    created = api.post(
        LIST, {"event": "article.created", "url": receiver.url("/rotated")}, format="json"
    ).json()
    old = created["signing_secret"]
    noon = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    with time_machine.travel(noon, tick=False) as clock:
        new = api.post(rotate(created["id"])).json()["signing_secret"]
        Article.objects.create(title="During")
        (during,) = receiver.wait_for_path("/rotated", 1)
        assert (True, True) == (verified(during, old), verified(during, new))

        clock.move_to(noon + timedelta(days=1))
        Article.objects.create(title="After")
        after = receiver.wait_for_path("/rotated", 2)[-1]
        assert (False, True) == (verified(after, old), verified(after, new))


def verified(received: Any, signing_secret: str) -> bool:
    """Whether standardwebhooks accepts ``received`` with ``signing_secret``."""
    try:
        standardwebhooks.Webhook(signing_secret).verify(received.body, received.headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_rotate_secret_of_another_users_subscription_is_404_and_untouched(api, bob):
    theirs = owned(bob, hmac_secret=SECRET)
    before = row_of(theirs)

    response = api.post(rotate(theirs.uuid))

    assert 404 == response.status_code
    assert SECRET.encode() not in response.content
    assert before == row_of(theirs)
    assert 404 == api.post(rotate(uuid.uuid4())).status_code


def test_anonymous_cannot_rotate_a_secret(anonymous, alice):
    subscriber = owned(alice, hmac_secret=SECRET)
    before = row_of(subscriber)

    assert 403 == anonymous.post(rotate(subscriber.uuid)).status_code
    assert before == row_of(subscriber)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_rotate_secret_is_post_only(api, alice, method):
    subscriber = owned(alice, hmac_secret=SECRET)
    before = row_of(subscriber)

    assert 405 == getattr(api, method)(rotate(subscriber.uuid)).status_code
    assert before == row_of(subscriber)


def test_object_permissions_apply_to_rotation(settings, api, alice):
    """A subscription that THORN_DRF_PERMISSION_CLASSES hides cannot be rotated (403)."""
    settings.THORN_DRF_PERMISSION_CLASSES = [NoSecretEvents]
    hidden = owned(alice, "secret.created", url="https://hidden.example/")
    before = row_of(hidden)

    assert 403 == api.post(rotate(hidden.uuid)).status_code
    assert before == row_of(hidden)


def test_rotate_secret_url_name(alice):
    assert f"/hooks/{uuid.UUID(int=1)}/rotate-secret/" == reverse(
        "webhook:rotate-secret", kwargs={"uuid": uuid.UUID(int=1)}
    )
