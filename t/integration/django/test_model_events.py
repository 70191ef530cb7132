"""Model events end to end: real rows are saved, and the loopback receiver checks what arrives.

Every test runs against the real database (SQLite or PostgreSQL) without a
test-wide transaction, so ``transaction.on_commit`` behaves as in production.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from thorn import ModelEvent
from thorn.django.models import DeliveryRecord, MessageRecord, Subscriber
from thorn.utils.hmac import verify

from t.proj.blog.models import Account, Article, Author, Comment, Profile, Tag
from t.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

ENVELOPE_KEYS = ["event", "ref", "sender", "data"]


class Boom(Exception):
    """Raised inside ``transaction.atomic()`` to roll it back, or by a broken payload."""


# -- helpers -----------------------------------------------------------------


def events_at(receiver: Receiver, path: str) -> list[str | None]:
    """The ``Hook-Event`` of each delivery to ``path``, in arrival order."""
    return [r.header("Hook-Event") for r in receiver.for_path(path)]


def make_user(username: str) -> User:
    return User.objects.create(username=username)


def author_for(user: User) -> Author:
    """An Author whose ``account.user`` is ``user`` (Article's sender_field)."""
    return Author.objects.create(account=Account.objects.create(user=user), name=user.username)


def closed_port() -> int:
    """A local TCP port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- create, change, delete ----------------------------------------------------


def test_create_delivers_article_created(receiver, subscribe, sentinel):
    """Creating an Article delivers one signed article.created envelope built by its webhooks."""
    subscriber = subscribe("article.created")

    article = Article.objects.create(title="Hello", body="World")

    sentinel()
    [received] = receiver.for_path("/hook")
    assert "POST" == received.method
    assert "article.created" == received.header("Hook-Event")
    assert "application/json" == received.header("Content-Type")
    assert "PENDING" == received.header("X-Article-State")
    received.assert_signed_for(subscriber)
    body = received.json()
    assert ENVELOPE_KEYS == list(body)
    assert {
        "event": "article.created",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Hello", "state": "PENDING"},
    } == body


def test_change_delivers_article_changed(receiver, subscribe, sentinel):
    """Saving an existing Article delivers one article.changed with the new values."""
    article = Article.objects.create(title="Draft title", state="DRAFT")
    subscriber = subscribe("article.changed")

    article.title = "Final title"
    article.save()

    sentinel()
    [received] = receiver.for_path("/hook")
    assert "article.changed" == received.header("Hook-Event")
    assert "DRAFT" == received.header("X-Article-State")
    received.assert_signed_for(subscriber)
    body = received.json()
    assert ENVELOPE_KEYS == list(body)
    assert {
        "event": "article.changed",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Final title", "state": "DRAFT"},
    } == body


def test_delete_delivers_article_removed(receiver, subscribe, sentinel):
    """Deleting an Article delivers one article.removed whose ref still names it."""
    article = Article.objects.create(title="Doomed", state="PUBLISHED")
    uuid = article.uuid
    subscriber = subscribe("article.removed")

    article.delete()

    sentinel()
    [received] = receiver.for_path("/hook")
    assert "article.removed" == received.header("Hook-Event")
    assert "PUBLISHED" == received.header("X-Article-State")
    received.assert_signed_for(subscriber)
    body = received.json()
    assert ENVELOPE_KEYS == list(body)
    assert {
        "event": "article.removed",
        "ref": f"/article/{uuid}/",
        "sender": None,
        "data": {"title": "Doomed", "state": "PUBLISHED"},
    } == body
    assert not Article.objects.filter(uuid=uuid).exists()


def test_model_without_url_or_payload_sends_null_ref_and_empty_data(receiver, subscribe):
    """A Profile has no get_absolute_url, reverse or payload: ref is null and data is {}."""
    profile = Profile.objects.create(username="carol")
    subscribe("user.carol")

    profile.save()

    [received] = receiver.wait_for_path("/hook")
    assert {"event": "user.carol", "ref": None, "sender": None, "data": {}} == received.json()


# -- ref: absolute URLs ------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["https://blog.example", "https://blog.example/"])
def test_base_url_makes_ref_absolute(receiver, subscribe, settings, base_url):
    """THORN_BASE_URL (with or without a trailing slash) prefixes the ref path."""
    settings.THORN_BASE_URL = base_url
    subscribe("article.created")

    article = Article.objects.create(title="Absolute")

    [received] = receiver.wait_for_path("/hook")
    assert f"https://blog.example/article/{article.uuid}/" == received.json()["ref"]


@pytest.fixture
def sites(settings: Any, transactional_db: None) -> Iterator[None]:
    """Install django.contrib.sites with SITE_ID=1 on the domain sites.example."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.sites"]
    settings.SITE_ID = 1
    from django.contrib.sites.models import Site

    created = Site._meta.db_table not in connection.introspection.table_names()
    if created:
        with connection.schema_editor() as editor:
            editor.create_model(Site)
    Site.objects.clear_cache()
    Site.objects.update_or_create(pk=1, defaults={"domain": "sites.example", "name": "blog"})
    try:
        yield
    finally:
        Site.objects.clear_cache()
        if created:
            with connection.schema_editor() as editor:
                editor.delete_model(Site)


