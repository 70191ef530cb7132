"""Standard Webhooks signatures on real deliveries, verified by the ``standardwebhooks`` package.

Deliveries go through the default dispatcher to the loopback receiver; what
arrived there, body and headers byte for byte, is verified by the reference
Python library of Standard Webhooks, given the subscription's secret in its
``whsec_`` form.  The celery dispatcher's deliveries are verified the same way
in t/integration/celery/test_signatures.py.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import standardwebhooks
import time_machine
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from thorn.events import Event
from thorn.generic.subscriber import static_subscriber_errors
from thorn.utils.ed25519 import generate_secret_key, public_key_of
from thorn.utils.hmac import signing_secret, verify

from t.receiver import Received, Receiver

#: A secret as Thorn 1.5 generated them (64 characters, punctuation included).
SECRET_15 = "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"
FORM = "application/x-www-form-urlencoded"
PAYLOAD = {"event": "article.changed", "data": {"title": "Café ☃", "n": [1, 2]}}
#: 2026-05-01 12:00:00 UTC.
NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def deliver(app: Any, receiver: Receiver, secret: Any = SECRET_15, **fields: Any) -> Received:
    """Deliver PAYLOAD to one static subscriber of the loopback receiver; return what arrived."""
    path = f"/signed/{uuid.uuid4()}"
    subscriber = {"url": receiver.url(path), "hmac_secret": secret, **fields}
    (request,) = Event("article.changed", app=app, subscribers=[subscriber]).send(PAYLOAD)
    assert request.outcome.ok
    (received,) = receiver.wait_for_path(path)
    return received


def library_verify(received: Received, secret: str, body: bytes | None = None) -> None:
    """Verify ``received`` with standardwebhooks, as a receiver given the ``whsec_`` secret does."""
    webhook = standardwebhooks.Webhook(signing_secret(secret))
    webhook.verify(received.body if body is None else body, received.headers, json_parse=False)


class TestStandardWebhooksLibrary:
    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param(SECRET_15, id="thorn-1.5-secret"),
            pytest.param("s", id="one-character"),
            pytest.param("été ☃ secret", id="non-ascii"),
            pytest.param("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id="whsec-looking"),
        ],
    )
    @pytest.mark.parametrize("content_type", ["application/json", FORM])
    def test_verifies_a_real_delivery(self, app, receiver, secret, content_type):
        """standardwebhooks verifies what arrived with the subscription's secret, whatever it is."""
        received = deliver(app, receiver, secret, content_type=content_type)

        library_verify(received, secret)

        assert received.header("Hook-Delivery") == received.header("webhook-id")
        assert (
            abs(datetime.now(timezone.utc).timestamp() - int(received.header("webhook-timestamp")))
            < 5
        )

    def test_refuses_another_body_or_secret(self, app, receiver):
        received = deliver(app, receiver)

        with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
            library_verify(received, SECRET_15, body=received.body.replace(b"1, 2", b"1, 3"))
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
            library_verify(received, "another secret")

    def test_refuses_a_delivery_replayed_after_its_tolerance(self, app, receiver):
        """Five minutes after the attempt, the library refuses the same request."""
        with time_machine.travel(NOON, tick=False) as traveller:
            received = deliver(app, receiver)
            traveller.shift(timedelta(seconds=299))
            library_verify(received, SECRET_15)
            traveller.shift(timedelta(seconds=2))
            with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
                library_verify(received, SECRET_15)

    def test_a_retry_is_signed_again_at_its_own_time(self, app, receiver):
        """A second attempt keeps webhook-id, gets a new timestamp, and verifies then."""
        subscriber = {"url": receiver.url("/retried"), "hmac_secret": SECRET_15}
        with time_machine.travel(NOON, tick=False) as traveller:
            (request,) = Event("article.changed", app=app, subscribers=[subscriber]).send(PAYLOAD)
            traveller.shift(timedelta(minutes=10))
            request.dispatch()
            first, second = receiver.wait_for_path("/retried", 2)
            library_verify(second, SECRET_15)
            with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
                library_verify(first, SECRET_15)

        assert request.id == first.header("webhook-id") == second.header("webhook-id")
        timestamps = [int(r.header("webhook-timestamp") or 0) for r in (first, second)]
        assert [int(NOON.timestamp()), int(NOON.timestamp()) + 600] == timestamps
        assert first.body == second.body
        assert first.header("Hook-HMAC") == second.header("Hook-HMAC")


