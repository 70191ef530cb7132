"""Migrations: a Thorn 1.5 database upgrades in place, and the models match the migrations."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from thorn import Event
from thorn.django.models import DeliveryRecord, Subscriber
from thorn.utils import hmac

from t.proj.blog.models import Article
from t.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

THORN_15 = ("webhooks", "0003_auto_20171024_0654")
INITIAL = ("webhooks", "0001_initial")
CREATED_AT = datetime.datetime(2017, 10, 24, 6, 54, 0, tzinfo=datetime.timezone.utc)


def migrate(target: tuple[str, str] | None = None) -> MigrationExecutor:
    """Migrate webhooks to ``target`` (every app to its latest when ``None``)."""
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def historical_subscriber(executor: MigrationExecutor, node: tuple[str, str]) -> Any:
    """The Subscriber model as it was at migration ``node``."""
    return executor.loader.project_state(node).apps.get_model("webhooks", "Subscriber")


def columns() -> dict[str, Any]:
    """The columns of the subscriber table, by name."""
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, "webhooks_subscriber")
    return {column.name: column for column in description}


def indexed_columns() -> list[list[str]]:
    """The column lists of the non-unique, non-primary indexes of the subscriber table."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "webhooks_subscriber")
    return sorted(
        info["columns"]
        for info in constraints.values()
        if info["index"] and not info["unique"] and not info["primary_key"]
    )


@pytest.fixture
def at_latest() -> Iterator[None]:
    """Whatever the test does, the database is at the latest migrations afterwards."""
    try:
        yield
    finally:
        migrate()