@pytest.mark.usefixtures("sites")
def test_sites_framework_makes_ref_absolute(receiver, subscribe):
    """With the Sites framework installed, the ref is https://<current site domain><path>."""
    subscribe("article.created")

    article = Article.objects.create(title="Sited")

    [received] = receiver.wait_for_path("/hook")
    assert f"https://sites.example/article/{article.uuid}/" == received.json()["ref"]


@pytest.mark.usefixtures("sites")
def test_base_url_wins_over_sites_framework(receiver, subscribe, settings):
    """THORN_BASE_URL is used even when the Sites framework would give a domain."""
    settings.THORN_BASE_URL = "https://blog.example"
    subscribe("article.created")

    article = Article.objects.create(title="Both")

    [received] = receiver.wait_for_path("/hook")
    assert f"https://blog.example/article/{article.uuid}/" == received.json()["ref"]


# -- transitions (now_* filters) ------------------------------------------------


def test_publish_is_sent_on_the_transition_to_published(receiver, subscribe, sentinel):
    """article.published is sent once when the state becomes PUBLISHED."""
    article = Article.objects.create(title="News")
    subscribe("article.published")

    article.state = "PUBLISHED"
    article.save()

    sentinel()
    [received] = receiver.for_path("/hook")
    assert "article.published" == received.header("Hook-Event")
    assert "PUBLISHED" == received.header("X-Article-State")
    assert {
        "event": "article.published",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "News", "state": "PUBLISHED"},
    } == received.json()


def test_saving_a_published_article_again_does_not_publish_it_again(receiver, subscribe, sentinel):
    """Later saves that keep the state PUBLISHED send article.changed, not article.published."""
    article = Article.objects.create(title="News")
    subscribe("article.published", path="/published")
    subscribe("article.changed", path="/changed")
    article.state = "PUBLISHED"
    article.save()

    article.title = "News, corrected"
    article.save()

    sentinel()
    assert ["article.published"] == events_at(receiver, "/published")
    changed = receiver.for_path("/changed")
    assert [
        {"title": "News", "state": "PUBLISHED"},
        {"title": "News, corrected", "state": "PUBLISHED"},
    ] == [r.json()["data"] for r in changed]


def test_a_save_without_change_does_not_fire_the_transition(receiver, subscribe, sentinel):
    """Saving an unchanged PUBLISHED article sends no article.published (the row is PUBLISHED)."""
    article = Article.objects.create(title="Stable")
    article.state = "PUBLISHED"
    article.save()
    subscribe("article.published")

    article.save()
    Article.objects.get(pk=article.pk).save()

    sentinel()
    assert [] == receiver.for_path("/hook")


def test_creating_a_published_article_sends_only_created(receiver, subscribe, sentinel):
    """article.published is on change only: creating a PUBLISHED article sends article.created."""
    subscribe("article.*")

    Article.objects.create(title="Born published", state="PUBLISHED")

    sentinel()
    assert ["article.created"] == events_at(receiver, "/hook")


def test_publish_compares_with_the_row_in_the_database(receiver, subscribe, sentinel):
    """The previous version is read from the database, not from the instance as it was loaded."""
    article = Article.objects.create(title="Flip", state="PUBLISHED")
    stale = Article.objects.get(pk=article.pk)  # loaded while PUBLISHED
    article.state = "DRAFT"
    article.save()
    subscribe("article.published")

    stale.save()  # PUBLISHED over a DRAFT row: a transition

    sentinel()
    [received] = receiver.for_path("/hook")
    assert "article.published" == received.header("Hook-Event")
    assert "PUBLISHED" == Article.objects.get(pk=article.pk).state


def test_publish_compares_with_the_row_when_saving_a_new_instance_with_its_pk(
    receiver, subscribe, sentinel
):
    """An unsaved instance given the pk of a PUBLISHED row updates it without a transition."""
    article = Article.objects.create(title="Twin", state="PUBLISHED")
    subscribe("article.published", path="/published")
    subscribe("article.changed", path="/changed")

    Article(pk=article.pk, uuid=article.uuid, title="Twin, again", state="PUBLISHED").save()

    sentinel()
    assert 1 == Article.objects.count()
    assert ["article.changed"] == events_at(receiver, "/changed")  # an update, not a create
    assert [] == receiver.for_path("/published")


def test_retract_is_sent_when_leaving_published_only(receiver, subscribe, sentinel):
    """The Q-object event article.retracted fires on PUBLISHED -> other, except to DELETED."""
    article = Article.objects.create(title="Retractable", state="PUBLISHED")
    subscribe("article.retracted")

    for state in ["DRAFT", "PENDING", "PUBLISHED", "DELETED", "PUBLISHED", "PENDING"]:
        article.state = state
        article.save()

    sentinel()
    # PUBLISHED -> DRAFT and PUBLISHED -> PENDING; not DRAFT -> PENDING nor PUBLISHED -> DELETED.
    assert ["DRAFT", "PENDING"] == [r.json()["data"]["state"] for r in receiver.for_path("/hook")]


