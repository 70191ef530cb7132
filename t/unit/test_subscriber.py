"""Tests for thorn.generic.subscriber: patterns, static subscribers and lookup."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from thorn.app import Thorn
from thorn.conf import MIME_JSON, MIME_URLFORM
from thorn.environment import Environment
from thorn.exceptions import ImproperlyConfigured
from thorn.generic.models import AbstractSubscriber
from thorn.generic.subscriber import (
    StaticSubscriber,
    event_matches,
    event_patterns,
    subscribers_for_event,
)

URL = "http://example.com/hook"


class User:
    """A sender with a primary key."""

    def __init__(self, pk: int) -> None:
        self.pk = pk


def module_subscribers(event, sender=None, **context):
    """Importable subscriber callback, used as "!t.unit.test_subscriber:module_subscribers"."""
    yield f"http://example.com/from-path/{event}"


#: An importable list of subscribers, used as "!t.unit.test_subscriber:MODULE_LIST".
MODULE_LIST = ["http://example.com/list/1", "http://example.com/list/2"]


def lookup(
    app: Thorn,
    event: str = "article.created",
    sender: Any = None,
    context: dict[str, Any] | None = None,
    extra: Any = None,
) -> list[AbstractSubscriber]:
    return subscribers_for_event(app, event, sender, context, extra)


def urls(subscribers: list[AbstractSubscriber]) -> list[str]:
    return [s.url for s in subscribers]


# FACTS §4.2, plus "*" which matches every event.
PATTERN_TABLE = [
    pytest.param("a.b.c", "a.b.c", True, id="a.b.c-exact"),
    pytest.param("a.*", "a.b.c", True, id="a.b.c-topic-star"),
    pytest.param("*.b.c", "a.b.c", True, id="a.b.c-star-rest"),
    pytest.param("*", "a.b.c", True, id="a.b.c-star"),
    pytest.param("a.b.*", "a.b.c", False, id="a.b.c-no-deep-suffix"),
    pytest.param("*.c", "a.b.c", False, id="a.b.c-no-last-segment"),
    pytest.param("*.*", "a.b.c", False, id="a.b.c-no-star-star"),
    pytest.param("a.*.c", "a.b.c", False, id="a.b.c-no-inner-star"),
    pytest.param("a.b", "a.b", True, id="a.b-exact"),
    pytest.param("a.*", "a.b", True, id="a.b-topic-star"),
    pytest.param("*.b", "a.b", True, id="a.b-star-rest"),
    pytest.param("*", "a.b", True, id="a.b-star"),
    pytest.param("b.*", "a.b", False, id="a.b-other-topic"),
    pytest.param("a", "a", True, id="a-exact"),
    pytest.param("a.*", "a", True, id="a-topic-star"),
    pytest.param("*.", "a", True, id="a-star-dot"),
    pytest.param("*", "a", True, id="a-star"),
    pytest.param("*.a", "a", False, id="a-not-star-a"),
    pytest.param("*.c", "b.c", True, id="b.c-star-rest"),
    pytest.param("*", "b.c", True, id="b.c-star"),
    pytest.param("a.*", "b.c", False, id="b.c-other-topic"),
    pytest.param("B.c", "b.c", False, id="case-sensitive"),
]


class TestEventPatterns:
    @pytest.mark.parametrize(("pattern", "event", "expected"), PATTERN_TABLE)
    def test_event_matches(self, pattern, event, expected):
        """event_matches follows 1.5's matching table (FACTS §4.2), plus "*"."""
        assert expected == event_matches(pattern, event)

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            pytest.param("a.b.c", ("a.b.c", "a.*", "*.b.c", "*"), id="three-parts"),
            pytest.param("a.b", ("a.b", "a.*", "*.b", "*"), id="two-parts"),
            pytest.param("a", ("a", "a.*", "*.", "*"), id="one-part"),
        ],
    )
    def test_event_patterns(self, event, expected):
        """event_patterns lists exactly the patterns that match an event."""
        assert expected == event_patterns(event)


