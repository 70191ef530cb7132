"""The message and delivery values, and their one JSON codec (thorn.messages)."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from thorn.generic.subscriber import StaticSubscriber
from thorn.messages import (
    STORED_PAYLOAD,
    Delivery,
    Message,
    Options,
    decode_delivery,
    decode_message,
    encode_delivery,
    encode_message,
)
from thorn.validators import block_cidr_network, block_internal_ips, ensure_port, ensure_protocol

# -- module-level functions: they travel as import paths ---------------------------------


def on_ok(request: Any) -> None:
    """A success callback."""


def on_bad(request: Any, exc: Exception) -> None:
    """An error callback."""


def on_slow(request: Any, exc: Exception) -> None:
    """A timeout callback."""


def own_subscribers(event: str, sender: Any = None, **context: Any) -> list[str]:
    """An event's own subscribers, computed."""
    return ["https://computed.example/hook"]


def allow_everything(url: str) -> None:
    """A 1.5-style validator: a plain function of the URL."""


# -- strategies ---------------------------------------------------------------------------

words = st.text(string.ascii_lowercase, min_size=1, max_size=8)
event_names = st.lists(words, min_size=1, max_size=3).map(".".join)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
urls = st.builds("https://{}.example:{}/{}".format, words, st.integers(1, 65535), words)
validators = st.one_of(
    st.just(block_internal_ips()),
    st.lists(st.sampled_from(["http", "https"]), min_size=1, unique=True).map(
        lambda schemes: ensure_protocol(*schemes)
    ),
    st.lists(st.integers(1, 65535), min_size=1, max_size=3, unique=True).map(
        lambda ports: ensure_port(*ports)
    ),
    st.sampled_from(["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]).map(block_cidr_network),
    st.just(allow_everything),
)
subscriber_items = st.one_of(
    urls,
    st.builds(lambda url, secret: {"url": url, "hmac_secret": secret}, urls, words),
    st.just(own_subscribers),
)
header_values = st.text(string.ascii_letters + string.digits + " -_", min_size=1, max_size=12)
options = st.builds(
    Options,
    timeout=st.none() | st.floats(0, 60),
    retry=st.none() | st.booleans(),
    retry_max=st.none() | st.integers(0, 20),
    retry_delay=st.none() | st.floats(0, 3600),
    headers=st.dictionaries(st.sampled_from(["X-Shop", "X-Trace", "User-Agent"]), header_values),
    user_agent=st.none() | header_values,
    recipient_validators=st.none() | st.lists(validators, max_size=4).map(tuple),
    allow_keepalive=st.booleans(),
    on_success=st.none() | st.just(on_ok),
    on_error=st.none() | st.just(on_bad),
    on_timeout=st.none() | st.just(on_slow),
    extra_subscribers=st.none() | st.lists(subscriber_items, min_size=1, max_size=3),
    context=st.dictionaries(words, json_values, max_size=3),
)
senders = st.none() | st.integers(1, 10**9) | words
messages = st.builds(
    Message,
    event=event_names,
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    sender=senders,
    options=options,
)
subscribers = st.builds(
    lambda url, secret, content_type: StaticSubscriber(
        url=url, hmac_secret=secret, content_type=content_type
    ),
    urls,
    words,
    st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
)
deliveries = st.builds(
    Delivery,
    event=event_names,
    data=st.text(max_size=40),
    subscriber=subscribers,
    sender=senders,
    options=options,
    attempt=st.integers(1, 12),
)


def over_the_wire(data: dict[str, Any]) -> Any:
    """What a worker gets: the data through JSON text."""
    return json.loads(json.dumps(data))


class TestCodec:
    @given(messages)
    def test_message_round_trips(self, message):
        """decode(encode(message)) is the message, through JSON text."""
        assert message == decode_message(over_the_wire(encode_message(message)))

    @given(deliveries)
    def test_delivery_round_trips(self, delivery):
        """decode(encode(delivery)) is the delivery, given its subscriber back."""
        encoded = over_the_wire(encode_delivery(delivery))
        assert delivery == decode_delivery(encoded, delivery.subscriber)

    @given(deliveries)
    def test_delivery_carries_no_secret(self, delivery):
        """The subscriber travels as a reference: its uuid and URL, never its secret.

        (Subscriber dicts given in code to an event carry the secret they
        were given, as documented; none are generated here.)
        """
        assume(not any(isinstance(item, dict) for item in delivery.options.extra_subscribers or ()))
        encoded = encode_delivery(delivery)
        subscriber = delivery.subscriber
        assert {"uuid": str(subscriber.uuid), "url": subscriber.url} == encoded["subscriber"]
        assert "hmac_secret" not in json.dumps(encoded)

    def test_validators_are_serialized_once(self):
        """Per-event validators become their JSON form once, and come back as validators."""
        message = Message("a.b", {}, options=Options(recipient_validators=[ensure_port(443)]))
        encoded = encode_message(message)
        assert [["ensure_port", [443]]] == encoded["recipient_validators"]
        assert (ensure_port(443),) == decode_message(encoded).options.recipient_validators
        assert encoded == encode_message(decode_message(encoded))

    def test_unset_options_are_left_out(self):
        """Options that are None (the setting) do not travel; timeout and context always do."""
        message = Message("a.b", {"n": 1}, sender=7)
        encoded = encode_message(message)
        assert {
            "id": message.id,
            "event": "a.b",
            "payload": {"n": 1},
            "sender": 7,
            "timeout": None,
            "context": {},
            "allow_keepalive": True,
        } == encoded

    @pytest.mark.parametrize(
        "option",
        [
            pytest.param({"on_success": lambda request: None}, id="lambda-callback"),
            pytest.param({"recipient_validators": [lambda url: None]}, id="lambda-validator"),
            pytest.param(
                {"extra_subscribers": [StaticSubscriber(url="https://x.example/")]},
                id="subscriber-object",
            ),
        ],
    )
    def test_what_cannot_travel_raises_type_error(self, option):
        """Lambdas and subscriber objects cannot be sent to a worker: TypeError, nothing sent."""
        with pytest.raises(TypeError):
            encode_message(Message("a.b", {}, options=Options(**option)))

    def test_unknown_option_is_a_type_error(self):
        """Options refuses names it does not know."""
        with pytest.raises(TypeError, match="bogus"):
            Options(bogus=True)  # type: ignore[call-arg]


class TestValues:
    def test_next_attempt_keeps_the_id(self):
        """The next attempt of a delivery has the same id and the next number."""
        delivery = Delivery("a.b", "{}", StaticSubscriber(url="https://x.example/"))
        later = delivery.next_attempt()
        assert (delivery.id, 2) == (later.id, later.attempt)

    def test_values_are_frozen(self):
        """Messages and deliveries cannot be changed once made."""
        message = Message("a.b", {})
        with pytest.raises(AttributeError):
            message.event = "c.d"  # type: ignore[misc]


def test_a_stored_payload_keeps_the_order_of_its_keys():
    """A database that reorders stored JSON keys (jsonb) cannot change the body sent later."""
    message = Message("article.created", {"event": "e", "ref": "r", "data": {"z": 1, "a": 2}}, None)
    stored = encode_message(message, stored=True)
    reordered = {**stored, "payload": json.loads(json.dumps(stored["payload"], sort_keys=True))}

    payload = decode_message(reordered).payload

    assert ["event", "ref", "data"] == list(payload)
    assert ["z", "a"] == list(payload["data"])
    assert STORED_PAYLOAD not in encode_message(message)  # not in broker messages