def save_queries(instance: Any) -> list[str]:
    """The SQL of ``instance.save()`` inside a transaction (so without what happens on commit)."""
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        instance.save()
    return [query["sql"] for query in captured.captured_queries]


def test_nobody_subscribed_costs_no_query():
    """Nobody subscribes: saving an Article (it has now_* events) or a Profile is its UPDATE alone.

    The subscription index answers in memory: no lookup, no read of the
    previous row, nothing written to the outbox.
    """
    article = Article.objects.create(title="Counted")
    profile = Profile.objects.create(username="counted")
    article.state = "PUBLISHED"
    save_queries(profile)  # the index is loaded (and the version read) once a second at most

    [article_update] = save_queries(article)
    [profile_update] = save_queries(profile)

    assert article_update.startswith("UPDATE") and "blog_article" in article_update
    assert profile_update.startswith("UPDATE") and "blog_profile" in profile_update


def test_a_transition_event_with_a_subscriber_reads_the_previous_row(receiver, subscribe):
    """With a subscriber to article.published, saving an Article reads the previous row first."""
    article = Article.objects.create(title="Counted")
    subscribe("article.published")
    article.state = "PUBLISHED"

    queries = [sql for sql in save_queries(article) if "blog_article" in sql]

    assert 2 == len(queries)
    assert queries[0].startswith("SELECT")
    assert queries[1].startswith("UPDATE")


# -- many-to-many --------------------------------------------------------------


def test_adding_tags_sends_article_tagged(receiver, subscribe, sentinel):
    """article.tags.add() sends one article.tagged for the article."""
    article = Article.objects.create(title="Tagged")
    python, django = Tag.objects.create(name="python"), Tag.objects.create(name="django")
    subscribe("article.tagged")

    article.tags.add(python, django)

    sentinel()
    [received] = receiver.for_path("/hook")
    assert {
        "event": "article.tagged",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Tagged", "state": "PENDING"},
    } == received.json()


def test_removing_tags_sends_article_untagged(receiver, subscribe, sentinel):
    """article.tags.remove() sends article.untagged, and nothing else of the m2m events."""
    article = Article.objects.create(title="Untagged")
    tag = Tag.objects.create(name="python")
    article.tags.add(tag)
    subscribe("article.untagged", path="/untagged")
    subscribe("article.tagged", path="/tagged")
    subscribe("article.tags_cleared", path="/cleared")

    article.tags.remove(tag)

    sentinel()
    [received] = receiver.for_path("/untagged")
    assert f"/article/{article.uuid}/" == received.json()["ref"]
    assert [] == receiver.for_path("/tagged")
    assert [] == receiver.for_path("/cleared")


def test_clearing_tags_sends_article_tags_cleared(receiver, subscribe, sentinel):
    """article.tags.clear() sends article.tags_cleared (not article.untagged)."""
    article = Article.objects.create(title="Cleared")
    article.tags.add(Tag.objects.create(name="a"), Tag.objects.create(name="b"))
    subscribe("article.tags_cleared", path="/cleared")
    subscribe("article.untagged", path="/untagged")

    article.tags.clear()

    sentinel()
    [received] = receiver.for_path("/cleared")
    assert "article.tags_cleared" == received.header("Hook-Event")
    assert f"/article/{article.uuid}/" == received.json()["ref"]
    assert [] == receiver.for_path("/untagged")
    assert 0 == article.tags.count()


def test_adding_from_the_tag_side_sends_article_tagged_for_that_article(
    receiver, subscribe, sentinel
):
    """tag.article_set.add(article) sends article.tagged with that article as the instance."""
    article = Article.objects.create(title="Other side")
    Article.objects.create(title="Bystander")
    tag = Tag.objects.create(name="python")
    subscribe("article.tagged")

    tag.article_set.add(article)

    sentinel()
    [received] = receiver.for_path("/hook")
    assert {
        "event": "article.tagged",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"title": "Other side", "state": "PENDING"},
    } == received.json()


def test_clearing_from_the_tag_side_sends_article_untagged_for_every_article(
    receiver, subscribe, sentinel
):
    """tag.article_set.clear() sends article.untagged for each article that had the tag."""
    first = Article.objects.create(title="First")
    second = Article.objects.create(title="Second")
    untouched = Article.objects.create(title="Untouched")
    tag, other = Tag.objects.create(name="python"), Tag.objects.create(name="other")
    first.tags.add(tag)
    second.tags.add(tag, other)
    untouched.tags.add(other)
    subscribe("article.untagged", path="/untagged")
    subscribe("article.tags_cleared", path="/cleared")

    tag.article_set.clear()

    sentinel()
    refs = sorted(r.json()["ref"] for r in receiver.for_path("/untagged"))
    assert sorted(f"/article/{a.uuid}/" for a in (first, second)) == refs
    assert [] == receiver.for_path("/cleared")
    assert [other] == list(second.tags.all())


