"""Validators as JSON: for settings and for messages to workers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from thorn.exceptions import ImproperlyConfigured
from thorn.utils.imports import import_string, qualified_name
from thorn.validators.base import RecipientValidator
from thorn.validators.builtin import validators

__all__ = [
    "Serialized",
    "deserialize_validator",
    "deserialize_validators",
    "serialize_validator",
    "serialize_validators",
]

#: The JSON form of a validator, ``[name, [args...]]`` or ``"module:function"``.
Serialized: TypeAlias = list[Any] | str


def serialize_validator(validator: Callable[..., Any]) -> Serialized:
    """Return the JSON form of ``validator``, for Celery messages.

    .. versionchanged:: 2.0
        Importable functions serialize as their ``"module:name"`` path;
        Thorn 1.5 could not serialize custom validators.

    Arguments:
        validator: A built-in validator, or a function defined at the top
            level of an importable module.

    Raises:
        TypeError: if the validator cannot be recreated by a worker
            (lambdas, closures, nested functions, callable objects,
            ``__main__`` functions, unregistered validator classes).

    Examples:
        >>> from thorn.validators import ensure_port, serialize_validator
        >>> serialize_validator(ensure_port(80, 443))
        ['ensure_port', [80, 443]]
    """
    if isinstance(validator, RecipientValidator):
        if validators.get(validator.name) is None:
            raise TypeError(
                f"cannot serialize {validator!r}: {validator.name!r} is not registered "
                "in thorn.validators.validators"
            )
        return [validator.name, list(validator.args)]
    module = getattr(validator, "__module__", None)
    qualname = getattr(validator, "__qualname__", None)
    if (
        callable(validator)
        and isinstance(module, str)
        and isinstance(qualname, str)
        and module != "__main__"
        and "<" not in qualname
    ):
        path = qualified_name(validator)
        try:
            found = import_string(path)
        except ImproperlyConfigured:
            found = None
        if found is validator:
            return path
    raise TypeError(
        f"cannot serialize recipient validator {validator!r}: use a built-in validator "
        "or a function defined at the top level of an importable module "
        "(not a lambda, closure, bound method or callable object)"
    )


def serialize_validators(items: Sequence[Callable[..., Any]]) -> list[Serialized]:
    """Return the JSON form of every validator in ``items``.

    Raises:
        TypeError: if a validator cannot be serialized.
    """
    return [serialize_validator(item) for item in items]


def _where(setting: str | None, item: Any) -> str:
    return f"{setting} item {item!r}" if setting else f"recipient validator {item!r}"


def deserialize_validator(item: Any, setting: str | None = None) -> Callable[[str], None]:
    """Recreate a validator from its serialized form.

    Accepted forms: ``[name, [args...]]`` or ``(name, (args...))`` (a
    registered factory and its arguments), a ``"module:function"`` path, or a
    callable (returned as it is).

    Arguments:
        item: The serialized validator.
        setting: Name of the setting ``item`` came from, for error messages.

    Raises:
        ImproperlyConfigured: if ``item`` names an unknown factory, has the
            wrong shape or arguments, or does not lead to a callable.

    Examples:
        >>> from thorn.validators import deserialize_validator
        >>> deserialize_validator(["ensure_protocol", ["https"]])
        ensure_protocol('https')
    """
    where = _where(setting, item)
    if callable(item):
        validator: Any = item
    elif isinstance(item, str):
        validator = import_string(item, setting)
        if not callable(validator):
            raise ImproperlyConfigured(f"{where}: {validator!r} is not callable")
    elif isinstance(item, list | tuple):
        if len(item) != 2 or not isinstance(item[0], str) or not isinstance(item[1], list | tuple):
            raise ImproperlyConfigured(f"{where}: expected (name, args)")
        name, args = item
        factory = validators.get(name)
        if factory is None:
            raise ImproperlyConfigured(
                f"{where}: unknown validator {name!r} (known: {', '.join(sorted(validators))})"
            )
        try:
            return factory(*args)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from exc
        except TypeError as exc:
            raise ImproperlyConfigured(f"{where}: bad arguments for {name}(): {exc}") from exc
    else:
        raise ImproperlyConfigured(
            f"{where}: expected a validator, a 'module:function' path or (name, args)"
        )
    # A factory used without calling it, e.g. ``[ensure_protocol]``, would accept
    # every URL (ensure_protocol(url) returns a validator and raises nothing).
    if any(validator is factory for factory in validators.values()):
        raise ImproperlyConfigured(
            f"{where}: {validator.__name__} is a validator factory; call it, "
            f"for example {validator.__name__}(...)"
        )
    checked: Callable[[str], None] = validator
    return checked


def deserialize_validators(value: Any, setting: str | None = None) -> list[Callable[[str], None]]:
    """Recreate a list of validators (for example ``THORN_RECIPIENT_VALIDATORS``).

    An empty list turns every check off (for development and tests).

    Arguments:
        value: A list or tuple of serialized validators or callables.
        setting: Name of the setting ``value`` came from, for error messages.

    Raises:
        ImproperlyConfigured: if ``value`` is not a list or tuple, or one of
            its items is invalid; the message names ``setting`` and the item.

    Examples:
        >>> from thorn.validators import deserialize_validators
        >>> deserialize_validators([("block_internal_ips", ()), ("ensure_port", (443,))])
        [block_internal_ips(), ensure_port(443)]
    """
    if not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{setting or 'recipient validators'} must be a list of validators, not {value!r}"
        )
    return [deserialize_validator(item, setting) for item in value]
