"""Tests for thorn.conf: defaults, live reading, resolving and errors."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from thorn.conf import (
    CHECKS,
    DEFAULTS,
    MIME_JSON,
    MIME_URLFORM,
    NONE_IS_A_VALUE,
    SettingProblem,
    Settings,
    all_settings,
    event_choices,
    setting_problems,
)
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.form import dumps as form_dumps
from thorn.utils.hmac import compat_sign, sign
from thorn.utils.json import dumps as json_dumps
from thorn.validators import block_internal_ips, ensure_port, ensure_protocol

# The documented default of every setting (FACTS §9 and Part A), before resolving.
DOCUMENTED_DEFAULTS = {
    "THORN_ALLOW_REDIRECTS": False,
    "THORN_ATTEMPT_RESPONSE_BYTES": 4096,
    "THORN_BACKGROUND_DRAIN": 5.0,
    "THORN_BACKGROUND_THREADS": 4,
    "THORN_BASE_URL": None,
    "THORN_CHUNKSIZE": 10,
    "THORN_CODECS": {
        MIME_JSON: "thorn.utils.json:dumps",
        MIME_URLFORM: "thorn.utils.form:dumps",
    },
    "THORN_DELIVERY_LEASE": 60.0,
    "THORN_DELIVERY_RECORDS": "all",
    "THORN_DELIVERY_RETENTION": 30 * 24 * 3600.0,
    "THORN_DISABLE_AFTER": 5 * 24 * 3600.0,
    "THORN_DISPATCHER": "default",
    "THORN_DRF_PERMISSION_CLASSES": None,
    "THORN_EVENT_CHOICES": (),
    "THORN_EVENT_TIMEOUT": 3.0,
    "THORN_EXPIRED_SUBSCRIPTION_GRACE": 7 * 24 * 3600.0,
    "THORN_HMAC_SIGNER": "thorn.utils.hmac:compat_sign",
    "THORN_INDEX_MAX_AGE": 60.0,
    "THORN_MAX_CONNECTIONS": 64,
    "THORN_MAX_CONNECTIONS_PER_HOST": 10,
    "THORN_MAX_LEASE_SECONDS": 365 * 24 * 3600,
    "THORN_MAX_RESPONSE_SIZE": 65536,
    "THORN_MAX_STREAMS_PER_USER": 5,
    "THORN_MAX_SUBSCRIPTIONS_PER_USER": 100,
    "THORN_PORTAL_LOGIN_REQUIRED": "django.contrib.auth.decorators.login_required",
    "THORN_PUBLISH_TIMEOUT": 2.0,
    "THORN_RECIPIENT_VALIDATORS": [
        ("block_internal_ips", ()),
        ("ensure_protocol", ("http", "https")),
        ("ensure_port", (80, 443)),
    ],
    "THORN_RELAY_AFTER": 30.0,
    "THORN_RETRY": True,
    "THORN_RETRY_DELAY": 60.0,
    "THORN_RETRY_MAX": 10,
    "THORN_RETRY_SCHEDULE": (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
    "THORN_SECRET_ROTATION_GRACE": 86400,
    "THORN_SIGNAL_HONORS_TRANSACTION": True,
    "THORN_SIGNATURE_HEADERS": "both",
    "THORN_STREAM_HEARTBEAT": 15.0,
    "THORN_STREAM_POLL_INTERVAL": 0.5,
    "THORN_STREAM_REDIS_URL": None,
    "THORN_STREAM_SUBSCRIPTION_TTL": 3600.0,
    "THORN_SUBSCRIBERS": {},
    "THORN_SUBSCRIBERS_SECRET": None,
    "THORN_SUBSCRIBER_MODEL": None,
    "THORN_TASKS_BACKEND": "default",
    "THORN_TASKS_QUEUE": "default",
    "THORN_USER_AGENT": None,
    "THORN_VERIFY_INTENT": False,
    "THORN_VERIFY_TIMEOUT": 2.0,
}


def custom_codec(payload):
    """An importable codec."""
    return f"custom:{payload!r}"


NOT_CALLABLE = "a string"


class TestDefaults:
    @pytest.mark.parametrize("name", sorted(DEFAULTS))
    def test_default_of_every_setting(self, name):
        """Every setting in DEFAULTS has its documented default when unconfigured."""
        assert DOCUMENTED_DEFAULTS[name] == Settings({}).raw(name)

    def test_documented_defaults_cover_defaults(self):
        """DEFAULTS holds exactly the documented settings."""
        assert sorted(DOCUMENTED_DEFAULTS) == sorted(DEFAULTS)

    @pytest.mark.parametrize("config", [None, {}, SimpleNamespace()], ids=["none", "dict", "obj"])
    def test_plain_settings_from_any_config(self, config):
        """Defaults are read from None, a mapping or an object without the setting."""
        settings = Settings(config)
        assert 3.0 == settings.THORN_EVENT_TIMEOUT
        assert "default" == settings.THORN_DISPATCHER

    def test_resolved_defaults(self):
        """Settings with a resolver give their resolved default."""
        settings = Settings({})
        assert compat_sign is settings.THORN_HMAC_SIGNER
        assert {MIME_JSON: json_dumps, MIME_URLFORM: form_dumps} == settings.THORN_CODECS
        assert [
            block_internal_ips(),
            ensure_protocol("http", "https"),
            ensure_port(80, 443),
        ] == settings.THORN_RECIPIENT_VALIDATORS

    def test_all_settings(self):
        """all_settings() returns every setting with its raw value."""
        assert DOCUMENTED_DEFAULTS == all_settings(Settings({"THORN_EVENT_TIMEOUT": None}))
        assert (
            all_settings(Settings({"THORN_MAX_SUBSCRIPTIONS_PER_USER": None}))[
                "THORN_MAX_SUBSCRIPTIONS_PER_USER"
            ]
            is None
        )
        assert 1.0 == all_settings(Settings({"THORN_EVENT_TIMEOUT": 1.0}))["THORN_EVENT_TIMEOUT"]

    def test_defaults_not_mutated_by_reading(self):
        """Reading and resolving settings leaves DEFAULTS unchanged."""
        before = copy.deepcopy(DEFAULTS)
        settings = Settings({"THORN_CODECS": {"text/plain": custom_codec}})
        settings.THORN_CODECS  # noqa: B018
        settings.THORN_RECIPIENT_VALIDATORS  # noqa: B018
        assert before == DEFAULTS

    def test_unknown_setting(self):
        """An unknown THORN_* name raises AttributeError."""
        with pytest.raises(AttributeError):
            Settings({}).THORN_NO_SUCH_SETTING  # noqa: B018
        with pytest.raises(AttributeError):
            Settings({}).raw("THORN_NO_SUCH_SETTING")

    def test_non_thorn_attribute(self):
        """Names without the THORN_ prefix are not settings."""
        with pytest.raises(AttributeError):
            Settings({"SECRET_KEY": "x"}).SECRET_KEY  # noqa: B018


class TestNoneIsUnset:
    @pytest.mark.parametrize(
        "config",
        [
            pytest.param({"THORN_EVENT_TIMEOUT": None}, id="mapping"),
            pytest.param(SimpleNamespace(THORN_EVENT_TIMEOUT=None), id="object"),
        ],
    )
    def test_none_counts_as_unset(self, config):
        """A setting configured as None reads as its default."""
        assert 3.0 == Settings(config).THORN_EVENT_TIMEOUT

    @pytest.mark.parametrize(
        "config",
        [
            pytest.param({"THORN_MAX_SUBSCRIPTIONS_PER_USER": None}, id="mapping"),
            pytest.param(SimpleNamespace(THORN_MAX_SUBSCRIPTIONS_PER_USER=None), id="object"),
        ],
    )
    def test_none_is_a_value_for_the_subscription_limit(self, config):
        """THORN_MAX_SUBSCRIPTIONS_PER_USER = None means no limit: it is not the default."""
        assert "THORN_MAX_SUBSCRIPTIONS_PER_USER" in NONE_IS_A_VALUE
        assert Settings(config).THORN_MAX_SUBSCRIPTIONS_PER_USER is None

    @pytest.mark.parametrize("config", [None, {}, SimpleNamespace()], ids=["none", "dict", "obj"])
    def test_an_absent_subscription_limit_is_the_default(self, config):
        """Without THORN_MAX_SUBSCRIPTIONS_PER_USER the default limit, 100, applies."""
        assert 100 == Settings(config).THORN_MAX_SUBSCRIPTIONS_PER_USER

    def test_none_for_resolved_setting(self):
        """None for a resolved setting gives the resolved default."""
        assert compat_sign is Settings({"THORN_HMAC_SIGNER": None}).THORN_HMAC_SIGNER

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            pytest.param("THORN_RETRY", False, id="false"),
            pytest.param("THORN_RETRY_MAX", 0, id="zero"),
            pytest.param("THORN_RECIPIENT_VALIDATORS", [], id="empty-list"),
            pytest.param("THORN_SUBSCRIBERS", {}, id="empty-dict"),
        ],
    )
    def test_falsy_values_are_set(self, name, value):
        """False, 0 and empty containers are configured values, not unset."""
        assert value == Settings({name: value}).__getattr__(name)


class TestLiveReading:
    def test_mapping_change_is_seen(self):
        """Changing the config dict changes the value read."""
        config = {"THORN_EVENT_TIMEOUT": 1.0}
        settings = Settings(config)
        assert 1.0 == settings.THORN_EVENT_TIMEOUT
        config["THORN_EVENT_TIMEOUT"] = 2.0
        assert 2.0 == settings.THORN_EVENT_TIMEOUT
        del config["THORN_EVENT_TIMEOUT"]
        assert 3.0 == settings.THORN_EVENT_TIMEOUT

    def test_object_change_is_seen(self):
        """Changing an attribute of a config object changes the value read."""
        config = SimpleNamespace(THORN_ALLOW_REDIRECTS=True)
        settings = Settings(config)
        assert settings.THORN_ALLOW_REDIRECTS is True
        config.THORN_ALLOW_REDIRECTS = False
        assert settings.THORN_ALLOW_REDIRECTS is False

    def test_app_settings_are_live(self, make_app):
        """An app's settings follow its config."""
        app = make_app(THORN_EVENT_TIMEOUT=1.0)
        assert 1.0 == app.settings.THORN_EVENT_TIMEOUT
        app.config["THORN_EVENT_TIMEOUT"] = 0.5
        assert 0.5 == app.settings.THORN_EVENT_TIMEOUT


