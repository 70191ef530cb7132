"""Django helpers: referring to models in JSON (subscriber callback contexts, messages),
and reading the times that recovery takes (the admin, ``manage.py thorn recover``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

__all__ = ["deserialize_model", "has_field", "parse_time", "serialize_model"]


def has_field(model: type[models.Model], name: str) -> bool:
    """Whether ``model`` has a field ``name`` (a custom subscriber model may lack one)."""
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def serialize_model(model: type[models.Model] | models.Model) -> dict[str, str]:
    """Return ``{"app_label", "model_name"}`` of a model (class or instance)."""
    meta = model._meta
    return {"app_label": meta.app_label, "model_name": meta.model_name or ""}


def deserialize_model(model: Any) -> Any:
    """Return the model class that :func:`serialize_model` describes.

    Anything that is not a mapping is returned unchanged.
    """
    if not isinstance(model, Mapping):
        return model
    return apps.get_model(model["app_label"], model["model_name"])


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or date and time, made aware in the current time zone if naive.

    Raises:
        ValueError: if ``value`` is neither.

    .. versionadded:: 2.0
    """
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = None if day is None else datetime.combine(day, time())
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"not an ISO 8601 date or time: {value!r}")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