class TestStaticSubscriberForms:
    def test_url(self, make_app):
        """A URL becomes a JSON subscriber of that event with THORN_SUBSCRIBERS_SECRET."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": URL})
        (sub,) = lookup(app)
        assert isinstance(sub, AbstractSubscriber)
        assert URL == sub.url
        assert "article.created" == sub.event
        assert "static-secret" == sub.hmac_secret
        assert "sha256" == sub.hmac_digest
        assert MIME_JSON == sub.content_type
        assert sub.user is None
        assert isinstance(sub.uuid, uuid.UUID)

    def test_list_of_urls(self, make_app):
        """A list of URLs gives one subscriber per URL, in order."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [URL, URL + "/2", URL + "/3"]})
        assert [URL, URL + "/2", URL + "/3"] == urls(lookup(app))

    def test_dict(self, make_app):
        """A dict gives a subscriber with its fields (from_dict semantics); digest lower-cased."""
        uid = uuid.uuid4()
        app = make_app(
            THORN_SUBSCRIBERS={
                "article.created": {
                    "url": URL,
                    "uuid": str(uid),
                    "hmac_secret": "own-secret",
                    "hmac_digest": "SHA512",
                    "content_type": MIME_URLFORM,
                }
            }
        )
        (sub,) = lookup(app)
        assert uid == sub.uuid
        assert "own-secret" == sub.hmac_secret
        assert "sha512" == sub.hmac_digest
        assert MIME_URLFORM == sub.content_type
        assert {
            "uuid": str(uid),
            "event": "article.created",
            "user": None,
            "url": URL,
            "hmac_secret": "own-secret",
            "hmac_digest": "sha512",
            "content_type": MIME_URLFORM,
        } == sub.as_dict()

    def test_dict_without_secret_gets_setting_secret(self, make_app):
        """A dict without hmac_secret gets THORN_SUBSCRIBERS_SECRET."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"url": URL}})
        (sub,) = lookup(app)
        assert "static-secret" == sub.hmac_secret

    def test_callback_returning_generator(self, make_app):
        """A callback is called as fn(event, sender=..., **context) and may yield subscribers."""
        calls = []
        sender = User(7)

        def callback(event, sender=None, **context):
            calls.append((event, sender, context))
            yield URL
            yield {"url": URL + "/dict", "hmac_secret": "s"}

        app = make_app(THORN_SUBSCRIBERS={"article.*": callback})
        found = lookup(app, sender=sender, context={"instance": 3})
        assert [URL, URL + "/dict"] == urls(found)
        assert [("article.created", sender, {"instance": 3})] == calls

    def test_callback_returning_nothing(self, make_app):
        """A callback returning None or an empty list gives no subscriber."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [lambda e, sender=None: None]})
        assert [] == lookup(app)

    def test_nested_lists_and_falsy_items(self, make_app):
        """Nested lists are traversed and falsy items skipped."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [URL, None, "", [URL + "/2", []]]})
        assert [URL, URL + "/2"] == urls(lookup(app))

    def test_bang_path_to_callable(self, make_app):
        """A "!module:function" string is imported and called."""
        app = make_app(
            THORN_SUBSCRIBERS={"article.created": "!t.unit.test_subscriber:module_subscribers"}
        )
        assert ["http://example.com/from-path/article.created"] == urls(lookup(app))

    def test_bang_path_to_list(self, make_app):
        """A "!module:name" string naming a list gives the list's subscribers."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": "!t.unit.test_subscriber:MODULE_LIST"})
        assert MODULE_LIST == urls(lookup(app))

    def test_bang_path_not_importable(self, make_app):
        """A "!path" that cannot be imported raises ImproperlyConfigured naming the setting."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": "!no.such.module:subscribers"})
        with pytest.raises(ImproperlyConfigured, match="THORN_SUBSCRIBERS"):
            lookup(app)

    def test_subscriber_object(self, make_app):
        """A subscriber object is used as it is."""
        sub = StaticSubscriber(url=URL, event="article.created", hmac_secret="mine")
        app = make_app(THORN_SUBSCRIBERS={"article.created": sub})
        assert [sub] == lookup(app)

    def test_registered_subscriber_class(self, make_app):
        """Objects of a class registered with AbstractSubscriber are used as they are."""

        @AbstractSubscriber.register
        class Custom:
            uuid = uuid.uuid4()
            event = "article.created"
            url = URL
            user = None
            hmac_secret = "x"
            hmac_digest = "sha256"
            content_type = MIME_JSON

            def user_ident(self):
                return None

        custom: Any = Custom()
        app = make_app(THORN_SUBSCRIBERS={"article.created": [custom]})
        (found,) = lookup(app)
        assert custom is found

    def test_event_extra_subscribers(self, make_app):
        """Extra subscribers (an event's own) come after THORN_SUBSCRIBERS."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": URL})
        found = lookup(app, extra=[URL + "/extra"])
        assert [URL, URL + "/extra"] == urls(found)
        assert "article.created" == found[1].event

    def test_not_a_subscriber(self, make_app):
        """An item that is no subscriber form raises ImproperlyConfigured."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [42]})
        with pytest.raises(ImproperlyConfigured):
            lookup(app)


class TestPatternsInSetting:
    @pytest.mark.parametrize(
        ("key", "event", "matches"),
        [
            pytest.param("article.created", "article.created", True, id="exact"),
            pytest.param("article.*", "article.created", True, id="topic-star"),
            pytest.param("*.created", "article.created", True, id="star-rest"),
            pytest.param("*", "article.created", True, id="star"),
            pytest.param("article.*", "comment.created", False, id="other-topic"),
            pytest.param("article.created", "article.changed", False, id="other-event"),
        ],
    )
    def test_keys_are_patterns(self, make_app, key, event, matches):
        """THORN_SUBSCRIBERS keys match events by the same patterns as stored subscriptions."""
        app = make_app(THORN_SUBSCRIBERS={key: URL})
        assert ([URL] if matches else []) == urls(lookup(app, event))

    def test_pattern_becomes_subscriber_event(self, make_app):
        """A static subscriber's event is the key it was listed under."""
        app = make_app(THORN_SUBSCRIBERS={"article.*": URL})
        (sub,) = lookup(app, "article.created")
        assert "article.*" == sub.event

    def test_several_keys_match(self, make_app):
        """Every matching key contributes its subscribers, in setting order."""
        app = make_app(
            THORN_SUBSCRIBERS={
                "article.*": URL + "/topic",
                "comment.*": URL + "/comment",
                "article.created": URL + "/exact",
            }
        )
        assert [URL + "/topic", URL + "/exact"] == urls(lookup(app))


class TestDeduplication:
    def test_same_url_twice_under_one_key(self, make_app):
        """The same URL listed twice under one key is delivered once."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [URL, URL]})
        assert [URL] == urls(lookup(app))

    def test_same_subscriber_in_setting_and_event(self, make_app):
        """A subscriber in THORN_SUBSCRIBERS and in the event's own list is delivered once."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": URL})
        assert [URL] == urls(lookup(app, extra=[URL]))

    def test_same_uuid_different_url(self, make_app):
        """Subscribers with the same uuid are one subscriber: the first one wins."""
        uid = str(uuid.uuid4())
        app = make_app(
            THORN_SUBSCRIBERS={
                "article.created": [{"url": URL, "uuid": uid}, {"url": URL + "/2", "uuid": uid}]
            }
        )
        assert [URL] == urls(lookup(app))


class TestSenderFiltering:
    @pytest.mark.parametrize(
        ("sender", "receives"),
        [
            pytest.param(User(1), True, id="owner"),
            pytest.param(None, True, id="no-sender"),
            pytest.param(User(2), False, id="other-user"),
            pytest.param(1, True, id="owner-pk"),
            pytest.param(2, False, id="other-pk"),
        ],
    )
    def test_owned_subscriber(self, make_app, sender, receives):
        """An owned subscriber receives events of its owner and events without a sender."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"url": URL, "user": 1}})
        assert ([URL] if receives else []) == urls(lookup(app, sender=sender))

    @pytest.mark.parametrize("sender", [None, User(1), User(2)])
    def test_ownerless_subscriber_receives_all(self, make_app, sender):
        """A subscriber without an owner receives the events of every sender."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": URL})
        assert [URL] == urls(lookup(app, sender=sender))

    def test_owner_given_as_object(self, make_app):
        """An owner given as a user object is compared by its pk."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"url": URL, "user": User(1)}})
        assert [URL] == urls(lookup(app, sender=User(1)))
        assert [] == urls(lookup(app, sender=User(2)))

    def test_extra_subscribers_filtered_too(self, make_app):
        """An event's own owned subscribers are filtered by sender as well."""
        app = make_app()
        extra = [{"url": URL, "user": 1}, URL + "/ownerless"]
        assert [URL + "/ownerless"] == urls(lookup(app, sender=User(2), extra=extra))


