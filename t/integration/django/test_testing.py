"""thorn.testing in a Django project: the captured_webhooks fixture and model events."""

from __future__ import annotations

from typing import Any

import pytest

from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db


def test_model_event_is_captured(
    captured_webhooks: Any, subscribe: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A save sends its webhook on commit; the fixture captures it, signed, with its envelope."""
    subscriber = subscribe("article.created")

    with django_capture_on_commit_callbacks(execute=True):
        article = Article.objects.create(title="Captured")

    [webhook] = captured_webhooks
    assert subscriber.url == webhook.url
    assert str(subscriber.uuid) == webhook.header("Hook-Subscription")
    assert {
        "event": "article.created",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Captured", "state": "PENDING"},
    } == webhook.json()


def test_rolled_back_save_captures_nothing(captured_webhooks: Any, subscribe: Any) -> None:
    """Without a commit nothing is sent, so nothing is captured."""
    subscribe("article.created")

    Article.objects.create(title="Never committed")  # the test's transaction rolls back

    assert [] == list(captured_webhooks)
