"""``GET /hooks/events/``: the event catalog, with a JSON Schema of each event's ``data``.

Each event of the catalog (:mod:`thorn.catalog`) is listed with its name,
description and model; an event whose ``data`` is built by a Django REST
Framework serializer also has the JSON Schema (draft 2020-12) of that
``data``, derived from the serializer through drf-spectacular, and an
example that the schema validates.  Without drf-spectacular (the
``openapi`` extra), ``schema`` and ``example`` are ``null``.

.. versionadded:: 2.0
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rest_framework import generics, permissions, serializers
from rest_framework.views import APIView

from thorn._state import current_app
from thorn.catalog import CatalogEntry, catalog
from thorn.conf import event_choices
from thorn.django.rest_framework.views import permission_classes

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "EventCatalog",
    "EventSerializer",
    "data_schema",
    "describe",
    "example_of",
]

#: The ``$schema`` of the schemas of ``data``.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Examples of strings by JSON Schema ``format``.
_FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "decimal": "1.00",
}


@contextmanager
def _oas_31() -> Iterator[None]:
    """drf-spectacular writes OpenAPI 3.1 schemas (JSON Schema) meanwhile, then as before."""
    from drf_spectacular.settings import spectacular_settings

    saved = getattr(spectacular_settings, "OAS_VERSION")  # noqa: B009 (not in its stubs)
    setattr(spectacular_settings, "OAS_VERSION", "3.1.0")  # noqa: B010
    try:
        yield
    finally:
        setattr(spectacular_settings, "OAS_VERSION", saved)  # noqa: B010


def _rewrite_refs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: value.replace("#/components/schemas/", "#/$defs/")
            if key == "$ref" and isinstance(value, str)
            else _rewrite_refs(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rewrite_refs(item) for item in schema]
    return schema


@functools.cache
def data_schema(serializer: type[Any]) -> dict[str, Any] | None:
    """The JSON Schema of what ``serializer`` outputs, or ``None`` without drf-spectacular.

    Nested serializers are in ``$defs``.  Computed once per serializer class.
    """
    try:
        from drf_spectacular.drainage import GENERATOR_STATS
        from drf_spectacular.openapi import AutoSchema
        from drf_spectacular.plumbing import ComponentRegistry
    except ImportError:
        return None
    view = APIView()
    view.request = None  # type: ignore[assignment]
    view.kwargs = {}
    view.format_kwarg = None
    auto = AutoSchema()
    auto.registry = ComponentRegistry()
    auto.method = "GET"
    auto.path = "/"
    auto.view = view
    with _oas_31(), GENERATOR_STATS.silence():
        component = auto.resolve_serializer(serializer, "response")
        components = auto.registry.build({}).get("schemas", {})
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT}
    schema.update(_rewrite_refs(components.get(component.name, component.schema or {})))
    others = {name: value for name, value in components.items() if name != component.name}
    if others:
        schema["$defs"] = _rewrite_refs(others)
    return schema


def example_of(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """An example value that ``schema`` validates (the first choice of each alternative)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return example_of(defs[schema["$ref"].rpartition("/")[2]], defs)
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return example_of(schema[key][0], defs)
    if "enum" in schema:
        return next((value for value in schema["enum"] if value is not None), schema["enum"][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_of(value, defs) for name, value in properties.items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), defs)]
    if kind == "string":
        text = _FORMATS.get(schema.get("format", ""), "string")
        return text[: schema["maxLength"]] if "maxLength" in schema else text
    return {"integer": 0, "number": 0.0, "boolean": True, "null": None}.get(kind)


def describe(entry: CatalogEntry) -> dict[str, Any]:
    """An event of the catalog, as ``GET /hooks/events/`` shows it."""
    schema = None if entry.serializer is None else data_schema(entry.serializer)
    return {
        "name": entry.name,
        "description": entry.description,
        "model": entry.models[0] if entry.models else None,
        "schema": schema,
        "example": None if schema is None else example_of(schema),
    }


class EventSerializer(serializers.Serializer[dict[str, Any]]):
    """An event of the catalog, as :func:`describe` makes it."""

    name = serializers.CharField(
        help_text='The event\'s name, or its template ("user.{.username}").'
    )
    description = serializers.CharField(help_text="What the event means (may be empty).")
    model = serializers.CharField(
        allow_null=True, help_text='The label of the model that sends it ("blog.Article").'
    )
    schema = serializers.JSONField(
        allow_null=True, help_text="The JSON Schema of the event's data, when it is known."
    )
    example = serializers.JSONField(
        allow_null=True, help_text="An example of the event's data, when its schema is known."
    )


class EventCatalog(generics.ListAPIView[Any]):
    """``GET /hooks/events/``: every event the caller can subscribe to.

    The events of the catalog (:mod:`thorn.catalog`); with
    ``THORN_EVENT_CHOICES``, those a choice matches.  Each is
    ``{"name", "description", "model", "schema", "example"}`` (see
    :func:`describe`).  The same authentication and permissions as the
    subscriptions apply.

    .. versionadded:: 2.0
    """

    # A list, not a queryset: the project's pagination and filter backends do not apply.
    pagination_class = None
    filter_backends = ()
    serializer_class = EventSerializer

    def get_permissions(self) -> list[permissions.BasePermission]:
        return [cls() for cls in permission_classes()]

    def get_queryset(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The events, described."""
        choices = [choice for choice, _label in event_choices(current_app().settings)]
        return [describe(entry) for entry in catalog(choices)]
