"""The Subscriber model: defaults, validation, matching, and THORN_SUBSCRIBER_MODEL."""

from __future__ import annotations

import string
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import TestCase

from thorn import Event
from thorn._state import current_app
from thorn.django.models import Subscriber
from thorn.exceptions import ImproperlyConfigured
from thorn.utils import hmac

from t.receiver import Receiver

pytestmark = pytest.mark.django_db

#: The alphabet of generated secrets: letters, digits, punctuation without quotes.
ALPHABET = (
    string.ascii_letters + string.digits + string.punctuation.replace('"', "").replace("'", "")
)


def new(event: str = "article.created", url: str = "https://example.com/hook", **fields: Any):
    """An unsaved subscription."""
    return Subscriber(event=event, url=url, **fields)


def stored(event: str, url: str = "https://example.com/hook", **fields: Any) -> Subscriber:
    """A saved subscription."""
    return Subscriber.objects.create(event=event, url=url, **fields)


def stored_bypassing_validation(event: str) -> Subscriber:
    """A row whose event is not a valid pattern (as old or hand-edited data can be)."""
    subscriber = stored("placeholder.event", url=f"https://example.com/{uuid.uuid4()}")
    Subscriber.objects.filter(pk=subscriber.pk).update(event=event)
    return subscriber


def matched_events(event: str, user: Any = None) -> list[str]:
    """The stored patterns that receive ``event`` sent by ``user``, sorted."""
    return sorted(Subscriber.objects.matching(event, user).values_list("event", flat=True))


def event_errors(subscriber: Subscriber) -> list[str]:
    """The messages of the ValidationError full_clean raises on ``event``."""
    with pytest.raises(ValidationError) as excinfo:
        subscriber.full_clean()
    assert ["event"] == sorted(excinfo.value.message_dict)
    return excinfo.value.message_dict["event"]


# -- defaults -----------------------------------------------------------------


def test_secrets_draw_from_letters_digits_and_punctuation():
    """Secrets use the whole 92-character alphabet: letters, digits and punctuation, no quotes."""
    assert 92 == len(set(ALPHABET))
    secrets = "".join(
        stored("article.created", url=f"https://example.com/{n}").hmac_secret for n in range(20)
    )

    assert set() == set(secrets) - set(ALPHABET)
    for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%&()*+,-./"):
        assert set(secrets) & set(kind), kind


def test_defaults_of_a_new_subscription():
    """A new subscription signs with sha256, sends JSON and gets a uuid and a 64-char secret."""
    subscriber = stored("article.created")
    subscriber.refresh_from_db()

    assert "sha256" == subscriber.hmac_digest
    assert "application/json" == subscriber.content_type
    assert isinstance(subscriber.uuid, uuid.UUID)
    assert 64 == len(subscriber.hmac_secret)
    assert set() == set(subscriber.hmac_secret) - set(ALPHABET)
    assert subscriber.created_at is not None
    assert subscriber.user is None


def test_each_subscription_gets_its_own_uuid_and_secret():
    """Two subscriptions never share a uuid or a secret."""
    first = stored("article.created", url="https://example.com/1")
    second = stored("article.created", url="https://example.com/2")

    assert first.uuid != second.uuid
    assert first.hmac_secret != second.hmac_secret


def test_the_uuid_is_unique_in_the_database():
    """The database refuses a second row with the same uuid."""
    first = stored("article.created", url="https://example.com/1")

    with pytest.raises(IntegrityError), transaction.atomic():
        stored("article.changed", url="https://example.com/2", uuid=first.uuid)

    assert 1 == Subscriber.objects.filter(uuid=first.uuid).count()


def test_an_upper_case_digest_is_stored_in_lower_case():
    """hmac_digest="SHA512" is saved as "sha512"."""
    subscriber = stored("article.created", hmac_digest="SHA512")

    assert "sha512" == subscriber.hmac_digest
    assert ["sha512"] == list(
        Subscriber.objects.filter(pk=subscriber.pk).values_list("hmac_digest", flat=True)
    )


