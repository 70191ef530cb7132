"""webhook_model and WebhookCapable: how a class gets its events, hooks and signal connections.

Most tests decorate plain Python classes (webhook_model only needs a class;
Django signals accept any sender), so no model is registered and no database
is needed.  Signal receivers connected by a test are removed after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.db.models import Q as DjangoQ
from django.db.models import signals

from thorn import ModelEvent, Q, model_reverser, webhook_model
from thorn.decorators import WebhookCapable
from thorn.django.signals import dispatch_on_change, dispatch_on_create, dispatch_on_delete
from thorn.events import ModelMessage

from t.proj.blog.models import Article, Comment, Profile

MODEL_SIGNALS = (signals.pre_save, signals.post_save, signals.post_delete, signals.m2m_changed)


@pytest.fixture(autouse=True)
def isolated_signals() -> Iterator[None]:
    """Disconnect whatever a test connected to the model signals."""
    saved = {signal: list(signal.receivers) for signal in MODEL_SIGNALS}
    yield
    for signal, receivers in saved.items():
        with signal.lock:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()


class Calls:
    """Records the calls of ModelEvent.on_signal, in place of it (somebody always listens)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def attach(self, monkeypatch: Any, event: ModelEvent) -> ModelEvent:
        def on_signal(instance: Any, **kwargs: Any) -> None:
            self.calls.append((event.name, instance))

        monkeypatch.setattr(event, "on_signal", on_signal)
        monkeypatch.setattr(event, "may_receive", lambda instance: True)
        return event


def make_thing(pk: int = 1, **attrs: Any) -> Any:
    """A class with a ``pk`` (signal dispatchers read it) and no webhooks yet."""
    return type("Thing", (), {"pk": pk, **attrs})


# -- the forms of the decorator ---------------------------------------------------------


def test_bare_decorator_uses_the_nested_class():
    """@webhook_model takes on_* events and the hooks from a nested ``class webhooks:``."""
    created, custom = ModelEvent("thing.created"), ModelEvent("thing.custom")

    class Thing:
        pk = 1
        name = "gizmo"

        class webhooks:
            on_create = created
            on_custom = custom
            sender_field = "owner"

            def payload(self, thing):
                return {"name": thing.name}

            def headers(self, thing):
                return {"X-Thing": thing.name}

    decorated = webhook_model(Thing)

    assert Thing is decorated
    webhooks: Any = Thing.webhooks
    assert isinstance(webhooks, WebhookCapable)
    assert "ThingWebhooks" == type(webhooks).__name__
    assert {
        "on_create": created,
        "on_change": None,
        "on_delete": None,
        "on_custom": custom,
    } == webhooks.events
    assert "owner" == webhooks.sender_field
    assert {"name": "gizmo"} == webhooks.payload(Thing())
    assert {"X-Thing": "gizmo"} == webhooks.headers(Thing())
    assert "<ThingWebhooks: ['on_create', 'on_custom']>" == repr(webhooks)


def test_decorator_called_without_arguments():
    """@webhook_model() behaves like the bare decorator."""
    created = ModelEvent("thing.created")

    @webhook_model()
    class Thing:
        pk = 1

        class webhooks:
            on_create = created

    webhooks: Any = Thing.webhooks
    assert created is webhooks["on_create"]
    assert {"on_create": created, "on_change": None, "on_delete": None} == webhooks.events


def test_decorator_without_webhooks_gives_empty_defaults():
    """A class without nested webhooks or options gets a plain WebhookCapable with empty slots."""
    Thing = webhook_model(make_thing())

    assert WebhookCapable is type(Thing.webhooks)
    assert {"on_create": None, "on_change": None, "on_delete": None} == Thing.webhooks.events
    assert Thing.webhooks.sender_field is None
    assert Thing.webhooks.reverse is None