class TestStableIdentity:
    def test_uuid_and_secret_stable_across_lookups(self, make_app):
        """A URL-only static subscriber keeps its uuid and secret from one lookup to the next."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": URL})
        (first,) = lookup(app)
        (second,) = lookup(app)
        assert first.uuid == second.uuid
        assert first.hmac_secret == second.hmac_secret

    def test_uuid_stable_across_apps(self, make_app):
        """The uuid depends only on the pattern and URL, not on the process or app."""
        (one,) = lookup(make_app(THORN_SUBSCRIBERS={"article.created": URL}))
        (two,) = lookup(make_app(THORN_SUBSCRIBERS={"article.created": URL}))
        assert one.uuid == two.uuid

    def test_uuid_differs_per_url_and_pattern(self, make_app):
        """Different URLs or patterns give different uuids."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": [URL, URL + "/2"], "article.*": URL})
        uuids = {s.uuid for s in lookup(app)}
        assert 3 == len(uuids)

    def test_secret_derived_from_secret_key(self):
        """Without THORN_SUBSCRIBERS_SECRET the secret is derived from the site's secret key."""
        env = Environment({"THORN_SUBSCRIBERS": {"article.created": [URL, URL + "/2"]}})
        env.secret_key = "site-secret-key"
        app = Thorn(env=env, set_as_current=False)
        first, second = lookup(app)
        assert first.hmac_secret
        assert "site-secret-key" not in first.hmac_secret
        assert first.hmac_secret != second.hmac_secret
        assert [first.hmac_secret, second.hmac_secret] == [s.hmac_secret for s in lookup(app)]

    def test_subscriber_given_secret_wins(self, make_app):
        """A dict's own hmac_secret wins over THORN_SUBSCRIBERS_SECRET."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"url": URL, "hmac_secret": "own"}})
        (sub,) = lookup(app)
        assert "own" == sub.hmac_secret


class TestSecretLists:
    def test_a_list_of_secrets_newest_first(self, make_app):
        """The first secret is hmac_secret; all of them sign webhook-signature, in order."""
        setting = {"article.created": {"url": URL, "hmac_secret": ["new", "older", "oldest"]}}
        (sub,) = lookup(make_app(THORN_SUBSCRIBERS=setting))
        assert "new" == sub.hmac_secret
        assert ("older", "oldest") == sub.previous_hmac_secrets
        assert ("new", "older", "oldest") == sub.signing_secrets(0)

    @pytest.mark.parametrize("secrets", [["only"], ("only",)], ids=["list", "tuple"])
    def test_one_secret_in_a_list(self, secrets):
        sub = StaticSubscriber(url=URL, hmac_secret=secrets)
        assert ("only", ()) == (sub.hmac_secret, sub.previous_hmac_secrets)

    def test_a_single_secret_signs_alone(self):
        assert ("one",) == StaticSubscriber(url=URL, hmac_secret="one").signing_secrets(0)

    def test_the_uuid_does_not_depend_on_the_secrets(self, make_app):
        """Adding a secret for a rotation keeps the subscriber's stable uuid."""
        before = StaticSubscriber(url=URL, event="article.created", hmac_secret="old")
        after = StaticSubscriber(url=URL, event="article.created", hmac_secret=["new", "old"])
        assert before.uuid == after.uuid

    def test_secrets_are_not_in_the_repr(self):
        sub = StaticSubscriber(url=URL, hmac_secret=["new-secret", "old-secret"])
        assert "secret" not in repr(sub).replace("StaticSubscriber", "")

    @pytest.mark.parametrize(
        "secrets",
        [
            pytest.param(["new", ""], id="empty-string"),
            pytest.param(["new", 42], id="not-a-string"),
            pytest.param(("new", None), id="none"),
        ],
    )
    def test_a_bad_list_is_refused(self, make_app, secrets):
        setting = {"article.created": {"url": URL, "hmac_secret": secrets}}
        with pytest.raises(ImproperlyConfigured, match="non-empty strings, newest first"):
            lookup(make_app(THORN_SUBSCRIBERS=setting))

    def test_an_empty_list_gets_the_default_secret(self, make_app):
        """Like a missing secret: THORN_SUBSCRIBERS_SECRET (make_app's "static-secret")."""
        setting = {"article.created": {"url": URL, "hmac_secret": []}}
        (sub,) = lookup(make_app(THORN_SUBSCRIBERS=setting))
        assert ("static-secret", ()) == (sub.hmac_secret, sub.previous_hmac_secrets)