class TestCachedSettings:
    """Settings(cached=True): each value read once, until forget() (Django's setting_changed)."""

    def test_a_change_is_seen_after_forget(self):
        config = {"THORN_EVENT_TIMEOUT": 1.0, "THORN_HMAC_SIGNER": "thorn.utils.hmac:sign"}
        settings = Settings(config, cached=True)
        assert (1.0, sign) == (settings.THORN_EVENT_TIMEOUT, settings.THORN_HMAC_SIGNER)
        config.update(THORN_EVENT_TIMEOUT=2.0, THORN_HMAC_SIGNER="thorn.utils.hmac:compat_sign")

        assert (1.0, sign) == (settings.THORN_EVENT_TIMEOUT, settings.THORN_HMAC_SIGNER)
        assert 1.0 == settings.raw("THORN_EVENT_TIMEOUT")
        settings.forget()
        assert (2.0, compat_sign) == (settings.THORN_EVENT_TIMEOUT, settings.THORN_HMAC_SIGNER)

    def test_defaults_and_errors_are_the_same(self):
        settings = Settings({"THORN_MAX_SUBSCRIPTIONS_PER_USER": None}, cached=True)
        assert settings.THORN_MAX_SUBSCRIPTIONS_PER_USER is None
        assert 3.0 == settings.THORN_EVENT_TIMEOUT
        with pytest.raises(AttributeError):
            settings.raw("THORN_NO_SUCH_SETTING")