def test_removing_from_the_tag_side_sends_article_untagged_for_that_article(
    receiver, subscribe, sentinel
):
    """tag.article_set.remove(article) sends article.untagged for that article only."""
    article, other = Article.objects.create(title="Loses"), Article.objects.create(title="Keeps")
    tag = Tag.objects.create(name="python")
    article.tags.add(tag)
    other.tags.add(tag)
    subscribe("article.untagged")

    tag.article_set.remove(article)

    sentinel()
    [received] = receiver.for_path("/hook")
    assert f"/article/{article.uuid}/" == received.json()["ref"]
    assert [other] == list(tag.article_set.all())


def test_adding_a_tag_the_article_already_has_sends_nothing(receiver, subscribe, sentinel):
    """Re-adding an existing tag changes nothing: no article.tagged, from either side."""
    article = Article.objects.create(title="Already tagged")
    tag = Tag.objects.create(name="python")
    article.tags.add(tag)
    subscribe("article.tagged")

    tag.article_set.add(article)
    article.tags.add(tag)

    sentinel()
    assert [] == receiver.for_path("/hook")
    assert [tag] == list(article.tags.all())


def test_removing_a_tag_the_article_does_not_have_sends_nothing(receiver, subscribe, sentinel):
    """Removing a tag the article does not have changes nothing: no article.untagged."""
    article = Article.objects.create(title="Never tagged")
    tag = Tag.objects.create(name="python")
    subscribe("article.untagged")

    tag.article_set.remove(article)
    article.tags.remove(tag)

    sentinel()
    assert [] == receiver.for_path("/hook")


# -- event names formatted from the instance ----------------------------------------


def test_profile_event_name_is_formatted_with_the_instance(receiver, subscribe, sentinel):
    """Profile's "user.{.username}" arrives as user.bob, only to the user.bob subscription."""
    bob = Profile.objects.create(username="bob")
    subscribe("user.bob", path="/bob")
    subscribe("user.alice", path="/alice")

    bob.save()

    sentinel()
    [received] = receiver.for_path("/bob")
    assert "user.bob" == received.header("Hook-Event")
    assert "user.bob" == received.json()["event"]
    assert [] == receiver.for_path("/alice")


def test_comment_flagged_event_name_uses_the_article_state(receiver, subscribe, sentinel):
    """Flagging a comment sends "comment.flagged.{.article.state}" once, on the transition."""
    article = Article.objects.create(title="Hot topic", state="PUBLISHED")
    comment = Comment.objects.create(article=article, text="Spam")
    subscribe("comment.flagged.PUBLISHED", path="/published")
    subscribe("comment.flagged.PENDING", path="/pending")

    comment.flagged = True
    comment.save()
    comment.text = "Still spam"
    comment.save()  # still flagged: no transition

    sentinel()
    [received] = receiver.for_path("/published")
    assert "comment.flagged.PUBLISHED" == received.header("Hook-Event")
    assert "comment.flagged.PUBLISHED" == received.json()["event"]
    assert [] == receiver.for_path("/pending")


# -- sender -------------------------------------------------------------------------


def test_sender_is_the_username_at_sender_field(receiver, subscribe, sentinel):
    """An article by alice has sender "alice": her and ownerless subscriptions get it, bob's not."""
    alice, bob = make_user("alice"), make_user("bob")
    author = author_for(alice)
    subscribe("article.created", path="/alice", user=alice)
    subscribe("article.created", path="/bob", user=bob)
    subscribe("article.created", path="/anyone")

    article = Article.objects.create(title="By alice", author=author)

    sentinel()
    [to_alice] = receiver.for_path("/alice")
    [to_anyone] = receiver.for_path("/anyone")
    assert "alice" == to_alice.json()["sender"]
    assert to_alice.json() == to_anyone.json()
    assert f"/article/{article.uuid}/" == to_alice.json()["ref"]
    assert [] == receiver.for_path("/bob")


def test_an_event_without_sender_goes_to_every_subscription(receiver, subscribe, sentinel):
    """An article without author has no sender: owned and ownerless subscriptions all get it."""
    alice, bob = make_user("alice"), make_user("bob")
    subscribe("article.created", path="/alice", user=alice)
    subscribe("article.created", path="/bob", user=bob)
    subscribe("article.created", path="/anyone")

    Article.objects.create(title="Anonymous")

    sentinel()
    for path in ("/alice", "/bob", "/anyone"):
        [received] = receiver.for_path(path)
        assert received.json()["sender"] is None


