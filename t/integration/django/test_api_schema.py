"""The OpenAPI schema of the ``/hooks/`` API: shipped, up to date, valid, served and honoured.

The fuzzing tests drive the real API (DRF's APIClient, an authenticated
user) with request bodies and paths generated from the shipped schema by
hypothesis: values that follow each property's schema (type, enum, format,
length bounds), plus arbitrary JSON for every field (wrong types, nulls,
NaN, huge and odd strings, nested objects), unknown and read-only fields,
bodies that are not objects or not JSON at all, in every media type the
schema accepts.  Every response must be below 500 and have a status the
API may answer; a 200 or 201 must validate against the response schema of
its operation (strictly: no undocumented field either).

Each example runs in a savepoint that is rolled back, so examples do not
see each other's rows.  The recipient validators are off (the Django
conftest), so subscribing resolves no host, and no article is saved, so
nothing is delivered; the fuzzing tests also make any name resolution or
connection an error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema  # type: ignore[import-untyped]
import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import include, path
from django.utils.dateparse import parse_datetime
from drf_spectacular.settings import patched_settings, spectacular_settings
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

import thorn
from thorn.django.models import (
    CONTENT_TYPES,
    AttemptRecord,
    DeliveryRecord,
    MessageRecord,
    State,
    Subscriber,
)
from thorn.django.rest_framework.schema import (
    SCHEMA_CONTENT_TYPE,
    SCHEMA_PATH,
    SchemaGenerationWarning,
    dump_schema,
    generate_schema,
    load_schema,
    schema_view,
)
from thorn.django.rest_framework.views import SubscriberList
from thorn.exceptions import ImproperlyConfigured
from thorn.messages import delivery_id
from thorn.testing import capture_webhooks

#: The URLconf of the tests of ``schema_view`` (``pytest.mark.urls`` names this module).
urlpatterns = [
    path("hooks/", include("thorn.django.rest_framework.urls", namespace="webhook")),
    path("hooks/schema/", schema_view, name="webhook-schema"),
]

SCHEMA = load_schema()
#: The statuses of a delivery.
STATUS_VALUES = [value for value, _label in State.choices]
LIST = "/hooks/"
DETAIL = "/hooks/{uuid}/"
ROTATE = "/hooks/{uuid}/rotate-secret/"
DELIVERIES = "/hooks/{uuid}/deliveries/"
DELIVERY = "/hooks/{uuid}/deliveries/{delivery}/"
REDELIVER = "/hooks/{uuid}/deliveries/{delivery}/redeliver/"
RECOVER = "/hooks/{uuid}/recover/"
PING = "/hooks/{uuid}/ping/"
VERIFY = "/hooks/{uuid}/verify/"
EVENTS = "/hooks/events/"
STREAM = "/hooks/{uuid}/stream/"
#: The fields a client may send in a subscription.
WRITABLE = {
    "event",
    "url",
    "content_type",
    "hmac_secret",
    "hmac_digest",
    "signing_algorithm",
    "is_active",
    "filter",
    "lease_seconds",
    "delivery",
}

#: Bounds of the fuzzing: the whole file runs in a few seconds.
FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the shipped file -----------------------------------------------------


def test_shipped_schema_is_up_to_date():
    """The shipped file is what drf-spectacular generates now, byte for byte."""
    generated = dump_schema(generate_schema())
    assert SCHEMA_PATH.read_text(encoding="utf-8") == generated, (
        "thorn/django/rest_framework/openapi.json is out of date: run make openapi"
    )


def test_shipped_schema_is_valid_openapi_3():
    assert SCHEMA["openapi"].startswith("3.")
    validate_schema(SCHEMA)  # type: ignore[no-untyped-call]


def test_schema_describes_the_sixteen_operations():
    operations = {
        (route, method): operation
        for route, methods in SCHEMA["paths"].items()
        for method, operation in methods.items()
    }
    assert {
        (LIST, "get"),
        (LIST, "post"),
        (DETAIL, "get"),
        (DETAIL, "put"),
        (DETAIL, "patch"),
        (DETAIL, "post"),
        (DETAIL, "delete"),
        (ROTATE, "post"),
        (DELIVERIES, "get"),
        (DELIVERY, "get"),
        (REDELIVER, "post"),
        (RECOVER, "post"),
        (PING, "post"),
        (VERIFY, "post"),
        (EVENTS, "get"),
        (STREAM, "get"),
    } == set(operations)
    ids = [operation["operationId"] for operation in operations.values()]
    assert len(ids) == len(set(ids))
    assert all(operation["summary"] for operation in operations.values())
    assert {"cookieAuth", "basicAuth"} == set(SCHEMA["components"]["securitySchemes"])
    assert all(operation["security"] for operation in operations.values())


def test_schema_version_is_the_apis_not_thorns():
    assert "2" == SCHEMA["info"]["version"]
    assert thorn.__version__ != SCHEMA["info"]["version"]


def test_list_items_have_no_secret():
    items = response_schema(LIST, "get", 200)
    assert "array" == items["type"]
    listed = component(items["items"])
    assert "hmac_secret" not in listed["properties"]
    assert "hmac_secret" in component(response_schema(LIST, "post", 201))["properties"]


@pytest.mark.parametrize(
    ("route", "method", "status"),
    [
        (LIST, "post", 201),
        (DETAIL, "get", 200),
        (DETAIL, "put", 200),
        (DETAIL, "patch", 200),
        (DETAIL, "post", 200),
        (ROTATE, "post", 200),
    ],
)
def test_server_side_fields_are_read_only(route, method, status):
    shown = component(response_schema(route, method, status))["properties"]
    for name in ("id", "user", "created_at", "updated_at", "subscription", "signing_secret"):
        assert shown[name]["readOnly"] is True, name
    assert shown["signing_public_key"]["readOnly"] is True
    assert not {"signing_private_key", "previous_signing_private_key"} & set(shown)
    for name in ("disabled_reason", "disabled_at", "failing_since", "last_delivery"):
        assert shown[name]["readOnly"] is True, name
    for name in ("expires_at", "verified", "verification_error", "verification_attempted_at"):
        assert shown[name]["readOnly"] is True, name
    assert "lease_seconds" not in shown  # write-only
    for name in WRITABLE - {"lease_seconds"}:
        assert not shown[name].get("readOnly"), name


@pytest.mark.parametrize(
    ("route", "method"), [(LIST, "post"), (DETAIL, "put"), (DETAIL, "patch"), (DETAIL, "post")]
)
def test_request_bodies_hold_only_writable_fields(route, method):
    body = request_component(route, method)
    assert WRITABLE == set(body["properties"])
    partial = route == DETAIL and method in ("patch", "post")
    # The URL is required unless "delivery" is "stream": the serializer checks it.
    assert ([] if partial else ["event"]) == body.get("required", [])


def test_rotate_secret_takes_no_body_and_answers_the_subscription():
    """``POST /hooks/{uuid}/rotate-secret/``: no body; a 200 with both forms of the secret."""
    operation = SCHEMA["paths"][ROTATE]["post"]
    assert "requestBody" not in operation
    assert ["200"] == [code for code in operation["responses"] if code.startswith("2")]
    shown = component(response_schema(ROTATE, "post", 200))["properties"]
    assert {"hmac_secret", "signing_secret", "signing_public_key"} <= set(shown)


def test_post_to_a_subscription_is_described_as_patch():
    """``POST /hooks/{uuid}/`` takes and answers what ``PATCH`` does (an update, not a create)."""
    operations = SCHEMA["paths"][DETAIL]
    assert operations["patch"]["requestBody"] == operations["post"]["requestBody"]
    assert operations["patch"]["responses"] == operations["post"]["responses"]


def test_content_type_is_an_enum_of_the_model_choices():
    for name in ("Subscriber", "SubscriberList", "SubscriberRequest", "PatchedSubscriberRequest"):
        prop = resolve(SCHEMA["components"]["schemas"][name]["properties"]["content_type"])
        assert list(CONTENT_TYPES) == prop["enum"], name


def test_created_subscription_has_a_location_header():
    headers = SCHEMA["paths"][LIST]["post"]["responses"]["201"]["headers"]
    assert {"format": "uri", "type": "string"} == headers["Location"]["schema"]


def test_every_operation_documents_its_errors():
    """403 everywhere; 404 on every subscription's URL; 400 and 413 where a body is read."""
    for route, methods in SCHEMA["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert "403" in codes, (route, method)
            assert ("404" in codes) == ("{uuid}" in route), (route, method)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (route, method)
            for code in codes - {"200", "201", "202", "204"}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert "object" == schema["type"], (route, method, code)


def test_redelivery_recovery_and_ping_answer_202():
    """They are accepted, not done: 202, and 409 for a disabled subscription."""
    for route in (REDELIVER, RECOVER, PING):
        responses = SCHEMA["paths"][route]["post"]["responses"]
        assert ["202"] == [code for code in responses if code.startswith("2")]
        assert "409" in responses
    assert "requestBody" not in SCHEMA["paths"][REDELIVER]["post"]
    assert "requestBody" not in SCHEMA["paths"][PING]["post"]
    assert {"id", "delivery"} == set(component(response_schema(PING, "post", 202))["properties"])


def test_verify_takes_no_body_and_answers_the_subscription():
    """``POST /hooks/{uuid}/verify/``: no body; a 200 with ``verified``."""
    operation = SCHEMA["paths"][VERIFY]["post"]
    assert "requestBody" not in operation
    assert "verified" in component(response_schema(VERIFY, "post", 200))["properties"]


def test_the_catalog_is_a_list_of_events():
    """``GET /hooks/events/``: an array of name, description, model, schema and example."""
    listed = response_schema(EVENTS, "get", 200)
    assert "array" == listed["type"]
    assert {"name", "description", "model", "schema", "example"} == set(
        component(listed["items"])["properties"]
    )
    assert ["since"] == request_component(RECOVER, "post")["required"]


def test_the_stream_is_server_sent_events_and_may_resume():
    """GET /hooks/<uuid>/stream/: a text/event-stream, Last-Event-ID, 400/404/429 as JSON."""
    operation = SCHEMA["paths"][STREAM]["get"]
    assert ["text/event-stream"] == list(operation["responses"]["200"]["content"])
    assert {"200", "400", "403", "404", "429"} == set(operation["responses"])
    parameters = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert {("path", "uuid"), ("header", "Last-Event-ID"), ("query", "last_event_id")} == parameters


def test_deliveries_are_paginated_by_cursor_and_filtered():
    parameters = {p["name"]: p for p in SCHEMA["paths"][DELIVERIES]["get"]["parameters"]}
    assert {"uuid", "cursor", "page_size", "status", "event"} == set(parameters)
    statuses = parameters["status"]["schema"]["items"]["enum"]
    expected = ["pending", "retrying", "succeeded", "failed", "cancelled", "streamed"]
    assert sorted(expected) == statuses
    page = component(response_schema(DELIVERIES, "get", 200))
    assert {"next", "previous", "results"} == set(page["properties"])


# -- generate_schema ------------------------------------------------------


def test_generation_ignores_the_projects_schema_settings(settings):
    """Neither DEFAULT_SCHEMA_CLASS nor drf-spectacular's settings change the schema."""
    settings.REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "rest_framework.schemas.openapi.AutoSchema"}
    title = spectacular_settings.TITLE
    patches = {"TITLE": "Project", "COMPONENT_SPLIT_REQUEST": False, "OAS_VERSION": "3.1.0"}
    with patched_settings(patches):
        assert SCHEMA == generate_schema()
        # ... and the project's values are back afterwards.
        assert "Project" == spectacular_settings.TITLE
        assert spectacular_settings.COMPONENT_SPLIT_REQUEST is False
    assert title == spectacular_settings.TITLE


