"""Django system checks of the THORN_* settings and of model events (manage.py check)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models

from thorn import ModelEvent, webhook_model


def thorn_messages() -> list[checks.CheckMessage]:
    """What the checks tagged "thorn" report."""
    return checks.run_checks(tags=["thorn"])


def thorn_ids() -> list[str]:
    return sorted(message.id for message in thorn_messages())


def only(message_id: str) -> checks.CheckMessage:
    """The one message the thorn checks report, which must have ``message_id``."""
    messages = thorn_messages()
    assert [message_id] == [message.id for message in messages], messages
    return messages[0]


@pytest.fixture
def valid(settings: Any) -> Any:
    """Settings for which every thorn check passes."""
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"
    settings.THORN_DISPATCHER = "default"
    settings.THORN_SUBSCRIBERS = {
        "article.created": ["https://example.com/a", {"url": "https://example.com/b"}],
        "article.*": "https://example.com/c",
        "*": [{"url": "https://example.com/d", "hmac_secret": "s", "hmac_digest": "SHA512"}],
    }
    settings.THORN_SUBSCRIBER_MODEL = "thorn.django.models.Subscriber"
    settings.THORN_EVENT_CHOICES = ["article.created", "article.changed"]
    return settings


def test_the_default_signer_is_warned_about(settings):
    """With default settings the only thorn message is W001 (the compat signer)."""
    del settings.THORN_HMAC_SIGNER
    del settings.THORN_RECIPIENT_VALIDATORS

    message = only("thorn.W001")

    assert checks.WARNING == message.level
    assert "compat" in message.msg
    assert "thorn.utils.hmac:sign" in message.hint


def test_the_compat_signer_set_explicitly_is_warned_about(settings):
    """THORN_HMAC_SIGNER set to compat_sign by path gives W001."""
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:compat_sign"

    only("thorn.W001")


def test_valid_settings_give_no_thorn_message(valid):
    """With valid settings and the standard signer, the thorn checks report nothing."""
    assert [] == thorn_messages()


def test_an_unknown_dispatcher_is_an_error(settings):
    """THORN_DISPATCHER="nope" gives E001 naming THORN_DISPATCHER."""
    settings.THORN_DISPATCHER = "nope"

    message = only("thorn.E001")

    assert checks.ERROR == message.level
    assert "THORN_DISPATCHER" in message.msg
    assert "'nope'" in message.msg


def test_a_dispatcher_path_that_cannot_be_imported_is_an_error(settings):
    """THORN_DISPATCHER naming a missing module gives E001."""
    settings.THORN_DISPATCHER = "t.no_such_module:Dispatcher"

    assert "THORN_DISPATCHER" in only("thorn.E001").msg


def test_a_dispatcher_path_to_something_else_is_an_error(settings):
    """THORN_DISPATCHER naming a function (not a dispatcher class) gives E001."""
    settings.THORN_DISPATCHER = "thorn.utils.hmac:sign"

    assert "THORN_DISPATCHER" in only("thorn.E001").msg


@pytest.mark.parametrize(
    ("subscribers", "named"),
    [
        ({"a.b.*": ["https://example.com/"]}, "'a.b.*'"),
        ({"article.created": [{"url": "https://example.com/", "colour": "red"}]}, "colour"),
        ({"article.created": ["!t.no_such_module:subscribers"]}, "t.no_such_module"),
        ({"article.created": [{"hmac_secret": "s"}]}, "no url"),
        (
            {"article.created": [{"url": "https://example.com/", "hmac_secret": ["new", ""]}]},
            "newest first",
        ),
    ],
    ids=["pattern", "unknown-field", "missing-import", "no-url", "bad-secret-list"],
)
def test_invalid_static_subscribers_are_errors(settings, subscribers, named):
    """Each invalid THORN_SUBSCRIBERS entry gives one E002 naming what is wrong."""
    settings.THORN_SUBSCRIBERS = subscribers

    message = only("thorn.E002")

    assert checks.ERROR == message.level
    assert named in message.msg


def test_every_invalid_static_subscriber_is_reported(settings):
    """Three invalid THORN_SUBSCRIBERS entries give three E002, valid ones none."""
    settings.THORN_SUBSCRIBERS = {
        "a.b.*": "https://example.com/1",
        "article.created": [
            "https://example.com/ok",
            {"url": "https://example.com/2", "colour": "red"},
            "!t.no_such_module:subscribers",
        ],
    }

    assert ["thorn.E002"] * 3 == thorn_ids()


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("missing.module:Model", "missing.module"),
        ("thorn.generic.subscriber:StaticSubscriber", "not a Django model"),
        ("t.proj.blog.models:Article", "AbstractSubscriber"),
    ],
    ids=["missing", "not-a-model", "not-a-subscriber"],
)
def test_an_unusable_subscriber_model_is_an_error(settings, path, named):
    """THORN_SUBSCRIBER_MODEL that cannot be imported or is no subscriber model gives E003."""
    settings.THORN_SUBSCRIBER_MODEL = path

    message = only("thorn.E003")

    assert "THORN_SUBSCRIBER_MODEL" in message.msg
    assert named in message.msg


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THORN_RECIPIENT_VALIDATORS", [("nope", ())]),
        ("THORN_EVENT_CHOICES", "article.created"),
        ("THORN_EVENT_CHOICES", ["article.created", 3]),
        ("THORN_CODECS", "nope"),
        ("THORN_DRF_PERMISSION_CLASSES", ["missing.module:Permission"]),
        ("THORN_DRF_PERMISSION_CLASSES", [42]),
    ],
    ids=[
        "validators",
        "choices-string",
        "choices-not-strings",
        "codecs",
        "permission-path",
        "permission-not-a-class",
    ],
)
def test_other_unusable_settings_are_errors(settings, name, value):
    """Unusable validators, choices, codecs or API permissions give E004 naming the setting."""
    setattr(settings, name, value)

    message = only("thorn.E004")

    assert name in message.msg


#: Mistyped settings, each with the id that must report it (issue 11 found
#: that ``manage.py check`` reported 4 of 11 such settings).
MISTYPED = [
    pytest.param("THORN_CHUNKSIZE", -1, "thorn.E007", id="chunksize-negative"),
    pytest.param("THORN_CHUNKSIZE", "10", "thorn.E007", id="chunksize-string"),
    pytest.param("THORN_CHUNKSIZE", 0, "thorn.E007", id="chunksize-zero"),
    pytest.param("THORN_CHUNKSIZE", 2.5, "thorn.E007", id="chunksize-float"),
    pytest.param("THORN_CHUNKSIZE", True, "thorn.E007", id="chunksize-bool"),
    pytest.param("THORN_RETRY_MAX", "x", "thorn.E012", id="retry-max-string"),
    pytest.param("THORN_RETRY_MAX", -1, "thorn.E012", id="retry-max-negative"),
    pytest.param("THORN_RETRY_DELAY", "soon", "thorn.E011", id="retry-delay-string"),
    pytest.param("THORN_RETRY_DELAY", -0.5, "thorn.E011", id="retry-delay-negative"),
    pytest.param("THORN_EVENT_TIMEOUT", "3", "thorn.E008", id="timeout-string"),
    pytest.param("THORN_EVENT_TIMEOUT", 0, "thorn.E008", id="timeout-zero"),
    pytest.param("THORN_EVENT_TIMEOUT", float("nan"), "thorn.E008", id="timeout-nan"),
    pytest.param("THORN_EVENT_TIMEOUT", float("inf"), "thorn.E008", id="timeout-infinite"),
    pytest.param("THORN_MAX_RESPONSE_SIZE", "big", "thorn.E009", id="response-size-string"),
    pytest.param("THORN_MAX_RESPONSE_SIZE", -1, "thorn.E009", id="response-size-negative"),
    pytest.param("THORN_RETRY", "yes", "thorn.E010", id="retry-string"),
    pytest.param("THORN_RETRY", 1, "thorn.E010", id="retry-int"),
    pytest.param("THORN_USER_AGENT", 5, "thorn.E015", id="user-agent-int"),
    pytest.param("THORN_USER_AGENT", "thorn\r\nX-Evil: 1", "thorn.E015", id="user-agent-crlf"),
    pytest.param("THORN_BASE_URL", "not a url", "thorn.E006", id="base-url-not-a-url"),
    pytest.param("THORN_BASE_URL", "ftp://example.com", "thorn.E006", id="base-url-ftp"),
    pytest.param("THORN_BASE_URL", "example.com", "thorn.E006", id="base-url-no-scheme"),
    pytest.param("THORN_ALLOW_REDIRECTS", "no", "thorn.E005", id="redirects-string"),
    pytest.param("THORN_SIGNAL_HONORS_TRANSACTION", 1, "thorn.E013", id="transaction-int"),
    pytest.param("THORN_SUBSCRIBERS_SECRET", 42, "thorn.E014", id="subscribers-secret-int"),
    pytest.param("THORN_SIGNATURE_HEADERS", "none", "thorn.E020", id="signature-headers-none"),
    pytest.param("THORN_SECRET_ROTATION_GRACE", "1d", "thorn.E021", id="grace-string"),
    pytest.param("THORN_SECRET_ROTATION_GRACE", -1, "thorn.E021", id="grace-negative"),
    pytest.param(
        "THORN_SECRET_ROTATION_GRACE", timedelta(seconds=-1), "thorn.E021", id="grace-negative-td"
    ),
    pytest.param(
        "THORN_SIGNATURE_HEADERS", ["standard"], "thorn.E020", id="signature-headers-list"
    ),
    pytest.param("THORN_MAX_SUBSCRIPTIONS_PER_USER", "100", "thorn.E016", id="limit-string"),
    pytest.param("THORN_MAX_SUBSCRIPTIONS_PER_USER", -1, "thorn.E016", id="limit-negative"),
    pytest.param("THORN_MAX_SUBSCRIPTIONS_PER_USER", 2.5, "thorn.E016", id="limit-float"),
    pytest.param("THORN_MAX_SUBSCRIPTIONS_PER_USER", False, "thorn.E016", id="limit-bool"),
    pytest.param("THORN_ATTEMPT_RESPONSE_BYTES", -1, "thorn.E018", id="response-bytes-negative"),
    pytest.param("THORN_STREAM_SUBSCRIPTION_TTL", 0, "thorn.E070", id="stream-ttl-zero"),
    pytest.param("THORN_STREAM_SUBSCRIPTION_TTL", "1h", "thorn.E070", id="stream-ttl-string"),
    pytest.param("THORN_MAX_STREAMS_PER_USER", -1, "thorn.E071", id="streams-negative"),
    pytest.param("THORN_MAX_STREAMS_PER_USER", 2.5, "thorn.E071", id="streams-float"),
    pytest.param(
        "THORN_STREAM_REDIS_URL", "localhost:6379", "thorn.E072", id="stream-redis-no-scheme"
    ),
    pytest.param("THORN_STREAM_REDIS_URL", "http://r:6379", "thorn.E072", id="stream-redis-http"),
    pytest.param("THORN_STREAM_REDIS_URL", 6379, "thorn.E072", id="stream-redis-int"),
    pytest.param("THORN_STREAM_HEARTBEAT", 0, "thorn.E073", id="stream-heartbeat-zero"),
    pytest.param("THORN_STREAM_POLL_INTERVAL", -1, "thorn.E074", id="stream-poll-negative"),
    pytest.param("THORN_DELIVERY_LEASE", 0, "thorn.E019", id="lease-zero"),
    pytest.param("THORN_DELIVERY_RECORDS", "none", "thorn.E030", id="records-none"),
    pytest.param("THORN_DELIVERY_RETENTION", "30d", "thorn.E031", id="retention-string"),
    pytest.param("THORN_DISABLE_AFTER", 0, "thorn.E032", id="disable-after-zero"),
    pytest.param("THORN_RELAY_AFTER", -1, "thorn.E033", id="relay-after-negative"),
    pytest.param("THORN_RETRY_SCHEDULE", [5, "1m"], "thorn.E034", id="schedule-string"),
    pytest.param("THORN_RETRY_SCHEDULE", 60, "thorn.E034", id="schedule-number"),
    pytest.param("THORN_INDEX_MAX_AGE", -1, "thorn.E035", id="index-max-age-negative"),
    pytest.param("THORN_MAX_CONNECTIONS", 0, "thorn.E036", id="max-connections-zero"),
    pytest.param("THORN_MAX_CONNECTIONS_PER_HOST", "10", "thorn.E037", id="per-host-string"),
    pytest.param("THORN_BACKGROUND_THREADS", 0, "thorn.E038", id="background-threads-zero"),
    pytest.param("THORN_BACKGROUND_DRAIN", "5s", "thorn.E039", id="background-drain-string"),
    pytest.param("THORN_DISPATCHER", "backgroud", "thorn.E001", id="dispatcher-background-typo"),
    pytest.param("THORN_DISPATCHER", "celeryy", "thorn.E001", id="dispatcher-typo"),
    pytest.param("THORN_DISPATCHER", 5, "thorn.E001", id="dispatcher-int"),
    pytest.param("THORN_TASKS_BACKEND", 5, "thorn.E050", id="tasks-backend-int"),
    pytest.param("THORN_TASKS_QUEUE", ["webhooks"], "thorn.E051", id="tasks-queue-list"),
    pytest.param("THORN_VERIFY_INTENT", "yes", "thorn.E060", id="verify-intent-string"),
    pytest.param("THORN_VERIFY_TIMEOUT", 0, "thorn.E061", id="verify-timeout-zero"),
    pytest.param("THORN_VERIFY_TIMEOUT", "2s", "thorn.E061", id="verify-timeout-string"),
    pytest.param("THORN_MAX_LEASE_SECONDS", 0, "thorn.E062", id="max-lease-zero"),
    pytest.param("THORN_MAX_LEASE_SECONDS", 3600.0, "thorn.E062", id="max-lease-float"),
    pytest.param("THORN_EXPIRED_SUBSCRIPTION_GRACE", -1, "thorn.E063", id="expired-grace-negative"),
    pytest.param("THORN_EXPIRED_SUBSCRIPTION_GRACE", "7d", "thorn.E063", id="expired-grace-string"),
    pytest.param(
        "THORN_SUBSCRIBERS", ["https://example.com/"], "thorn.E002", id="subscribers-list"
    ),
    pytest.param("THORN_SUBSCRIBER_MODEL", 5, "thorn.E003", id="subscriber-model-int"),
    pytest.param("THORN_HMAC_SIGNER", 5, "thorn.E004", id="signer-int"),
    pytest.param("THORN_HMAC_SIGNER", "t.no_such_module:sign", "thorn.E004", id="signer-missing"),
    pytest.param("THORN_CODECS", {"application/json": 5}, "thorn.E004", id="codec-int"),
    pytest.param("THORN_RECIPIENT_VALIDATORS", "block_internal_ips", "thorn.E004", id="validators"),
    pytest.param("THORN_DRF_PERMISSION_CLASSES", "IsAdminUser", "thorn.E004", id="permissions-str"),
]


@pytest.mark.parametrize(("name", "value", "check_id"), MISTYPED)
def test_a_mistyped_setting_is_one_error_naming_it(valid, name, value, check_id):
    """Each mistyped setting gives one error with its id; the hint names the setting and value."""
    setattr(valid, name, value)

    message = only(check_id)

    assert checks.ERROR == message.level
    assert name in message.msg
    assert name in message.hint
    assert repr(value) in message.hint


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THORN_CHUNKSIZE", 1),
        ("THORN_RETRY_MAX", 0),
        ("THORN_RETRY_DELAY", 0),
        ("THORN_RETRY_DELAY", 0.25),
        ("THORN_EVENT_TIMEOUT", 1),
        ("THORN_EVENT_TIMEOUT", 0.5),
        ("THORN_MAX_RESPONSE_SIZE", 0),
        ("THORN_RETRY", False),
        ("THORN_ALLOW_REDIRECTS", True),
        ("THORN_SIGNAL_HONORS_TRANSACTION", False),
        ("THORN_BASE_URL", "https://example.com/blog/"),
        ("THORN_BASE_URL", "http://127.0.0.1:8000"),
        ("THORN_USER_AGENT", "proj-webhooks/1.0"),
        ("THORN_SUBSCRIBERS_SECRET", "static-secret"),
        ("THORN_EVENT_CHOICES", ("article.created",)),
        ("THORN_DRF_PERMISSION_CLASSES", ["rest_framework.permissions:IsAdminUser"]),
        ("THORN_RECIPIENT_VALIDATORS", []),
        ("THORN_DISPATCHER", "disabled"),
        ("THORN_DISPATCHER", "tasks"),
        ("THORN_TASKS_BACKEND", "nowhere"),  # not checked with another dispatcher
        ("THORN_TASKS_QUEUE", "webhooks"),
        ("THORN_MAX_SUBSCRIPTIONS_PER_USER", None),
        ("THORN_MAX_SUBSCRIPTIONS_PER_USER", 0),
        ("THORN_MAX_SUBSCRIPTIONS_PER_USER", 5000),
    ],
)
def test_valid_values_give_no_error(valid, name, value):
    """Values of the right type and range, boundaries included, are not reported."""
    setattr(valid, name, value)

    assert [] == thorn_messages()


def manage_py_check(settings: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``python -m django check`` (``manage.py check``) with the test project and ``settings``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "t.proj.check_settings",
        "THORN_TEST_SETTINGS": json.dumps(settings),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manage_py_check_reports_every_mistyped_setting():
    """``manage.py check`` fails and names each of eleven mistyped settings with its own id."""
    mistyped = {
        "THORN_CHUNKSIZE": ("-1", "thorn.E007"),
        "THORN_RETRY_MAX": ("'x'", "thorn.E012"),
        "THORN_RETRY_DELAY": ("'soon'", "thorn.E011"),
        "THORN_EVENT_TIMEOUT": ("'3'", "thorn.E008"),
        "THORN_MAX_RESPONSE_SIZE": ("'big'", "thorn.E009"),
        "THORN_RETRY": ("'yes'", "thorn.E010"),
        "THORN_USER_AGENT": ("5", "thorn.E015"),
        "THORN_BASE_URL": ("'not a url'", "thorn.E006"),
        "THORN_ALLOW_REDIRECTS": ("'no'", "thorn.E005"),
        "THORN_SIGNAL_HONORS_TRANSACTION": ("1", "thorn.E013"),
        "THORN_DISPATCHER": ("'celeryy'", "thorn.E001"),
    }

    result = manage_py_check(
        {name: ast.literal_eval(value) for name, (value, _) in mistyped.items()}
    )

    assert 1 == result.returncode, result.stderr
    reported = {
        name: (value, check_id)
        for name, (value, check_id) in mistyped.items()
        if any(
            line.startswith(f"?: ({check_id}) {name}") and f"it is {value} (" in line
            for line in result.stderr.replace("\n\tHINT:", " HINT:").splitlines()
        )
    }
    assert mistyped == reported, result.stderr


def test_manage_py_check_passes_the_project_settings():
    """``manage.py check`` of the test project (with the standard signer) succeeds."""
    result = manage_py_check({})

    assert 0 == result.returncode, result.stderr
    assert "thorn." not in result.stderr


def test_the_blog_models_events_are_all_sent():
    """Every on_* of the blog models dispatches, so there is no W002."""
    assert "thorn.W002" not in thorn_ids()


SILENT_MODEL = "ThornChecksSilentEventModel"


@contextmanager
def silent_model() -> Iterator[type[models.Model]]:
    """A throwaway unmanaged model with a custom on_* event that nothing sends."""
    try:

        @webhook_model
        class ThornChecksSilentEventModel(models.Model):
            class Meta:
                app_label = "blog"
                managed = False

            class webhooks:
                on_archive = ModelEvent("archive.done")

        yield ThornChecksSilentEventModel
    finally:
        apps.all_models["blog"].pop(SILENT_MODEL.lower(), None)
        apps.clear_cache()


def test_a_custom_event_without_dispatches_is_warned_about():
    """A custom on_* without dispatches_on_*() gives W002 naming the model and slot."""
    with silent_model() as model:
        message = only("thorn.W002")

    assert checks.WARNING == message.level
    assert f"{SILENT_MODEL}.webhooks.on_archive" in message.msg
    assert "'archive.done'" in message.msg
    assert model is message.obj
    # The throwaway model is gone: no more warning, nothing left registered.
    assert [] == thorn_messages()
    assert SILENT_MODEL not in [m.__name__ for m in apps.get_models()]


def test_model_events_are_checked_only_for_the_apps_asked_for():
    """check_model_events honours app_configs: checking "auth" reports nothing about blog."""
    auth = apps.get_app_config("auth")
    with silent_model():
        for_auth = checks.run_checks(app_configs=[auth], tags=["thorn"])
        for_blog = checks.run_checks(app_configs=[apps.get_app_config("blog")], tags=["thorn"])

    assert ["thorn.W002"] == [message.id for message in for_blog]
    assert [] == [message.id for message in for_auth]


def test_a_silenced_thorn_warning_is_not_reported(settings, capsys):
    """SILENCED_SYSTEM_CHECKS=["thorn.W001"] silences the compat-signer warning in check."""
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:compat_sign"
    call_command("check")
    assert "thorn.W001" in capsys.readouterr().err

    settings.SILENCED_SYSTEM_CHECKS = ["thorn.W001"]
    call_command("check")
    assert "thorn.W001" not in capsys.readouterr().err


def test_manage_py_check_fails_on_a_thorn_error(settings):
    """call_command("check") raises SystemCheckError for a thorn error."""
    settings.THORN_DISPATCHER = "nope"

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")

    assert "thorn.E001" in str(excinfo.value)


def test_manage_py_check_passes_with_valid_settings(valid, capsys):
    """call_command("check") succeeds and reports no thorn message for valid settings."""
    call_command("check")

    assert "thorn." not in capsys.readouterr().err


def test_settings_configure_selects_the_django_environment():
    """A project using settings.configure() (no DJANGO_SETTINGS_MODULE) gets DjangoEnv."""
    code = (
        "import django; from django.conf import settings; "
        "settings.configure(INSTALLED_APPS=['django.contrib.auth', "
        "'django.contrib.contenttypes', 'thorn.django']); django.setup(); "
        "from django.core.management import call_command; call_command('check'); "
        "from thorn._state import current_app; print(type(current_app().env).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert "DjangoEnv" == result.stdout.strip()
    assert "thorn.W001" in result.stderr