class TestImproperlyConfigured:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param([URL], id="list"),
            pytest.param(URL, id="string"),
            pytest.param(("article.created", URL), id="tuple"),
        ],
    )
    def test_setting_not_a_mapping(self, make_app, value):
        """A THORN_SUBSCRIBERS that is not a mapping raises, naming the setting."""
        app = make_app(THORN_SUBSCRIBERS=value)
        with pytest.raises(ImproperlyConfigured, match="THORN_SUBSCRIBERS"):
            lookup(app)

    def test_unknown_dict_field(self, make_app):
        """A subscriber dict with an unknown field raises, naming the field."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"url": URL, "secret": "x"}})
        with pytest.raises(ImproperlyConfigured, match="secret"):
            lookup(app)

    def test_dict_without_url(self, make_app):
        """A subscriber dict without a URL raises ImproperlyConfigured."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": {"hmac_secret": "x"}})
        with pytest.raises(ImproperlyConfigured):
            lookup(app)

    def test_no_secret_available(self):
        """A URL-only subscriber without any secret available raises ImproperlyConfigured."""
        app = Thorn(
            set_as_current=False,
            config={
                "THORN_SUBSCRIBERS_SECRET": None,
                "THORN_SUBSCRIBERS": {"article.created": URL},
            },
        )
        with pytest.raises(ImproperlyConfigured, match="THORN_SUBSCRIBERS_SECRET"):
            lookup(app)

    def test_no_secret_needed_when_subscriber_has_one(self):
        """Without any secret setting, subscribers that carry their own secret still work."""
        app = Thorn(
            set_as_current=False,
            config={"THORN_SUBSCRIBERS": {"article.created": {"url": URL, "hmac_secret": "x"}}},
        )
        assert [URL] == urls(lookup(app))

    def test_unmatched_entries_not_evaluated(self):
        """Entries under keys that do not match the event are not built (nor can they fail)."""
        app = Thorn(
            set_as_current=False,
            config={"THORN_SUBSCRIBERS": {"comment.*": URL, "article.created": []}},
        )
        assert [] == lookup(app)