class TestResolvedCache:
    def test_signer_path_resolved_to_function(self):
        """THORN_HMAC_SIGNER as a path resolves to the function."""
        assert sign is Settings({"THORN_HMAC_SIGNER": "thorn.utils.hmac:sign"}).THORN_HMAC_SIGNER
        assert sign is Settings({"THORN_HMAC_SIGNER": "thorn.utils.hmac.sign"}).THORN_HMAC_SIGNER

    def test_signer_callable_used_as_is(self):
        """THORN_HMAC_SIGNER may be the function itself."""
        assert sign is Settings({"THORN_HMAC_SIGNER": sign}).THORN_HMAC_SIGNER

    def test_resolved_value_cached(self):
        """A resolved value is reused while the raw value stays the same."""
        settings = Settings({"THORN_RECIPIENT_VALIDATORS": [("ensure_port", (443,))]})
        first = settings.THORN_RECIPIENT_VALIDATORS
        assert first is settings.THORN_RECIPIENT_VALIDATORS
        codecs = settings.THORN_CODECS
        assert codecs is settings.THORN_CODECS

    def test_cache_follows_raw_value(self):
        """A new raw value is resolved again."""
        config: dict[str, Any] = {"THORN_HMAC_SIGNER": "thorn.utils.hmac:sign"}
        settings = Settings(config)
        assert sign is settings.THORN_HMAC_SIGNER
        config["THORN_HMAC_SIGNER"] = "thorn.utils.hmac:compat_sign"
        assert compat_sign is settings.THORN_HMAC_SIGNER
        config["THORN_HMAC_SIGNER"] = None
        assert compat_sign is settings.THORN_HMAC_SIGNER
        config["THORN_RECIPIENT_VALIDATORS"] = [("ensure_port", (443,))]
        assert [ensure_port(443)] == settings.THORN_RECIPIENT_VALIDATORS
        config["THORN_RECIPIENT_VALIDATORS"] = [("ensure_port", (80,))]
        assert [ensure_port(80)] == settings.THORN_RECIPIENT_VALIDATORS

    def test_app_hmac_sign_follows_setting(self, make_app):
        """app.hmac_sign is the function named by the current THORN_HMAC_SIGNER."""
        app = make_app()
        assert compat_sign is app.hmac_sign
        app.config["THORN_HMAC_SIGNER"] = "thorn.utils.hmac:sign"
        assert sign is app.hmac_sign