def test_generation_at_another_prefix():
    generated = generate_schema(prefix="api/v2/hooks/")
    assert {
        "/api/v2/hooks/",
        "/api/v2/hooks/{uuid}/",
        "/api/v2/hooks/{uuid}/rotate-secret/",
        "/api/v2/hooks/{uuid}/deliveries/",
        "/api/v2/hooks/{uuid}/deliveries/{delivery}/",
        "/api/v2/hooks/{uuid}/deliveries/{delivery}/redeliver/",
        "/api/v2/hooks/{uuid}/recover/",
        "/api/v2/hooks/{uuid}/ping/",
        "/api/v2/hooks/{uuid}/verify/",
        "/api/v2/hooks/events/",
        "/api/v2/hooks/{uuid}/stream/",
    } == set(generated["paths"])
    assert SCHEMA["components"] == generated["components"]


def test_drf_spectacular_problems_are_warnings(monkeypatch):
    def broken(self):
        raise RuntimeError("no serializer")

    monkeypatch.setattr(SubscriberList, "get_serializer_class", broken)
    with pytest.warns(SchemaGenerationWarning, match="no serializer"):
        generate_schema()


def test_generation_without_drf_spectacular(monkeypatch):
    monkeypatch.setitem(sys.modules, "drf_spectacular.generators", None)
    with pytest.raises(ImproperlyConfigured, match=r"pip install thorn\[openapi\]"):
        generate_schema()


