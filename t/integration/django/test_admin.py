"""The Django admin of subscriptions, through the real admin site at /admin/."""

from __future__ import annotations

import uuid
import warnings
from datetime import datetime, timezone
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client

from thorn.django.models import Subscriber

pytestmark = [
    pytest.mark.django_db,
]

CHANGELIST = "/admin/webhooks/subscriber/"
ADD = "/admin/webhooks/subscriber/add/"


def secret(tag: str) -> str:
    """A recognisable 64-character secret with no character HTML would escape."""
    return (f"SeCrEt{tag}" * 64)[:64]


@pytest.fixture
def rows() -> dict[str, Subscriber]:
    """Three subscriptions with different events, content types and secrets."""
    return {
        "created": Subscriber.objects.create(
            event="article.created",
            url="https://hooks.example.com/created-endpoint",
            hmac_secret=secret("created"),
        ),
        "changed": Subscriber.objects.create(
            event="article.changed",
            url="https://hooks.example.com/changed-endpoint",
            hmac_secret=secret("changed"),
        ),
        "form": Subscriber.objects.create(
            event="article.created",
            url="https://other.example.org/form-endpoint",
            content_type="application/x-www-form-urlencoded",
            hmac_secret=secret("form"),
        ),
    }


def shown(admin: Client, query: str = "") -> list[str]:
    """The row URLs the changelist shows for ``query``."""
    response = admin.get(CHANGELIST + query)
    assert 200 == response.status_code
    content = response.content.decode()
    urls = (
        "https://hooks.example.com/created-endpoint",
        "https://hooks.example.com/changed-endpoint",
        "https://other.example.org/form-endpoint",
    )
    return [url for url in urls if url in content]


def add_form(**fields: str) -> dict[str, str]:
    """The POST data of the add form, with ``fields`` overriding the defaults."""
    return {
        "event": "article.created",
        "url": "https://added.example.com/hook",
        "delivery_mode": "post",
        "user": "",
        "content_type": "application/json",
        "hmac_digest": "sha256",
        "signing_algorithm": "hmac",
        "hmac_secret": secret("added"),
        **fields,
    }


def test_the_changelist_needs_a_login(client, rows):
    """An anonymous visitor is sent to the login page, not shown subscriptions."""
    response = client.get(CHANGELIST)

    assert 302 == response.status_code
    assert response["Location"].startswith("/admin/login/")


def test_the_changelist_lists_subscriptions_without_secrets(admin, rows):
    """The changelist shows every subscription's URL and none of their secrets."""
    response = admin.get(CHANGELIST)
    content = response.content.decode()

    assert 200 == response.status_code
    assert 3 == len(shown(admin))
    for subscriber in rows.values():
        assert subscriber.hmac_secret not in content
    assert "SeCrEt" not in content


def test_the_changelist_filters_by_event(admin, rows):
    """?event=article.changed shows only the article.changed subscription."""
    assert ["https://hooks.example.com/changed-endpoint"] == shown(admin, "?event=article.changed")
    assert [
        "https://hooks.example.com/created-endpoint",
        "https://other.example.org/form-endpoint",
    ] == shown(admin, "?event=article.created")


def test_the_changelist_filters_by_content_type(admin, rows):
    """?content_type=<form> shows only the form-encoded subscription."""
    assert ["https://other.example.org/form-endpoint"] == shown(
        admin, "?content_type=application/x-www-form-urlencoded"
    )


def test_the_changelist_offers_the_filters(admin, rows):
    """The filter sidebar links to each stored event."""
    content = admin.get(CHANGELIST).content.decode()

    assert "?event=article.changed" in content
    assert "?event=article.created" in content


def test_the_changelist_searches_urls(admin, rows):
    """?q=<part of a URL> shows only the subscriptions whose URL contains it."""
    assert [
        "https://hooks.example.com/created-endpoint",
        "https://hooks.example.com/changed-endpoint",
    ] == shown(admin, "?q=hooks.example")
    assert ["https://other.example.org/form-endpoint"] == shown(admin, "?q=form-endpoint")


