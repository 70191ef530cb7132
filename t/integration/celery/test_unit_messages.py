"""The celery dispatcher's messages, without a broker or a worker: JSON only, and no secrets.

What would be published is captured by replacing the task objects
(``thorn.tasks.send_event``, ``thorn.tasks.send_events``) or ``celery.group``
for the test, so these tests need neither Redis nor a worker.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import celery
import pytest
from django.contrib.auth.models import User

import thorn
import thorn.tasks
from thorn import Event, _state
from thorn.dispatch.celery import WorkerDispatcher
from thorn.django.models import Subscriber
from thorn.exceptions import SecurityError
from thorn.generic.subscriber import StaticSubscriber
from thorn.messages import Message, Options, encode_message
from thorn.request import Request, urlident
from thorn.validators import block_cidr_network, ensure_port, ensure_protocol, serialize_validators

from t.proj.blog.models import Account, Article, Author
from t.proj.celery import on_delivered, on_failed, on_timed_out

STORED_SECRET = "stored-secret-Zq8pW3"
STATIC_SECRET = "static-secret-Jm2kX7"


class Published:
    """Stands in for a task: records the messages ``apply_async`` would publish."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_times = fail_times

    def apply_async(self, args: Any = (), kwargs: Any = None, **options: Any) -> None:
        self.calls.append({"args": args, "kwargs": kwargs, **options})
        if len(self.calls) <= self.fail_times:
            raise ConnectionError("broker down (test)")


@pytest.fixture(autouse=True)
def thorn_app() -> Iterator[None]:
    """Each test uses the default app, which reads Django's settings live."""
    _state._current_app.set(None)
    yield
    _state._current_app.set(None)


@pytest.fixture
def celery_dispatcher(settings: Any) -> Any:
    settings.THORN_DISPATCHER = "celery"
    return settings


@pytest.fixture
def send_event(monkeypatch: pytest.MonkeyPatch) -> Published:
    published = Published()
    monkeypatch.setattr(thorn.tasks, "send_event", published)
    return published


@pytest.fixture
def send_events(monkeypatch: pytest.MonkeyPatch) -> Published:
    published = Published()
    monkeypatch.setattr(thorn.tasks, "send_events", published)
    return published


def event_message(event: str, payload: Any, sender: Any, **options: Any) -> dict[str, Any]:
    """The ``send_event`` message of an event sent with ``options``."""
    return encode_message(Message(event, payload, sender, Options(**options)))


def nested_callback(request: Any, exc: Exception) -> None:
    """Module level, but the tests also use a nested one and a lambda."""


# -- event_message ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_model_event_message_is_json_without_secrets(
    celery_dispatcher: Any, send_event: Published
) -> None:
    """Saving publishes one JSON send_event; the sender is a pk; no secret anywhere."""
    celery_dispatcher.THORN_SUBSCRIBERS = {
        "article.*": [{"url": "http://static.example/hook", "hmac_secret": STATIC_SECRET}]
    }
    alice = User.objects.create(username="alice")
    Subscriber.objects.create(
        event="article.created", url="http://stored.example/hook", hmac_secret=STORED_SECRET
    )
    author = Author.objects.create(account=Account.objects.create(user=alice), name="Alice")

    article = Article.objects.create(title="Hello", author=author)

    [call] = send_event.calls
    message = call["kwargs"]
    text = json.dumps(message)  # plain JSON, no custom encoder needed
    assert STORED_SECRET not in text
    assert STATIC_SECRET not in text
    assert "hmac_secret" not in text
    assert "article.created" == message["event"]
    assert alice.pk == message["sender"]
    assert {"X-Article-State": "PENDING"} == message["headers"]
    assert {
        "event": "article.created",
        "ref": f"/article/{article.uuid}/",
        "sender": "alice",  # the envelope is built in the web process
        "data": {"title": "Hello", "state": "PENDING"},
    } == message["payload"]
    assert message == json.loads(text)