def test_main_writes_the_shipped_file_without_a_settings_module(tmp_path):
    """``make openapi``: the default settings give the shipped file."""
    output = tmp_path / "openapi.json"
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-m", "thorn.django.rest_framework.schema", "--output", str(output)],
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert SCHEMA_PATH.read_text(encoding="utf-8") == output.read_text(encoding="utf-8")


# -- schema_view ----------------------------------------------------------


@pytest.mark.urls(__name__)
def test_schema_view_serves_the_shipped_schema_to_anyone(client):
    response = client.get("/hooks/schema/")
    assert 200 == response.status_code
    assert SCHEMA_CONTENT_TYPE == response["Content-Type"]
    assert SCHEMA == json.loads(response.content)
    assert 200 == client.head("/hooks/schema/").status_code


@pytest.mark.urls(__name__)
def test_schema_view_is_read_only(client):
    assert 405 == client.post("/hooks/schema/").status_code


def test_load_schema_returns_a_new_dict():
    schema = load_schema()
    schema["paths"].clear()
    assert load_schema()["paths"]


# -- fuzzing the API against the schema -----------------------------------


def test_fuzzing_generates_every_field_of_the_request_bodies():
    """The strategies below know how to generate every property the schema has."""
    for route, method in (
        (LIST, "post"),
        (DETAIL, "put"),
        (DETAIL, "patch"),
        (DETAIL, "post"),
        (RECOVER, "post"),
    ):
        for name, prop in request_component(route, method)["properties"].items():
            conforming(name, prop)


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_subscribe(data, fuzz):
    """``POST /hooks/``: never a 500; a 201 is a documented subscription of the caller."""
    media_type, body = data.draw(request_bodies(LIST, "post"), label="request")
    response = fuzz.call("post", LIST, media_type, body)
    fuzz.check(response, LIST, "post", {201, 400, 413})
    if response.status_code == 201:
        created = response.json()
        assert created["subscription"] == response["Location"]
        assert fuzz.user.pk == created["user"]


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_update(data, fuzz):
    """``PUT``, ``PATCH`` and ``POST /hooks/{uuid}/``: never a 500; a 200 is documented."""
    method = data.draw(st.sampled_from(["put", "patch", "post"]), label="method")
    target = data.draw(targets(), label="target")
    media_type, body = data.draw(request_bodies(DETAIL, method), label="request")
    response = fuzz.call(method, fuzz.path(target), media_type, body)
    fuzz.check(response, DETAIL, method, {200, 400, 404, 413})
    if response.status_code == 200:
        assert str(fuzz.own.uuid) == response.json()["id"]


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_show_and_delete(data, fuzz):
    """``GET`` and ``DELETE /hooks/{uuid}/`` with any path: a 200, a 204 or a 404."""
    method = data.draw(st.sampled_from(["get", "delete"]), label="method")
    target = data.draw(targets(), label="target")
    response = fuzz.call(method, fuzz.path(target), None, None)
    fuzz.check(response, DETAIL, method, {200, 204, 404})
    if target not in OWN:
        assert 404 == response.status_code


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_rotate_secret(data, fuzz):
    """``POST /hooks/{uuid}/rotate-secret/`` with any path and body: a documented 200, or a 404."""
    target = data.draw(targets(), label="target")
    media_type, body = data.draw(request_bodies(DETAIL, "patch"), label="ignored body")
    response = fuzz.call("post", fuzz.path(target) + "rotate-secret/", media_type, body)
    fuzz.check(response, ROTATE, "post", {200, 404, 413})
    if target not in OWN:
        assert response.status_code in (404, 413)
    elif response.status_code == 200:
        assert str(fuzz.own.uuid) == response.json()["id"]