class TestErrors:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("no.such.module:sign", id="missing-module"),
            pytest.param("thorn.utils.hmac:no_such_signer", id="missing-attribute"),
            pytest.param("not-a-path", id="not-a-path"),
        ],
    )
    def test_bad_signer_path(self, value):
        """A THORN_HMAC_SIGNER path that cannot be imported names the setting and value."""
        with pytest.raises(ImproperlyConfigured, match="THORN_HMAC_SIGNER") as excinfo:
            Settings({"THORN_HMAC_SIGNER": value}).THORN_HMAC_SIGNER  # noqa: B018
        assert value in str(excinfo.value)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("t.unit.test_conf:NOT_CALLABLE", id="path-to-string"),
            pytest.param(42, id="number"),
        ],
    )
    def test_signer_not_callable(self, value):
        """A THORN_HMAC_SIGNER that is not callable names the setting."""
        with pytest.raises(ImproperlyConfigured, match="THORN_HMAC_SIGNER"):
            Settings({"THORN_HMAC_SIGNER": value}).THORN_HMAC_SIGNER  # noqa: B018

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(["application/json"], id="list"),
            pytest.param("thorn.utils.json:dumps", id="string"),
            pytest.param({MIME_JSON: "no.such.module:dumps"}, id="bad-path"),
            pytest.param({MIME_JSON: "thorn.utils.json:no_such_codec"}, id="missing-attribute"),
        ],
    )
    def test_bad_codecs(self, value):
        """A bad THORN_CODECS raises ImproperlyConfigured naming the setting."""
        with pytest.raises(ImproperlyConfigured, match="THORN_CODECS"):
            Settings({"THORN_CODECS": value}).THORN_CODECS  # noqa: B018

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("block_internal_ips", id="string-not-list"),
            pytest.param([("no_such_validator", ())], id="unknown-validator"),
            pytest.param([42], id="not-a-validator"),
        ],
    )
    def test_bad_validators(self, value):
        """A bad THORN_RECIPIENT_VALIDATORS raises ImproperlyConfigured naming the setting."""
        with pytest.raises(ImproperlyConfigured, match="THORN_RECIPIENT_VALIDATORS"):
            Settings({"THORN_RECIPIENT_VALIDATORS": value}).THORN_RECIPIENT_VALIDATORS  # noqa: B018

    def test_error_is_not_cached(self):
        """After a bad value is fixed, the setting resolves."""
        config = {"THORN_HMAC_SIGNER": "no.such.module:sign"}
        settings = Settings(config)
        with pytest.raises(ImproperlyConfigured):
            settings.THORN_HMAC_SIGNER  # noqa: B018
        config["THORN_HMAC_SIGNER"] = "thorn.utils.hmac:sign"
        assert sign is settings.THORN_HMAC_SIGNER