def test_payload_values_become_thorn_json_strings() -> None:
    """Dates, times, decimals and UUIDs travel as the strings subscribers receive."""
    ident = uuid.UUID("6f0e2ab4-1b2c-4d5e-8f90-123456789abc")
    payload = {
        "at": datetime.datetime(2016, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc),
        "offset": datetime.datetime(
            2016, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=5))
        ),
        "naive": datetime.datetime(2016, 1, 2, 3, 4, 5),
        "day": datetime.date(2016, 1, 2),
        "time": datetime.time(1, 2, 3, 4),
        "price": Decimal("9.990"),
        "id": ident,
        "nested": [{"total": Decimal("1.5")}],
    }

    message = event_message("order.placed", payload, None)

    expected = {
        "at": "2016-01-02T03:04:05.678901Z",
        "offset": "2016-01-02T03:04:05+05:00",
        "naive": "2016-01-02T03:04:05",
        "day": "2016-01-02T00:00:00",
        "time": "01:02:03.000004",
        "price": "9.990",
        "id": str(ident),
        "nested": [{"total": "1.5"}],
    }
    assert expected == message["payload"]
    assert list(expected) == list(message["payload"])  # key order is kept
    assert message == json.loads(json.dumps(message))


def test_payload_that_is_not_json_raises_type_error() -> None:
    with pytest.raises(TypeError, match="set"):
        event_message("order.placed", {"tags": {"a", "b"}}, None)


def test_options_travel_and_only_none_is_left_out() -> None:
    """``retry=False`` and ``retry_max=0`` are options too; ``None`` means the worker's setting."""
    message = event_message(
        "order.placed",
        {},
        None,
        timeout=None,
        context={"shop": 1},
        headers={"X-Shop": "1"},
        retry=False,
        retry_max=0,
        retry_delay=None,
        allow_keepalive=False,
        recipient_validators=[ensure_protocol("https"), ensure_port(443)],
        extra_subscribers=["http://own.example/hook", {"url": "http://dict.example/"}],
    )

    assert {
        "id": message["id"],
        "event": "order.placed",
        "payload": {},
        "sender": None,
        "timeout": None,
        "context": {"shop": 1},
        "headers": {"X-Shop": "1"},
        "retry": False,
        "retry_max": 0,
        "allow_keepalive": False,
        "recipient_validators": [["ensure_protocol", ["https"]], ["ensure_port", [443]]],
        "extra_subscribers": ["http://own.example/hook", {"url": "http://dict.example/"}],
    } == message
    assert message == json.loads(json.dumps(message))


def test_callbacks_travel_as_import_paths() -> None:
    message = event_message(
        "order.placed",
        {},
        None,
        on_success=on_delivered,
        on_error="t.proj.celery:on_failed",  # a path is sent as it is
        on_timeout=on_timed_out,
        extra_subscribers=[nested_callback],
    )

    assert "t.proj.celery:on_delivered" == message["on_success"]
    assert "t.proj.celery:on_failed" == message["on_error"]
    assert "t.proj.celery:on_timed_out" == message["on_timeout"]
    assert [f"!{__name__}:nested_callback"] == message["extra_subscribers"]
    json.dumps(message)


def _nested() -> Any:
    def callback(request: Any, exc: Exception) -> None:
        pass

    return callback


class _Holder:
    def callback(self, request: Any, exc: Exception) -> None:
        pass


@pytest.mark.parametrize("name", ["on_success", "on_error", "on_timeout"])
@pytest.mark.parametrize(
    "callback",
    [
        pytest.param(lambda request, exc=None: None, id="lambda"),
        pytest.param(_nested(), id="nested"),
        pytest.param(_Holder().callback, id="bound-method"),
    ],
)
def test_callbacks_that_do_not_import_raise_type_error(name: str, callback: Any) -> None:
    with pytest.raises(TypeError, match=rf"the {name} .* cannot be sent to a worker: give a"):
        event_message("order.placed", {}, None, **{name: callback})


def test_unsendable_subscribers_and_validators_raise_type_error() -> None:
    with pytest.raises(TypeError, match=r"subscriber callback .* cannot be sent to a worker"):
        event_message("order.placed", {}, None, extra_subscribers=[lambda event, **kw: []])
    with pytest.raises(TypeError, match="subscribers as URLs, dicts or callables"):
        event_message(
            "order.placed", {}, None, extra_subscribers=[StaticSubscriber(url="http://x/")]
        )
    with pytest.raises(TypeError):
        event_message("order.placed", {}, None, recipient_validators=[lambda url: None])