def test_keyword_style():
    """@webhook_model(on_*=..., sender_field=..., reverse=...) configures a WebhookCapable."""
    created, flagged = ModelEvent("thing.created"), ModelEvent("thing.flagged")
    reverse = model_reverser("comment-detail", pk="pk")

    Thing = webhook_model(
        on_create=created, on_flag=flagged, sender_field="owner", reverse=reverse
    )(make_thing())

    assert WebhookCapable is type(Thing.webhooks)
    assert created is Thing.webhooks["on_create"]
    assert flagged is Thing.webhooks["on_flag"]
    assert "owner" == Thing.webhooks.sender_field
    assert reverse is Thing.webhooks.reverse


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        pytest.param((42,), {}, "must be a model class", id="not-callable"),
        pytest.param(("Article",), {}, "must be a model class", id="string"),
        pytest.param((type("A", (), {}), type("B", (), {})), {}, "one model class", id="two"),
        pytest.param((type("A", (), {}),), {"sender_field": "x"}, "one model class", id="mixed"),
        pytest.param((), {"sender": "x"}, "'sender'", id="unknown-keyword"),
        pytest.param((), {"payload": lambda i: i}, "'payload'", id="hook-as-keyword"),
    ],
)
def test_wrong_arguments_raise_type_error(args, kwargs, message):
    """A non-class positional, two positionals, or an unknown keyword raise TypeError."""
    with pytest.raises(TypeError, match=message):
        webhook_model(*args, **kwargs)


def test_a_keyword_event_that_is_not_a_model_event_raises_type_error():
    """on_create="thing.created" (a string, not a ModelEvent) raises TypeError when decorating."""
    with pytest.raises(TypeError, match="on_create"):
        webhook_model(on_create="thing.created")(make_thing())


def test_nested_webhooks_that_is_not_a_class_raises_type_error():
    """A ``webhooks`` attribute that is not a class raises TypeError."""
    Thing = make_thing(webhooks={"on_create": ModelEvent("thing.created")})

    with pytest.raises(TypeError, match="must be a class"):
        webhook_model(Thing)


def test_keyword_events_override_nested_ones():
    """Keyword events replace nested events of the same slot; the nested hooks stay."""
    nested_create, nested_change = ModelEvent("nested.created"), ModelEvent("nested.changed")
    keyword_create = ModelEvent("keyword.created")

    @webhook_model(on_create=keyword_create, sender_field="keyword")
    class Thing:
        pk = 1

        class webhooks:
            on_create = nested_create
            on_change = nested_change
            sender_field = "nested"

            def payload(self, thing):
                return {"nested": True}

    webhooks: Any = Thing.webhooks
    assert keyword_create is webhooks["on_create"]
    assert nested_change is webhooks["on_change"]
    assert "keyword" == webhooks.sender_field
    assert {"nested": True} == webhooks.payload(Thing())


def test_nested_webhook_capable_subclass_is_used_as_it_is():
    """A nested class that already subclasses WebhookCapable becomes the model's webhooks type."""
    created = ModelEvent("thing.created")

    class Thing:
        pk = 1

        class webhooks(WebhookCapable):
            on_create = created

            def payload(self, thing):
                return {"custom": True}

    nested = Thing.webhooks
    webhook_model(Thing)

    webhooks: Any = Thing.webhooks
    assert nested is type(webhooks)
    assert created is webhooks["on_create"]
    assert {"custom": True} == webhooks.payload(Thing())


def test_webhooks_and_webhook_events_are_the_same_object():
    """Model.webhooks and Model.webhook_events are one WebhookCapable."""
    Thing = webhook_model(on_create=ModelEvent("thing.created"))(make_thing())

    assert Thing.webhooks is Thing.webhook_events
    assert isinstance(Thing.webhooks, WebhookCapable)


def test_slots_can_be_read_set_and_deleted():
    """webhooks[slot] reads, sets (only on_* slots and ModelEvents) and deletes events."""
    Thing = webhook_model(make_thing())
    event = ModelEvent("thing.extra")

    Thing.webhooks["on_extra"] = event
    assert event is Thing.webhooks["on_extra"]
    with pytest.raises(TypeError, match="not an event slot"):
        Thing.webhooks["extra"] = event
    with pytest.raises(TypeError, match="not a ModelEvent"):
        Thing.webhooks["on_other"] = "thing.other"
    del Thing.webhooks["on_extra"]
    with pytest.raises(KeyError):
        Thing.webhooks["on_extra"]


# -- payload and headers hooks ---------------------------------------------------------------