#: Query parameters of the deliveries list, known and not.
QUERY_NAMES = st.sampled_from(["status", "event", "cursor", "page_size", "ordering", "x"])
#: Text without lone surrogates (which no client can put in a URL).
URL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


def delivery_targets() -> st.SearchStrategy[str]:
    """A delivery in a path: mostly the records, else any segment."""
    return mostly(
        st.sampled_from(["own", "other"]),
        st.uuids().map(str) | st.text(max_size=40).map(lambda text: quote(text, safe="")),
    )


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_deliveries(data, fuzz):
    """``GET /hooks/{uuid}/deliveries/`` with any query: a documented 200, a 400 or a 404."""
    target = data.draw(targets(), label="target")
    values = st.sampled_from([*STATUS_VALUES, "article.created", "0", "-1", "100000"]) | URL_TEXT
    query = data.draw(st.lists(st.tuples(QUERY_NAMES, values), max_size=4), label="query")
    path = fuzz.path(target) + "deliveries/" + (f"?{urlencode(query)}" if query else "")
    response = fuzz.call("get", path, None, None)
    fuzz.check(response, DELIVERIES, "get", {200, 400, 404})
    if target not in OWN:
        assert 404 == response.status_code
    elif response.status_code == 200:
        own = str(fuzz.deliveries["own"].id)
        assert {item["id"] for item in response.json()["results"]} <= {own}


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_delivery(data, fuzz):
    """``GET /hooks/{uuid}/deliveries/{delivery}/``: only the caller's delivery is a 200."""
    target = data.draw(targets(), label="target")
    delivery = data.draw(delivery_targets(), label="delivery")
    response = fuzz.call("get", fuzz.delivery_path(target, delivery), None, None)
    fuzz.check(response, DELIVERY, "get", {200, 404})
    assert (response.status_code == 200) == (target in OWN and delivery == "own")


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_redeliver(data, fuzz):
    """``POST .../redeliver/`` with any path and body: a documented 202, or a 404 (413)."""
    target = data.draw(targets(), label="target")
    delivery = data.draw(delivery_targets(), label="delivery")
    media_type, body = data.draw(request_bodies(DETAIL, "patch"), label="ignored body")
    with capture_webhooks() as captured:
        response = fuzz.call(
            "post", fuzz.delivery_path(target, delivery) + "redeliver/", media_type, body
        )
    fuzz.check(response, REDELIVER, "post", {202, 404, 413})
    if response.status_code == 202:
        assert (target, delivery) in {(own, "own") for own in OWN}
        assert [str(fuzz.deliveries["own"].id)] == [c.header("Hook-Delivery") for c in captured]
    else:
        assert [] == list(captured)