def test_full_clean_accepts_an_upper_case_digest():
    """full_clean accepts "SHA512" and leaves it as "sha512"."""
    subscriber = new(hmac_digest="SHA512")

    subscriber.full_clean()

    assert "sha512" == subscriber.hmac_digest


def test_full_clean_accepts_the_defaults():
    """A subscription with only an event and a URL is valid (the owner is optional)."""
    new().full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [("hmac_digest", "md5"), ("hmac_digest", "sha384"), ("content_type", "text/plain")],
)
def test_full_clean_refuses_a_value_outside_the_choices(field, value):
    """full_clean refuses an unsupported digest or content type, on that field."""
    subscriber = new(**{field: value})

    with pytest.raises(ValidationError) as excinfo:
        subscriber.full_clean()

    assert [field] == sorted(excinfo.value.message_dict)


# -- event patterns -----------------------------------------------------------


@pytest.mark.parametrize(
    "event", ["article.created", "article.*", "*.created", "*", "user.alice@x.com", "a.b.c"]
)
def test_full_clean_accepts_an_event_pattern(event):
    """Event names, "topic.*", "*.rest" and "*" are valid events."""
    new(event=event).full_clean()


@pytest.mark.parametrize("event", ["a.b.*", "*.*", "", "a b", "a.", ".a", "a..b", "a.*.c", "**"])
def test_full_clean_refuses_what_is_not_an_event_pattern(event):
    """A pattern that can never match is refused, with the error on "event"."""
    assert event_errors(new(event=event))


def test_event_choices_restrict_the_event(settings):
    """With THORN_EVENT_CHOICES set, full_clean refuses an event that is not listed."""
    settings.THORN_EVENT_CHOICES = ["article.created", "article.changed"]

    new(event="article.changed").full_clean()
    errors = event_errors(new(event="article.removed"))

    assert 1 == len(errors)
    assert "'article.removed'" in errors[0]


def test_event_choices_are_read_live(settings):
    """Changing THORN_EVENT_CHOICES changes what full_clean accepts."""
    settings.THORN_EVENT_CHOICES = ["article.created"]
    assert event_errors(new(event="article.removed"))

    settings.THORN_EVENT_CHOICES = ["article.removed"]
    new(event="article.removed").full_clean()


# -- str, user_ident ----------------------------------------------------------


def test_str_shows_the_event_and_the_url():
    """str() is "<event> -> <url>" for a short URL."""
    assert "article.created -> https://example.com/hook" == str(new())


def test_str_truncates_a_long_url_to_43_characters():
    """str() shortens a long URL to 43 characters, ending with an ellipsis."""
    url = "https://example.com/" + "x" * 100

    assert f"article.created -> {url[:42]}\N{HORIZONTAL ELLIPSIS}" == str(new(url=url))


def test_user_ident_is_the_owner_pk_without_a_query(django_assert_num_queries):
    """user_ident() returns the owner's pk without loading the user."""
    alice = User.objects.create_user("alice")
    pk = stored("article.created", user=alice).pk
    subscriber = Subscriber.objects.get(pk=pk)

    with django_assert_num_queries(0):
        ident = subscriber.user_ident()

    assert alice.pk == ident


def test_user_ident_is_none_without_an_owner(django_assert_num_queries):
    """user_ident() is None for an ownerless subscription, without a query."""
    subscriber = Subscriber.objects.get(pk=stored("article.created").pk)

    with django_assert_num_queries(0):
        ident = subscriber.user_ident()

    assert ident is None


# -- matching -----------------------------------------------------------------


@pytest.fixture
def patterns() -> None:
    """Subscriptions to every kind of pattern, plus rows that are not patterns."""
    for event in ("a.b.c", "a.*", "*.b.c", "*", "a.b", "*.b", "b.c", "*.c", "x.*", "*.x"):
        stored(event, url=f"https://example.com/{event}")
    for event in ("a.b.*", "*.*", "a.*.c", "*.b.*"):
        stored_bypassing_validation(event)


