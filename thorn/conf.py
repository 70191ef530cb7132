"""Every ``THORN_*`` setting with its default, in one place."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from thorn.exceptions import ImproperlyConfigured
from thorn.transport.http import DEFAULT_MAX_RESPONSE_SIZE

__all__ = [
    "CHECKS",
    "DEFAULTS",
    "MIME_JSON",
    "MIME_URLFORM",
    "NONE_IS_A_VALUE",
    "SIGNATURE_HEADERS",
    "SettingCheck",
    "SettingProblem",
    "Settings",
    "all_settings",
    "event_choices",
    "setting_problems",
]

#: Content type of JSON bodies.
MIME_JSON = "application/json"
#: Content type of form-encoded bodies.
MIME_URLFORM = "application/x-www-form-urlencoded"

#: Seconds in a day.
DAY = 24 * 60 * 60.0
#: The retry schedule of Standard Webhooks and Svix: seconds to wait after
#: each failed attempt (7 retries over about 27 hours).
STANDARD_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: What ``THORN_DELIVERY_RECORDS`` accepts.
RECORD_MODES = ("all", "failed")

#: Default value of every setting.  A setting whose configured value is
#: ``None`` counts as unset (as in Thorn 1.5), except those of
#: :data:`NONE_IS_A_VALUE`.
DEFAULTS: dict[str, Any] = {
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
    "THORN_DELIVERY_RETENTION": 30 * DAY,
    "THORN_DISABLE_AFTER": 5 * DAY,
    "THORN_DISPATCHER": "default",
    "THORN_DRF_PERMISSION_CLASSES": None,
    "THORN_EVENT_CHOICES": (),
    "THORN_EVENT_TIMEOUT": 3.0,
    "THORN_EXPIRED_SUBSCRIPTION_GRACE": 7 * DAY,
    "THORN_HMAC_SIGNER": "thorn.utils.hmac:compat_sign",
    "THORN_INDEX_MAX_AGE": 60.0,
    "THORN_MAX_CONNECTIONS": 64,
    "THORN_MAX_CONNECTIONS_PER_HOST": 10,
    "THORN_MAX_LEASE_SECONDS": 365 * 24 * 60 * 60,
    "THORN_MAX_RESPONSE_SIZE": DEFAULT_MAX_RESPONSE_SIZE,
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
    "THORN_RETRY_SCHEDULE": STANDARD_RETRY_SCHEDULE,
    "THORN_SECRET_ROTATION_GRACE": 24 * 60 * 60,
    "THORN_SIGNAL_HONORS_TRANSACTION": True,
    "THORN_SIGNATURE_HEADERS": "both",
    "THORN_STREAM_HEARTBEAT": 15.0,
    "THORN_STREAM_POLL_INTERVAL": 0.5,
    "THORN_STREAM_REDIS_URL": None,
    "THORN_STREAM_SUBSCRIPTION_TTL": 60 * 60.0,
    "THORN_SUBSCRIBERS": {},
    "THORN_SUBSCRIBERS_SECRET": None,
    "THORN_SUBSCRIBER_MODEL": None,
    "THORN_TASKS_BACKEND": "default",
    "THORN_TASKS_QUEUE": "default",
    "THORN_USER_AGENT": None,
    "THORN_VERIFY_INTENT": False,
    "THORN_VERIFY_TIMEOUT": 2.0,
}

#: Settings for which a configured ``None`` is a value of its own ("no
#: limit"), not "unset": their default applies only when they are absent.
NONE_IS_A_VALUE = frozenset({"THORN_MAX_SUBSCRIPTIONS_PER_USER"})

#: The signature schemes sent for each value of ``THORN_SIGNATURE_HEADERS``
#: (see :mod:`thorn.delivery.sign`).
SIGNATURE_HEADERS: dict[str, tuple[str, ...]] = {
    "hook-hmac": ("hook-hmac",),
    "standard": ("standard",),
    "both": ("hook-hmac", "standard"),
}

#: What :meth:`Settings.raw` reads for a setting that is not configured.
_ABSENT: Any = object()


# -- what each setting accepts ------------------------------------------------


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_int(minimum: int) -> Callable[[Any], bool]:
    # bool is an int subclass, but True is not a chunk size.
    return lambda value: type(value) is int and value >= minimum


def _is_seconds(minimum: float, *, inclusive: bool) -> Callable[[Any], bool]:
    def accepts(value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return math.isfinite(value) and (value >= minimum if inclusive else value > minimum)

    return accepts


def _is_duration(value: Any) -> bool:
    if isinstance(value, timedelta):
        return value >= timedelta(0)
    return _is_seconds(0, inclusive=True)(value)


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_redis_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if parts.scheme == "unix":
        return bool(parts.path)
    return parts.scheme in ("redis", "rediss") and bool(parts.hostname)


def _is_header_value(value: Any) -> bool:
    return isinstance(value, str) and not any(c in value for c in "\r\n\x00")


def _is_path_or(kind: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) or kind(value)


def _is_list_of(item: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, list | tuple | set | frozenset) and all(item(entry) for entry in value)
    )


def _is_codecs(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(ctype, str) and (isinstance(codec, str) or callable(codec))
        for ctype, codec in value.items()
    )


def _is_class(value: Any) -> bool:
    return isinstance(value, type)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_one_of(choices: Collection[str]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


def _is_schedule(value: Any) -> bool:
    # An ordered sequence: a set has no order of retries.
    second = _is_seconds(0, inclusive=True)
    return isinstance(value, list | tuple) and all(second(delay) for delay in value)


def _is_validators(value: Any) -> bool:
    # Each validator is checked when the list is deserialized.
    return isinstance(value, list | tuple)


@dataclass(frozen=True)
class SettingCheck:
    """What a setting accepts, checked by ``manage.py check`` and when a Celery worker starts.

    .. versionadded:: 2.0
    """

    #: The id of the system check that reports a bad value (``thorn.E0xx``).
    id: str
    #: What the setting must be, in words ("an integer of at least 1").
    expects: str
    #: Tells whether a configured (non-``None``) value has the right type and range.
    accepts: Callable[[Any], bool]


#: The check of every setting of :data:`DEFAULTS`: one line per setting, so a
#: new setting gets its check (and its own id) next to its default.  ``None``
#: counts as unset and is not checked.  Deeper checks (imports, the
#: subscriber model, static subscribers) are made by :mod:`thorn.django.checks`
#: once the value has the right type; they report under the same id.
CHECKS: dict[str, SettingCheck] = {
    "THORN_ALLOW_REDIRECTS": SettingCheck("thorn.E005", "True or False", _is_bool),
    "THORN_ATTEMPT_RESPONSE_BYTES": SettingCheck(
        "thorn.E018", "an integer of at least 0 (bytes)", _is_int(0)
    ),
    "THORN_BASE_URL": SettingCheck(
        "thorn.E006", "an http(s) URL with a host, such as 'https://example.com'", _is_http_url
    ),
    "THORN_CHUNKSIZE": SettingCheck("thorn.E007", "an integer of at least 1", _is_int(1)),
    "THORN_CODECS": SettingCheck(
        "thorn.E004",
        "a mapping of content type to codec (a callable or an import path)",
        _is_codecs,
    ),
    "THORN_BACKGROUND_DRAIN": SettingCheck(
        "thorn.E039", "a number of seconds of at least 0", _is_seconds(0, inclusive=True)
    ),
    "THORN_BACKGROUND_THREADS": SettingCheck("thorn.E038", "an integer of at least 1", _is_int(1)),
    "THORN_DELIVERY_LEASE": SettingCheck(
        "thorn.E019", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_DELIVERY_RECORDS": SettingCheck(
        "thorn.E030", "'all' or 'failed'", _is_one_of(RECORD_MODES)
    ),
    "THORN_DELIVERY_RETENTION": SettingCheck(
        "thorn.E031", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_DISABLE_AFTER": SettingCheck(
        "thorn.E032", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_DISPATCHER": SettingCheck(
        "thorn.E001",
        "'default', 'background', 'celery', 'tasks', 'disabled', "
        "or a dispatcher class or its import path",
        _is_path_or(_is_class),
    ),
    "THORN_DRF_PERMISSION_CLASSES": SettingCheck(
        "thorn.E004",
        "a list of permission classes or their import paths",
        _is_list_of(_is_path_or(_is_class)),
    ),
    "THORN_EVENT_CHOICES": SettingCheck(
        "thorn.E004", "a list of event names", _is_list_of(_is_str)
    ),
    "THORN_EVENT_TIMEOUT": SettingCheck(
        "thorn.E008", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_EXPIRED_SUBSCRIPTION_GRACE": SettingCheck(
        "thorn.E063", "a number of seconds of at least 0, or a timedelta", _is_duration
    ),
    "THORN_HMAC_SIGNER": SettingCheck(
        "thorn.E004", "a signing function or its import path", _is_path_or(callable)
    ),
    "THORN_INDEX_MAX_AGE": SettingCheck(
        "thorn.E035",
        "a number of seconds of at least 0 (0 turns the index off)",
        _is_seconds(0, inclusive=True),
    ),
    "THORN_MAX_CONNECTIONS": SettingCheck("thorn.E036", "an integer of at least 1", _is_int(1)),
    "THORN_MAX_CONNECTIONS_PER_HOST": SettingCheck(
        "thorn.E037", "an integer of at least 1", _is_int(1)
    ),
    "THORN_MAX_LEASE_SECONDS": SettingCheck("thorn.E062", "an integer of at least 1", _is_int(1)),
    "THORN_MAX_RESPONSE_SIZE": SettingCheck(
        "thorn.E009", "an integer of at least 0 (bytes)", _is_int(0)
    ),
    "THORN_MAX_STREAMS_PER_USER": SettingCheck(
        "thorn.E071", "an integer of at least 0 (0 turns live streams off)", _is_int(0)
    ),
    "THORN_MAX_SUBSCRIPTIONS_PER_USER": SettingCheck(
        "thorn.E016", "None (no limit) or an integer of at least 0", _is_int(0)
    ),
    "THORN_PORTAL_LOGIN_REQUIRED": SettingCheck(
        "thorn.E080", "a view decorator or its import path", _is_path_or(callable)
    ),
    "THORN_PUBLISH_TIMEOUT": SettingCheck(
        "thorn.E017", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_RECIPIENT_VALIDATORS": SettingCheck(
        "thorn.E004", "a list of validators", _is_validators
    ),
    "THORN_RELAY_AFTER": SettingCheck(
        "thorn.E033", "a number of seconds of at least 0", _is_seconds(0, inclusive=True)
    ),
    "THORN_RETRY": SettingCheck("thorn.E010", "True or False", _is_bool),
    "THORN_RETRY_DELAY": SettingCheck(
        "thorn.E011", "a number of seconds of at least 0", _is_seconds(0, inclusive=True)
    ),
    "THORN_RETRY_MAX": SettingCheck("thorn.E012", "an integer of at least 0", _is_int(0)),
    "THORN_RETRY_SCHEDULE": SettingCheck(
        "thorn.E034",
        "a list of numbers of seconds of at least 0",
        _is_schedule,
    ),
    "THORN_SECRET_ROTATION_GRACE": SettingCheck(
        "thorn.E021", "a number of seconds of at least 0, or a timedelta", _is_duration
    ),
    "THORN_SIGNAL_HONORS_TRANSACTION": SettingCheck("thorn.E013", "True or False", _is_bool),
    "THORN_SIGNATURE_HEADERS": SettingCheck(
        "thorn.E020", "'hook-hmac', 'standard' or 'both'", _is_one_of(SIGNATURE_HEADERS)
    ),
    "THORN_STREAM_HEARTBEAT": SettingCheck(
        "thorn.E073", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_STREAM_POLL_INTERVAL": SettingCheck(
        "thorn.E074", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_STREAM_REDIS_URL": SettingCheck(
        "thorn.E072", "a redis://, rediss:// or unix:// URL", _is_redis_url
    ),
    "THORN_STREAM_SUBSCRIPTION_TTL": SettingCheck(
        "thorn.E070", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
    "THORN_SUBSCRIBERS": SettingCheck(
        "thorn.E002", "a mapping of event pattern to subscribers", _is_mapping
    ),
    "THORN_SUBSCRIBERS_SECRET": SettingCheck("thorn.E014", "a string", _is_str),
    "THORN_SUBSCRIBER_MODEL": SettingCheck(
        "thorn.E003", "a subscriber model or its import path", _is_path_or(_is_class)
    ),
    "THORN_TASKS_BACKEND": SettingCheck("thorn.E050", "the alias of a backend in TASKS", _is_str),
    "THORN_TASKS_QUEUE": SettingCheck(
        "thorn.E051", "a queue of the THORN_TASKS_BACKEND backend", _is_str
    ),
    "THORN_USER_AGENT": SettingCheck(
        "thorn.E015", "a string without line breaks", _is_header_value
    ),
    "THORN_VERIFY_INTENT": SettingCheck("thorn.E060", "True or False", _is_bool),
    "THORN_VERIFY_TIMEOUT": SettingCheck(
        "thorn.E061", "a number of seconds greater than 0", _is_seconds(0, inclusive=False)
    ),
}


def _resolve_codecs(value: Mapping[str, Any]) -> dict[str, Callable[[Any], str]]:
    from thorn.utils.imports import import_string

    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"THORN_CODECS must be a mapping of content type to codec, not {value!r}"
        )
    merged = {**DEFAULTS["THORN_CODECS"], **value}
    return {
        ctype: import_string(codec, "THORN_CODECS") if isinstance(codec, str) else codec
        for ctype, codec in merged.items()
    }


def _resolve_signer(value: Any) -> Callable[..., Any]:
    from thorn.utils.imports import import_string

    signer = import_string(value, "THORN_HMAC_SIGNER") if isinstance(value, str) else value
    if not callable(signer):
        raise ImproperlyConfigured(f"THORN_HMAC_SIGNER={value!r} is not callable")
    return signer  # type: ignore[no-any-return]


def _resolve_duration(value: Any) -> timedelta:
    if not _is_duration(value):
        raise ImproperlyConfigured(
            "THORN_SECRET_ROTATION_GRACE must be a number of seconds of at least 0, "
            f"or a timedelta, not {value!r}"
        )
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def _resolve_signature_headers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or value not in SIGNATURE_HEADERS:
        raise ImproperlyConfigured(
            f"THORN_SIGNATURE_HEADERS must be 'hook-hmac', 'standard' or 'both', not {value!r}"
        )
    return SIGNATURE_HEADERS[value]


def _resolve_validators(value: Any) -> list[Callable[[str], None]]:
    from thorn.validators import deserialize_validators

    return deserialize_validators(value, setting="THORN_RECIPIENT_VALIDATORS")


#: Settings whose raw value is turned into something richer when read.
RESOLVERS: dict[str, Callable[[Any], Any]] = {
    "THORN_CODECS": _resolve_codecs,
    "THORN_HMAC_SIGNER": _resolve_signer,
    "THORN_RECIPIENT_VALIDATORS": _resolve_validators,
    "THORN_SECRET_ROTATION_GRACE": _resolve_duration,
    "THORN_SIGNATURE_HEADERS": _resolve_signature_headers,
}


class Settings:
    """Read ``THORN_*`` settings from a configuration object, with defaults.

    Values are read live from ``config``, or, when ``cached``, once until
    :meth:`forget` is called (under Django, on every ``setting_changed``
    signal, so ``override_settings`` just works).  A value that needs
    resolving (an import path, serialized validators) is resolved once and
    reused until the configured value changes.

    .. versionchanged:: 2.0
        Thorn 1.5 cached every value the first time it was read.

    Arguments:
        config: Any object with settings as attributes, or a mapping;
            ``None`` means defaults only.
        cached: Keep the values read, until :meth:`forget`.
    """

    def __init__(self, config: Any = None, *, cached: bool = False) -> None:
        self.config = config
        self.cached = cached
        self._values: dict[str, Any] = {}
        self._resolved: dict[str, tuple[Any, Any]] = {}
        if config is None:
            self._get: Callable[[str, Any], Any] = lambda name, default: default
        elif isinstance(config, Mapping):
            self._get = config.get
        else:
            self._get = partial(getattr, config)

    def raw(self, name: str) -> Any:
        """Return the configured value of ``name``, or its default.

        ``None`` counts as unset, except for the settings of
        :data:`NONE_IS_A_VALUE`, whose default applies only when they are
        not configured at all.
        """
        if self.cached:
            try:
                return self._values[name]
            except KeyError:
                pass
        if name not in DEFAULTS:
            raise AttributeError(f"unknown setting {name!r}")
        value = self._get(name, _ABSENT)
        if value is _ABSENT or (value is None and name not in NONE_IS_A_VALUE):
            value = DEFAULTS[name]
        if self.cached:
            self._values[name] = value
        return value

    def forget(self) -> None:
        """Read every value again (``cached`` settings, after a change of configuration)."""
        self._values.clear()
        for name in [name for name in self.__dict__ if name.startswith("THORN_")]:
            del self.__dict__[name]

    def configured(self, name: str) -> bool:
        """Tell whether the project sets ``name`` (to something else than ``None``)."""
        if name not in DEFAULTS:
            raise AttributeError(f"unknown setting {name!r}")
        config = self.config
        if isinstance(config, Mapping):
            return config.get(name) is not None
        return getattr(config, name, None) is not None

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("THORN_"):
            raise AttributeError(name)
        value = self.raw(name)
        resolve = RESOLVERS.get(name)
        if resolve is not None:
            cached = self._resolved.get(name)
            if cached is not None and cached[0] is value:
                value = cached[1]
            else:
                resolved = resolve(value)
                self._resolved[name] = (value, resolved)
                value = resolved
        if self.cached:  # the next read is a plain attribute
            self.__dict__[name] = value
        return value


#: Shortens the values quoted in messages (a big THORN_SUBSCRIBERS, say).
_REPR = reprlib.Repr()
# Attributes, not arguments: Repr() takes none before Python 3.12.
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 2, 80, 80


@dataclass(frozen=True)
class SettingProblem:
    """A setting whose value cannot be used (see :func:`setting_problems`).

    .. versionadded:: 2.0
    """

    #: The setting's name.
    name: str
    #: The value received.
    value: Any
    #: The id of the system check (``thorn.E0xx``, from :data:`CHECKS`).
    id: str
    #: What is wrong, naming the setting.
    message: str

    @property
    def hint(self) -> str:
        """What to do, naming the setting and the value received."""
        expects = CHECKS[self.name].expects
        return f"Set {self.name} to {expects}; it is {_shown(self.value)}."

    def __str__(self) -> str:
        return f"{self.id}: {self.message} HINT: {self.hint}"


def _shown(value: Any) -> str:
    return f"{_REPR.repr(value)} ({type(value).__name__})"


def setting_problem(settings: Settings, name: str) -> SettingProblem | None:
    """Return what is wrong with setting ``name``, or ``None`` if it can be used.

    The value must pass its :data:`CHECKS` entry; a setting with a resolver
    (import paths, serialized validators) must also resolve.  Unset
    settings are not checked (their defaults are valid).
    """
    value = settings.raw(name)
    if value is None:
        return None
    check = CHECKS[name]
    if not check.accepts(value):
        message = f"{name} must be {check.expects}, not {_REPR.repr(value)}."
        return SettingProblem(name, value, check.id, message)
    resolve = RESOLVERS.get(name)
    if resolve is not None:
        try:
            resolve(value)
        except ImproperlyConfigured as exc:
            return SettingProblem(name, value, check.id, str(exc))
    return None


def setting_problems(settings: Settings) -> list[SettingProblem]:
    """Return what is wrong with every setting, in the order of :data:`DEFAULTS` (empty if nothing).

    This is the framework-free part of thorn's system checks: ``manage.py
    check`` (see :mod:`thorn.django.checks`) and a starting Celery worker
    report these, and more.

    .. versionadded:: 2.0
    """
    problems = (setting_problem(settings, name) for name in DEFAULTS)
    return [problem for problem in problems if problem is not None]


def all_settings(settings: Settings) -> dict[str, Any]:
    """Return every setting with its current (raw) value."""
    return {name: settings.raw(name) for name in DEFAULTS}


def event_choices(settings: Settings) -> list[tuple[str, str]]:
    """Return ``THORN_EVENT_CHOICES`` as Django choices.

    Raises:
        ImproperlyConfigured: if the setting is not a list of strings.
    """
    choices = settings.raw("THORN_EVENT_CHOICES")
    if isinstance(choices, str) or not all(isinstance(c, str) for c in choices):
        raise ImproperlyConfigured(
            f"THORN_EVENT_CHOICES must be a list of event names, not {choices!r}"
        )
    return [(c, c) for c in choices]
