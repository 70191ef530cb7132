"""The event catalog, ``GET /hooks/events/``, and serializer payloads validated by its schemas."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from rest_framework.test import APIClient

from thorn import Event

from t.proj.blog.models import Article, Tag

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/hooks/"
EVENTS = "/hooks/events/"


def listed(api: APIClient) -> dict[str, dict[str, Any]]:
    response = api.get(EVENTS)
    assert 200 == response.status_code
    return {event["name"]: event for event in response.json()}


def test_the_catalog_lists_the_declared_events(api):
    """Model events with their model, templates as they are declared, sorted by name."""
    events = listed(api)

    assert {"article.created", "article.archived", "comment.created", "user.{.username}"} <= set(
        events
    )
    assert sorted(events) == list(events)
    assert {
        "name": "article.created",
        "description": "",
        "model": "blog.Article",
        "schema": None,
        "example": None,
    } == events["article.created"]


def test_an_event_with_a_serializer_has_a_schema_and_an_example(api):
    """The schema comes from the serializer (tags nested in $defs); the example passes it."""
    archived = listed(api)["article.archived"]

    assert ("An article was archived: it is no longer shown.", "blog.Article") == (
        archived["description"],
        archived["model"],
    )
    schema = archived["schema"]
    assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]
    assert {"uuid", "title", "state", "body", "author", "tags"} == set(schema["properties"])
    assert "Tag" in schema["$defs"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(archived["example"], schema, cls=jsonschema.Draft202012Validator)


def test_a_real_payload_validates_against_the_catalog_schema(api, receiver, sentinel):
    """The data delivered for article.archived is the serializer's, and its schema accepts it."""
    schema = listed(api)["article.archived"]["schema"]
    body = {"event": "article.archived", "url": receiver.url("/archived")}
    assert 201 == api.post(LIST, body, format="json").status_code
    article = Article.objects.create(title="Old news", state="PUBLISHED")
    article.tags.add(Tag.objects.create(name="history"))

    article.state = "ARCHIVED"
    article.save()
    sentinel()

    [received] = receiver.for_path("/archived")
    data = received.json()["data"]
    assert (str(article.uuid), "ARCHIVED", [{"id": article.tags.get().pk, "name": "history"}]) == (
        data["uuid"],
        data["state"],
        data["tags"],
    )
    assert None is data["author"]
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    wrong = {**data, "tags": [{"id": "one", "name": 2}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema, cls=jsonschema.Draft202012Validator)


def test_a_plain_event_is_in_the_catalog_while_it_exists(api):
    """Event("...") declares itself, with its description, and no model."""
    event = Event("invoice.paid", description="An invoice was paid.")

    assert {
        "name": "invoice.paid",
        "description": "An invoice was paid.",
        "model": None,
        "schema": None,
        "example": None,
    } == listed(api)["invoice.paid"]
    del event


@pytest.mark.parametrize(
    "pattern",
    [
        "article.archived",
        "article.*",
        "*.archived",
        "*",
        "user.alice",
        "user.*",
        "comment.flagged.PUBLISHED",
        "*.anything",  # user.anything, for a user named "anything"
    ],
)
def test_a_pattern_that_matches_a_catalog_event_can_be_subscribed_to(api, pattern):
    """Names, patterns, and names that a template (user.{.username}) makes."""
    body = {"event": pattern, "url": "https://e.com/hook"}

    assert 201 == api.post(LIST, body, format="json").status_code


@pytest.mark.parametrize("pattern", ["nothing.declared", "nothing.*", "user", "comment.flagged"])
def test_a_pattern_that_matches_no_catalog_event_is_a_400(api, pattern):
    """Without THORN_EVENT_CHOICES, subscribing to what no declared event matches is refused."""
    response = api.post(LIST, {"event": pattern, "url": "https://e.com/hook"}, format="json")

    assert 400 == response.status_code
    assert "matches no event" in response.json()["event"][0]


def test_event_choices_limit_the_catalog_and_replace_its_check(api, settings):
    """With THORN_EVENT_CHOICES, the catalog lists what a choice matches; choices are allowed."""
    settings.THORN_EVENT_CHOICES = ["article.*", "undeclared.event"]

    assert {name.partition(".")[0] for name in listed(api)} == {"article"}
    body = {"event": "undeclared.event", "url": "https://e.com/hook"}
    assert 201 == api.post(LIST, body, format="json").status_code


def test_the_catalog_needs_authentication():
    """As every route of the API: 403 for an anonymous caller."""
    assert 403 == APIClient().get(EVENTS).status_code
