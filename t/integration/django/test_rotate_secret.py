"""``manage.py thorn rotate-secret``: rotate a subscription's secret from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path

import pytest
import standardwebhooks
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from thorn.django.models import Subscriber
from thorn.utils.hmac import signing_secret

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
NOON = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
OLD = "the-old-secret-of-the-subscription-" + "x" * 29


def thorn(*args: str) -> str:
    """Run ``manage.py thorn *args``; return what it wrote to stdout."""
    out = StringIO()
    call_command("thorn", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def subscriber() -> Subscriber:
    return Subscriber.objects.create(
        event="article.created", url="https://example.com/hook", hmac_secret=OLD
    )


@time_machine.travel(NOON, tick=False)
def test_rotates_and_prints_the_new_secret_in_both_forms(subscriber):
    output = thorn("rotate-secret", str(subscriber.uuid))

    stored = Subscriber.objects.get(pk=subscriber.pk)
    assert (OLD, "2026-05-02T12:00:00+00:00") == (
        stored.previous_hmac_secret,
        stored.previous_hmac_secret_expires.isoformat(),
    )
    assert [
        f"Rotated the secret of subscription {subscriber.uuid}.",
        f"hmac_secret: {stored.hmac_secret}",
        f"signing_secret: {signing_secret(stored.hmac_secret)}",
        "The previous secret also signs deliveries until 2026-05-02T12:00:00+00:00.",
    ] == output.splitlines()


@time_machine.travel(NOON, tick=False)
def test_json_output(subscriber):
    result = json.loads(thorn("rotate-secret", str(subscriber.uuid), "--json"))

    stored = Subscriber.objects.get(pk=subscriber.pk)
    assert {
        "uuid": str(subscriber.uuid),
        "hmac_secret": stored.hmac_secret,
        "signing_secret": signing_secret(stored.hmac_secret),
        "signing_public_key": None,
        "previous_secret_expires": "2026-05-02T12:00:00+00:00",
    } == result
    # The printed signing secret is one standardwebhooks accepts.
    standardwebhooks.Webhook(result["signing_secret"])


@pytest.mark.parametrize(
    ("grace", "expires"),
    [("60", "2026-05-01T12:01:00+00:00"), ("0", None)],
    ids=["one-minute", "none"],
)
@time_machine.travel(NOON, tick=False)
def test_grace_option(subscriber, grace, expires):
    """--grace SECONDS overrides THORN_SECRET_ROTATION_GRACE; 0 drops the old secret at once."""
    result = json.loads(thorn("rotate-secret", str(subscriber.uuid), "--grace", grace, "--json"))

    assert expires == result["previous_secret_expires"]
    assert ("" if grace == "0" else OLD) == Subscriber.objects.get(
        pk=subscriber.pk
    ).previous_hmac_secret


def test_without_grace_option_the_setting_applies(settings, subscriber):
    settings.THORN_SECRET_ROTATION_GRACE = 0

    output = thorn("rotate-secret", str(subscriber.uuid))

    assert "The previous secret no longer signs deliveries." == output.splitlines()[-1]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        pytest.param(str(uuid.uuid4()), "No subscription", id="unknown"),
        pytest.param("not-a-uuid", "Not a subscription uuid: 'not-a-uuid'", id="malformed"),
    ],
)
def test_errors_are_command_errors(subscriber, argument, message):
    with pytest.raises(CommandError, match=message):
        thorn("rotate-secret", argument)
    assert OLD == Subscriber.objects.get(pk=subscriber.pk).hmac_secret


@pytest.mark.parametrize("grace", ["-1", "soon", "nan"])
def test_a_bad_grace_is_refused(subscriber, grace):
    with pytest.raises(CommandError, match="--grace"):
        thorn("rotate-secret", str(subscriber.uuid), "--grace", grace)
    assert OLD == Subscriber.objects.get(pk=subscriber.pk).hmac_secret


def test_exit_status_and_message_of_an_error():
    """From the shell, an error is exit status 1 with the message on stderr, as Django does."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "t.proj.settings"}
    done = subprocess.run(
        [sys.executable, "-m", "django", "thorn", "rotate-secret", "not-a-uuid"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 1 == done.returncode
    assert "CommandError: Not a subscription uuid: 'not-a-uuid'" in done.stderr
    assert "" == done.stdout


def test_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        call_command("thorn", "--help")

    assert "rotate-secret" in capsys.readouterr().out
