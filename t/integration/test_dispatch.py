"""Dispatcher selection, the disabled dispatcher, and options reaching each request."""

from __future__ import annotations

from typing import Any

import pytest

from thorn import buffer_events
from thorn.app import Thorn
from thorn.conf import STANDARD_RETRY_SCHEDULE
from thorn.delivery.policy import RetryPolicy
from thorn.dispatch.background import Dispatcher as BackgroundDispatcher
from thorn.dispatch.base import Dispatcher as DefaultDispatcher
from thorn.dispatch.disabled import Dispatcher as DisabledDispatcher
from thorn.events import Event
from thorn.exceptions import ImproperlyConfigured

from t.receiver import Receiver


class RecordingDispatcher(DefaultDispatcher):
    """A default dispatcher that records the events it is asked to send."""

    def __init__(self, timeout: float | None = None, app: Thorn | None = None) -> None:
        super().__init__(timeout=timeout, app=app)
        self.sent: list[tuple[str, Any]] = []

    def send(self, event, payload, sender, timeout=None, context=None, **options):
        self.sent.append((event, payload))
        return super().send(event, payload, sender, timeout=timeout, context=context, **options)


def hook(receiver: Receiver, path: str = "/hook") -> dict[str, str]:
    return {"url": receiver.url(path), "hmac_secret": "secret"}


class TestDisabledDispatcher:
    def test_sends_nothing_and_returns_none(self, make_app, receiver):
        """THORN_DISPATCHER="disabled" sends nothing and send() returns None."""
        app = make_app(THORN_DISPATCHER="disabled", THORN_SUBSCRIBERS={"a.b": receiver.url("/s")})
        result = Event("a.b", app=app, subscribers=[hook(receiver)]).send({"x": 1})
        assert result is None
        assert [] == receiver.wait_for(1, timeout=0.2)
        assert 0 == receiver.connections

    def test_does_not_look_up_subscribers(self, make_app, receiver):
        """The disabled dispatcher never calls subscriber callbacks."""
        calls = []

        def subscribers(event, sender=None, **context):
            calls.append(event)
            return [hook(receiver)]

        app = make_app(THORN_DISPATCHER="disabled")
        Event("a.b", app=app, subscribers=subscribers).send({"x": 1})
        assert [] == calls

    def test_does_not_buffer(self, make_app, receiver):
        """While buffering, the disabled dispatcher holds nothing back."""
        app = make_app(THORN_DISPATCHER="disabled")
        with buffer_events(app=app):
            assert Event("a.b", app=app, subscribers=[hook(receiver)]).send({"x": 1}) is None
            assert [] == app.active_buffer.pending
        assert [] == receiver.wait_for(1, timeout=0.2)


class TestDispatcherSelection:
    @pytest.mark.parametrize(
        ("option", "expected"),
        [
            pytest.param(None, DefaultDispatcher, id="default-setting"),
            pytest.param("default", DefaultDispatcher, id="alias-default"),
            pytest.param("disabled", DisabledDispatcher, id="alias-disabled"),
            pytest.param("background", BackgroundDispatcher, id="alias-background"),
            pytest.param("thorn.dispatch.disabled:Dispatcher", DisabledDispatcher, id="colon-path"),
            pytest.param("thorn.dispatch.disabled.Dispatcher", DisabledDispatcher, id="dot-path"),
            pytest.param(RecordingDispatcher, RecordingDispatcher, id="class"),
        ],
    )
    def test_setting_selects_dispatcher(self, make_app, option, expected):
        """THORN_DISPATCHER accepts an alias, a dotted path or a class."""
        app = make_app(THORN_DISPATCHER=option)
        assert expected is app.Dispatcher
        assert type(app.dispatcher) is expected
        assert app is app.dispatcher.app

    def test_constructor_argument_wins_over_setting(self):
        """Thorn(dispatcher=...) wins over THORN_DISPATCHER."""
        app = Thorn("disabled", set_as_current=False, config={"THORN_DISPATCHER": "default"})
        assert DisabledDispatcher is app.Dispatcher

    def test_dispatcher_instance_is_reused(self, app):
        """The app keeps one dispatcher instance per class."""
        assert app.dispatcher is app.dispatcher

    @pytest.mark.parametrize(
        "option",
        [
            pytest.param("bogus", id="unknown-alias"),
            pytest.param("no.such.module:Dispatcher", id="missing-module"),
            pytest.param("thorn.dispatch.base:NoSuchDispatcher", id="missing-attribute"),
            pytest.param(42, id="not-a-string"),
        ],
    )
    def test_bad_setting_names_the_setting(self, make_app, option):
        """A bad THORN_DISPATCHER raises ImproperlyConfigured naming the setting and value."""
        app = make_app(THORN_DISPATCHER=option)
        with pytest.raises(ImproperlyConfigured, match="THORN_DISPATCHER") as excinfo:
            app.dispatcher  # noqa: B018
        assert repr(option) in str(excinfo.value)

    def test_unknown_alias_on_send(self, make_app, receiver):
        """Sending with an unknown dispatcher alias raises ImproperlyConfigured, sends nothing."""
        app = make_app(THORN_DISPATCHER="bogus")
        with pytest.raises(ImproperlyConfigured, match="THORN_DISPATCHER"):
            Event("a.b", app=app, subscribers=[hook(receiver)]).send({"x": 1})
        assert 0 == receiver.connections

    def test_setting_read_live(self, make_app):
        """Changing THORN_DISPATCHER changes the dispatcher of the app."""
        app = make_app()
        assert DefaultDispatcher is app.Dispatcher
        app.config["THORN_DISPATCHER"] = "disabled"
        assert DisabledDispatcher is app.Dispatcher

    def test_event_dispatcher_wins(self, make_app, receiver):
        """An event's dispatcher= argument is used instead of the app's dispatcher."""
        app = make_app(THORN_DISPATCHER="disabled")
        dispatcher = RecordingDispatcher(app=app)
        event = Event("a.b", app=app, dispatcher=dispatcher, subscribers=[hook(receiver)])
        assert dispatcher is event.dispatcher
        requests = event.send({"x": 1})
        assert [("a.b", {"x": 1})] == dispatcher.sent
        assert 1 == len(requests)
        assert ["/hook"] == [r.path for r in receiver.wait_for(1, timeout=2)]


