"""Every ``THORN_*`` setting with its default, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from thorn.exceptions import ImproperlyConfigured

__all__ = [
    "DEFAULTS",
    "MIME_JSON",
    "MIME_URLFORM",
    "Settings",
    "all_settings",
    "event_choices",
]

#: Content type of JSON bodies.
MIME_JSON = "application/json"
#: Content type of form-encoded bodies.
MIME_URLFORM = "application/x-www-form-urlencoded"

#: Default value of every setting.  A setting whose configured value is
#: ``None`` counts as unset (as in Thorn 1.5).
DEFAULTS: dict[str, Any] = {
    "THORN_ALLOW_REDIRECTS": False,
    "THORN_BASE_URL": None,
    "THORN_CHUNKSIZE": 10,
    "THORN_CODECS": {
        MIME_JSON: "thorn.utils.json:dumps",
        MIME_URLFORM: "thorn.utils.form:dumps",
    },
    "THORN_DISPATCHER": "default",
    "THORN_DRF_PERMISSION_CLASSES": None,
    "THORN_EVENT_CHOICES": (),
    "THORN_EVENT_TIMEOUT": 3.0,
    "THORN_HMAC_SIGNER": "thorn.utils.hmac:compat_sign",
    "THORN_MAX_RESPONSE_SIZE": 64 * 1024,
    "THORN_PUBLISH_TIMEOUT": 2.0,
    "THORN_RECIPIENT_VALIDATORS": [
        ("block_internal_ips", ()),
        ("ensure_protocol", ("http", "https")),
        ("ensure_port", (80, 443)),
    ],
    "THORN_RETRY": True,
    "THORN_RETRY_DELAY": 60.0,
    "THORN_RETRY_MAX": 10,
    "THORN_SIGNAL_HONORS_TRANSACTION": True,
    "THORN_SUBSCRIBERS": {},
    "THORN_SUBSCRIBERS_SECRET": None,
    "THORN_SUBSCRIBER_MODEL": None,
    "THORN_USER_AGENT": None,
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


def _resolve_validators(value: Any) -> list[Callable[[str], None]]:
    from thorn.validators import deserialize_validators

    return deserialize_validators(value, setting="THORN_RECIPIENT_VALIDATORS")


#: Settings whose raw value is turned into something richer when read.
RESOLVERS: dict[str, Callable[[Any], Any]] = {
    "THORN_CODECS": _resolve_codecs,
    "THORN_HMAC_SIGNER": _resolve_signer,
    "THORN_RECIPIENT_VALIDATORS": _resolve_validators,
}


class Settings:
    """Read ``THORN_*`` settings from a configuration object, with defaults.

    Values are read live from ``config`` (``django.conf.settings`` under
    Django), so ``override_settings`` just works; a value that needs resolving
    (an import path, serialized validators) is resolved once and reused until
    the configured value changes.

    .. versionchanged:: 2.0
        Thorn 1.5 cached every value the first time it was read.

    Arguments:
        config: Any object with settings as attributes, or a mapping;
            ``None`` means defaults only.
    """

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self._resolved: dict[str, tuple[Any, Any]] = {}

    def raw(self, name: str) -> Any:
        """Return the configured value of ``name``, or its default."""
        if name not in DEFAULTS:
            raise AttributeError(f"unknown setting {name!r}")
        config = self.config
        value = config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)
        return DEFAULTS[name] if value is None else value

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("THORN_"):
            raise AttributeError(name)
        value = self.raw(name)
        resolve = RESOLVERS.get(name)
        if resolve is None:
            return value
        cached = self._resolved.get(name)
        if cached is not None and cached[0] is value:
            return cached[1]
        resolved = resolve(value)
        self._resolved[name] = (value, resolved)
        return resolved


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
