"""buffer_events: deliveries held back until the buffer is flushed."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from thorn import buffer_events
from thorn.dispatch.base import Dispatcher
from thorn.events import Event
from thorn.exceptions import BufferNotEmpty, ThornError
from thorn.request import Request

from t.receiver import Receiver


class ExplodingDispatcher(Dispatcher):
    """A default dispatcher whose flush always fails."""

    def send_batch(self, batch):
        raise RuntimeError("flush exploded")


def broken_subscribers(event, sender=None, **context):
    """A subscriber callback with a bug."""
    raise RuntimeError(f"cannot find the subscribers of {event}")


def hook(receiver: Receiver, path: str) -> dict[str, str]:
    return {"url": receiver.url(path), "hmac_secret": "secret"}


def paths(receiver: Receiver) -> list[str]:
    return [r.path for r in receiver.received]


@pytest.fixture
def event(app, receiver):
    """An event with one subscriber at /hook."""
    return Event("article.created", app=app, subscribers=[hook(receiver, "/hook")])


class TestBufferEvents:
    def test_holds_deliveries_until_exit(self, app, receiver, event):
        """Nothing is delivered inside the context; everything is delivered on exit."""
        with buffer_events(app=app):
            for i in range(3):
                assert [] == event.send({"n": i})
            assert [] == receiver.wait_for(1, timeout=0.2)
            assert 0 == receiver.connections
        received = receiver.wait_for(3, timeout=2)
        assert [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}'] == [r.body for r in received]
        assert app.active_buffer is None

    def test_current_app_by_default(self, app, receiver, event):
        """Without app=, buffer_events buffers the current app's events."""
        with buffer_events() as buffer:
            assert app is buffer.app
            event.send({"n": 1})
            assert [] == receiver.received
        assert 1 == len(receiver.wait_for(1, timeout=2))

    def test_nested_contexts_flush_at_outermost_exit(self, app, receiver, event):
        """An inner context's exit sends nothing; the outermost one sends everything."""
        with buffer_events(app=app):
            event.send({"n": "outer-1"})
            with buffer_events(app=app):
                event.send({"n": "inner"})
            assert [] == receiver.wait_for(1, timeout=0.2)
            assert app.active_buffer is not None
            event.send({"n": "outer-2"})
        received = receiver.wait_for(3, timeout=2)
        assert [b'{"n": "outer-1"}', b'{"n": "inner"}', b'{"n": "outer-2"}'] == [
            r.body for r in received
        ]

    def test_manual_flush(self, app, receiver, event):
        """buffer.flush() sends what is buffered so far; the rest goes on exit."""
        with buffer_events(app=app) as buffer:
            event.send({"n": 1})
            buffer.flush()
            assert [b'{"n": 1}'] == [r.body for r in receiver.wait_for(1, timeout=2)]
            event.send({"n": 2})
            assert 1 == len(receiver.wait_for(2, timeout=0.2))
        assert [b'{"n": 1}', b'{"n": 2}'] == [r.body for r in receiver.wait_for(2, timeout=2)]

    def test_inner_flush_sends_everything(self, app, receiver, event):
        """flush() of an inner context sends the outer context's events too."""
        with buffer_events(app=app):
            event.send({"n": 1})
            with buffer_events(app=app) as inner:
                event.send({"n": 2})
                inner.flush()
                assert 2 == len(receiver.wait_for(2, timeout=2))
        assert 2 == len(receiver.wait_for(3, timeout=0.2))

    def test_buffered_events_keep_their_options(self, app, receiver):
        """Callbacks, headers and timeout given to send() apply when the buffer is flushed."""
        successes: list[Request] = []
        event = Event("article.created", app=app, subscribers=[hook(receiver, "/opt")])
        with buffer_events(app=app):
            event.send(
                {"n": 1},
                headers={"X-Custom": "yes"},
                timeout=0.4,
                on_success=successes.append,
            )
            assert [] == successes
        (request,) = successes
        assert 0.4 == request.timeout
        (received,) = receiver.wait_for(1, timeout=2)
        assert "yes" == received.header("X-Custom")

    def test_event_sent_while_flushing_is_delivered(self, app, receiver):
        """An event sent by a callback during the flush is delivered and buffering ends."""
        follow_up = Event("article.followed", app=app, subscribers=[hook(receiver, "/follow")])

        def on_success(request):
            follow_up.send({"after": request.event})

        event = Event("article.created", app=app, subscribers=[hook(receiver, "/first")])
        with buffer_events(app=app):
            event.send({"n": 1}, on_success=on_success)
        assert ["/first", "/follow"] == [r.path for r in receiver.wait_for(2, timeout=2)]
        assert app.active_buffer is None

    def test_flush_freq(self, app, receiver, event):
        """maybe_flush() flushes on every flush_freq-th call."""
        with buffer_events(flush_freq=3, app=app) as buffer:
            sent = []
            for i in range(7):
                event.send({"n": i})
                buffer.maybe_flush()
                sent.append(len(receiver.wait_for(1, timeout=0.05)))
            assert [0, 0, 3, 3, 3, 6, 6] == sent
        assert 7 == len(receiver.wait_for(7, timeout=2))

    def test_flush_timeout(self, app, receiver, event):
        """maybe_flush() flushes once flush_timeout seconds passed since the last flush."""
        with buffer_events(flush_timeout=0.2, app=app) as buffer:
            event.send({"n": 1})
            buffer.maybe_flush()
            assert [] == receiver.received
            time.sleep(0.25)
            event.send({"n": 2})
            buffer.maybe_flush()
            assert 2 == len(receiver.wait_for(2, timeout=2))
            event.send({"n": 3})
            buffer.maybe_flush()
            assert 2 == len(receiver.received)
        assert 3 == len(receiver.wait_for(3, timeout=2))

    def test_disable_with_pending_events_raises(self, app, receiver, event):
        """disable_buffer() with pending events raises BufferNotEmpty, a ThornError."""
        app.enable_buffer()
        event.send({"n": 1})
        with pytest.raises(BufferNotEmpty) as excinfo:
            app.disable_buffer()
        assert isinstance(excinfo.value, ThornError)
        assert app.active_buffer is not None
        app.flush_buffer()
        app.disable_buffer()
        assert app.active_buffer is None
        assert 1 == len(receiver.wait_for(1, timeout=2))

    def test_only_owner_disables(self, app, event):
        """enable/disable with an owner: another owner cannot turn buffering off."""
        owner, other = object(), object()
        app.enable_buffer(owner=owner)
        app.enable_buffer(owner=other)  # already on: the first owner stays
        app.disable_buffer(owner=other)
        assert app.active_buffer is not None
        app.disable_buffer(owner=owner)
        assert app.active_buffer is None

    def test_buffer_is_per_thread(self, app, receiver, event):
        """Events sent in another thread while this thread buffers are delivered at once."""
        results = []

        def send_from_thread():
            try:
                results.append(event.send({"n": "thread"}))
            finally:
                app.transport.close()

        with buffer_events(app=app):
            event.send({"n": "main"})
            thread = threading.Thread(target=send_from_thread)
            thread.start()
            thread.join(5)
            assert not thread.is_alive()
            assert [b'{"n": "thread"}'] == [r.body for r in receiver.wait_for(1, timeout=2)]
            assert 1 == len(results[0])
        bodies = [r.body for r in receiver.wait_for(2, timeout=2)]
        assert [b'{"n": "thread"}', b'{"n": "main"}'] == bodies