def test_event_send_with_a_lambda_publishes_nothing(
    celery_dispatcher: Any, send_event: Published
) -> None:
    with pytest.raises(TypeError, match="on_error"):
        Event("order.placed").send({}, on_error=lambda request, exc: None)

    assert [] == send_event.calls


# -- buffered events: send_events messages of THORN_CHUNKSIZE events -----------------------


def test_flush_publishes_chunks_of_events(
    celery_dispatcher: Any, send_event: Published, send_events: Published
) -> None:
    celery_dispatcher.THORN_CHUNKSIZE = 10
    event = Event("order.placed")

    with thorn.buffer_events():
        for i in range(25):
            event.send({"n": i})
        assert [] == send_events.calls

    assert [] == send_event.calls
    chunks = [call["args"][0] for call in send_events.calls]
    assert [10, 10, 5] == [len(chunk) for chunk in chunks]
    assert list(range(25)) == [message["payload"]["n"] for chunk in chunks for message in chunk]
    assert chunks == json.loads(json.dumps(chunks))


def test_flush_attempts_every_chunk_and_raises_the_first_error(
    celery_dispatcher: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    celery_dispatcher.THORN_CHUNKSIZE = 2
    failing = Published(fail_times=1)
    monkeypatch.setattr(thorn.tasks, "send_events", failing)
    event = Event("order.placed")

    with pytest.raises(ConnectionError), thorn.buffer_events():
        for i in range(5):
            event.send({"n": i})

    assert [2, 2, 1] == [len(call["args"][0]) for call in failing.calls]
    assert any(
        "Sending buffered events failed: order.placed, order.placed" in r.getMessage()
        for r in caplog.records
    )
    assert _state.current_app().active_buffer is None  # buffering is off all the same


# -- Request.as_dict / from_dict ----------------------------------------------------------------


@pytest.fixture
def subscriber() -> StaticSubscriber:
    return StaticSubscriber(
        url="http://receiver.example:8080/hook", event="order.placed", hmac_secret=STORED_SECRET
    )


def round_trip(request: Request, subscriber: Any, app: Any) -> tuple[Request, str]:
    text = json.dumps(request.as_dict())
    return Request.from_dict(json.loads(text), subscriber, app=app), text


def test_request_round_trips_through_json_without_loss(make_app: Any, subscriber: Any) -> None:
    app = make_app(THORN_HMAC_SIGNER="thorn.utils.hmac:sign")
    request = Request(
        "order.placed",
        b'{"id": 7}',
        42,
        subscriber,
        on_success=on_delivered,
        on_error=on_failed,
        timeout=2.5,
        retry=False,
        retry_max=4,
        retry_delay=1.5,
        headers={"X-Shop": "thorn"},
        user_agent="agent/1.0",
        app=app,
        recipient_validators=[
            ensure_protocol("http"),
            ensure_port(8080),
            block_cidr_network("10.0.0.0/8"),
        ],
        allow_keepalive=False,
    )

    back, text = round_trip(request, subscriber, app)

    assert request.as_dict() == back.as_dict()
    assert request.id == back.id
    assert "order.placed" == back.event
    assert 42 == back.sender
    assert request.body == back.body
    assert {"X-Shop": "thorn"} == back.extra_headers
    # Same headers, signature included (the subscriber was given back).
    now = 1777636800
    assert request.headers_for(request.body, now) == back.headers_for(back.body, now)
    assert request.retry_policy == back.retry_policy
    assert (2.5, "agent/1.0", False) == (back.timeout, back.user_agent, back.allow_keepalive)
    assert (on_delivered, on_failed, None) == (back.on_success, back.on_error, back.on_timeout)
    assert serialize_validators(request.recipient_validators) == serialize_validators(
        back.recipient_validators
    )
    with pytest.raises(SecurityError):
        back.validate_recipient("https://receiver.example:8080/hook")
    assert STORED_SECRET not in text
    assert "hmac_secret" not in text


def test_request_validators_travel_only_when_given(make_app: Any, subscriber: Any) -> None:
    """Without its own validators a request uses the settings, here and in the worker."""
    app = make_app(THORN_RECIPIENT_VALIDATORS=[["ensure_protocol", ["https"]]])
    request = Request("order.placed", "{}", None, subscriber, app=app)
    assert request.as_dict().get("recipient_validators") is None

    back, _ = round_trip(request, subscriber, app)

    assert back.as_dict().get("recipient_validators") is None
    assert [["ensure_protocol", ["https"]]] == serialize_validators(back.recipient_validators)

    # An empty list is a choice too ("no validators"), not "the settings".
    none = Request("order.placed", "{}", None, subscriber, app=app, recipient_validators=[])
    back, _ = round_trip(none, subscriber, app)
    assert [] == back.as_dict()["recipient_validators"]
    assert [] == back.recipient_validators


# -- the chunks a worker publishes (WorkerDispatcher.send) ---------------------------------------


@pytest.mark.django_db
def test_worker_chunks_carry_references_not_secrets(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dispatch_requests messages: subscriber uuid and URL, context; no secret; by host."""
    settings.THORN_CHUNKSIZE = 2
    settings.THORN_SUBSCRIBERS = {
        "order.*": [{"url": "http://b.example/static", "hmac_secret": STATIC_SECRET}]
    }
    groups: list[list[Any]] = []

    def group(tasks: list[Any]) -> Published:
        groups.append(tasks)
        return Published()

    monkeypatch.setattr(celery, "group", group)
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    for url in ("http://c.example/1", "http://a.example/1", "http://a.example:8080/1"):
        Subscriber.objects.create(event="order.placed", url=url, hmac_secret=STORED_SECRET)
    Subscriber.objects.create(
        event="order.placed", url="http://a.example/alice", user=alice, hmac_secret=STORED_SECRET
    )
    Subscriber.objects.create(
        event="order.placed", url="http://a.example/bob", user=bob, hmac_secret=STORED_SECRET
    )
    dispatcher = WorkerDispatcher(app=_state.current_app())

    requests = dispatcher.hand_over(
        dispatcher.message(
            "order.placed", {"id": 7}, alice.pk, context={"shop": 1}, headers={"X-Shop": "1"}
        )
    )

    [tasks] = groups
    chunks = [task.args[0] for task in tasks]
    assert {"thorn.tasks.dispatch_requests"} == {task.task for task in tasks}
    assert [2, 2, 1] == [len(chunk) for chunk in chunks]  # 5 subscribers: bob's is not one
    text = json.dumps(chunks)
    assert STORED_SECRET not in text
    assert STATIC_SECRET not in text
    assert "hmac_secret" not in text
    items = [item for chunk in chunks for item in chunk]
    urls = [item["subscriber"]["url"] for item in items]
    assert "http://a.example/bob" not in urls
    assert sorted(urls, key=urlident) == urls  # ordered by (scheme, host, port)
    for item, request in zip(items, requests, strict=True):
        assert {"uuid": str(request.subscriber.uuid), "url": request.url} == item["subscriber"]
        assert {"shop": 1} == item["context"]
        assert None is item.get("extra_subscribers")
        assert alice.pk == item["sender"]
        assert {"X-Shop": "1"} == item["headers"]
        assert '{"id": 7}' == item["data"]

    # In the worker: the subscribers are found again, with their secrets.
    loaded = dispatcher.load_requests(json.loads(text)[0] + json.loads(text)[1])
    assert [r.id for r in requests[:4]] == [request.id for request in loaded]
    for request, sent in zip(loaded, requests, strict=False):
        assert sent.subscriber.hmac_secret == request.subscriber.hmac_secret
        assert sent.as_dict() == request.as_dict()


@pytest.mark.django_db
def test_a_chunk_reads_only_its_own_subscriptions(django_assert_num_queries: Any) -> None:
    """Loading a chunk is one query for the chunk's uuids, however many subscriptions match."""
    for i in range(30):
        Subscriber.objects.create(event="order.placed", url=f"http://a.example/{i}")
    dispatcher = WorkerDispatcher(app=_state.current_app())
    chunk = [
        {**request.as_dict(), "context": {}, "extra_subscribers": None}
        for request in dispatcher.prepare_requests("order.placed", {"id": 7}, None)[:3]
    ]

    with django_assert_num_queries(1) as captured:
        loaded = dispatcher.load_requests(json.loads(json.dumps(chunk)))

    assert [item["id"] for item in chunk] == [request.id for request in loaded]
    assert '"uuid" IN' in captured.captured_queries[0]["sql"]
