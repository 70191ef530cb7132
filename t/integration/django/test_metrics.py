"""Metrics that need delivery records: retries, disabled subscriptions, the relay backlog.

The default registry of the real prometheus_client is scraped and parsed
back; deliveries go to the loopback receiver.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.utils import timezone

from thorn.django.models import DeliveryRecord

from t.integration.test_instrumentation import scrape, value
from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


STARTUP = """
import django
django.setup()
from prometheus_client import REGISTRY, generate_latest
text = generate_latest(REGISTRY).decode()
for name in (
    "thorn_delivery_attempts", "thorn_delivery_attempt_duration_seconds", "thorn_deliveries",
    "thorn_delivery_retries", "thorn_subscriptions_disabled", "thorn_relay_backlog",
):
    assert f"# HELP {name}" in text, name
print("registered")
"""


def test_the_metrics_are_registered_when_django_starts():
    """thorn's Django app registers them as Django starts: a scrape shows them at once."""
    result = subprocess.run(
        [sys.executable, "-c", STARTUP],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "t.proj.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert "registered" in result.stdout


def test_a_retry_is_counted(receiver, subscribe, settings):
    settings.THORN_RETRY_SCHEDULE = [3600]
    receiver.answer("/later", 503)
    subscribe("article.created", "/later")
    before = value(scrape(), "thorn_delivery_retries_total", event="article.created")

    Article.objects.create(title="Later")

    after = value(scrape(), "thorn_delivery_retries_total", event="article.created")
    assert 1 == after - before


@pytest.mark.parametrize(
    ("status", "cause"),
    [pytest.param(410, "gone", id="gone"), pytest.param(500, "failing", id="failing")],
)
def test_disabled_subscriptions_are_counted_by_cause(receiver, subscribe, settings, status, cause):
    """410 Gone, or failing for THORN_DISABLE_AFTER: one more subscription disabled, by cause."""
    settings.THORN_RETRY_SCHEDULE = []
    receiver.answer("/off", status)
    subscriber = subscribe("article.created", "/off")
    type(subscriber).objects.filter(pk=subscriber.pk).update(
        failing_since=timezone.now() - timezone.timedelta(days=6)
    )
    before = value(scrape(), "thorn_subscriptions_disabled_total", cause=cause)

    Article.objects.create(title="Off")

    subscriber.refresh_from_db()
    assert not subscriber.is_active
    assert 1 == value(scrape(), "thorn_subscriptions_disabled_total", cause=cause) - before


def test_the_relay_backlog_is_counted_at_each_scrape(receiver, subscribe, settings):
    """thorn_relay_backlog{kind="deliveries"}: the deliveries due now that nobody holds."""
    settings.THORN_RETRY_SCHEDULE = [3600]
    receiver.answer("/backlog", 500)
    subscriber = subscribe("article.created", "/backlog")
    Article.objects.create(title="One")
    Article.objects.create(title="Two")
    assert 0 == value(scrape(), "thorn_relay_backlog", kind="deliveries")

    DeliveryRecord.objects.filter(subscription=subscriber.uuid).update(
        next_attempt_at=timezone.now()
    )

    samples = scrape()
    assert 2 == value(samples, "thorn_relay_backlog", kind="deliveries")
    assert ("thorn_relay_backlog", (("kind", "messages"),)) in samples
