"""Subscriber-side filters through the ``/hooks/`` API, delivered to the loopback receiver."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from thorn.django.models import DeliveryRecord, Subscriber

from t.proj.blog.models import Article
from t.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/hooks/"


def subscribe(api: APIClient, receiver: Receiver, path: str, **fields: Any) -> Any:
    body = {"event": "article.created", "url": receiver.url(path), **fields}
    return api.post(LIST, body, format="json")


def test_a_filter_passes_some_payloads_and_skips_others(api, receiver, sentinel):
    """Only articles that pass every key are delivered; the others leave no record."""
    response = subscribe(
        api,
        receiver,
        "/published-a",
        filter={"data__state__eq": "PUBLISHED", "data__title__startswith": "A"},
    )
    assert 201 == response.status_code
    assert {"data__state__eq": "PUBLISHED", "data__title__startswith": "A"} == response.json()[
        "filter"
    ]
    uuid = response.json()["id"]

    Article.objects.create(title="Arrival", state="PUBLISHED")
    Article.objects.create(title="Arrival", state="DRAFT")
    Article.objects.create(title="Banquet", state="PUBLISHED")
    sentinel()

    received = receiver.for_path("/published-a")
    assert [("Arrival", "PUBLISHED")] == [
        (r.json()["data"]["title"], r.json()["data"]["state"]) for r in received
    ]
    assert 1 == DeliveryRecord.objects.filter(subscription=uuid).count()


def test_like_and_regex_filters_deliver_what_matches(api, receiver, sentinel):
    """like (SQL wildcards) and regex (RE2) filters choose by title."""
    assert (
        201 == subscribe(api, receiver, "/like", filter={"data__title__like": "%rr_v%"}).status_code
    )
    assert (
        201
        == subscribe(api, receiver, "/regex", filter={"data__title__regex": r"^B\w+t$"}).status_code
    )

    Article.objects.create(title="Arrival")
    Article.objects.create(title="Banquet")
    sentinel()

    assert ["Arrival"] == [r.json()["data"]["title"] for r in receiver.for_path("/like")]
    assert ["Banquet"] == [r.json()["data"]["title"] for r in receiver.for_path("/regex")]


def test_a_pathological_regex_does_not_hold_up_the_delivery(api, receiver, sentinel):
    """(a+)+$ on a long title: the filter answers at once (RE2), and skips the article."""
    response = subscribe(api, receiver, "/bomb", filter={"data__title__regex": "(a+)+$"})
    assert 201 == response.status_code
    Article.objects.create(title="a" * 120 + "!")  # the title column has 128 characters
    Article.objects.create(title="a" * 120)

    sentinel()

    assert ["a" * 120] == [r.json()["data"]["title"] for r in receiver.for_path("/bomb")]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param(
            {"data__state__zz": "X"},
            {"data__state__zz": ["Unknown operator"]},
            id="unknown-operator",
        ),
        pytest.param(
            {"data__title__regex": "(?<=a)b", "data__state__eq": "X"},
            {"data__title__regex": ["RE2"]},
            id="regex-re2-refuses",
        ),
        pytest.param(
            {"data__title__regex": "a" * 300},
            {"data__title__regex": ["longer than 256"]},
            id="regex-too-long",
        ),
        pytest.param({"data__state__in": "X"}, {"data__state__in": ["a list"]}, id="in-a-string"),
        pytest.param(["data__state__eq"], ["JSON object"], id="not-an-object"),
    ],
)
def test_a_bad_filter_is_a_400_naming_each_bad_key(api, receiver, filter_, expected):
    """The errors are under "filter", by key (or a list for the filter as a whole)."""
    response = subscribe(api, receiver, "/bad", filter=filter_)

    assert 400 == response.status_code
    errors = response.json()["filter"]
    if isinstance(expected, dict):
        assert set(expected) == set(errors)
        for key, words in expected.items():
            assert words[0] in errors[key][0]
    else:
        assert expected[0] in errors[0]
    assert not Subscriber.objects.exists()


def test_patch_changes_the_filter(api, receiver, sentinel):
    """A PATCH replaces the filter; the next event is filtered by the new one."""
    response = subscribe(api, receiver, "/changed", filter={"data__title__eq": "Old"})
    detail = response.json()["subscription"]

    patched = api.patch(detail, {"filter": {"data__title__eq": "New"}}, format="json")
    assert 200 == patched.status_code
    Article.objects.create(title="Old")
    Article.objects.create(title="New")
    sentinel()

    assert ["New"] == [r.json()["data"]["title"] for r in receiver.for_path("/changed")]


def test_a_filter_set_by_hand_around_the_validation_passes_nothing(receiver, subscribe, sentinel):
    """A stored filter that cannot be compiled (an UPDATE) delivers nothing rather than all."""
    subscription = subscribe("article.created", "/unusable")
    Subscriber.objects.filter(pk=subscription.pk).update(filter={"data__x__zz": 1})

    Article.objects.create(title="Any")
    sentinel()

    assert [] == receiver.for_path("/unusable")