class TestFailedFlush:
    def test_failed_flush_turns_buffering_off_and_raises(self, make_app, receiver, caplog):
        """A flush that raises leaves buffering off, raises, and logs the events not sent."""
        app = make_app(THORN_DISPATCHER=ExplodingDispatcher)
        event = Event("article.created", app=app, subscribers=[hook(receiver, "/hook")])
        caplog.set_level(logging.ERROR, logger="thorn")
        with pytest.raises(RuntimeError, match="flush exploded"), buffer_events(app=app):
            event.send({"n": 1})
        assert app.active_buffer is None
        assert any("article.created" in record.getMessage() for record in caplog.records)
        event.send({"n": 2})  # buffering is off: delivered at once
        assert [b'{"n": 2}'] == [r.body for r in receiver.wait_for(1, timeout=2)]

    def test_failing_dispatcher_does_not_stop_others(self, app, receiver, caplog):
        """Events of a dispatcher whose flush fails are logged; other dispatchers still send."""
        exploding = ExplodingDispatcher(app=app)
        bad = Event(
            "article.bad", app=app, dispatcher=exploding, subscribers=[hook(receiver, "/b")]
        )
        good = Event("article.good", app=app, subscribers=[hook(receiver, "/g")])
        caplog.set_level(logging.ERROR, logger="thorn")
        with pytest.raises(RuntimeError, match="flush exploded"), buffer_events(app=app):
            bad.send({"n": 1})
            good.send({"n": 2})
        assert ["/g"] == paths(receiver)
        assert app.active_buffer is None
        messages = [record.getMessage() for record in caplog.records]
        assert any("article.bad" in message for message in messages)

    def test_every_buffered_event_is_attempted(self, app, receiver, caplog):
        """One event failing during a flush does not stop the events buffered after it."""
        first = Event("first.event", app=app, subscribers=[hook(receiver, "/1")])
        bad = Event("bad.event", app=app, subscribers=broken_subscribers)
        last = Event("last.event", app=app, subscribers=[hook(receiver, "/3")])
        caplog.set_level(logging.ERROR, logger="thorn")
        with pytest.raises(RuntimeError, match=r"bad\.event"), buffer_events(app=app):
            first.send({"n": 1})
            bad.send({"n": 2})
            last.send({"n": 3})
        assert ["/1", "/3"] == paths(receiver)
        assert app.active_buffer is None
        assert any("bad.event" in record.getMessage() for record in caplog.records)

    def test_error_inside_context_still_flushes(self, app, receiver, event):
        """An exception inside the context still flushes the buffer and turns it off."""
        with pytest.raises(ValueError, match="user error"), buffer_events(app=app):
            event.send({"n": 1})
            raise ValueError("user error")
        assert 1 == len(receiver.wait_for(1, timeout=2))
        assert app.active_buffer is None