def test_payload_and_headers_default_to_the_model_methods():
    """Without hooks, payload()/headers() call the webhook_payload()/webhook_headers() methods."""
    Thing = webhook_model(
        make_thing(
            webhook_payload=lambda self: {"pk": self.pk},
            webhook_headers=lambda self: {"X-Pk": str(self.pk)},
        )
    )

    assert {"pk": 1} == Thing.webhooks.payload(Thing())
    assert {"X-Pk": "1"} == Thing.webhooks.headers(Thing())


def test_payload_and_headers_are_none_without_model_methods():
    """Without hooks or model methods, payload() and headers() return None."""
    Thing = webhook_model(make_thing())

    assert Thing.webhooks.payload(Thing()) is None
    assert Thing.webhooks.headers(Thing()) is None


def test_the_message_uses_the_hooks_of_the_model(settings):
    """A ModelEvent's message takes data, headers, sender and ref from the model's webhooks."""
    settings.THORN_BASE_URL = "https://things.example"
    created = ModelEvent("thing.{.name}.created")

    @webhook_model
    class Thing:
        pk = 7
        name = "gizmo"
        owner = SimpleNamespace(get_username=lambda: "alice")

        class webhooks:
            on_create = created
            sender_field = "owner"

            def reverse(thing, app=None):
                return f"/things/{thing.pk}/"

            def payload(self, thing):
                return {"name": thing.name}

            def headers(self, thing):
                return {"X-Thing": thing.name}

    thing = Thing()
    message = created.prepare_message(thing, {"instance": 7})

    assert (
        ModelMessage(
            event="thing.gizmo.created",
            data={
                "event": "thing.gizmo.created",
                "ref": "https://things.example/things/7/",
                "sender": "alice",
                "data": {"name": "gizmo"},
            },
            sender=Thing.owner,
            headers={"X-Thing": "gizmo"},
            context={"instance": 7},
        )
        == message
    )
    assert ["event", "ref", "sender", "data"] == list(message.data)


def test_per_event_reverse_and_sender_field_win_over_the_model_ones():
    """An event's own reverse and sender_field are used instead of the model-level ones."""
    own = ModelEvent("thing.own", reverse=lambda thing, app=None: "/own/", sender_field="editor")
    default = ModelEvent("thing.default")
    editor, owner = object(), object()
    Thing = webhook_model(
        on_own=own,
        on_default=default,
        reverse=lambda thing, app=None: "/model/",
        sender_field="owner",
    )(make_thing(editor=editor, owner=owner))

    thing = Thing()
    assert ("/own/", editor) == (own.get_absolute_url(thing), own.instance_sender(thing))
    assert ("/model/", owner) == (default.get_absolute_url(thing), default.instance_sender(thing))


def test_a_none_on_the_sender_path_means_no_sender():
    """sender_field "author.account.user" with author None gives no sender (no AttributeError)."""
    event = ModelEvent("thing.created", sender_field="author.account.user")
    Thing = webhook_model(on_create=event)(make_thing(author=None))

    assert event.instance_sender(Thing()) is None


# -- connecting to model signals --------------------------------------------------------------


def test_custom_slot_without_dispatches_is_stored_but_not_connected(monkeypatch):
    """An on_* event other than create/change/delete with no dispatches_on_*() never fires."""
    calls = Calls()
    created = calls.attach(monkeypatch, ModelEvent("thing.created"))
    custom = calls.attach(monkeypatch, ModelEvent("thing.custom"))
    Thing = webhook_model(on_create=created, on_custom=custom)(make_thing())
    thing = Thing()

    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=False, using="default")
    signals.post_save.send(sender=Thing, instance=thing, created=False, raw=False, using="default")
    signals.post_delete.send(sender=Thing, instance=thing, using="default")

    assert custom is Thing.webhooks["on_custom"]
    assert (True, False) == (created.dispatches, custom.dispatches)
    assert [("thing.created", thing)] == calls.calls