@pytest.mark.django_db
@FUZZ
@given(data=st.data())
def test_fuzz_recover(data, fuzz):
    """``POST /hooks/{uuid}/recover/`` with any body: a documented 202, a 400, 404 or 413."""
    target = data.draw(targets(), label="target")
    media_type, body = data.draw(request_bodies(RECOVER, "post"), label="request")
    response = fuzz.call("post", fuzz.path(target) + "recover/", media_type, body)
    fuzz.check(response, RECOVER, "post", {202, 400, 404, 413})
    if target not in OWN:
        assert response.status_code in (404, 413)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "target"), [("post", None), ("put", "own"), ("patch", "own"), ("post", "own")]
)
def test_a_lone_surrogate_in_the_content_type_is_a_400(fuzz, method, target):
    """Found by the fuzzing: an invalid choice is echoed in the error message,
    which DRF's JSONRenderer (``UNICODE_JSON``) cannot encode when it holds a
    lone surrogate (valid JSON: ``"\\ud800"``), so the error became a 500.
    """
    body = {"event": "article.created", "url": "https://example.com/h", "content_type": "\ud800"}
    route = LIST if target is None else DETAIL
    response = fuzz.call(
        method, LIST if target is None else fuzz.path(target), "application/json", body
    )
    fuzz.check(response, route, method, {400})
    assert ["content_type"] == list(response.json())


@pytest.mark.django_db
def test_list_validates_against_its_schema(fuzz):
    for event in ("article.created", "*"):
        Subscriber.objects.create(event=event, url="https://example.com/h", user=fuzz.user)
    response = fuzz.call("get", LIST, None, None)
    fuzz.check(response, LIST, "get", {200})
    assert 3 == len(response.json())