class TestRequestOptions:
    @pytest.mark.parametrize(
        ("setting", "event_timeout", "send_timeout", "expected"),
        [
            pytest.param(None, None, None, 3.0, id="default"),
            pytest.param(2.0, None, None, 2.0, id="setting"),
            pytest.param(2.0, 1.0, None, 1.0, id="event-over-setting"),
            pytest.param(2.0, 1.0, 0.5, 0.5, id="send-over-event"),
            pytest.param(2.0, None, 0.5, 0.5, id="send-over-setting"),
        ],
    )
    def test_timeout_precedence(
        self, make_app, receiver, setting, event_timeout, send_timeout, expected
    ):
        """send(timeout) wins over Event(timeout), which wins over THORN_EVENT_TIMEOUT."""
        app = make_app(THORN_EVENT_TIMEOUT=setting)
        event = Event("a.b", app=app, timeout=event_timeout, subscribers=[hook(receiver)])
        (request,) = event.send({"x": 1}, timeout=send_timeout)
        assert expected == request.timeout

    def test_dispatcher_timeout_below_event(self, make_app, receiver):
        """A dispatcher's own timeout applies when the event and send() give none."""
        app = make_app(THORN_EVENT_TIMEOUT=2.0)
        dispatcher = DefaultDispatcher(timeout=1.5, app=app)
        event = Event("a.b", app=app, dispatcher=dispatcher, subscribers=[hook(receiver)])
        (request,) = event.send({"x": 1})
        assert 1.5 == request.timeout
        (request,) = Event(
            "a.b", app=app, dispatcher=dispatcher, timeout=0.5, subscribers=[hook(receiver)]
        ).send({"x": 1})
        assert 0.5 == request.timeout

    def test_retry_settings_become_retry_policy(self, make_app, receiver):
        """THORN_RETRY, THORN_RETRY_MAX and THORN_RETRY_DELAY become request.retry_policy."""
        app = make_app(THORN_RETRY=False, THORN_RETRY_MAX=4, THORN_RETRY_DELAY=1.5)
        (request,) = Event("a.b", app=app, subscribers=[hook(receiver)]).send({"x": 1})
        assert RetryPolicy.fixed(False, 4, 1.5) == request.retry_policy

    def test_retry_defaults(self, app, receiver):
        """Without settings the policy is the Standard Webhooks schedule, with jitter."""
        (request,) = Event("a.b", app=app, subscribers=[hook(receiver)]).send({"x": 1})
        assert RetryPolicy(retry=True, schedule=STANDARD_RETRY_SCHEDULE) == request.retry_policy

    def test_event_retry_options_win(self, make_app, receiver):
        """retry, retry_max and retry_delay given to the event win over the settings."""
        app = make_app(THORN_RETRY=True, THORN_RETRY_MAX=4, THORN_RETRY_DELAY=1.5)
        event = Event(
            "a.b",
            app=app,
            retry=False,
            retry_max=0,
            retry_delay=0.0,
            subscribers=[hook(receiver)],
        )
        (request,) = event.send({"x": 1})
        assert RetryPolicy.fixed(False, 0, 0.0) == request.retry_policy

    def test_unknown_dispatcher_option_raises(self, app):
        """Dispatcher.send() refuses options it does not know."""
        with pytest.raises(TypeError, match="bogus"):
            app.dispatcher.send("a.b", {"x": 1}, None, bogus=True)

    def test_send_returns_one_request_per_subscriber(self, app, receiver):
        """The default dispatcher returns the Request objects it delivered."""
        subs = [hook(receiver, "/1"), hook(receiver, "/2")]
        requests = Event("a.b", app=app, subscribers=subs).send({"x": 1})
        assert [receiver.url("/1"), receiver.url("/2")] == [r.url for r in requests]
        assert all(r.outcome is not None and r.outcome.ok for r in requests)
        assert 2 == len(receiver.wait_for(2, timeout=2))


class TestCallbacks:
    @pytest.mark.parametrize("answer", [200, 500], ids=["on_success", "on_error"])
    def test_raising_callback_is_logged_and_others_are_delivered(
        self, app, receiver, caplog, answer
    ):
        """A callback that raises is logged; the other subscribers still get theirs."""
        receiver.answer("/a", answer)
        calls = []

        def callback(request, *args):
            calls.append(request.url)
            raise RuntimeError("callback bug")

        event = Event("a.b", app=app, subscribers=[hook(receiver, "/a"), hook(receiver, "/b")])
        requests = event.send({"x": 1}, on_success=callback, on_error=callback)

        assert 2 == len(requests)
        assert ["/a", "/b"] == sorted(r.path for r in receiver.wait_for(2))
        assert receiver.url("/a") in calls
        assert "callback bug" in caplog.text
        assert "raised" in caplog.text
