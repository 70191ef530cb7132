"""Referring to Django models in JSON (subscriber callback contexts, messages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.db import models

__all__ = ["deserialize_model", "serialize_model"]


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