# -- reading the schema ---------------------------------------------------


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (or single ``allOf`` of refs) merged in."""
    if "$ref" in node:
        return resolve({**component(node), **{k: v for k, v in node.items() if k != "$ref"}})
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            merged = {**resolve(part), **merged}
        return merged
    return node


def component(ref: dict[str, Any]) -> dict[str, Any]:
    """The component ``ref`` (``{"$ref": "#/components/schemas/Name"}``) points to."""
    prefix = "#/components/schemas/"
    assert ref["$ref"].startswith(prefix)
    schema: dict[str, Any] = SCHEMA["components"]["schemas"][ref["$ref"][len(prefix) :]]
    return schema


def response_schema(route: str, method: str, status: int) -> dict[str, Any]:
    responses = SCHEMA["paths"][route][method]["responses"]
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return schema


def request_media_types(route: str, method: str) -> list[str]:
    return sorted(SCHEMA["paths"][route][method]["requestBody"]["content"])


def request_component(route: str, method: str) -> dict[str, Any]:
    content = SCHEMA["paths"][route][method]["requestBody"]["content"]
    schemas = {json.dumps(media["schema"], sort_keys=True) for media in content.values()}
    assert 1 == len(schemas), "one schema for every media type"
    return component(content["application/json"]["schema"])


def as_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema object as a (strict) JSON Schema 2020-12.

    ``nullable`` becomes a ``null`` type, and objects may have only the
    documented properties.
    """
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in node:  # without a type, any JSON (null too)
        converted["type"] = [node["type"], "null"]
    if node.get("type") == "object" and "properties" in node:
        converted.setdefault("additionalProperties", False)
    return converted


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value


@FORMATS.checks("date-time")
def is_datetime(value: object) -> bool:
    return not isinstance(value, str) or parse_datetime(value) is not None


@FORMATS.checks("uri")
def is_absolute_uri(value: object) -> bool:
    return not isinstance(value, str) or value.partition(":")[0].lower() in ("http", "https")


ROOT = as_json_schema({"components": SCHEMA["components"]})