def test_comment_sender_is_its_user(receiver, subscribe, sentinel):
    """sender_field="user": bob's comment is sent as "bob", not to alice's subscription."""
    alice, bob = make_user("alice"), make_user("bob")
    article = Article.objects.create(title="Commented", author=author_for(alice))
    subscribe("comment.created", path="/alice", user=alice)
    subscribe("comment.created", path="/bob", user=bob)

    comment = Comment.objects.create(article=article, user=bob, text="First!")

    sentinel()
    [received] = receiver.for_path("/bob")
    assert str(comment.pk) == received.header("X-Comment")
    assert {
        "event": "comment.created",
        "ref": f"/comment/{comment.pk}/",
        "sender": "bob",
        "data": {"text": "First!", "article": str(article.uuid)},
    } == received.json()
    assert [] == receiver.for_path("/alice")


# -- reverse ----------------------------------------------------------------------------


def test_per_event_reverse_wins_over_model_reverse(receiver, subscribe):
    """comment.changed uses its own reverse (the article URL); comment.created the model's."""
    article = Article.objects.create(title="Parent")
    subscribe("comment.*")

    comment = Comment.objects.create(article=article, text="Hi")
    comment.text = "Hi there"
    comment.save()

    created, changed = receiver.wait_for_path("/hook", 2)
    assert ("comment.created", f"/comment/{comment.pk}/") == (
        created.header("Hook-Event"),
        created.json()["ref"],
    )
    assert ("comment.changed", f"/article/{article.uuid}/") == (
        changed.header("Hook-Event"),
        changed.json()["ref"],
    )


def test_plain_one_argument_reverse_is_the_ref(receiver, subscribe):
    """A reverse documented as "a function that takes a model instance" works as written."""
    article = Article.objects.create(title="Shared")
    subscribe("article.shared")

    def shared_url(instance):
        return f"/shared/{instance.uuid}/"

    ModelEvent("article.shared", reverse=shared_url).send_from_instance(article)

    [received] = receiver.wait_for_path("/hook")
    assert f"/shared/{article.uuid}/" == received.json()["ref"]


# -- subscription patterns --------------------------------------------------------------


def test_subscription_patterns_receive_matching_events(receiver, subscribe, sentinel):
    """article.created reaches "article.*", "*.created", "*" and its exact name; nothing else."""
    for pattern, path in [
        ("article.*", "/topic"),
        ("*.created", "/created"),
        ("*", "/all"),
        ("article.created", "/exact"),
        ("comment.*", "/comment"),
        ("*.removed", "/removed"),
        ("article.changed", "/changed"),
        ("article.created.more", "/longer"),
    ]:
        subscribe(pattern, path=path)

    article = Article.objects.create(title="Patterns")

    sentinel()
    for path in ("/topic", "/created", "/exact"):
        [received] = receiver.for_path(path)
        assert f"/article/{article.uuid}/" == received.json()["ref"]
    assert ["article.created", "user.sentinel"] == events_at(receiver, "/all")
    for path in ("/comment", "/removed", "/changed", "/longer"):
        assert [] == receiver.for_path(path)


# -- static subscribers (THORN_SUBSCRIBERS) ------------------------------------------


def test_static_and_stored_subscribers_both_receive(receiver, subscribe, settings, sentinel):
    """A THORN_SUBSCRIBERS URL and a stored subscription of the same event each get it, signed."""
    settings.THORN_SUBSCRIBERS = {"article.created": receiver.url("/static")}
    settings.THORN_SUBSCRIBERS_SECRET = "static-secret"
    stored = subscribe("article.created", path="/stored")

    Article.objects.create(title="Static")

    sentinel()
    [static] = receiver.for_path("/static")
    [received] = receiver.for_path("/stored")
    received.assert_signed_for(stored)
    assert verify(static.header("Hook-HMAC") or "", "sha256", "static-secret", static.body)
    assert static.header("Hook-Subscription") not in (None, str(stored.uuid))
    assert received.json() == static.json()


def test_static_dict_subscriber_signs_with_its_own_secret_and_digest(receiver, settings):
    """A static subscriber given as a dict uses its hmac_secret and hmac_digest."""
    settings.THORN_SUBSCRIBERS = {
        "article.*": [
            {"url": receiver.url("/dict"), "hmac_secret": "dict-secret", "hmac_digest": "SHA512"}
        ]
    }

    Article.objects.create(title="Dict")

    [received] = receiver.wait_for_path("/dict")
    assert "article.created" == received.header("Hook-Event")
    assert verify(received.header("Hook-HMAC") or "", "sha512", "dict-secret", received.body)


def test_static_subscriber_with_a_stored_url_is_another_subscriber(
    receiver, subscribe, settings, sentinel
):
    """A static and a stored subscriber with the same URL have different uuids: two deliveries."""
    stored = subscribe("article.created")
    settings.THORN_SUBSCRIBERS = {"article.created": stored.url}

    Article.objects.create(title="Twice")

    sentinel()
    deliveries = receiver.for_path("/hook")
    assert 2 == len(deliveries)
    subscriptions = {r.header("Hook-Subscription") for r in deliveries}
    assert 2 == len(subscriptions)
    assert str(stored.uuid) in subscriptions