def test_standard_slots_connect_to_their_signals(monkeypatch):
    """on_create fires on a created post_save, on_change on other saves, on_delete on delete."""
    calls = Calls()
    Thing = webhook_model(
        on_create=calls.attach(monkeypatch, ModelEvent("thing.created")),
        on_change=calls.attach(monkeypatch, ModelEvent("thing.changed")),
        on_delete=calls.attach(monkeypatch, ModelEvent("thing.removed")),
    )(make_thing())
    thing = Thing()

    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=False, using="default")
    signals.post_save.send(sender=Thing, instance=thing, created=False, raw=False, using="default")
    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=True, using="default")
    signals.post_delete.send(sender=Thing, instance=thing, using="default")
    signals.post_save.send(sender=object, instance=thing, created=True, raw=False, using="default")

    assert ["thing.created", "thing.changed", "thing.removed"] == [name for name, _ in calls.calls]


def test_the_first_dispatches_on_wins():
    """dispatches_on_change().dispatches_on_delete() dispatches on change."""
    event = ModelEvent("thing.changed").dispatches_on_change().dispatches_on_delete()

    assert isinstance(event.signal_dispatcher, dispatch_on_change)


def test_an_explicit_dispatches_on_wins_over_the_slot_default(monkeypatch):
    """An on_create event declared with dispatches_on_delete() is sent on delete, not on create."""
    calls = Calls()
    event = calls.attach(monkeypatch, ModelEvent("thing.gone").dispatches_on_delete())
    Thing = webhook_model(on_create=event)(make_thing())
    thing = Thing()

    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=False, using="default")
    signals.post_delete.send(sender=Thing, instance=thing, using="default")

    assert isinstance(event.signal_dispatcher, dispatch_on_delete)
    assert [("thing.gone", thing)] == calls.calls


def test_slot_default_is_given_to_events_without_dispatches():
    """on_create, on_change and on_delete events get dispatches_on_create/change/delete."""
    created, changed, removed = (ModelEvent(n) for n in ("t.created", "t.changed", "t.removed"))
    webhook_model(on_create=created, on_change=changed, on_delete=removed)(make_thing())

    assert isinstance(created.signal_dispatcher, dispatch_on_create)
    assert isinstance(changed.signal_dispatcher, dispatch_on_change)
    assert isinstance(removed.signal_dispatcher, dispatch_on_delete)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda: ModelEvent("t.p", state__now_eq="P"), id="keyword"),
        pytest.param(lambda: ModelEvent("t.p", Q(state__now_eq="P")), id="thorn-Q"),
        pytest.param(lambda: ModelEvent("t.p", DjangoQ(state__now_eq="P")), id="django-Q"),
        pytest.param(
            lambda: ModelEvent("t.p", Q(state__eq="P") | ~Q(state__now_ne="P")), id="nested-Q"
        ),
    ],
)
def test_transitions_anywhere_connect_the_pre_save_fetch(event):
    """A now_* filter, as keyword or in (Django) Q objects, makes on-change fetch the old row."""
    transition = event().dispatches_on_change()
    Thing = webhook_model(on_publish=transition)(make_thing())

    assert transition.use_transitions
    assert signals.pre_save.has_listeners(Thing)


def test_without_transitions_there_is_no_pre_save_fetch():
    """An on-change event with plain filters does not connect to pre_save."""
    plain = ModelEvent("t.p", state__eq="P").dispatches_on_change()
    Thing = webhook_model(on_change=plain)(make_thing())

    assert not plain.use_transitions
    assert not signals.pre_save.has_listeners(Thing)
    assert signals.post_save.has_listeners(Thing)


def test_one_event_can_serve_several_models():
    """The same ModelEvent attached to two classes knows both."""
    shared = ModelEvent("thing.created")
    First = webhook_model(on_create=shared)(make_thing())
    Second = webhook_model(on_create=shared)(make_thing())

    assert {First, Second} == set(shared.models)
    assert signals.post_save.has_listeners(First)
    assert signals.post_save.has_listeners(Second)


def test_the_events_of_a_model_share_one_receiver_per_signal(monkeypatch):
    """Three save events: one post_save receiver calls their handlers, in order."""
    calls = Calls()
    Thing = webhook_model(
        on_create=calls.attach(monkeypatch, ModelEvent("thing.created")),
        on_change=calls.attach(monkeypatch, ModelEvent("thing.changed")),
        on_other=calls.attach(monkeypatch, ModelEvent("thing.other").dispatches_on_create()),
    )(make_thing())
    thing = Thing()

    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=False, using="default")

    # Each entry starts with its lookup key: (id of the receiver, id of the sender).
    assert 1 == sum(1 for entry in signals.post_save.receivers if entry[0][1] == id(Thing))
    assert [("thing.created", thing), ("thing.other", thing)] == calls.calls


