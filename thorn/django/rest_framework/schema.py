"""The OpenAPI 3 schema of the ``/hooks/`` API.

thorn ships the schema of its API as ``openapi.json``, next to this module
(:data:`SCHEMA_PATH`).  :func:`load_schema` reads it and :func:`schema_view`
serves it, neither needs drf-spectacular.  Mount the view next to the API:

.. code-block:: python

    from django.urls import include, path

    from thorn.django.rest_framework.schema import schema_view

    urlpatterns = [
        path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
        path("hooks/schema/", schema_view, name="webhook-schema"),
    ]

The shipped schema describes the API as the default configuration serves
it: mounted at ``/hooks/``, with Django REST Framework's default
authentication (session and basic), parsers, renderers and no pagination,
the default subscriber model and a user model with an integer primary key.
A project that changes any of these can generate the schema of its own
configuration with :func:`generate_schema` (``pip install thorn[openapi]``).

``make openapi`` regenerates the shipped file (``python -m
thorn.django.rest_framework.schema --output PATH``).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from thorn.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

__all__ = [
    "SCHEMA_CONTENT_TYPE",
    "SCHEMA_PATH",
    "SCHEMA_TITLE",
    "SCHEMA_VERSION",
    "SchemaGenerationWarning",
    "dump_schema",
    "generate_schema",
    "load_schema",
    "main",
    "schema_view",
]

#: The shipped schema, ``openapi.json`` next to this module.
SCHEMA_PATH = Path(__file__).resolve().with_name("openapi.json")
#: Media type of an OpenAPI document in JSON.
SCHEMA_CONTENT_TYPE = "application/vnd.oai.openapi+json"
#: ``info.title`` of the schema.
SCHEMA_TITLE = "thorn webhooks API"
#: ``info.version`` of the schema, the version of the API and not of thorn,
#: so that the shipped file does not change when thorn's version does.
SCHEMA_VERSION = "2"

_DESCRIPTION = (
    "Subscribe URLs to the events of this site, list your subscriptions, "
    "change them and unsubscribe; see each subscription's deliveries and their "
    "attempts, redeliver one, or recover what failed since a time; read a subscription's "
    "deliveries as a live stream. Every request "
    "must be authenticated; each user sees and changes only their own subscriptions."
)

#: drf-spectacular settings pinned while generating (on top of its defaults).
_SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": SCHEMA_TITLE,
    "VERSION": SCHEMA_VERSION,
    "DESCRIPTION": _DESCRIPTION,
    # Request bodies get components of their own, without the read-only
    # fields (``SubscriberRequest``), so that clients and code generators
    # do not see ``id`` or ``created_at`` as required input.
    "COMPONENT_SPLIT_REQUEST": True,
}

#: The operations: ``(route, method)`` -> ``(operationId, summary, description)``, where
#: the route is what :func:`_route` says.
_OPERATIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("list", "GET"): (
        "hooks_list",
        "List your subscriptions",
        "The subscriptions of the authenticated user, without their HMAC secrets.",
    ),
    ("list", "POST"): (
        "hooks_create",
        "Subscribe a URL to an event",
        "Create a subscription owned by the authenticated user. The URL must be http(s) "
        "and be accepted by the recipient validators of the site. Without an "
        "``hmac_secret``, a random secret is chosen and returned. The ``Location`` "
        "header of the response is the URL of the new subscription.",
    ),
    ("detail", "GET"): (
        "hooks_retrieve",
        "Show a subscription",
        "One subscription of the authenticated user, with its HMAC secret.",
    ),
    ("detail", "PUT"): (
        "hooks_update",
        "Replace a subscription",
        "Change a subscription of the authenticated user; ``event`` is required, and so is "
        '``url`` unless ``delivery`` is ``"stream"``.',
    ),
    ("detail", "PATCH"): (
        "hooks_partial_update",
        "Change a subscription",
        "Change some fields of a subscription of the authenticated user.",
    ),
    ("detail", "POST"): (
        "hooks_post_update",
        "Change a subscription (POST)",
        "The same as ``PATCH``: change some fields of a subscription of the authenticated "
        "user. Thorn 1.5's documentation lists ``POST|PATCH`` for updates.",
    ),
    ("detail", "DELETE"): (
        "hooks_destroy",
        "Unsubscribe",
        "Delete a subscription of the authenticated user.",
    ),
    ("deliveries", "GET"): (
        "hooks_deliveries_list",
        "List a subscription's deliveries",
        "The deliveries of a subscription of the authenticated user, newest first, a page at "
        "a time (follow ``next``). Filter with ``status`` and ``event``, each of which may be "
        "repeated. Each delivery's ``id`` is the ``Hook-Delivery`` header of its attempts.",
    ),
    ("delivery", "GET"): (
        "hooks_deliveries_retrieve",
        "Show a delivery and its attempts",
        "One delivery of a subscription of the authenticated user: its payload, and every "
        "attempt with its status code, duration, error, response headers and the start of "
        "the response body (as text).",
    ),
    ("redeliver", "POST"): (
        "hooks_deliveries_redeliver",
        "Redeliver a delivery",
        "Attempt a delivery again, whatever its status, with the same ``Hook-Delivery`` id. "
        "Answers 202 with the delivery (``retrying``, or ``pending``); the attempt is made "
        "once the answer is sent, and shows in the delivery's attempts. 409 when the "
        "subscription is disabled, or the delivery is being attempted right now.",
    ),
    ("recover", "POST"): (
        "hooks_recover",
        "Redeliver what failed since a time",
        "Make every failed and cancelled delivery of a subscription of the authenticated "
        "user made since ``since`` due again, at most 10,000 per request (``more`` tells "
        "there are more: post again). Answers 202; the deliveries are sent in the "
        "background, with their ids. 409 when the subscription is disabled.",
    ),
    ("ping", "POST"): (
        "hooks_ping",
        "Ping a subscription",
        "Send a ``thorn.ping`` event to this subscription only, whatever its pattern and "
        "filter: signed and recorded like any delivery, attempted once. Answers 202 with the "
        "delivery's id and URL; the attempt is made once the answer is sent. 409 when the "
        "subscription is disabled, expired, or not verified.",
    ),
    ("verify", "POST"): (
        "hooks_verify",
        "Verify the intent of a subscription again",
        "Send the WebSub challenge (``GET`` with ``hub.mode=subscribe`` and "
        "``hub.challenge``) to the subscription's URL again. Answers 200 with the "
        "subscription: ``verified``, and ``verification_error`` when the URL did not answer "
        "2xx with the challenge.",
    ),
    ("events", "GET"): (
        "hooks_events_list",
        "List the events you can subscribe to",
        "The event catalog: each event's name (a template when it has placeholders), "
        "description and model, and, when a serializer builds its ``data``, the JSON Schema "
        "of ``data`` and an example.",
    ),
    ("stream", "GET"): (
        "hooks_stream",
        "Read a subscription's live stream",
        "The deliveries of a subscription of the authenticated user as Server-Sent Events "
        "(``text/event-stream``), as they are recorded: ``id`` is the delivery id, ``event`` "
        "the event name, and ``data`` a JSON object with the ``body`` and the ``headers`` "
        "(signed) of the delivery's POST. ``Last-Event-ID`` resumes after that delivery. "
        "A comment is sent every 15 seconds. 429 when the user holds the most streams "
        "they may open at once.",
    ),
    ("rotate-secret", "POST"): (
        "hooks_rotate_secret",
        "Rotate the secret of a subscription",
        "Give a subscription of the authenticated user a new random secret, returned as "
        "``hmac_secret`` and as ``signing_secret``. For the site's grace period (24 hours by "
        "default), deliveries are signed with the old secret too: ``webhook-signature`` "
        "carries a signature under each. An ``ed25519`` subscription also gets a new key pair "
        "(its new ``signing_public_key``), and both private keys sign ``webhook-signature`` "
        "for the grace period; a 400 when the server cannot make Ed25519 keys.",
    ),
}


#: Routes (see :func:`_route`) named by the last segment of their path.
_ACTIONS = (
    "rotate-secret",
    "redeliver",
    "recover",
    "deliveries",
    "ping",
    "verify",
    "events",
    "stream",
)


def _route(path: str) -> str:
    """Which route ``path`` is: ``list``, ``detail``, ``delivery`` or one of :data:`_ACTIONS`."""
    last = path.rstrip("/").rpartition("/")[2]
    if last in _ACTIONS:
        return last
    if "/deliveries/" in path:
        return "delivery"
    return "detail" if "{" in path else "list"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: ``{"detail": "..."}``, the body of DRF's errors.
_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
#: Messages: one, or a list.
_MESSAGES = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
#: A 400: ``{"detail": "..."}`` for a body that cannot be parsed, else messages per field
#: (for a ``filter``, messages per key of the filter).
_INVALID = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [
            *_MESSAGES["oneOf"],
            {"type": "object", "additionalProperties": _MESSAGES},
        ]
    },
}
#: The error responses, by status.
_ERRORS: dict[int, dict[str, Any]] = {
    400: _json(_INVALID, "Invalid: a message per field (or ``detail`` for a malformed body)."),
    403: _json(_DETAIL, "Not authenticated, or not allowed by the site's permissions."),
    404: _json(_DETAIL, "No such subscription (or delivery) among the caller's."),
    409: _json(
        _DETAIL,
        "The subscription is disabled (or, for a ping, expired or not verified), "
        "or the delivery is being attempted.",
    ),
    413: _json(_DETAIL, "The request body is larger than 16 KiB."),
    429: _json(_DETAIL, "The caller holds the most live streams they may open at once."),
}
#: The errors each operation may answer, besides 403.
_OPERATION_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("list", "POST"): (400, 413),
    ("detail", "GET"): (404,),
    ("detail", "PUT"): (400, 404, 413),
    ("detail", "PATCH"): (400, 404, 413),
    ("detail", "POST"): (400, 404, 413),
    ("detail", "DELETE"): (404,),
    ("rotate-secret", "POST"): (400, 404, 413),
    ("deliveries", "GET"): (400, 404),
    ("delivery", "GET"): (404,),
    ("redeliver", "POST"): (404, 409, 413),
    ("recover", "POST"): (400, 404, 409, 413),
    ("ping", "POST"): (404, 409, 413),
    ("verify", "POST"): (404, 413),
    ("stream", "GET"): (400, 404, 429),
}
#: The 200 of a live stream: Server-Sent Events.
_EVENT_STREAM = {
    "description": "Server-Sent Events, one per delivery, and a comment every 15 seconds.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
#: Operations that answer 202 Accepted: the work is done after the answer.
_ACCEPTED = {("redeliver", "POST"), ("recover", "POST"), ("ping", "POST")}


class SchemaGenerationWarning(UserWarning):
    """A warning or error that drf-spectacular reported while generating the schema.

    drf-spectacular prints these and goes on; :func:`generate_schema` issues
    them as Python warnings instead, so that tests (and ``make openapi``)
    can turn them into errors.
    """


@functools.cache
def _schema_bytes() -> bytes:
    return SCHEMA_PATH.read_bytes()


def load_schema() -> dict[str, Any]:
    """Return the shipped schema (a new dict on each call).

    It describes the default configuration (see the module's documentation);
    drf-spectacular is not needed to read it.
    """
    schema: dict[str, Any] = json.loads(_schema_bytes())
    return schema


@require_safe
def schema_view(request: HttpRequest) -> HttpResponse:
    """Serve the shipped schema as JSON (``application/vnd.oai.openapi+json``).

    A plain Django view for ``GET`` and ``HEAD``: the schema documents the
    API and holds no data, so it needs no authentication.
    """
    return HttpResponse(_schema_bytes(), content_type=SCHEMA_CONTENT_TYPE)


def dump_schema(schema: dict[str, Any]) -> str:
    """Return ``schema`` as the shipped file has it: sorted keys, indented, final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate_schema(prefix: str = "hooks/") -> dict[str, Any]:
    """Generate the schema of the API with drf-spectacular, for this project's settings.

    Only thorn's URL patterns are described, mounted at ``prefix``.  The
    schema depends on what the views depend on at run time: Django REST
    Framework's settings (authentication, parsers, renderers, pagination),
    ``THORN_SUBSCRIBER_MODEL`` and the user model.  It does not depend on
    the project's schema settings:

    * each view gets thorn's drf-spectacular ``AutoSchema`` (which also
      sets the operation ids, summaries and descriptions) on its instance,
      whatever ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` is: DRF's global
      settings are left alone;
    * drf-spectacular's settings are its defaults plus thorn's title,
      version and description, whatever ``SPECTACULAR_SETTINGS`` says.
      They are global, so they are patched for the duration of the call
      and restored after it: do not generate other schemas concurrently
      in the same process.

    The warnings and errors drf-spectacular reports are issued as
    :exc:`SchemaGenerationWarning` (instead of being printed).

    Raises:
        ImproperlyConfigured: if drf-spectacular is not installed
            (``pip install thorn[openapi]``).
    """
    try:
        from drf_spectacular.drainage import GENERATOR_STATS
        from drf_spectacular.generators import SchemaGenerator
    except ImportError as exc:
        raise ImproperlyConfigured(
            "Generating the OpenAPI schema needs drf-spectacular: pip install thorn[openapi]"
        ) from exc
    from django.urls import include, path

    schema_class = _auto_schema_class()

    class Generator(SchemaGenerator):
        def create_view(self, callback: Any, method: str, request: Any = None) -> Any:
            view = super().create_view(callback, method, request)  # type: ignore[no-untyped-call]
            # Per view instance (ViewInspector is a descriptor with __set__);
            # drf-spectacular keeps the schema alive and the view weakly.
            self._set_schema_to_view(view, schema_class())  # type: ignore[no-untyped-call]
            return view

    urls = include("thorn.django.rest_framework.urls", namespace="webhook")
    generator = Generator(patterns=[path(prefix, urls)])  # type: ignore[no-untyped-call]
    with _spectacular_settings(), GENERATOR_STATS.silence():
        schema: dict[str, Any] = generator.get_schema(  # type: ignore[no-untyped-call]
            request=None, public=True
        )
        messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    for message in messages:
        warnings.warn(message, SchemaGenerationWarning, stacklevel=2)
    return schema


@contextmanager
def _spectacular_settings() -> Iterator[None]:
    """Set drf-spectacular's settings to its defaults plus thorn's, then restore them.

    Unlike ``drf_spectacular.settings.patched_settings``, this restores
    exactly what it changed, so it nests.
    """
    from drf_spectacular.settings import SPECTACULAR_DEFAULTS, spectacular_settings
    from rest_framework.settings import perform_import

    values = {
        name: value
        for name, value in SPECTACULAR_DEFAULTS.items()
        if not name.startswith("SERVE_") and name != "DEFAULT_GENERATOR_CLASS"
    }
    values.update(_SPECTACULAR_SETTINGS)
    saved = {name: getattr(spectacular_settings, name) for name in values}
    try:
        for name, value in values.items():
            if name in spectacular_settings.import_strings:
                value = perform_import(value, name)
            setattr(spectacular_settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(spectacular_settings, name, value)


def _auto_schema_class() -> type[AutoSchema]:
    """Return thorn's ``AutoSchema`` (defined here: drf-spectacular is optional)."""
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.plumbing import force_instance
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    class ThornAutoSchema(AutoSchema):
        """Operation ids, summaries and descriptions per operation; ``Location`` on 201."""

        def _operation(self) -> tuple[str, str, str] | None:
            return _OPERATIONS.get((_route(self.path), self.method.upper()))

        def get_operation_id(self) -> str:
            operation = self._operation()
            return operation[0] if operation else super().get_operation_id()

        def get_summary(self) -> str | None:
            operation = self._operation()
            return operation[1] if operation else super().get_summary()

        def get_description(self) -> str:  # type: ignore[override]
            operation = self._operation()
            return operation[2] if operation else super().get_description()

        def get_tags(self) -> list[str]:
            return ["hooks"]

        def _map_serializer_field(self, field: Any, direction: Any, *args: Any) -> Any:
            from thorn.django.rest_framework.serializers import FilterField

            schema = super()._map_serializer_field(field, direction, *args)  # type: ignore[no-untyped-call]
            if isinstance(field, FilterField):
                # Any JSON to DRF, but an object (of payload paths) to clients.
                schema = {**schema, "type": "object", "additionalProperties": True}
            return schema

        def get_request_serializer(self) -> Any:
            if _route(self.path) in ("rotate-secret", "redeliver", "ping", "verify"):
                return None  # no request body
            serializer = super().get_request_serializer()
            if self.method == "POST" and _route(self.path) == "detail" and serializer is not None:
                # POST to a subscription updates it like PATCH: a partial body.
                serializer = copy.copy(force_instance(serializer))  # type: ignore[no-untyped-call]
                serializer.partial = True
            return serializer

        def _get_response_bodies(self, direction: Any = "response") -> Any:
            responses = super()._get_response_bodies(direction)
            operation = (_route(self.path), self.method.upper())
            if operation in _ACCEPTED:
                responses = {"202": responses.pop("200"), **responses}
            if operation == ("stream", "GET"):
                responses = {"200": copy.deepcopy(_EVENT_STREAM)}
            for code in (403, *_OPERATION_ERRORS.get(operation, ())):
                responses[str(code)] = copy.deepcopy(_ERRORS[code])
            return responses

        def get_override_parameters(self) -> list[Any]:
            if _route(self.path) == "stream":
                resume = "Resume after this delivery id (the last event received)."
                return [
                    OpenApiParameter(
                        "Last-Event-ID",
                        OpenApiTypes.UUID,
                        OpenApiParameter.HEADER,
                        description=resume,
                    ),
                    OpenApiParameter(
                        "last_event_id",
                        OpenApiTypes.UUID,
                        description=f"{resume} The header wins when both are sent.",
                    ),
                ]
            if _route(self.path) == "deliveries":
                return [
                    OpenApiParameter(
                        "status",
                        str,
                        enum=_statuses(),
                        many=True,
                        description="Only the deliveries of this status (repeat for several).",
                    ),
                    OpenApiParameter(
                        "event",
                        str,
                        many=True,
                        description="Only the deliveries of this event (repeat for several).",
                    ),
                ]
            if self.method == "POST" and "{" not in self.path:
                return [
                    OpenApiParameter(
                        "Location",
                        OpenApiTypes.URI,
                        OpenApiParameter.HEADER,
                        description="URL of the new subscription.",
                        response=[201],
                    )
                ]
            return super().get_override_parameters()

    return ThornAutoSchema


def _statuses() -> list[str]:
    from thorn.django.models import State

    return [value for value, _label in State.choices]


def _configure_default_settings() -> None:
    """Configure Django with the default settings the shipped schema describes."""
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "thorn.django",
        ],
        USE_TZ=True,
    )
    django.setup()
    # thorn detects Django by DJANGO_SETTINGS_MODULE, which is not set here.
    from thorn.app import Thorn
    from thorn.environment.django import DjangoEnv

    Thorn(set_as_current=False, env=DjangoEnv()).set_default()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated schema to ``--output`` (or standard output); return 0.

    Uses ``DJANGO_SETTINGS_MODULE`` when it is set, else the default
    settings that the shipped schema describes.  Warnings of the generation
    are errors.  ``make openapi`` runs this to regenerate the shipped file.
    """
    parser = argparse.ArgumentParser(
        prog="python -m thorn.django.rest_framework.schema",
        description="Generate the OpenAPI schema of thorn's /hooks/ API.",
    )
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--prefix", default="hooks/", help="where the API is mounted")
    args = parser.parse_args(argv)

    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        _configure_default_settings()
    else:
        import django

        django.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SchemaGenerationWarning)
        text = dump_schema(generate_schema(prefix=args.prefix))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
