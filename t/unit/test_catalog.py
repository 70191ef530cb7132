"""The event catalog (:mod:`thorn.catalog`) and serializer payloads of model events."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from thorn import Event, ModelEvent
from thorn.catalog import catalog, catalog_matches, template_matches
from thorn.decorators import WebhookCapable


@pytest.mark.parametrize(
    ("pattern", "template", "expected"),
    [
        pytest.param("*", "anything.at.all", True, id="star"),
        pytest.param("order.paid", "order.paid", True, id="name"),
        pytest.param("order.paid", "order.placed", False, id="other-name"),
        pytest.param("order.*", "order.paid", True, id="topic"),
        pytest.param("order.*", "orders.paid", False, id="other-topic"),
        pytest.param("order.*", "order", False, id="topic-needs-a-rest"),
        pytest.param("*.paid", "order.paid", True, id="rest"),
        pytest.param("*.paid", "order.paid.late", False, id="rest-is-everything-after-the-topic"),
        pytest.param("user.alice", "user.{.username}", True, id="template-name"),
        pytest.param("user.*", "user.{.username}", True, id="template-topic"),
        pytest.param("*.alice", "user.{.username}", True, id="template-rest"),
        pytest.param("users.alice", "user.{.username}", False, id="template-other-topic"),
        pytest.param("team.*", "{.kind}.created", True, id="placeholder-topic"),
        pytest.param("a.b", "a.b{x}", False, id="placeholder-is-not-empty"),
        pytest.param("a.b.c", "a.b.c", True, id="literal-dots"),
        pytest.param("a.bxc", "a.b.c", False, id="dots-are-not-wildcards"),
    ],
)
def test_template_matches_follows_the_subscription_rules(pattern, template, expected):
    """The rules of event_patterns, with placeholders matching any text."""
    assert expected is template_matches(pattern, template)


def test_events_are_in_the_catalog_while_they_exist():
    """An event declares itself when made; the catalog forgets it once it is gone."""
    event = Event("unit.catalogued", description="For the unit tests.")

    [entry] = [entry for entry in catalog() if entry.name == "unit.catalogued"]
    assert ("For the unit tests.", (), None) == (entry.description, entry.models, entry.serializer)
    assert catalog_matches("unit.*")
    del event
    assert not catalog_matches("unit.*")


def test_events_of_the_same_name_are_merged():
    """Two declarations of one name: one entry, the description of the one that has it."""
    events = [Event("unit.twice"), Event("unit.twice", description="Said once.")]

    assert ["Said once."] == [e.description for e in catalog() if e.name == "unit.twice"]
    assert all(events)


def test_choices_limit_the_catalog():
    """With choices, only the events a choice matches."""
    events = [Event("unit.kept"), Event("other.dropped")]

    names = [entry.name for entry in catalog(["unit.*"])]

    assert "unit.kept" in names
    assert "other.dropped" not in names
    assert all(events)


class Serializer:
    """What a DRF serializer offers a model event: ``Serializer(instance).data``."""

    def __init__(self, instance: Any) -> None:
        self.data = {"serialized": instance.title}


class OtherSerializer(Serializer):
    def __init__(self, instance: Any) -> None:
        self.data = {"other": instance.title}


class Webhooks(WebhookCapable):
    def payload(self, instance: Any) -> Any:
        return {"payload": instance.title}


def model_with(**webhooks: Any) -> Any:
    model = type("Thing", (), {})
    model.webhooks = Webhooks(**webhooks)  # type: ignore[attr-defined]
    return model


@pytest.mark.parametrize(
    ("event_serializer", "model_serializer", "expected"),
    [
        pytest.param(None, None, {"payload": "T"}, id="payload-hook-as-in-1.5"),
        pytest.param(None, Serializer, {"serialized": "T"}, id="model-serializer"),
        pytest.param(OtherSerializer, Serializer, {"other": "T"}, id="event-serializer-wins"),
        pytest.param(f"{__name__}:OtherSerializer", None, {"other": "T"}, id="import-path"),
    ],
)
def test_the_data_comes_from_the_serializer_else_the_payload_hooks(
    event_serializer, model_serializer, expected
):
    """The event's serializer, else the model's, else webhooks.payload()."""
    model = model_with(serializer=model_serializer)
    instance = model()
    instance.title = "T"
    event = ModelEvent("thing.made", serializer=event_serializer)

    assert expected == event.instance_data(instance)


def test_a_model_event_without_a_model_has_no_serializer():
    """serializer_for() of a class without webhooks: the event's own, or None."""
    assert ModelEvent("thing.made").serializer_for(SimpleNamespace) is None