@pytest.mark.usefixtures("patterns")
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("a.b.c", ["*", "*.b.c", "a.*", "a.b.c"]),
        ("a.b", ["*", "*.b", "a.*", "a.b"]),
        ("b.c", ["*", "*.c", "b.c"]),
        ("z.q", ["*"]),
    ],
)
def test_matching_by_pattern_in_one_query(event, expected, django_assert_num_queries):
    """An event "topic.rest" is received by "topic.rest", "topic.*", "*.rest" and "*"."""
    with django_assert_num_queries(1):
        assert expected == matched_events(event)


@pytest.mark.usefixtures("patterns")
def test_topic_star_matches_any_depth():
    """A "topic.*" row receives events of any depth; "*.c" does not receive "a.b.c"."""
    assert ["*", "a.*"] == matched_events("a.b.c.d")
    assert "*.c" not in matched_events("a.b.c")


@pytest.mark.usefixtures("patterns")
def test_rows_that_are_not_patterns_match_nothing():
    """Stored "a.b.*", "*.*", "a.*.c" and "*.b.*" receive no event."""
    invalid = {"a.b.*", "*.*", "a.*.c", "*.b.*"}
    for event in ("a.b.c", "a.b.x", "a.x.c", "x.b.y", "a.b", "a"):
        assert set() == invalid & set(matched_events(event))


@pytest.fixture
def owners() -> tuple[User, User]:
    """alice and bob, each with a subscription, and an ownerless subscription."""
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    stored("article.created", url="https://example.com/site")
    stored("article.created", url="https://example.com/alice", user=alice)
    stored("article.*", url="https://example.com/bob", user=bob)
    return alice, bob


def matched_urls(event: str, user: Any = None) -> list[str]:
    return sorted(Subscriber.objects.matching(event, user).values_list("url", flat=True))


def test_without_a_sender_every_owner_receives(owners, django_assert_num_queries):
    """An event without a sender goes to ownerless and owned subscriptions alike."""
    with django_assert_num_queries(1):
        urls = matched_urls("article.created")

    assert [
        "https://example.com/alice",
        "https://example.com/bob",
        "https://example.com/site",
    ] == urls


def test_a_senders_event_goes_to_ownerless_and_own_subscriptions(owners, django_assert_num_queries):
    """alice's event reaches the ownerless subscription and alice's, not bob's."""
    alice, bob = owners

    with django_assert_num_queries(1):
        urls = matched_urls("article.created", alice)

    assert ["https://example.com/alice", "https://example.com/site"] == urls
    assert ["https://example.com/bob", "https://example.com/site"] == matched_urls(
        "article.created", bob
    )


def test_matching_accepts_a_user_or_its_pk(owners):
    """matching(event, user) and matching(event, user.pk) find the same subscriptions."""
    alice, _bob = owners

    assert matched_urls("article.created", alice) == matched_urls("article.created", alice.pk)


def test_matching_event_ignores_owners(owners):
    """matching_event() alone does not filter by owner."""
    found = Subscriber.objects.matching_event("article.created").values_list("url", flat=True)

    assert [
        "https://example.com/alice",
        "https://example.com/bob",
        "https://example.com/site",
    ] == sorted(found)


def test_matching_is_an_in_query_on_the_event():
    """The query compares the event column with IN (patterns), not LIKE or a scan."""
    sql, params = Subscriber.objects.matching("article.created").query.sql_with_params()

    assert '"webhooks_subscriber"."event" IN (%s, %s, %s, %s)' in sql
    assert "LIKE" not in sql.upper()
    assert ("article.created", "article.*", "*.created", "*") == params[:4]
    # and the lease has not ended (the time of the query is the last parameter)
    assert '"webhooks_subscriber"."expires_at" IS NULL OR' in sql