def validate_response(route: str, method: str, status: int, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` is the documented response."""
    schema = {**ROOT, **as_json_schema(response_schema(route, method, status))}
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(body)


# -- strategies -----------------------------------------------------------

#: Strings that break naive code: NUL, lone surrogates, controls, bidi, astral.
ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\r\n",
    "\u202e",
    "\U0001f642",
    "null",
    "0",
    "[]",
    "{}",
    "' OR 1=1 --",
    "%(x)s {0}",
    "../../etc/passwd",
]
odd_strings = st.sampled_from(ODD_STRINGS) | st.builds(
    lambda char, count: char * count,
    st.sampled_from(["x", "\u00e9", "\U0001f642", "\x00", "."]),
    st.sampled_from([15, 16, 17, 64, 65, 190, 191, 512, 513, 2048, 2049, 9000, 20000]),
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63)
    | st.floats()  # NaN and infinities too
    | st.text(max_size=30)
    | odd_strings
)
#: Any JSON value (and then some: NaN is not JSON).
arbitrary = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

hosts = st.sampled_from(
    [
        "example.com",
        "hooks.example.org",
        "EXAMPLE.COM",
        "xn--bcher-kva.example",
        "b\u00fccher.example",
        "127.0.0.1",
        "10.0.0.1",
        "[::1]",
        "localhost",
        "-bad-.example",
        "",
    ]
) | st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z]{2,6}){1,2}", fullmatch=True)


def urls(max_size: int) -> st.SearchStrategy[str]:
    """URLs, mostly http(s) and valid, never longer than ``max_size``."""
    return st.builds(
        "{}://{}{}/{}{}".format,
        st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", "file"]),
        hosts,
        st.sampled_from(["", ":80", ":8443", ":0", ":99999", ":x"]),
        st.text(max_size=40).map(quote),
        st.sampled_from(["", "?a=1&b=2", "#frag", "?q=%ZZ"]),
    ).filter(lambda url: len(url) <= max_size)


def valid_urls() -> st.SearchStrategy[str]:
    """http(s) URLs that the API accepts (on hosts that are never contacted)."""
    return st.builds(
        "{}://{}{}/{}{}".format,
        st.sampled_from(["http", "https"]),
        st.sampled_from(["example.com", "hooks.example.org", "127.0.0.1", "[::1]"]),
        st.sampled_from(["", ":8443"]),
        st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=20),
        st.sampled_from(["", "?a=1&b=2"]),
    )


#: Valid values where the schema cannot tell them, so that valid requests are common.
HINTS: dict[str, st.SearchStrategy[Any]] = {
    "event": st.sampled_from(["article.created", "article.*", "*.created", "*"])
    | st.from_regex(r"[a-z_]{1,10}(\.[a-z_]{1,10}){0,2}", fullmatch=True),
    "url": valid_urls(),
    "hmac_secret": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1),
    "hmac_digest": st.sampled_from(["sha1", "sha256", "sha512", "SHA256", "Sha512"]),
    "filter": st.sampled_from(
        [{}, {"data__state__eq": "PUBLISHED"}, {"data__title__regex": "^A", "data__n__gt": 3}]
    ),
    "lease_seconds": st.none() | st.integers(min_value=1, max_value=10**6),
}


def mostly(likely: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``likely`` four times out of five, else ``other``."""
    # Not st.integers(0, 4): hypothesis draws the boundary 0 far more often.
    return st.sampled_from([True, True, True, True, False]).flatmap(
        lambda yes: likely if yes else other
    )


def conforming(name: str, prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that follow the property's schema."""
    prop = resolve(prop)
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if "oneOf" in prop:  # a URL, or "" (stream-only subscriptions have none)
        return st.one_of([conforming(name, option) for option in prop["oneOf"]])
    if prop["type"] == "string":
        low, high = prop.get("minLength", 0), prop.get("maxLength")
        if prop.get("format") == "date-time":
            return st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(datetime.isoformat)
        if prop.get("format") == "uri":
            assert high is not None, name
            return urls(high)
        return st.text(min_size=low, max_size=high)
    if prop["type"] == "integer":
        return st.integers()
    if prop["type"] == "object":
        return st.dictionaries(st.text(max_size=20), arbitrary, max_size=3)
    if prop["type"] == "boolean":
        return st.booleans()
    raise AssertionError(f"no strategy for the property {name!r}: {prop}")


def field_values(name: str, prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values, else values that conform to the schema or any JSON at all."""
    valid = HINTS.get(name, conforming(name, prop))
    return mostly(valid, conforming(name, prop) | odd_strings | arbitrary)


#: Fields a request must not be able to set, and names that look like fields.
EXTRA_FIELDS = st.sampled_from(
    ["id", "uuid", "pk", "user", "user_id", "created_at", "subscription", "Event", "url "]
) | st.text(max_size=8)


@st.composite
def objects(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """Objects with some of the schema's properties (required ones mostly) and extras."""
    required = set(schema.get("required", ()))
    body: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        present = mostly(st.just(True), st.just(False)) if name in required else st.booleans()
        if draw(present, label=f"has {name}"):
            body[name] = draw(field_values(name, prop), label=name)
    extras = draw(mostly(st.just({}), st.dictionaries(EXTRA_FIELDS, arbitrary, max_size=2)))
    return {**extras, **body}


def request_bodies(route: str, method: str) -> st.SearchStrategy[tuple[str, Any]]:
    """``(media type, body)``: mostly an object, else any JSON value or bytes that are not JSON."""
    schema = request_component(route, method)
    media_types = st.sampled_from(request_media_types(route, method))
    return mostly(
        st.tuples(media_types, objects(schema)),
        st.tuples(st.just("application/json"), arbitrary)
        | st.tuples(
            st.just("application/json"),
            st.sampled_from([b"", b"{", b'{"event": ', b"\xff\xfe", b"[1,]", b"NaN"]),
        ),
    )


#: The caller's subscription, as its uuid would be written in a path.
OWN: dict[str, Callable[[uuid.UUID], str]] = {
    "own": str,
    "own-hex": lambda ident: ident.hex,
    "own-upper": lambda ident: str(ident).upper(),
}


def targets() -> st.SearchStrategy[str]:
    """Mostly the caller's subscription, else another user's or any path segment at all."""
    return mostly(
        st.sampled_from(sorted(OWN)),
        st.one_of(
            st.just("other"),
            st.uuids().map(str),
            st.uuids().map(lambda value: value.hex),
            st.text(max_size=40).map(lambda text: quote(text, safe="")),
            st.text(max_size=40).map(quote),  # "/" stays: several segments
        ),
    )


# -- driving the API ------------------------------------------------------


def form_value(value: Any) -> Any:
    """How a form carries a JSON value: strings (lists repeat the field)."""
    if isinstance(value, list):
        return [form_value(item) if not isinstance(item, list) else str(item) for item in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def without_surrogates(value: Any) -> Any:
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def encode(media_type: str, body: Any) -> tuple[bytes, str]:
    """The request body in ``media_type``, and its Content-Type header."""
    if isinstance(body, bytes):
        return body, media_type
    if media_type == "application/json":
        return json.dumps(body).encode("ascii"), media_type
    fields = {name: form_value(value) for name, value in body.items()}
    if media_type == "application/x-www-form-urlencoded":
        return urlencode(fields, doseq=True, errors="surrogatepass").encode("ascii"), media_type
    assert media_type == "multipart/form-data", media_type
    # Multipart parts are encoded strictly: lone surrogates cannot be sent.
    fields = {name: without_surrogates(value) for name, value in fields.items()}
    return encode_multipart(BOUNDARY, fields), MULTIPART_CONTENT


class Fuzz:
    """Sends requests as an authenticated user and checks the responses against the schema."""

    def __init__(
        self,
        user: User,
        own: Subscriber,
        other: Subscriber,
        deliveries: dict[str, DeliveryRecord] | None = None,
    ) -> None:
        self.user = user
        self.own = own
        self.other = other
        #: The own subscription's delivery ("own") and the other's ("other").
        self.deliveries = deliveries or {}
        self.client = APIClient()
        self.client.force_authenticate(user)

    def path(self, target: str) -> str:
        if target in OWN:
            return f"/hooks/{OWN[target](self.own.uuid)}/"
        return f"/hooks/{self.other.uuid if target == 'other' else target}/"

    def delivery_path(self, target: str, delivery: str) -> str:
        """The path of a delivery: ``own``/``other`` records, or any segment."""
        if delivery in self.deliveries:
            delivery = str(self.deliveries[delivery].id)
        return f"{self.path(target)}deliveries/{delivery}/"

    def call(self, method: str, path: str, media_type: str | None, body: Any) -> Any:
        """Send the request in a savepoint that is rolled back."""
        data, content_type = (b"", "") if media_type is None else encode(media_type, body)
        with transaction.atomic():
            response = self.client.generic(
                method.upper(),
                path,
                data=data,  # type: ignore[arg-type]  # bytes are sent as they are
                content_type=content_type,
            )
            transaction.set_rollback(True)
        return response

    def check(self, response: Any, route: str, method: str, expected: set[int]) -> None:
        """Below 500, an expected and documented status, and a documented body.

        A success is JSON that validates against its schema; so is an error,
        except Django's own 404 for a path that matches no URL (HTML).
        """
        status = response.status_code
        assert status < 500, response.content
        assert status in expected, (status, response.content)
        assert str(status) in SCHEMA["paths"][route][method]["responses"], (route, method, status)
        json_body = response.get("Content-Type") == "application/json"
        if status < 300 and status != 204:
            assert json_body, response["Content-Type"]
        if json_body:
            validate_response(route, method, status, response.json())


@pytest.fixture
def fuzz(db: None, django_user_model: Any, monkeypatch: pytest.MonkeyPatch) -> Fuzz:
    """The fuzzing client, with a subscription of its own and one of another user."""
    user = django_user_model.objects.create_user("fuzzer")
    other = django_user_model.objects.create_user("other")

    def subscription(owner: User) -> Subscriber:
        subscriber: Subscriber = Subscriber.objects.create(
            event="article.created", url="https://example.com/hook", user=owner
        )
        return subscriber

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the fuzzing must not use the network: {args!r}")

    own, others = subscription(user), subscription(other)
    deliveries = {"own": delivery_of(own), "other": delivery_of(others)}
    # After the database connection is open (``db``): no name resolution,
    # no connection from here on.
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return Fuzz(user, own, others, deliveries)


def delivery_of(subscriber: Subscriber) -> DeliveryRecord:
    """A failed delivery of a message to ``subscriber``, with one attempt."""
    now = datetime.now(timezone.utc)
    message = MessageRecord.objects.create(
        id=uuid.uuid4(),
        event="article.created",
        data={"event": "article.created", "payload": {"title": "x"}},
        created_at=now,
        planned_at=now,
    )
    record = DeliveryRecord.objects.create(
        id=delivery_id(str(message.id), subscriber.uuid),
        message=message,
        subscription=subscriber.uuid,
        event="article.created",
        url=subscriber.url,
        state=State.FAILED,
        attempts=1,
        last_status_code=500,
        last_error="answered 500",
        created_at=now,
        completed_at=now,
    )
    AttemptRecord.objects.create(
        delivery=record,
        number=1,
        started_at=now,
        duration=0.1,
        status_code=500,
        error_class="DeliveryError",
        error="answered 500",
        response_headers={"Content-Type": "text/html"},
        response_body="<script>alert(1)</script>",
    )
    return record
