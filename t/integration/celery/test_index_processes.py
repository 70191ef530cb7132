"""The subscription index across processes: a change made elsewhere is seen within a second.

PostgreSQL only: the other process shares the database.
"""

from __future__ import annotations

import time

import pytest

from thorn._state import current_app

from t.integration.celery.conftest import EnvFactory
from t.integration.celery.test_durability import run_django

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_change_in_another_process_is_seen_within_a_second(process_env: EnvFactory) -> None:
    """Another process subscribes; this one, which had found nobody, finds it within ~1 s."""
    env = current_app().env
    assert not env.may_receive("probe.sent")  # the index is loaded: nobody

    run_django(
        process_env(),
        code=(
            "from thorn.django.models import Subscriber\n"
            "Subscriber.objects.create(event='probe.*', url='https://probe.example/')"
        ),
    )
    created = time.monotonic()
    while not env.may_receive("probe.sent"):
        assert time.monotonic() - created < 3.0, "not seen within 3 s"
        time.sleep(0.02)
    seen_after = time.monotonic() - created

    assert seen_after <= 1.2
    assert ["https://probe.example/"] == [s.url for s in env.stored_subscribers("probe.sent")]