def test_the_same_static_url_twice_is_delivered_once(receiver, settings, sentinel):
    """A URL listed twice under one static pattern is one subscriber (same uuid): one delivery."""
    settings.THORN_SUBSCRIBERS = {
        "article.created": [receiver.url("/static"), receiver.url("/static")]
    }

    Article.objects.create(title="Once")

    sentinel()
    assert 1 == len(receiver.for_path("/static"))


def test_static_subscription_uuid_is_stable_across_events(receiver, settings):
    """A URL-only static subscriber has the same Hook-Subscription in every delivery."""
    settings.THORN_SUBSCRIBERS = {"article.created": receiver.url("/static")}

    Article.objects.create(title="One")
    Article.objects.create(title="Two")

    first, second = receiver.wait_for_path("/static", 2)
    assert first.header("Hook-Subscription") == second.header("Hook-Subscription")
    assert first.header("Hook-Delivery") != second.header("Hook-Delivery")


# -- transactions ----------------------------------------------------------------------


def test_nothing_is_delivered_before_commit(receiver, subscribe):
    """Inside transaction.atomic() the event waits for the commit, then it is delivered."""
    subscribe("article.created")

    with transaction.atomic():
        article = Article.objects.create(title="Pending commit")
        assert [] == receiver.received

    [received] = receiver.wait_for_path("/hook")
    assert f"/article/{article.uuid}/" == received.json()["ref"]


def test_a_rolled_back_transaction_delivers_nothing(receiver, subscribe, sentinel):
    """Events of a transaction that rolls back are never delivered."""
    subscribe("article.*")

    with pytest.raises(Boom), transaction.atomic():
        Article.objects.create(title="Rolled back")
        raise Boom

    sentinel()
    assert [] == receiver.for_path("/hook")
    assert not Article.objects.exists()


def test_the_message_is_built_when_the_signal_fires(receiver, subscribe):
    """Payload and headers are those of the save, not of the instance at commit time."""
    subscribe("article.created")

    with transaction.atomic():
        article = Article.objects.create(title="As saved", state="DRAFT")
        article.title = "Changed after save"
        article.state = "PUBLISHED"

    [received] = receiver.wait_for_path("/hook")
    assert "DRAFT" == received.header("X-Article-State")
    assert {"title": "As saved", "state": "DRAFT"} == received.json()["data"]


def test_an_event_of_a_rolled_back_savepoint_is_not_delivered(receiver, subscribe, sentinel):
    """Only events of the savepoints that survive are delivered when the outer block commits."""
    subscribe("article.created")

    with transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            Article.objects.create(title="Inner, rolled back")
            raise Boom
        kept = Article.objects.create(title="Outer, committed")

    sentinel()
    [received] = receiver.for_path("/hook")
    assert f"/article/{kept.uuid}/" == received.json()["ref"]


def test_each_save_in_a_transaction_is_delivered_in_order(receiver, subscribe):
    """Two saves in one transaction deliver two article.changed, in order, each as it was saved."""
    article = Article.objects.create(title="v1")
    subscribe("article.changed")

    with transaction.atomic():
        for title in ("v2", "v3"):
            article.title = title
            article.save()
        assert [] == receiver.received

    deliveries = receiver.wait_for_path("/hook", 2)
    assert ["v2", "v3"] == [r.json()["data"]["title"] for r in deliveries]


def test_transitions_inside_a_transaction_compare_with_the_uncommitted_row(receiver, subscribe):
    """Inside one transaction each save compares with the row as the previous save left it."""
    article = Article.objects.create(title="Busy")
    subscribe("article.published", path="/published")
    subscribe("article.retracted", path="/retracted")

    with transaction.atomic():
        article.state = "PUBLISHED"
        article.save()
        article.state = "DRAFT"
        article.save()

    [published] = receiver.wait_for_path("/published")
    [retracted] = receiver.wait_for_path("/retracted")
    assert "PUBLISHED" == published.json()["data"]["state"]
    assert "DRAFT" == retracted.json()["data"]["state"]


def test_without_honoring_transactions_delivery_happens_before_commit(
    receiver, subscribe, settings
):
    """THORN_SIGNAL_HONORS_TRANSACTION=False sends inside the atomic block, even on rollback."""
    settings.THORN_SIGNAL_HONORS_TRANSACTION = False
    subscribe("article.created")

    with pytest.raises(Boom), transaction.atomic():
        Article.objects.create(title="Eager")
        [received] = receiver.wait_for_path("/hook")
        raise Boom

    assert "article.created" == received.header("Hook-Event")
    assert not Article.objects.exists()