def test_the_add_form_shows_uuid_and_dates_read_only(admin):
    """The add form has inputs for the editable fields, none for uuid or created_at."""
    response = admin.get(ADD)
    content = response.content.decode()

    assert 200 == response.status_code
    for name in ("event", "url", "user", "content_type", "hmac_digest", "hmac_secret"):
        assert f'name="{name}"' in content
    for name in ("uuid", "created_at", "updated_at"):
        assert f'name="{name}"' not in content


def test_the_add_form_does_not_warn(admin):
    """Showing and posting the add form emits no warning (the URL field sets assume_scheme)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert 200 == admin.get(ADD).status_code
        assert 302 == admin.post(ADD, add_form()).status_code

    assert [] == [f"{w.category.__name__}: {w.message}" for w in caught]


def test_the_add_form_creates_an_ownerless_subscription(admin):
    """Posting the add form without a user creates a subscription with no owner."""
    response = admin.post(ADD, add_form())

    assert 302 == response.status_code, response.content.decode()
    subscriber = Subscriber.objects.get()
    assert (
        "article.created",
        "https://added.example.com/hook",
        None,
        "sha256",
        secret("added"),
    ) == (
        subscriber.event,
        subscriber.url,
        subscriber.user,
        subscriber.hmac_digest,
        subscriber.hmac_secret,
    )


def test_the_add_form_ignores_a_posted_uuid_and_date(admin):
    """A uuid or created_at in the POST is not taken: they are read-only."""
    forged = uuid.UUID("00000000-0000-4000-8000-000000000001")

    response = admin.post(ADD, add_form(uuid=str(forged), created_at="2001-01-01 00:00:00"))

    assert 302 == response.status_code
    subscriber = Subscriber.objects.get()
    assert forged != subscriber.uuid
    assert 2001 != subscriber.created_at.year


def test_the_add_form_refuses_an_invalid_pattern(admin):
    """The add form refuses an event that is not a pattern, and saves nothing."""
    response = admin.post(ADD, add_form(event="a.b.*"))

    assert 200 == response.status_code
    assert "not an event pattern" in response.content.decode()
    assert 0 == Subscriber.objects.count()


def test_with_event_choices_the_event_is_a_select(admin, settings):
    """With THORN_EVENT_CHOICES, the add form offers exactly those events in a select."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.removed"]

    content = admin.get(ADD).content.decode()

    assert '<select name="event"' in content
    assert '<option value="article.created">article.created</option>' in content
    assert '<option value="article.removed">article.removed</option>' in content
    assert 'value="article.changed"' not in content


def test_with_event_choices_an_event_outside_them_is_refused(admin, settings):
    """With THORN_EVENT_CHOICES, posting another event is refused and nothing is saved."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.removed"]

    response = admin.post(ADD, add_form(event="article.changed"))

    assert 200 == response.status_code
    assert "Select a valid choice" in response.content.decode()
    assert 0 == Subscriber.objects.count()


def test_with_event_choices_a_listed_event_is_saved(admin, settings):
    """With THORN_EVENT_CHOICES, posting a listed event creates the subscription."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.removed"]

    response = admin.post(ADD, add_form(event="article.removed"))

    assert 302 == response.status_code
    assert ["article.removed"] == list(Subscriber.objects.values_list("event", flat=True))


def test_the_change_form_keeps_the_uuid(admin, rows):
    """Editing a subscription in the admin changes its URL and keeps its uuid."""
    subscriber = rows["created"]
    original = subscriber.uuid
    url = f"/admin/webhooks/subscriber/{subscriber.pk}/change/"

    response = admin.post(
        url, add_form(url="https://hooks.example.com/moved", uuid=str(uuid.uuid4()))
    )

    assert 302 == response.status_code
    subscriber.refresh_from_db()
    assert "https://hooks.example.com/moved" == subscriber.url
    assert original == subscriber.uuid


# -- the "Rotate secret" action --------------------------------------------------