def test_nobody_listening_stops_a_model_event_before_its_filter(monkeypatch):
    """The gate (may_receive) is asked first: the filter, context and payload are not."""
    event = ModelEvent("thing.created")
    asked = []
    monkeypatch.setattr(event, "may_receive", lambda instance: asked.append(instance) or False)
    monkeypatch.setattr(event, "should_dispatch", lambda *a, **kw: pytest.fail("filtered"))
    Thing = webhook_model(on_create=event)(make_thing())
    thing = Thing()

    signals.post_save.send(sender=Thing, instance=thing, created=True, raw=False, using="default")

    assert [thing] == asked


# -- filters are checked when the event is defined ----------------------------------------


def test_a_filter_without_operator_raises_value_error_naming_the_key():
    """ModelEvent("x", state="X") raises ValueError that names "state"."""
    with pytest.raises(ValueError, match="'state'"):
        ModelEvent("x", state="X")


@pytest.mark.parametrize(
    ("args", "kwargs", "key"),
    [
        pytest.param((), {"state__bogus": "X"}, "state__bogus", id="keyword"),
        pytest.param((), {"state__now_true": "X"}, "state__now_true", id="now-of-true"),
        pytest.param((Q(state__eq="P"),), {"title__equals": "X"}, "title__equals", id="with-Q"),
    ],
)
def test_an_unknown_operator_raises_value_error_naming_the_key(args, kwargs, key):
    """An unknown operator raises ValueError naming the key, when the event is defined."""
    with pytest.raises(ValueError, match=key):
        ModelEvent("x", *args, **kwargs)


def test_an_unknown_operator_inside_a_q_raises_value_error():
    """An unknown operator in a positional Q raises ValueError naming the key."""
    with pytest.raises(ValueError, match="state__bogus"):
        ModelEvent("x", DjangoQ(state__bogus="X"))


# -- the blog models ---------------------------------------------------------------------------


def test_article_nested_webhooks():
    """Article (nested style) has its events, hooks and sender_field on one WebhookCapable."""
    webhooks: Any = Article.webhooks

    assert webhooks is Article.webhook_events
    assert "ArticleWebhooks" == type(webhooks).__name__
    assert [
        "on_create",
        "on_change",
        "on_delete",
        "on_publish",
        "on_retract",
        "on_archive",
        "on_tagged",
        "on_untagged",
        "on_tags_cleared",
    ] == list(webhooks.events)
    assert "author.account.user" == webhooks.sender_field
    article = Article(title="T", state="DRAFT")
    assert {"title": "T", "state": "DRAFT"} == webhooks.payload(article)
    assert {"X-Article-State": "DRAFT"} == webhooks.headers(article)


def test_comment_keyword_webhooks():
    """Comment (keyword style) uses webhook_payload()/webhook_headers() and model-level options."""
    webhooks: Any = Comment.webhooks
    article = Article(title="T")
    comment = Comment(pk=5, article=article, text="Hi")

    assert WebhookCapable is type(webhooks)
    assert "user" == webhooks.sender_field
    assert isinstance(webhooks.reverse, model_reverser)
    assert {"text": "Hi", "article": str(article.uuid)} == webhooks.payload(comment)
    assert {"X-Comment": "5"} == webhooks.headers(comment)
    assert "/comment/5/" == webhooks["on_create"].get_absolute_url(comment)
    assert f"/article/{article.uuid}/" == webhooks["on_change"].get_absolute_url(comment)


def test_profile_without_hooks_has_no_payload_or_headers():
    """Profile has neither hooks nor model methods: payload() and headers() are None."""
    webhooks: Any = Profile.webhooks
    profile = Profile(username="bob")

    assert webhooks.payload(profile) is None
    assert webhooks.headers(profile) is None
    assert "user.bob" == webhooks["on_change"].prepare_message(profile).event