def test_delete_inside_a_transaction_keeps_ref_and_context(receiver, subscribe, settings):
    """Deletes in a transaction deliver after commit with the ref and context of the deleted row."""
    article = Article.objects.create(title="Gone")
    comment = Comment.objects.create(article=article, text="Gone too")
    pk, uuid = comment.pk, article.uuid
    contexts: list[dict[str, Any]] = []

    def context_subscriber(event: str, sender: Any = None, **context: Any) -> str:
        contexts.append(context)
        return receiver.url("/context")

    settings.THORN_SUBSCRIBERS = {"comment.removed": context_subscriber}
    subscribe("article.removed", path="/article")

    with transaction.atomic():
        article.delete()  # cascades to the comment
        assert [] == receiver.received

    [removed_comment] = receiver.wait_for_path("/context")
    [removed_article] = receiver.wait_for_path("/article")
    assert f"/comment/{pk}/" == removed_comment.json()["ref"]
    assert str(pk) == removed_comment.header("X-Comment")
    assert [{"instance": pk}] == contexts
    assert f"/article/{uuid}/" == removed_article.json()["ref"]


# -- errors -----------------------------------------------------------------------------


def broken_payload(instance: Any) -> Any:
    raise Boom("payload failed")


def unencodable_payload(instance: Any) -> Any:
    return {"tags": {"a", "set"}}


def test_a_failing_payload_is_logged_and_the_row_is_saved(
    receiver, subscribe, sentinel, monkeypatch, caplog
):
    """Without propagate_errors (the default) save() succeeds, the error is logged, nothing sent."""
    monkeypatch.setattr(Article.webhooks, "payload", broken_payload)
    subscribe("article.created")

    with caplog.at_level(logging.ERROR, logger="thorn.events"):
        article = Article.objects.create(title="Survives")

    sentinel()
    assert Article.objects.filter(pk=article.pk).exists()
    assert [] == receiver.for_path("/hook")
    [record] = [r for r in caplog.records if r.name == "thorn.events"]
    assert "article.created" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)


def test_a_failing_payload_with_propagate_errors_rolls_back_the_save(
    receiver, subscribe, sentinel, monkeypatch
):
    """With propagate_errors the payload error is raised from save() and the row rolled back."""
    monkeypatch.setattr(Article.webhooks, "payload", broken_payload)
    monkeypatch.setattr(Article.webhooks["on_create"], "propagate_errors", True)
    subscribe("article.created")

    with pytest.raises(Boom, match="payload failed"), transaction.atomic():
        Article.objects.create(title="Rolled back by the event")

    sentinel()
    assert not Article.objects.filter(title="Rolled back by the event").exists()
    assert [] == receiver.for_path("/hook")


def test_an_unencodable_payload_is_logged_and_nothing_is_delivered(
    receiver, subscribe, sentinel, monkeypatch, caplog
):
    """A payload JSON cannot encode (a set) fails when it is written to the outbox: logged only.

    The row is saved all the same, and nothing is written to the outbox.
    """
    monkeypatch.setattr(Article.webhooks, "payload", unencodable_payload)
    subscribe("article.created")

    with caplog.at_level(logging.ERROR, logger="thorn.events"), transaction.atomic():
        Article.objects.create(title="Has a set")
        [record] = [r for r in caplog.records if r.name == "thorn.events"]
    assert not MessageRecord.objects.exists()

    sentinel()
    assert 1 == Article.objects.filter(title="Has a set").count()
    assert [] == receiver.for_path("/hook")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], TypeError)


def test_an_unencodable_payload_with_propagate_errors_raises_from_save(
    receiver, subscribe, sentinel, monkeypatch
):
    """With propagate_errors the encoding error is raised inside save(), before the commit."""
    monkeypatch.setattr(Article.webhooks, "payload", unencodable_payload)
    monkeypatch.setattr(Article.webhooks["on_create"], "propagate_errors", True)
    subscribe("article.created")

    with pytest.raises(TypeError), transaction.atomic():
        Article.objects.create(title="Has a set")

    sentinel()
    assert not Article.objects.exists()
    assert [] == receiver.for_path("/hook")


def broken_codec(payload: Any) -> str:
    """A codec with a bug."""
    raise Boom("the codec is broken")


def test_errors_after_commit_are_logged_even_with_propagate_errors(
    receiver, subscribe, settings, monkeypatch, caplog
):
    """A hand-over that fails after the commit is logged, not raised: nothing is left to roll back.

    The message stays in the outbox, for the relay.
    """
    settings.THORN_CODECS = {"application/json": broken_codec}
    monkeypatch.setattr(Article.webhooks["on_create"], "propagate_errors", True)
    subscribe("article.created")

    with caplog.at_level(logging.ERROR, logger="thorn"), transaction.atomic():
        article = Article.objects.create(title="Committed anyway")

    assert Article.objects.filter(pk=article.pk).exists()
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "article.created" in record.getMessage()
    assert "dispatch raised" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)
    assert MessageRecord.objects.filter(planned_at__isnull=True).exists()