class TestCodecs:
    def test_user_codecs_merged_over_defaults(self):
        """User codecs are added to the default JSON and form codecs."""
        codecs = Settings({"THORN_CODECS": {"text/plain": custom_codec}}).THORN_CODECS
        assert {
            MIME_JSON: json_dumps,
            MIME_URLFORM: form_dumps,
            "text/plain": custom_codec,
        } == codecs

    def test_user_codec_replaces_default(self):
        """A user codec for application/json replaces the default one; paths are imported."""
        codecs = Settings(
            {"THORN_CODECS": {MIME_JSON: "t.unit.test_conf:custom_codec"}}
        ).THORN_CODECS
        assert custom_codec is codecs[MIME_JSON]
        assert form_dumps is codecs[MIME_URLFORM]

    def test_app_encode_uses_codec(self, make_app):
        """app.encode() encodes with the content type's codec."""
        app = make_app(THORN_CODECS={"text/plain": custom_codec})
        assert "custom:{'a': 1}" == app.encode({"a": 1}, "text/plain")
        assert '{"a": 1}' == app.encode({"a": 1}, MIME_JSON)

    def test_app_encode_unknown_content_type(self, make_app):
        """app.encode() with no codec for the content type raises, naming THORN_CODECS."""
        with pytest.raises(ImproperlyConfigured, match="THORN_CODECS"):
            make_app().encode({"a": 1}, "application/xml")


class TestEventChoices:
    def test_choices(self):
        """THORN_EVENT_CHOICES become Django choices."""
        settings = Settings({"THORN_EVENT_CHOICES": ["article.created", "article.*"]})
        assert [
            ("article.created", "article.created"),
            ("article.*", "article.*"),
        ] == event_choices(settings)

    def test_default_is_empty(self):
        """No THORN_EVENT_CHOICES gives no choices."""
        assert [] == event_choices(Settings({}))

    @pytest.mark.parametrize("value", ["article.created", [1, 2]], ids=["string", "numbers"])
    def test_bad_choices(self, value):
        """THORN_EVENT_CHOICES that is not a list of names raises, naming the setting."""
        with pytest.raises(ImproperlyConfigured, match="THORN_EVENT_CHOICES"):
            event_choices(Settings({"THORN_EVENT_CHOICES": value}))