def test_matching_with_a_user_adds_the_owner_condition():
    """With a sender, the query adds "user IS NULL OR user = <pk>" to the IN on event."""
    sql, params = Subscriber.objects.matching("article.created", 42).query.sql_with_params()

    assert '"webhooks_subscriber"."event" IN (%s, %s, %s, %s)' in sql
    assert '"webhooks_subscriber"."user_id" IS NULL OR "webhooks_subscriber"."user_id" = %s' in sql
    assert ("article.created", "article.*", "*.created", "*", 42) == (*params[:4], params[-1])


def event_indexes() -> set[str]:
    """Names of the indexes on the event column, read from the schema."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "webhooks_subscriber")
    return {
        name
        for name, info in constraints.items()
        if info["columns"] == ["event"] and info["index"] and not info["unique"]
    }


def test_the_event_column_is_indexed():
    """The schema has an index on the event column."""
    assert event_indexes()


@pytest.mark.parametrize("user", [None, 1])
def test_postgresql_matches_through_the_event_index(user):
    """On PostgreSQL the plan of matching() reads the event index, whatever the table holds."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN with enable_seqscan is PostgreSQL's")
    Subscriber.objects.bulk_create(
        Subscriber(event=f"other{n}.created", url=f"https://example.com/{n}") for n in range(500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_subscriber")
        cursor.execute("SET LOCAL enable_seqscan = off")
    indexes = event_indexes()

    plan = Subscriber.objects.matching("article.created", user).explain()

    assert "Seq Scan" not in plan
    assert [name for name in indexes if name in plan], plan


# -- old rows -----------------------------------------------------------------


def test_an_old_upper_case_digest_row_still_signs(receiver: Receiver, subscribe):
    """A row still holding "SHA512" (as Thorn 1.5 stored it) gets a verifiable SHA-512 signature."""
    subscriber = subscribe("ping.sent", "/old-row", hmac_secret="old-row-secret")
    Subscriber.objects.filter(pk=subscriber.pk).update(hmac_digest="SHA512")

    with TestCase.captureOnCommitCallbacks(execute=True):  # sent when the test "commits"
        Event("ping.sent").send({"n": 1})

    (received,) = receiver.wait_for(1, timeout=5)
    assert "/old-row" == received.path
    assert hmac.verify(received.header("Hook-HMAC"), "sha512", "old-row-secret", received.body)
    assert 88 == len(received.header("Hook-HMAC"))  # base64 of 64 bytes: SHA-512, not SHA-256


# -- THORN_SUBSCRIBER_MODEL ---------------------------------------------------


@pytest.mark.parametrize("path", ["t.no_such_module:Subscriber", "thorn.django.models:Nope"])
def test_a_bad_subscriber_model_path_names_the_setting(settings, path):
    """A THORN_SUBSCRIBER_MODEL that cannot be imported raises ImproperlyConfigured naming it."""
    settings.THORN_SUBSCRIBER_MODEL = path

    with pytest.raises(ImproperlyConfigured) as excinfo:
        current_app().env.Subscriber  # noqa: B018

    assert "THORN_SUBSCRIBER_MODEL" in str(excinfo.value)
    assert path in str(excinfo.value)


@pytest.mark.parametrize(
    "path", ["thorn.django.models:Subscriber", "thorn.django.models.Subscriber"]
)
def test_the_subscriber_model_by_either_path_form(settings, path, receiver: Receiver, subscribe):
    """THORN_SUBSCRIBER_MODEL as "module:Model" or "module.Model" selects and delivers to it."""
    settings.THORN_SUBSCRIBER_MODEL = path
    subscriber = subscribe("ping.sent", "/custom-model")

    assert Subscriber is current_app().env.Subscriber
    with TestCase.captureOnCommitCallbacks(execute=True):  # sent when the test "commits"
        Event("ping.sent").send({"n": 1})

    received = receiver.wait_for(1, timeout=5)
    assert ["/custom-model"] == [r.path for r in received]
    assert str(subscriber.uuid) == received[0].header("Hook-Subscription")