class TestSignatureHeadersSetting:
    @pytest.mark.parametrize("setting", ["both", "standard"])
    def test_standard_headers_are_sent(self, make_app, receiver, setting):
        received = deliver(make_app(THORN_SIGNATURE_HEADERS=setting), receiver)

        library_verify(received, SECRET_15)
        assert (setting == "both") == (received.header("Hook-HMAC") is not None)

    def test_hook_hmac_only(self, make_app, receiver):
        """ "hook-hmac" sends what Thorn 1.5 sent, and no webhook-* header."""
        app = make_app(
            THORN_SIGNATURE_HEADERS="hook-hmac", THORN_HMAC_SIGNER="thorn.utils.hmac:sign"
        )
        received = deliver(app, receiver)

        assert verify(received.header("Hook-HMAC"), "sha256", SECRET_15, received.body)
        assert [] == [name for name in received.headers if name.lower().startswith("webhook-")]
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="Missing"):
            library_verify(received, SECRET_15)


class TestStaticSubscriberSecrets:
    """Static subscribers take a list of secrets, newest first, for a rotation."""

    def test_every_secret_signs_webhook_signature(self, app, receiver):
        received = deliver(app, receiver, ["the-new-secret", SECRET_15])

        assert 2 == len((received.header("webhook-signature") or "").split(" "))
        library_verify(received, "the-new-secret")
        library_verify(received, SECRET_15)
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
            library_verify(received, "a-secret-of-no-one")

    def test_the_newest_signs_hook_hmac(self, make_app, receiver):
        app = make_app(THORN_HMAC_SIGNER="thorn.utils.hmac:sign")
        received = deliver(app, receiver, ["the-new-secret", SECRET_15])

        signature = received.header("Hook-HMAC")
        assert verify(signature, "sha256", "the-new-secret", received.body)
        assert not verify(signature, "sha256", SECRET_15, received.body)

    def test_from_the_setting(self, make_app, receiver):
        """THORN_SUBSCRIBERS entries take the list too."""
        subscriber = {"url": receiver.url("/static"), "hmac_secret": ["new", "old"]}
        app = make_app(THORN_SUBSCRIBERS={"article.changed": subscriber})

        Event("article.changed", app=app).send(PAYLOAD)

        (received,) = receiver.wait_for_path("/static")
        library_verify(received, "new")
        library_verify(received, "old")


class TestStaticEd25519Keys:
    """Static subscribers sign webhook-signature with Ed25519 when given a ``signing_key``."""

    @staticmethod
    def v1a_verifies(received: Received, public_key: str) -> bool:
        """Whether cryptography, given the raw public key, accepts one v1a entry of ``received``."""
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key[len("whpk_") :]))
        ident, stamp = received.header("webhook-id"), received.header("webhook-timestamp")
        content = f"{ident}.{stamp}.".encode() + received.body
        for entry in (received.header("webhook-signature") or "").split(" "):
            version, _, signature = entry.partition(",")
            try:
                key.verify(base64.b64decode(signature), content)
            except InvalidSignature:
                continue
            if version == "v1a":
                return True
        return False

    def test_one_key_signs_v1a_and_hook_hmac_keeps_the_secret(self, make_app, receiver):
        app = make_app(THORN_HMAC_SIGNER="thorn.utils.hmac:sign")
        key = generate_secret_key()

        received = deliver(app, receiver, signing_key=key)

        assert (received.header("webhook-signature") or "").startswith("v1a,")
        assert self.v1a_verifies(received, public_key_of(key))
        assert not self.v1a_verifies(received, public_key_of(generate_secret_key()))
        assert verify(received.header("Hook-HMAC"), "sha256", SECRET_15, received.body)
        with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
            library_verify(received, SECRET_15)

    def test_a_list_of_keys_for_a_rotation(self, app, receiver):
        new, old = generate_secret_key(), generate_secret_key()

        received = deliver(app, receiver, signing_key=[new, old])

        assert 2 == len((received.header("webhook-signature") or "").split(" "))
        assert self.v1a_verifies(received, public_key_of(new))
        assert self.v1a_verifies(received, public_key_of(old))

    @pytest.mark.parametrize(
        "key",
        [
            pytest.param("whpk_" + "A" * 43 + "=", id="a-public-key"),
            pytest.param("whsk_short", id="not-32-bytes"),
            pytest.param(["whsk_" + "A" * 43 + "=", 5], id="not-a-string"),
            pytest.param({"key": "x"}, id="a-dict"),
        ],
    )
    def test_a_malformed_key_is_a_configuration_error(self, make_app, key):
        """Refused by the system check (THORN_SUBSCRIBERS), without repeating the key."""
        app = make_app(
            THORN_SUBSCRIBERS={"article.*": {"url": "https://e.com/", "signing_key": key}}
        )

        (error,) = static_subscriber_errors(app)

        assert "signing_key of subscriber 'https://e.com/'" in error
        assert "A" * 43 not in error