#: The settings that thorn.E004 reported before every setting had an id: they keep it.
E004_SETTINGS = [
    "THORN_CODECS",
    "THORN_DRF_PERMISSION_CLASSES",
    "THORN_EVENT_CHOICES",
    "THORN_HMAC_SIGNER",
    "THORN_RECIPIENT_VALIDATORS",
]


class TestChecks:
    def test_every_setting_has_a_check(self):
        """CHECKS has one entry per setting of DEFAULTS: a new setting needs its check line."""
        assert sorted(DEFAULTS) == sorted(CHECKS)

    def test_each_check_id_is_one_settings(self):
        """Every id but thorn.E004 (shared since before this table) reports one setting."""
        by_id: dict[str, list[str]] = {}
        for name, check in CHECKS.items():
            by_id.setdefault(check.id, []).append(name)
        assert E004_SETTINGS == sorted(by_id.pop("thorn.E004"))
        assert {1} == {len(names) for names in by_id.values()}

    @pytest.mark.parametrize("name", sorted(DEFAULTS))
    def test_every_default_passes_its_check(self, name):
        """The default of every setting (unless None) is accepted by its check."""
        default = DEFAULTS[name]
        assert default is None or CHECKS[name].accepts(default)

    def test_unconfigured_settings_have_no_problem(self):
        """Without configuration there is nothing to report."""
        assert [] == setting_problems(Settings({}))

    @pytest.mark.parametrize("name", sorted(DEFAULTS))
    def test_none_is_not_checked(self, name):
        """A setting set to None counts as unset: it is not reported."""
        assert [] == setting_problems(Settings({name: None}))

    def test_problems_come_in_the_order_of_the_defaults(self):
        """Every mistyped setting is reported once, with its id, in the order of DEFAULTS."""
        config = {"THORN_RETRY_MAX": "x", "THORN_CHUNKSIZE": "10", "THORN_RETRY": "yes"}

        problems = setting_problems(Settings(config))

        assert [
            ("THORN_CHUNKSIZE", "10", "thorn.E007"),
            ("THORN_RETRY", "yes", "thorn.E010"),
            ("THORN_RETRY_MAX", "x", "thorn.E012"),
        ] == [(p.name, p.value, p.id) for p in problems]

    def test_a_problem_names_the_setting_and_the_value(self):
        """Message and hint name the setting and the value received, with its type."""
        [problem] = setting_problems(Settings({"THORN_EVENT_TIMEOUT": "3"}))

        assert "THORN_EVENT_TIMEOUT must be a number of seconds greater than 0, not '3'." == (
            problem.message
        )
        assert (
            "Set THORN_EVENT_TIMEOUT to a number of seconds greater than 0; it is '3' (str)."
            == problem.hint
        )
        assert f"thorn.E008: {problem.message} HINT: {problem.hint}" == str(problem)

    def test_a_resolver_failure_is_a_problem_with_the_settings_id(self):
        """A value of the right type that does not resolve is reported under the setting's id."""
        config = {"THORN_HMAC_SIGNER": "t.no_such_module:sign"}

        [problem] = setting_problems(Settings(config))

        assert ("THORN_HMAC_SIGNER", "thorn.E004") == (problem.name, problem.id)
        assert "t.no_such_module" in problem.message

    def test_long_values_are_shortened(self):
        """A huge value is quoted shortened, so the message stays readable."""
        [problem] = setting_problems(Settings({"THORN_USER_AGENT": "x\n" + "y" * 10_000}))

        assert len(problem.message) < 250
        assert len(problem.hint) < 250

    def test_problem_is_a_value(self):
        """SettingProblem is a frozen value (comparable, hashable)."""
        problem = SettingProblem("THORN_RETRY", "yes", "thorn.E010", "m")
        assert problem == SettingProblem("THORN_RETRY", "yes", "thorn.E010", "m")
        assert hash(problem) == hash(SettingProblem("THORN_RETRY", "yes", "thorn.E010", "m"))