def rotate(admin: Client, *subscribers: Subscriber) -> Any:
    """Run the "Rotate secret" action on ``subscribers`` from the changelist."""
    return admin.post(
        CHANGELIST,
        {"action": "rotate_secret", "_selected_action": [s.pk for s in subscribers]},
        follow=True,
    )


def test_the_changelist_offers_the_rotate_secret_action(admin, rows):
    content = admin.get(CHANGELIST).content.decode()

    assert '<option value="rotate_secret">Rotate secret</option>' in content


@time_machine.travel(datetime(2026, 5, 1, 12, tzinfo=timezone.utc), tick=False)
def test_rotate_secret_rotates_the_selected_subscriptions_only(admin, rows):
    """New random secrets for the selection; the old ones are kept for the grace period."""
    response = rotate(admin, rows["created"], rows["form"])

    assert 200 == response.status_code
    assert "Rotated the secrets of 2 subscriptions" in response.content.decode()
    for tag in ("created", "form"):
        stored = Subscriber.objects.get(pk=rows[tag].pk)
        assert secret(tag) == stored.previous_hmac_secret
        assert secret(tag) != stored.hmac_secret
        assert datetime(2026, 5, 2, 12, tzinfo=timezone.utc) == stored.previous_hmac_secret_expires
    unchanged = Subscriber.objects.get(pk=rows["changed"].pk)
    assert (secret("changed"), "") == (unchanged.hmac_secret, unchanged.previous_hmac_secret)


def test_rotate_secret_of_one_subscription(admin, rows):
    response = rotate(admin, rows["changed"])

    assert "Rotated the secret of 1 subscription:" in response.content.decode()
    assert secret("changed") == Subscriber.objects.get(pk=rows["changed"].pk).previous_hmac_secret


def test_rotate_secret_needs_the_change_permission(client, django_user_model, rows):
    """Staff who may only view subscriptions neither see nor run the action."""
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    client.force_login(viewer)

    assert "rotate_secret" not in client.get(CHANGELIST).content.decode()
    rotate(client, rows["created"])
    assert secret("created") == Subscriber.objects.get(pk=rows["created"].pk).hmac_secret


def test_the_change_form_shows_until_when_the_previous_secret_signs(admin, rows):
    rows["created"].rotate_secret()

    content = admin.get(f"{CHANGELIST}{rows['created'].pk}/change/").content.decode()

    assert "Previous secret valid until" in content
    assert 'name="previous_hmac_secret_expires"' not in content
    assert secret("created") not in content  # the old secret is not shown


def test_the_change_form_shows_the_filter_the_lease_and_the_verification(admin, rows):
    """filter, expires_at and verified are editable; the verification error is read-only."""
    subscriber = rows["created"]
    Subscriber.objects.filter(pk=subscriber.pk).update(
        verified=False, verification_error="did not answer with the challenge"
    )

    content = admin.get(f"{CHANGELIST}{subscriber.pk}/change/").content.decode()

    for name in ("filter", "expires_at_0", "verified"):
        assert f'name="{name}"' in content, name
    assert 'name="verification_error"' not in content
    assert "did not answer with the challenge" in content


def test_the_add_form_refuses_a_bad_filter(admin):
    """A filter with an unknown operator is refused with the key's message; nothing is saved."""
    response = admin.post(ADD, add_form(filter='{"data__state__zz": "X"}'))

    assert 200 == response.status_code
    assert "data__state__zz: Unknown operator" in response.content.decode()
    assert 0 == Subscriber.objects.count()


def test_the_add_form_saves_a_filter(admin):
    """A valid filter is stored as JSON."""
    response = admin.post(ADD, add_form(filter='{"data__state__eq": "PUBLISHED"}'))

    assert 302 == response.status_code
    assert {"data__state__eq": "PUBLISHED"} == Subscriber.objects.get().filter


def test_the_changelist_filters_by_verification(admin, rows):
    """?verified__exact=0 shows the subscriptions whose URL has not confirmed them."""
    Subscriber.objects.filter(pk=rows["changed"].pk).update(verified=False)

    assert ["https://hooks.example.com/changed-endpoint"] == shown(admin, "?verified__exact=0")