def test_a_receiver_that_is_down_does_not_break_save(receiver, subscribe, caplog):
    """A subscriber on a closed port: the row is saved, the failure logged and retried later."""
    down = Subscriber.objects.create(
        event="article.created", url=f"http://127.0.0.1:{closed_port()}/down"
    )
    subscribe("article.created", path="/up")

    with caplog.at_level(logging.INFO, logger="thorn.request"):
        article = Article.objects.create(title="Resilient")

    [received] = receiver.wait_for_path("/up")
    assert f"/article/{article.uuid}/" == received.json()["ref"]
    assert Article.objects.filter(pk=article.pk).exists()
    failures = [r for r in caplog.records if r.name == "thorn.request"]
    assert 1 == len(failures)
    assert down.url in failures[0].getMessage()
    assert "(will retry)" in failures[0].getMessage()
    assert "retrying" == DeliveryRecord.objects.get(subscription=down.uuid).state


def test_a_receiver_answering_500_does_not_break_save(receiver, subscribe, sentinel, caplog):
    """A subscriber answering 500: the row is saved, the failure logged, others still delivered."""
    receiver.answer("/broken", Answer(status=500))
    subscribe("article.created", path="/broken")
    subscribe("article.created", path="/fine")

    with caplog.at_level(logging.INFO, logger="thorn.request"):
        article = Article.objects.create(title="Resilient")

    sentinel()
    assert 1 == len(receiver.for_path("/broken"))
    assert 1 == len(receiver.for_path("/fine"))
    assert Article.objects.filter(pk=article.pk).exists()
    failures = [r for r in caplog.records if r.name == "thorn.request"]
    assert 1 == len(failures)
    assert "/broken" in failures[0].getMessage()


# -- fixtures and bulk operations -----------------------------------------------------------


def test_loading_fixtures_sends_nothing(receiver, subscribe, sentinel):
    """loaddata saves raw rows and sets m2m values: no create, change, flag or tagged event."""
    subscribe("*", path="/all")

    call_command("loaddata", "blog", verbosity=0)

    sentinel()
    article = Article.objects.get(pk=9001)
    assert ["fixtures"] == [tag.name for tag in article.tags.all()]
    assert [True] == [c.flagged for c in article.comments.all()]
    assert ["user.sentinel"] == events_at(receiver, "/all")


def test_queryset_delete_sends_one_removed_per_row(receiver, subscribe, sentinel):
    """QuerySet.delete() sends article.removed once for each deleted row."""
    doomed = [Article.objects.create(title=f"Bulk {n}", state="DRAFT") for n in range(3)]
    kept = Article.objects.create(title="Kept", state="PUBLISHED")
    subscribe("article.removed")

    Article.objects.filter(state="DRAFT").delete()

    sentinel()
    refs = sorted(r.json()["ref"] for r in receiver.for_path("/hook"))
    assert sorted(f"/article/{a.uuid}/" for a in doomed) == refs
    assert [kept] == list(Article.objects.all())


def test_queryset_update_sends_nothing(receiver, subscribe, sentinel):
    """QuerySet.update() sends no signal, so no article.changed or article.published."""
    Article.objects.create(title="Quiet")
    subscribe("article.*")

    Article.objects.update(state="PUBLISHED")

    sentinel()
    assert [] == receiver.for_path("/hook")
    assert ["PUBLISHED"] == list(Article.objects.values_list("state", flat=True))


# -- sending by hand ------------------------------------------------------------------------


def test_send_by_hand_delivers_the_envelope_with_the_given_data(receiver, subscribe):
    """ModelEvent.send(instance=..., data=...) sends the envelope with that data and no sender."""
    alice = make_user("alice")
    article = Article.objects.create(title="By hand", author=author_for(alice))
    subscriber = subscribe("article.created")

    Article.webhooks.events["on_create"].send(instance=article, data={"x": 1})

    [received] = receiver.wait_for_path("/hook")
    assert "article.created" == received.header("Hook-Event")
    received.assert_signed_for(subscriber)
    body = received.json()
    assert ENVELOPE_KEYS == list(body)
    assert {
        "event": "article.created",
        "ref": f"/article/{article.uuid}/",
        "sender": None,
        "data": {"x": 1},
    } == body


def test_send_from_instance_delivers_what_the_signal_would(receiver, subscribe):
    """ModelEvent.send_from_instance() sends the model's payload, headers and sender."""
    alice = make_user("alice")
    article = Article.objects.create(title="From instance", author=author_for(alice))
    subscribe("article.published")  # on change only: create() sends nothing here

    Article.webhooks.events["on_publish"].send_from_instance(article)

    [received] = receiver.wait_for_path("/hook")
    assert "PENDING" == received.header("X-Article-State")
    assert {
        "event": "article.published",
        "ref": f"/article/{article.uuid}/",
        "sender": "alice",
        "data": {"title": "From instance", "state": "PENDING"},
    } == received.json()


def test_webhooks_item_access_returns_the_event(receiver, subscribe):
    """Article.webhooks["on_create"] is the on_create event, and it sends."""
    article = Article.objects.create(title="Item")
    subscribe("article.created")
    event = Article.webhooks["on_create"]
    assert event is Article.webhooks.events["on_create"]

    assert event is not None
    event.send(article, data={"item": True})

    [received] = receiver.wait_for_path("/hook")
    assert {"item": True} == received.json()["data"]
