"""Each outcome is one structured log record on ``thorn.request``, without a secret."""

from __future__ import annotations

import json
import logging

import pytest

from thorn.django.models import DeliveryRecord, Subscriber

from t.proj.blog.models import Article

pytestmark = pytest.mark.django_db(transaction=True)

#: What must never be logged.
SECRETS = ("pa55word", "t0ken-value", "hmac-secret-of-the-subscriber")
FIELDS = {
    "webhook_event",
    "delivery_id",
    "subscription",
    "status",
    "status_code",
    "duration",
    "attempt",
    "url",
    "error",
    "retry_in",
    "delivery",
}


def everything(record: logging.LogRecord) -> str:
    """The record's message and every attribute, as text."""
    return record.getMessage() + json.dumps(record.__dict__, default=str)


@pytest.fixture
def subscriber(receiver):
    """A subscription whose URL carries credentials: userinfo and a token parameter."""
    url = receiver.url("/log?token=t0ken-value").replace("://", "://user:pa55word@")
    return Subscriber.objects.create(event="article.created", url=url, hmac_secret=SECRETS[2])


@pytest.mark.parametrize(
    ("answers", "schedule", "status", "level"),
    [
        pytest.param([200], [], "succeeded", logging.DEBUG, id="succeeded"),
        pytest.param([500], [60], "retrying", logging.INFO, id="retrying"),
        pytest.param([500], [], "failed", logging.ERROR, id="failed"),
    ],
)
def test_each_outcome_is_one_structured_record(
    receiver, subscriber, settings, caplog, answers, schedule, status, level
):
    """One record per outcome with the documented fields; the URL without its credentials."""
    settings.THORN_RETRY_SCHEDULE = schedule
    receiver.answer("/log", *answers)

    with caplog.at_level(logging.DEBUG, logger="thorn.request"):
        Article.objects.create(title="Logged")

    [record] = [r for r in caplog.records if r.name == "thorn.request"]
    assert level == record.levelno
    assert FIELDS <= set(record.__dict__)
    delivery = DeliveryRecord.objects.get(subscription=subscriber.uuid)
    assert ("article.created", str(delivery.id), str(subscriber.uuid)) == (
        record.webhook_event,
        record.delivery_id,
        record.subscription,
    )
    assert (status, answers[0], 1) == (record.status, record.status_code, record.attempt)
    assert 0 < record.duration < 3
    assert "http://***@127.0.0.1" in record.url and "token=***" in record.url
    assert (record.retry_in is not None) == (status == "retrying")
    assert (record.error is None) == (status == "succeeded")
    text = everything(record)
    assert [] == [secret for secret in SECRETS if secret in text]
