"""Subscriber URLs with credentials: redacted in the admin's list, shown whole to their owner."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from thorn.django.models import Subscriber

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Zq8p3Xs"
TOKEN = "tok-Hj4kW9"
URL = f"https://alice:{PASSWORD}@hooks.example/in?token={TOKEN}&page=2"


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def subscription(owner: Any) -> Subscriber:
    return Subscriber.objects.create(event="article.created", url=URL, user=owner)


def test_admin_list_hides_credentials(client: Client, django_user_model: Any, subscription):
    """The admin's list shows the URL redacted; the change form still edits the real one."""
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", None))

    listing = client.get("/admin/webhooks/subscriber/").content.decode()
    change = client.get(f"/admin/webhooks/subscriber/{subscription.pk}/change/").content.decode()

    assert PASSWORD not in listing
    assert TOKEN not in listing
    assert "https://***@hooks.example/in?token=***&amp;page=2" in listing
    assert PASSWORD in change  # staff edit the URL itself


def test_str_hides_credentials(subscription):
    """str() of a subscription (admin titles, messages) hides the credentials."""
    assert PASSWORD not in str(subscription)
    assert TOKEN not in str(subscription)


def test_owner_reads_the_url_unchanged(owner, subscription):
    """The REST API shows the owner their own URL exactly as stored."""
    api = APIClient()
    api.force_authenticate(owner)

    response = api.get(f"/hooks/{subscription.uuid}/")

    assert 200 == response.status_code
    assert URL == response.json()["url"]
