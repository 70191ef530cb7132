"""Tests for thorn.events.Event (no network)."""

from __future__ import annotations

import re

import pytest

from thorn.dispatch.base import Dispatcher
from thorn.events import Event
from thorn.exceptions import ImproperlyConfigured
from thorn.validators import block_internal_ips, ensure_port, ensure_protocol

URL = "http://example.com/hook"


def check_url(url):
    """An importable custom validator."""


class TestConstruction:
    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"bogus": 1}, id="unknown"),
            pytest.param({"retries": 3}, id="misspelt-retry-max"),
            pytest.param({"headers": {}}, id="send-only-option"),
        ],
    )
    def test_unknown_kwarg_raises_type_error(self, app, kwargs):
        """Unknown keyword arguments raise TypeError (1.5 ignored them)."""
        with pytest.raises(TypeError):
            Event("article.created", app=app, **kwargs)

    def test_repr(self, app):
        """repr() shows the class and the event name."""
        text = repr(Event("article.created", app=app))
        assert re.fullmatch(r"<Event: article\.created \(0x[0-9a-f]+\)>", text)

    def test_subclass_repr(self, app):
        """repr() of a subclass shows the subclass name."""

        class OrderEvent(Event):
            pass

        assert repr(OrderEvent("order.paid", app=app)).startswith("<OrderEvent: order.paid ")

    def test_defaults(self, app):
        """An event has no own options by default: the settings decide."""
        event = Event("article.created", app=app)
        assert "article.created" == event.name
        assert event.timeout is None
        assert event.retry is None
        assert event.retry_max is None
        assert event.retry_delay is None
        assert event.request_data is None
        assert event.allow_keepalive is True
        assert event.recipient_validators is None

    def test_app_event_factory(self, app):
        """app.Event() creates an event bound to the app."""
        event = app.Event("article.created", timeout=1.0)
        assert app is event.app
        assert 1.0 == event.timeout

    def test_dispatcher_defaults_to_app(self, app):
        """Without dispatcher=, the event uses its app's dispatcher."""
        assert app.dispatcher is Event("article.created", app=app).dispatcher

    def test_dispatcher_argument(self, app):
        """dispatcher= is the event's dispatcher."""
        dispatcher = Dispatcher(app=app)
        assert dispatcher is Event("article.created", app=app, dispatcher=dispatcher).dispatcher


class TestPreparePayload:
    def test_without_request_data(self, app):
        """Without request_data the payload is used as it is."""
        data = {"title": "Hello"}
        assert data is Event("article.created", app=app).prepare_payload(data)

    def test_request_data_merged(self, app):
        """request_data is merged into the payload."""
        event = Event("article.created", app=app, request_data={"site": "example"})
        assert {"site": "example", "title": "Hello"} == event.prepare_payload({"title": "Hello"})

    def test_payload_keys_win(self, app):
        """On a conflict, the payload's value wins over request_data's."""
        event = Event("article.created", app=app, request_data={"title": "default", "site": "x"})
        assert {"title": "Hello", "site": "x"} == event.prepare_payload({"title": "Hello"})

    def test_request_data_not_mutated(self, app):
        """Merging leaves request_data and the payload unchanged."""
        request_data = {"site": "x"}
        data = {"title": "Hello"}
        Event("article.created", app=app, request_data=request_data).prepare_payload(data)
        assert {"site": "x"} == request_data
        assert {"title": "Hello"} == data


class TestSubscribers:
    def test_subscribers_property(self, make_app):
        """Event.subscribers lists the static subscribers and the event's own ones."""
        app = make_app(THORN_SUBSCRIBERS={"article.*": URL})
        event = Event("article.created", app=app, subscribers=[URL + "/own"])
        assert [URL, URL + "/own"] == [s.url for s in event.subscribers]

    def test_subscribers_setter(self, app):
        """Assigning Event.subscribers replaces the event's own subscribers."""
        event = Event("article.created", app=app, subscribers=[URL])
        event.subscribers = [URL + "/other"]
        assert [URL + "/other"] == [s.url for s in event.subscribers]

    def test_no_subscribers(self, app):
        """An event without subscribers has none."""
        assert [] == Event("article.created", app=app).subscribers


class TestRecipientValidators:
    def test_none_by_default(self, app):
        """Without recipient_validators, the prepared validators are None (use the setting)."""
        assert Event("article.created", app=app).prepared_recipient_validators is None

    @pytest.mark.parametrize(
        "validators",
        [
            pytest.param(
                [("block_internal_ips", ()), ("ensure_port", (80, 443))], id="1.5-tuple-form"
            ),
            pytest.param(
                [["block_internal_ips", []], ["ensure_port", [80, 443]]], id="json-list-form"
            ),
            pytest.param([block_internal_ips(), ensure_port(80, 443)], id="objects"),
        ],
    )
    def test_deserialized(self, app, validators):
        """Serialized validators (1.5 tuples or JSON lists) and objects are accepted."""
        event = Event("article.created", app=app, recipient_validators=validators)
        assert [block_internal_ips(), ensure_port(80, 443)] == event.prepared_recipient_validators

    def test_custom_callable_and_path(self, app):
        """Plain callables and "module:function" paths are accepted."""
        event = Event(
            "article.created",
            app=app,
            recipient_validators=[check_url, "t.unit.test_events:check_url"],
        )
        assert [check_url, check_url] == event.prepared_recipient_validators

    def test_empty_list(self, app):
        """An empty list means no validation (not the setting)."""
        event = Event("article.created", app=app, recipient_validators=[])
        assert [] == event.prepared_recipient_validators

    def test_cached(self, app):
        """The prepared validators are computed once."""
        event = Event("article.created", app=app, recipient_validators=[ensure_protocol("https")])
        assert event.prepared_recipient_validators is event.prepared_recipient_validators

    @pytest.mark.parametrize(
        "validators",
        [
            pytest.param([("no_such_validator", ())], id="unknown-name"),
            pytest.param([ensure_port], id="uncalled-factory"),
            pytest.param("block_internal_ips", id="not-a-list"),
        ],
    )
    def test_invalid(self, app, validators):
        """Invalid validators raise ImproperlyConfigured naming recipient_validators."""
        event = Event("article.created", app=app, recipient_validators=validators)
        with pytest.raises(ImproperlyConfigured, match="recipient_validators"):
            event.prepared_recipient_validators  # noqa: B018

    def test_reach_the_requests(self, app):
        """The event's validators are given to every request it makes."""
        dispatcher = Dispatcher(app=app)
        event = Event(
            "article.created",
            app=app,
            recipient_validators=[("ensure_port", (443,))],
        )
        (request,) = dispatcher.prepare_requests(
            event.name,
            {"a": 1},
            None,
            recipient_validators=event.prepared_recipient_validators,
            extra_subscribers=[URL],
        )
        assert [ensure_port(443)] == request.recipient_validators
