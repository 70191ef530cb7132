"""Rotating a subscription's secret: both secrets sign during the grace period, then only the new.

Every test rotates a stored subscription's secret, then has thorn deliver a
real model event to the loopback receiver at a chosen time (``time_machine``),
and verifies what arrived with the ``standardwebhooks`` package as a receiver
holding the old, or the new, secret would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import standardwebhooks
import time_machine

from thorn.django.models import Subscriber
from thorn.utils.hmac import signing_secret, standard_verify, verify

from t.proj.blog.models import Article
from t.receiver import Received, Receiver

pytestmark = pytest.mark.django_db

#: 2026-05-01 12:00:00 UTC, when the secrets are rotated.
NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
OLD_SECRET = "the-secret-before-the-rotation-" + "o" * 33


@pytest.fixture
def clock() -> Iterator[Any]:
    """The time, stopped at NOON; ``clock.move_to(...)`` moves it."""
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def deliver(
    receiver: Receiver, django_capture_on_commit_callbacks: Callable[..., Any]
) -> Callable[[], Received]:
    """Deliver an article.created event to /rotated now; return what arrived."""

    def deliver() -> Received:
        count = len(receiver.for_path("/rotated")) + 1
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="Rotated")
        return receiver.wait_for_path("/rotated", count)[-1]

    return deliver


@pytest.fixture
def subscriber(subscribe: Callable[..., Subscriber]) -> Subscriber:
    return subscribe("article.created", "/rotated", hmac_secret=OLD_SECRET)


def verifies(received: Received, secret: str) -> bool:
    """Whether standardwebhooks, given ``secret`` in its whsec_ form, accepts ``received``."""
    try:
        standardwebhooks.Webhook(signing_secret(secret)).verify(received.body, received.headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def signatures(received: Received) -> list[str]:
    return (received.header("webhook-signature") or "").split(" ")


class TestGracePeriod:
    def test_both_secrets_verify_during_the_grace_period(self, clock, subscriber, deliver):
        """Just after the rotation and until the end of the grace, old and new secrets verify."""
        new = subscriber.rotate_secret()

        for moment in (NOON, NOON + timedelta(hours=24) - timedelta(seconds=1)):
            clock.move_to(moment)
            received = deliver()
            assert 2 == len(signatures(received))
            assert (True, True) == (verifies(received, new), verifies(received, OLD_SECRET))

    def test_only_the_new_secret_verifies_after_the_grace_period(self, clock, subscriber, deliver):
        """24 hours after the rotation (the default grace), the old secret is gone."""
        new = subscriber.rotate_secret()

        clock.move_to(NOON + timedelta(hours=24))
        received = deliver()

        assert 1 == len(signatures(received))
        assert (True, False) == (verifies(received, new), verifies(received, OLD_SECRET))
        assert OLD_SECRET not in received.body.decode()

    def test_hook_hmac_uses_the_new_secret_at_once(self, clock, subscriber, deliver):
        new = subscriber.rotate_secret()

        received = deliver()

        signature = received.header("Hook-HMAC")
        assert verify(signature, "sha256", new, received.body)
        assert not verify(signature, "sha256", OLD_SECRET, received.body)

    def test_signatures_are_newest_first(self, clock, subscriber, deliver):
        """The first signature is the new secret's, as Hook-HMAC."""
        new = subscriber.rotate_secret()

        received = deliver()

        first, second = signatures(received)
        ident, timestamp = received.header("webhook-id"), received.header("webhook-timestamp")
        assert standard_verify(first, new, ident, timestamp, received.body)
        assert standard_verify(second, OLD_SECRET, ident, timestamp, received.body)

    @pytest.mark.parametrize(
        "grace",
        [pytest.param(60, id="seconds"), pytest.param(timedelta(minutes=1), id="timedelta")],
    )
    def test_the_grace_period_setting(self, settings, clock, subscriber, deliver, grace):
        """THORN_SECRET_ROTATION_GRACE, in seconds or as a timedelta, sets the grace period."""
        settings.THORN_SECRET_ROTATION_GRACE = grace
        new = subscriber.rotate_secret()

        clock.move_to(NOON + timedelta(seconds=59))
        during = deliver()
        clock.move_to(NOON + timedelta(seconds=60))
        after = deliver()

        assert (True, True) == (verifies(during, new), verifies(during, OLD_SECRET))
        assert (True, False) == (verifies(after, new), verifies(after, OLD_SECRET))
        assert NOON + timedelta(minutes=1) == subscriber.previous_hmac_secret_expires

    def test_a_grace_of_zero_drops_the_old_secret_at_once(self, clock, subscriber, deliver):
        new = subscriber.rotate_secret(grace=timedelta(0))

        received = deliver()

        assert (True, False) == (verifies(received, new), verifies(received, OLD_SECRET))
        assert ("", None) == (
            subscriber.previous_hmac_secret,
            subscriber.previous_hmac_secret_expires,
        )

    def test_rotating_again_ends_the_grace_of_the_first_secret(self, clock, subscriber, deliver):
        """Two rotations: the latest two secrets sign, the first one no longer does."""
        second = subscriber.rotate_secret()
        clock.move_to(NOON + timedelta(hours=1))
        third = subscriber.rotate_secret()

        received = deliver()

        assert [True, True, False] == [verifies(received, s) for s in (third, second, OLD_SECRET)]
        assert NOON + timedelta(hours=25) == subscriber.previous_hmac_secret_expires


class TestRotateSecret:
    def test_stores_a_new_random_secret_and_the_old_one(self, clock, subscriber):
        new = subscriber.rotate_secret()

        stored = Subscriber.objects.get(pk=subscriber.pk)
        assert (new, OLD_SECRET, NOON + timedelta(hours=24), NOON) == (
            stored.hmac_secret,
            stored.previous_hmac_secret,
            stored.previous_hmac_secret_expires,
            stored.updated_at,
        )
        assert 64 == len(new)
        assert new != subscriber.rotate_secret()

    def test_a_stale_instance_keeps_the_stored_secret_as_previous(self, clock, subscriber):
        """Rotations made through two copies of the row keep each replaced secret in turn."""
        other_copy = Subscriber.objects.get(pk=subscriber.pk)
        first = subscriber.rotate_secret()

        second = other_copy.rotate_secret()

        assert (second, first) == (other_copy.hmac_secret, other_copy.previous_hmac_secret)

    def test_an_unsaved_subscriber_cannot_rotate(self):
        with pytest.raises(ValueError, match="save the subscriber"):
            Subscriber(event="article.created", url="https://example.com/").rotate_secret()
