"""The admin of deliveries, and the health of subscriptions, through the real admin at /admin/."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from thorn.django.models import DeliveryRecord, Subscriber

from t.proj.blog.models import Article
from t.receiver import Answer

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERIES = "/admin/webhooks/deliveryrecord/"
SUBSCRIBERS = "/admin/webhooks/subscriber/"
SCRIPT = b"<script>alert('owned')</script>"


@pytest.fixture
def viewer(django_user_model: Any) -> Client:
    """Staff who may view deliveries and subscriptions, and change nothing."""
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    for codename in ("view_deliveryrecord", "view_subscriber"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed(receiver, subscribe, settings) -> DeliveryRecord:
    """A delivery that failed at once: the receiver answered 500 with a <script> body."""
    settings.THORN_RETRY_SCHEDULE = []
    receiver.answer("/admin-hook", Answer(status=500, body=SCRIPT), 200)
    subscriber = subscribe("article.created", "/admin-hook?token=t0ken")
    Article.objects.create(title="Hello")
    record: DeliveryRecord = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert "failed" == record.state
    return record


def test_the_changelist_filters_deliveries(admin, failed, subscribe):
    other = subscribe("article.created", "/other")
    Article.objects.create(title="Second")
    content = admin.get(DELIVERIES).content.decode()
    assert str(failed.id) in content

    assert str(failed.id) in admin.get(f"{DELIVERIES}?state=failed").content.decode()
    assert str(failed.id) not in admin.get(f"{DELIVERIES}?state=succeeded").content.decode()
    assert (
        str(failed.id) not in admin.get(f"{DELIVERIES}?subscription={other.uuid}").content.decode()
    )
    by_subscription = admin.get(f"{DELIVERIES}?subscription={failed.subscription}")
    assert str(failed.id) in by_subscription.content.decode()
    assert str(failed.id) in admin.get(f"{DELIVERIES}?event=article.created").content.decode()


def test_a_delivery_shows_its_attempts_and_the_response_as_text(admin, failed):
    response = admin.get(f"{DELIVERIES}{failed.id}/change/")

    assert 200 == response.status_code
    assert SCRIPT not in response.content
    assert b"&lt;script&gt;alert(" in response.content
    assert b"t0ken" not in response.content
    assert b'name="_save"' not in response.content


def test_the_redeliver_action_attempts_again_with_the_same_id(admin, failed, receiver):
    response = admin.post(
        DELIVERIES, {"action": "redeliver", "_selected_action": [failed.pk]}, follow=True
    )

    assert "Redelivered 1 deliveries" in response.content.decode()
    first, second = receiver.for_path("/admin-hook?token=t0ken")
    assert str(failed.id) == first.header("Hook-Delivery") == second.header("Hook-Delivery")
    failed.refresh_from_db()
    assert ("succeeded", 2) == (failed.state, failed.attempts)


def test_the_redeliver_button_needs_the_change_permission(admin, viewer, failed, receiver):
    """Staff who may only view deliveries get 403; a superuser redelivers."""
    url = f"{DELIVERIES}{failed.pk}/redeliver/"

    assert 403 == viewer.post(url).status_code
    assert 1 == len(receiver.for_path("/admin-hook?token=t0ken"))
    assert 302 == admin.post(url).status_code
    assert 2 == len(receiver.for_path("/admin-hook?token=t0ken"))
    assert 405 == admin.get(url).status_code


def test_view_only_staff_are_not_offered_the_actions(viewer, failed):
    content = viewer.get(DELIVERIES).content.decode()

    assert 200 == viewer.get(DELIVERIES).status_code
    assert 'value="redeliver"' not in content and 'value="recover"' not in content


def test_recover_asks_for_a_time_then_makes_failures_due(admin, failed):
    page = admin.post(DELIVERIES, {"action": "recover", "_selected_action": [failed.pk]})
    assert 200 == page.status_code
    assert 'name="since"' in page.content.decode()

    response = admin.post(
        DELIVERIES,
        {"action": "recover", "_selected_action": [failed.pk], "since": "2000-01-01"},
        follow=True,
    )

    assert "Recovered 1 deliveries of 1 subscriptions" in response.content.decode()
    failed.refresh_from_db()
    assert "retrying" == failed.state


def test_recover_refuses_a_time_it_cannot_read(admin, failed):
    page = admin.post(
        DELIVERIES, {"action": "recover", "_selected_action": [failed.pk], "since": "yesterday"}
    )

    assert "not an ISO 8601 date or time" in page.content.decode()
    failed.refresh_from_db()
    assert "failed" == failed.state


def test_the_subscription_list_shows_health(admin, failed):
    content = admin.get(SUBSCRIBERS).content.decode()

    assert "failed 500" in content
    detail = admin.get(f"{SUBSCRIBERS}{Subscriber.objects.get().pk}/change/").content.decode()
    assert f"?subscription={failed.subscription}" in detail


def test_enable_action_enables_disabled_subscriptions(admin, receiver, subscribe):
    receiver.answer("/gone", 410)
    subscriber = subscribe("article.created", "/gone")
    Article.objects.create(title="Gone")
    subscriber.refresh_from_db()
    assert not subscriber.is_active
    assert (
        "the URL answered 410 Gone"
        in admin.get(f"{SUBSCRIBERS}{subscriber.pk}/change/").content.decode()
    )

    response = admin.post(
        SUBSCRIBERS, {"action": "enable", "_selected_action": [subscriber.pk]}, follow=True
    )

    assert "Enabled 1 subscription." in response.content.decode()
    subscriber.refresh_from_db()
    assert (True, "", None) == (
        subscriber.is_active,
        subscriber.disabled_reason,
        subscriber.disabled_at,
    )


def test_enable_needs_the_change_permission(viewer, receiver, subscribe):
    subscriber = subscribe("article.created", "/off")
    subscriber.is_active = False
    subscriber.save()

    viewer.post(SUBSCRIBERS, {"action": "enable", "_selected_action": [subscriber.pk]})

    assert not Subscriber.objects.get(pk=subscriber.pk).is_active