@pytest.fixture
def thorn15_rows(at_latest: None, receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Rows stored by Thorn 1.5 (schema 0003): upper-case digests, with and without owner."""
    executor = migrate(THORN_15)
    OldSubscriber = historical_subscriber(executor, THORN_15)
    alice = User.objects.create_user("alice")
    rows = {
        "site": {
            "uuid": uuid.UUID("0c6f8a52-3d0e-4a43-9d0a-7d5b6c1e2f01"),
            "event": "article.created",
            "url": receiver.url("/site"),
            "user_id": None,
            "hmac_secret": "s!te-secret#1;with`punctuation~and$more%chars^0123456789abcdefghij",
            "hmac_digest": "SHA256",
            "content_type": "application/json",
        },
        "alice": {
            "uuid": uuid.UUID("0c6f8a52-3d0e-4a43-9d0a-7d5b6c1e2f02"),
            "event": "article.*",
            "url": receiver.url("/alice"),
            "user_id": alice.pk,
            "hmac_secret": "alice-secret-" + "x" * 51,
            "hmac_digest": "SHA512",
            "content_type": "application/json",
        },
        "legacy": {
            "uuid": uuid.UUID("0c6f8a52-3d0e-4a43-9d0a-7d5b6c1e2f03"),
            "event": "comment.created",
            "url": receiver.url("/legacy"),
            "user_id": None,
            "hmac_secret": "legacy-secret",
            "hmac_digest": "sha1",
            "content_type": "application/x-www-form-urlencoded",
        },
    }
    for row in rows.values():
        OldSubscriber.objects.create(**row)
    # auto_now_add stamps "now": give the rows a known creation date.
    OldSubscriber.objects.update(created_at=CREATED_AT)
    assert sorted(["SHA256", "SHA512", "sha1"]) == sorted(
        OldSubscriber.objects.values_list("hmac_digest", flat=True)
    )
    return rows


def test_the_thorn_15_schema_is_what_15_had(at_latest):
    """At 0003 the URL is indexed with 190 characters, as Thorn 1.5 left it."""
    migrate(THORN_15)

    assert ["url"] in indexed_columns()
    assert ["event"] in indexed_columns()
    if connection.vendor == "postgresql":
        assert 190 == columns()["url"].display_size


def test_a_thorn_15_database_migrates_forward_intact(thorn15_rows):
    """1.5's rows keep uuid, event, URL, owner, secret and date; digests become lower case."""
    migrate()

    found = {str(s.uuid): s for s in Subscriber.objects.all()}
    assert sorted(str(row["uuid"]) for row in thorn15_rows.values()) == sorted(found)
    for row in thorn15_rows.values():
        subscriber = found[str(row["uuid"])]
        assert row["event"] == subscriber.event
        assert row["url"] == subscriber.url
        assert row["user_id"] == subscriber.user_id
        assert row["hmac_secret"] == subscriber.hmac_secret
        assert row["hmac_digest"].lower() == subscriber.hmac_digest
        assert row["content_type"] == subscriber.content_type
        assert CREATED_AT == subscriber.created_at


def test_a_thorn_15_database_gets_the_delivery_engine(thorn15_rows):
    """The upgrade adds the outbox and record tables, with the relay's indexes, and every
    1.5 subscription starts active and healthy; deliveries to it are recorded."""
    migrate()

    assert {"webhooks_message", "webhooks_delivery", "webhooks_attempt"} <= set(
        connection.introspection.table_names()
    )
    with connection.cursor() as cursor:
        indexes = {
            **connection.introspection.get_constraints(cursor, "webhooks_message"),
            **connection.introspection.get_constraints(cursor, "webhooks_delivery"),
        }
    assert {"webhooks_message_unplanned", "webhooks_delivery_due"} <= set(indexes)
    assert {(True, "", None, None)} == {
        (s.is_active, s.disabled_reason, s.disabled_at, s.failing_since)
        for s in Subscriber.objects.all()
    }
    Article.objects.create(title="recorded")
    assert 2 == DeliveryRecord.objects.filter(event="article.created").count()


def test_migrated_subscriptions_pass_full_clean(thorn15_rows):
    """After the upgrade every 1.5 row passes full_clean (its lower-case digest is a choice)."""
    migrate()

    for subscriber in Subscriber.objects.all():
        subscriber.full_clean()


def test_the_upgraded_schema_has_long_unindexed_urls(thorn15_rows):
    """After 0004 the URL column is not indexed and holds 2048 characters."""
    migrate()

    assert ["url"] not in indexed_columns()
    assert ["event"] in indexed_columns()
    if connection.vendor == "postgresql":
        assert 2048 == columns()["url"].display_size
    url = "https://example.com/" + "u" * (2048 - len("https://example.com/"))
    subscriber = Subscriber.objects.create(event="article.created", url=url)
    assert url == Subscriber.objects.get(pk=subscriber.pk).url


def test_migrated_subscriptions_receive_verifiable_deliveries(thorn15_rows, receiver):
    """Migrated rows receive events signed with their original secret and lower-case digest."""
    migrate()

    Article.objects.create(title="upgraded")
    Subscriber.objects.create(event="sentinel.ping", url=receiver.url("/sentinel"))
    Event("sentinel.ping").send({"sentinel": True})
    received = receiver.wait_for(3, timeout=5)

    assert ["/alice", "/sentinel", "/site"] == sorted(r.path for r in received)
    for name in ("site", "alice"):
        row = thorn15_rows[name]
        (delivery,) = [r for r in received if r.path == f"/{name}"]
        assert str(row["uuid"]) == delivery.header("Hook-Subscription")
        assert "article.created" == delivery.header("Hook-Event")
        assert hmac.verify(
            delivery.header("Hook-HMAC"),
            row["hmac_digest"].lower(),
            row["hmac_secret"],
            delivery.body,
        )
        assert not hmac.verify(
            delivery.header("Hook-HMAC"), "sha256", "wrong secret", delivery.body
        )


def test_migrating_back_to_0001_and_forward_again(at_latest, monkeypatch):
    """webhooks migrates down to 0001_initial and up to the latest, keeping an old row."""
    migrate()
    kept = Subscriber.objects.create(event="article.created", url="https://example.com/kept")

    executor = migrate(INITIAL)
    Initial = historical_subscriber(executor, INITIAL)
    assert [(kept.uuid, "article.created", "https://example.com/kept")] == list(
        Initial.objects.values_list("uuid", "event", "url")
    )
    assert "hmac_secret" not in columns()

    # 0002 gives the row the field's default, a random secret.  A fixed one
    # keeps the check exact: SQLite's backend copies the table with the
    # default written into the SQL, and turns a "%%" in it into "%" and a "%s"
    # into "?", so a random secret comes back changed about one run in 70.
    secret = "s" * 32 + "S" * 32
    monkeypatch.setattr(hmac, "random_secret64", lambda: secret)
    migrate()

    subscriber = Subscriber.objects.get()
    assert (kept.uuid, "article.created", "https://example.com/kept") == (
        subscriber.uuid,
        subscriber.event,
        subscriber.url,
    )
    assert ("sha256", secret) == (subscriber.hmac_digest, subscriber.hmac_secret)
    assert {"hmac_secret", "hmac_digest"} <= set(columns())


def test_the_models_need_no_new_migration():
    """makemigrations --check --dry-run finds no change to the webhooks models."""
    call_command("makemigrations", "webhooks", check=True, dry_run=True, verbosity=0)
