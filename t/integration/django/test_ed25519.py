"""Ed25519 subscriptions: ``webhook-signature`` is ``v1a``, verified with the public key.

Real model events are delivered to the loopback receiver; what arrived there
is verified with the subscription's ``signing_public_key`` twice: by
``cryptography`` directly (an independent verifier), and by thorn's own
:func:`~thorn.django.receiver.verify_webhook`.  The API, the admin, the
``rotate-secret`` command and the system check are exercised through their
real paths; "without cryptography" makes the package impossible to import.
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import standardwebhooks
import time_machine
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpResponse
from django.test import RequestFactory

from thorn.django.models import DeliveryRecord, Subscriber
from thorn.django.receiver import is_valid_webhook, verify_webhook
from thorn.django.rest_framework.serializers import serializer_for
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.ed25519 import generate_secret_key, public_key_of
from thorn.utils.hmac import sign, signing_secret, standard_sign, verify

from t.proj.blog.models import Article
from t.receiver import Received, Receiver

pytestmark = pytest.mark.django_db

#: 2026-05-01 12:00:00 UTC, when keys are rotated.
NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
LIST = "/hooks/"
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "Hook-HMAC")

#: The admin's add form for an ed25519 subscription.
ED25519_ADMIN_FORM = {
    "event": "article.created",
    "url": "https://added.example.com/hook",
    "delivery_mode": "post",
    "content_type": "application/json",
    "hmac_digest": "sha256",
    "signing_algorithm": "ed25519",
    "hmac_secret": "s" * 40,
}


def detail(uuid: Any) -> str:
    return f"/hooks/{uuid}/"


def v1a_entries(received: Received) -> list[bytes]:
    """The raw signatures of the ``v1a`` entries of ``webhook-signature``."""
    entries = (received.header("webhook-signature") or "").split(" ")
    return [base64.b64decode(entry[len("v1a,") :]) for entry in entries if entry.startswith("v1a,")]


def cryptography_verifies(received: Received, public_key: str) -> bool:
    """Whether ``cryptography``, given the raw public key, accepts one ``v1a`` signature."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key[len("whpk_") :]))
    ident, stamp = received.header("webhook-id"), received.header("webhook-timestamp")
    content = f"{ident}.{stamp}.".encode() + received.body
    for signature in v1a_entries(received):
        try:
            key.verify(signature, content)
        except InvalidSignature:
            continue
        return True
    return False


def thorn_verifies(received: Received, *keys: str) -> bool:
    """Whether a view decorated with ``verify_webhook(keys)`` runs for ``received``."""
    headers = {name: value for name in HEADERS if (value := received.header(name)) is not None}
    request = RequestFactory().generic(
        "POST", "/hook/", received.body, content_type="application/json", headers=headers
    )
    view = verify_webhook(list(keys))(lambda request: HttpResponse(status=204))
    status: int = view(request).status_code
    assert status in (204, 403)
    return status == 204


def verifies(received: Received, public_key: str) -> bool:
    """Both verifiers agree, and say whether ``public_key`` verifies ``received``."""
    independent = cryptography_verifies(received, public_key)
    assert independent == thorn_verifies(received, public_key)
    return independent


@pytest.fixture
def deliver(
    receiver: Receiver, django_capture_on_commit_callbacks: Callable[..., Any]
) -> Callable[[], Received]:
    """Deliver an article.created event to /ed25519 now; return what arrived."""

    def deliver() -> Received:
        count = len(receiver.for_path("/ed25519")) + 1
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="Signed")
        return receiver.wait_for_path("/ed25519", count)[-1]

    return deliver


@pytest.fixture
def subscriber(subscribe: Callable[..., Subscriber]) -> Subscriber:
    return subscribe("article.created", "/ed25519", signing_algorithm="ed25519")


@pytest.fixture
def clock() -> Iterator[Any]:
    """The time, stopped at NOON; ``clock.move_to(...)`` moves it."""
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


class TestDelivery:
    def test_webhook_signature_is_one_v1a_signature_by_the_public_key(self, subscriber, deliver):
        received = deliver()

        signature = received.header("webhook-signature") or ""
        assert signature.startswith("v1a,")
        assert 1 == len(signature.split(" "))
        assert 1 == len(v1a_entries(received))
        assert verifies(received, subscriber.signing_public_key)
        assert public_key_of(subscriber.signing_private_key) == subscriber.signing_public_key

    def test_another_key_or_a_changed_body_does_not_verify(self, subscriber, deliver, receiver):
        received = deliver()
        other = Subscriber.objects.create(
            event="article.created", url=receiver.url("/other"), signing_algorithm="ed25519"
        )
        tampered = Received(
            received.method,
            received.path,
            received.headers,
            received.body.replace(b"Signed", b"Forged"),
            received.connection,
        )

        assert not verifies(received, other.signing_public_key)
        assert not verifies(tampered, subscriber.signing_public_key)

    def test_no_v1_signature_and_hook_hmac_still_uses_the_hmac_secret(self, subscriber, deliver):
        """No HMAC in webhook-signature: a whsec_ verifier fails; Hook-HMAC is 1.5's, as before."""
        received = deliver()

        with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
            standardwebhooks.Webhook(signing_secret(subscriber.hmac_secret)).verify(
                received.body, received.headers
            )
        assert verify(received.header("Hook-HMAC"), "sha256", subscriber.hmac_secret, received.body)

    def test_the_private_key_is_not_sent(self, subscriber, deliver):
        received = deliver()

        raw_private = subscriber.signing_private_key[len("whsk_") :]
        sent = received.body.decode() + json.dumps(received.headers)
        assert raw_private not in sent

    def test_an_hmac_subscription_is_unchanged(self, subscribe, deliver):
        hmac_subscriber = subscribe("article.created", "/ed25519")

        received = deliver()

        assert ("hmac", "", "") == (
            hmac_subscriber.signing_algorithm,
            hmac_subscriber.signing_private_key,
            hmac_subscriber.signing_public_key,
        )
        assert [] == v1a_entries(received)
        standardwebhooks.Webhook(signing_secret(hmac_subscriber.hmac_secret)).verify(
            received.body, received.headers
        )

    def test_standard_headers_off_sends_no_signature_to_verify(self, settings, subscriber, deliver):
        """THORN_SIGNATURE_HEADERS = "hook-hmac": no webhook-* header, no v1a signature."""
        settings.THORN_SIGNATURE_HEADERS = "hook-hmac"

        received = deliver()

        assert received.header("webhook-signature") is None
        assert not thorn_verifies(received, subscriber.signing_public_key)


class TestRotation:
    def test_both_keys_verify_during_the_grace_period(self, clock, subscriber, deliver):
        old_public = subscriber.signing_public_key
        subscriber.rotate_secret()
        new_public = subscriber.signing_public_key
        assert new_public != old_public

        for moment in (NOON, NOON + timedelta(hours=24) - timedelta(seconds=1)):
            clock.move_to(moment)
            received = deliver()
            assert 2 == len(v1a_entries(received))
            assert (True, True) == (verifies(received, new_public), verifies(received, old_public))
            # Newest first, as with v1.
            first = (received.header("webhook-signature") or "").split(" ")[0]
            assert cryptography_verifies(
                Received(
                    "POST", "/", {**received.headers, "webhook-signature": first}, received.body, 0
                ),
                new_public,
            )
        assert thorn_verifies(received, old_public, new_public)

    def test_only_the_new_key_verifies_after_the_grace_period(self, clock, subscriber, deliver):
        old_public = subscriber.signing_public_key
        subscriber.rotate_secret()

        clock.move_to(NOON + timedelta(hours=24))
        received = deliver()

        assert 1 == len(v1a_entries(received))
        assert (True, False) == (
            verifies(received, subscriber.signing_public_key),
            verifies(received, old_public),
        )

    def test_a_grace_of_zero_drops_the_old_key_at_once(self, clock, subscriber, deliver):
        old_public = subscriber.signing_public_key
        subscriber.rotate_secret(grace=timedelta(0))

        received = deliver()

        assert "" == subscriber.previous_signing_private_key
        assert (True, False) == (
            verifies(received, subscriber.signing_public_key),
            verifies(received, old_public),
        )

    def test_the_hmac_secret_rotates_too(self, clock, subscriber):
        old_secret, old_private = subscriber.hmac_secret, subscriber.signing_private_key

        new_secret = subscriber.rotate_secret()

        stored = Subscriber.objects.get(pk=subscriber.pk)
        assert (new_secret, old_secret, old_private) == (
            stored.hmac_secret,
            stored.previous_hmac_secret,
            stored.previous_signing_private_key,
        )
        assert stored.signing_private_key not in (old_private, "")
        assert public_key_of(stored.signing_private_key) == stored.signing_public_key


class TestAlgorithmChanges:
    def test_becoming_hmac_drops_the_keys_and_ed25519_again_makes_new_ones(self, subscriber):
        first_public = subscriber.signing_public_key
        subscriber.signing_algorithm = "hmac"
        subscriber.save(update_fields=["signing_algorithm"])

        stored = Subscriber.objects.get(pk=subscriber.pk)
        assert ("", "", "") == (
            stored.signing_private_key,
            stored.signing_public_key,
            stored.previous_signing_private_key,
        )

        stored.signing_algorithm = "ed25519"
        stored.save(update_fields=["signing_algorithm"])
        again = Subscriber.objects.get(pk=subscriber.pk)
        assert again.signing_public_key.startswith("whpk_")
        assert first_public != again.signing_public_key

    def test_saving_keeps_the_key_pair(self, subscriber):
        public = subscriber.signing_public_key
        subscriber.url = subscriber.url + "?again"
        subscriber.save()

        assert public == Subscriber.objects.get(pk=subscriber.pk).signing_public_key

    def test_the_repr_and_str_do_not_show_the_private_key(self, subscriber):
        raw = subscriber.signing_private_key[len("whsk_") :]
        assert raw not in repr(subscriber) + str(subscriber)


def _everything(api: Any, body: dict[str, Any]) -> str:
    """Every answer of the API about the subscription ``body`` is, as one text."""
    uuid = body["id"]
    answers = [
        api.get(detail(uuid)),
        api.get(LIST),
        api.patch(detail(uuid), {"event": "article.*"}, format="json"),
        api.put(detail(uuid), {"event": "article.*", "url": body["url"]}, format="json"),
        api.post(f"/hooks/{uuid}/rotate-secret/"),
        api.options(detail(uuid)),
    ]
    assert [200] * len(answers) == [answer.status_code for answer in answers]
    return "".join(answer.content.decode() for answer in answers)


class TestAPI:
    def test_create_returns_the_public_key_and_never_the_private_key(self, api):
        response = api.post(
            LIST,
            {"event": "article.created", "url": "https://e.com/h", "signing_algorithm": "ed25519"},
            format="json",
        )

        assert 201 == response.status_code
        body = response.json()
        stored = Subscriber.objects.get(uuid=body["id"])
        assert ("ed25519", stored.signing_public_key) == (
            body["signing_algorithm"],
            body["signing_public_key"],
        )
        assert body["signing_public_key"].startswith("whpk_")
        assert not {"signing_private_key", "previous_signing_private_key"} & set(body)
        seen = response.content.decode() + _everything(api, body)
        stored.refresh_from_db()
        for private in (stored.signing_private_key, stored.previous_signing_private_key):
            assert private.startswith("whsk_")
            assert private[len("whsk_") :] not in seen

    def test_an_hmac_subscription_has_no_public_key(self, api):
        body = api.post(LIST, {"event": "article.created", "url": "https://e.com/h"}).json()

        assert ("hmac", None) == (body["signing_algorithm"], body["signing_public_key"])

    def test_update_to_ed25519_and_back(self, api):
        uuid = api.post(LIST, {"event": "article.created", "url": "https://e.com/h"}).json()["id"]

        made = api.patch(detail(uuid), {"signing_algorithm": "ed25519"}, format="json").json()
        back = api.patch(detail(uuid), {"signing_algorithm": "hmac"}, format="json").json()

        assert made["signing_public_key"].startswith("whpk_")
        assert None is back["signing_public_key"]
        assert "" == Subscriber.objects.get(uuid=uuid).signing_private_key

    def test_the_public_key_is_read_only(self, api):
        body = api.post(
            LIST,
            {
                "event": "article.created",
                "url": "https://e.com/h",
                "signing_algorithm": "ed25519",
                "signing_public_key": "whpk_" + "A" * 43 + "=",
                "signing_private_key": "whsk_" + "A" * 43 + "=",
            },
            format="json",
        ).json()

        stored = Subscriber.objects.get(uuid=body["id"])
        assert "A" * 43 not in stored.signing_public_key + stored.signing_private_key
        assert public_key_of(stored.signing_private_key) == body["signing_public_key"]

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("rsa", id="unknown"),
            pytest.param("ED25519", id="upper-case"),
            pytest.param("", id="empty"),
            pytest.param(None, id="null"),
            pytest.param(25519, id="number"),
            pytest.param(["ed25519"], id="list"),
        ],
    )
    def test_a_bad_algorithm_is_a_400(self, api, value):
        response = api.post(
            LIST,
            {"event": "article.created", "url": "https://e.com/h", "signing_algorithm": value},
            format="json",
        )

        assert 400 == response.status_code
        assert ["signing_algorithm"] == list(response.json())
        assert 0 == Subscriber.objects.count()


class TestWithoutCryptography:
    """Without the package: a 400 or an error naming the extra, never a 500 or a lost delivery."""

    def test_the_api_refuses_ed25519_with_a_400(self, api, without_cryptography):
        response = api.post(
            LIST,
            {"event": "article.created", "url": "https://e.com/h", "signing_algorithm": "ed25519"},
            format="json",
        )

        assert 400 == response.status_code
        (message,) = response.json()["signing_algorithm"]
        assert 'pip install "thorn[ed25519]"' in message
        assert 0 == Subscriber.objects.count()

    def test_creating_one_in_code_is_improperly_configured(self, without_cryptography):
        with pytest.raises(ImproperlyConfigured, match=r"thorn\[ed25519\]"):
            Subscriber.objects.create(
                event="article.created", url="https://e.com/h", signing_algorithm="ed25519"
            )
        assert 0 == Subscriber.objects.count()

    def test_rotating_a_stored_one_is_a_400_and_changes_nothing(self, api, stored_ed25519):
        before = Subscriber.objects.values().get(pk=stored_ed25519.pk)

        response = api.post(f"/hooks/{stored_ed25519.uuid}/rotate-secret/")

        assert 400 == response.status_code
        assert "thorn[ed25519]" in response.json()["signing_algorithm"][0]
        assert before == Subscriber.objects.values().get(pk=stored_ed25519.pk)

    def test_a_stored_one_can_still_be_changed_and_disabled(self, api, stored_ed25519):
        """Its key pair is kept: changing other fields needs no package, through the API or code."""
        keys = Subscriber.objects.values("signing_private_key", "signing_public_key")

        response = api.patch(
            detail(stored_ed25519.uuid),
            {"signing_algorithm": "ed25519", "is_active": False, "event": "article.*"},
            format="json",
        )

        assert 200 == response.status_code, response.content
        assert stored_ed25519.signing_public_key == response.json()["signing_public_key"]
        assert [stored_ed25519.signing_public_key] == [k["signing_public_key"] for k in keys]
        stored_ed25519.refresh_from_db()
        stored_ed25519.full_clean()
        assert (False, "article.*") == (stored_ed25519.is_active, stored_ed25519.event)

    def test_rotating_from_the_command_line_is_a_command_error(self, stored_ed25519):
        with pytest.raises(CommandError, match=r"thorn\[ed25519\]"):
            call_command("thorn", "rotate-secret", str(stored_ed25519.uuid), stdout=StringIO())

    def test_its_deliveries_fail_and_are_retried_not_lost(
        self, stored_ed25519, receiver, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="Unsigned")

        record = DeliveryRecord.objects.get(subscription=stored_ed25519.uuid)
        assert ("retrying", 1) == (record.state, record.attempts)
        assert 'pip install "thorn[ed25519]"' in record.last_error
        assert [] == receiver.for_path("/unsigned")

    def test_the_database_check_reports_it(self, stored_ed25519):
        messages = checks.run_checks(tags=["thorn"], databases=["default"])

        (error,) = [message for message in messages if message.id == "thorn.E090"]
        assert "1 subscription(s)" in error.msg
        assert 'pip install "thorn[ed25519]"' in error.hint
        # A plain check (no database) does not query.
        assert "thorn.E090" not in [m.id for m in checks.run_checks(tags=["thorn"])]

    def test_the_admin_form_refuses_ed25519(self, admin, without_cryptography):
        response = admin.post(
            "/admin/webhooks/subscriber/add/",
            ED25519_ADMIN_FORM,
        )

        assert 200 == response.status_code
        assert "thorn[ed25519]" in response.content.decode()
        assert 0 == Subscriber.objects.count()


@pytest.fixture
def stored_ed25519(
    request: pytest.FixtureRequest, receiver: Receiver, django_user_model: Any
) -> Subscriber:
    """An ed25519 subscription of alice (if she exists) stored while cryptography was there.

    Then cryptography is hidden (``without_cryptography``) for the rest of the test.
    """
    subscriber = Subscriber.objects.create(
        event="article.created",
        url=receiver.url("/unsigned"),
        signing_algorithm="ed25519",
        user=django_user_model.objects.filter(username="alice").first(),
    )
    request.getfixturevalue("without_cryptography")
    return subscriber


def test_the_database_check_is_quiet_with_cryptography(subscriber):
    messages = checks.run_checks(tags=["thorn"], databases=["default"])

    assert "thorn.E090" not in [message.id for message in messages]


class TestAdmin:
    def test_the_add_form_makes_an_ed25519_subscription(self, admin):
        response = admin.post(
            "/admin/webhooks/subscriber/add/",
            ED25519_ADMIN_FORM,
        )

        assert 302 == response.status_code
        stored = Subscriber.objects.get()
        assert public_key_of(stored.signing_private_key) == stored.signing_public_key

    def test_the_change_page_shows_the_public_key_only(self, admin, subscriber):
        subscriber.rotate_secret()
        page = admin.get(f"/admin/webhooks/subscriber/{subscriber.pk}/change/").content.decode()

        assert subscriber.signing_public_key in page
        for private in (subscriber.signing_private_key, subscriber.previous_signing_private_key):
            assert private[len("whsk_") :] not in page

    def test_the_rotate_action_rotates_the_key_pair(self, admin, subscriber):
        old_public = subscriber.signing_public_key

        response = admin.post(
            "/admin/webhooks/subscriber/",
            {"action": "rotate_secret", "_selected_action": [subscriber.pk]},
        )

        assert 302 == response.status_code
        assert old_public != Subscriber.objects.get(pk=subscriber.pk).signing_public_key


class TestCommand:
    @time_machine.travel(NOON, tick=False)
    def test_rotate_secret_prints_the_new_public_key(self, subscriber):
        out = StringIO()
        call_command("thorn", "rotate-secret", str(subscriber.uuid), "--json", stdout=out)

        result = json.loads(out.getvalue())
        stored = Subscriber.objects.get(pk=subscriber.pk)
        assert stored.signing_public_key == result["signing_public_key"]
        assert stored.signing_private_key[len("whsk_") :] not in out.getvalue()

        text = StringIO()
        call_command("thorn", "rotate-secret", str(subscriber.uuid), stdout=text)
        stored.refresh_from_db()
        assert f"signing_public_key: {stored.signing_public_key}" in text.getvalue().splitlines()


def as_request(received: Received, **headers: str) -> Any:
    """``received`` as a Django request, with ``headers`` replacing (or adding) some."""
    sent = {name: value for name in HEADERS if (value := received.header(name)) is not None}
    sent.update(headers)
    return RequestFactory().generic(
        "POST", "/hook/", received.body, content_type="application/json", headers=sent
    )


class TestReceiver:
    """verify_webhook and is_valid_webhook with public keys, hostile requests included."""

    def test_a_public_key_is_never_an_hmac_key(self, subscriber, deliver):
        """Anyone knows the whpk_ string: v1 or Hook-HMAC keyed with it must not verify."""
        received = deliver()
        public = subscriber.signing_public_key
        ident, stamp = received.header("webhook-id"), received.header("webhook-timestamp")
        forged_v1 = standard_sign(public, ident, stamp, received.body)
        forged_hook_hmac = sign("sha256", public, received.body).decode()

        assert not is_valid_webhook(
            as_request(received, **{"webhook-signature": forged_v1}), public
        )
        hook_only = as_request(received, **{"Hook-HMAC": forged_hook_hmac})
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            del hook_only.META["HTTP_" + name.upper().replace("-", "_")]
        assert not is_valid_webhook(hook_only, public)
        assert is_valid_webhook(as_request(received), public)

    def test_a_replay_after_the_tolerance_is_a_403(self, clock, subscriber, deliver):
        received = deliver()
        view = verify_webhook(subscriber.signing_public_key)(lambda r: HttpResponse(status=204))

        clock.move_to(NOON + timedelta(seconds=300))
        assert 204 == view(as_request(received)).status_code
        clock.move_to(NOON + timedelta(seconds=301))
        assert 403 == view(as_request(received)).status_code
        assert not is_valid_webhook(as_request(received), subscriber.signing_public_key)
        assert is_valid_webhook(as_request(received), subscriber.signing_public_key, tolerance=400)

    def test_secrets_and_public_keys_together(self, subscribe, subscriber, deliver, receiver):
        """A list may mix an HMAC secret and a public key: either scheme's signature verifies."""
        subscribe("article.created", "/hmac", hmac_secret="h" * 40)
        by_ed25519 = deliver()
        (by_hmac,) = receiver.wait_for_path("/hmac")
        keys = ["h" * 40, subscriber.signing_public_key]

        assert (by_hmac.header("webhook-signature") or "").startswith("v1,")
        assert is_valid_webhook(as_request(by_ed25519), keys)
        assert is_valid_webhook(as_request(by_hmac), keys)
        assert not is_valid_webhook(as_request(by_hmac), [subscriber.signing_public_key])
        assert not is_valid_webhook(as_request(by_ed25519), ["h" * 40])

    def test_a_function_may_return_a_public_key(self, subscriber, deliver):
        received = deliver()
        looked_up: list[str | None] = []

        def key_of(request: Any) -> str | None:
            looked_up.append(request.headers.get("Hook-Subscription"))
            found = Subscriber.objects.filter(uuid=request.headers.get("Hook-Subscription"))
            return found.values_list("signing_public_key", flat=True).first()

        request = as_request(received, **{"Hook-Subscription": str(subscriber.uuid)})
        assert is_valid_webhook(request, key_of)
        assert [str(subscriber.uuid)] == looked_up

    def test_hook_hmac_only_schemes_refuse_with_a_public_key(self, subscriber, deliver):
        received = deliver()

        assert not is_valid_webhook(
            as_request(received), subscriber.signing_public_key, schemes=["hook-hmac"]
        )

    @pytest.mark.parametrize(
        "key",
        [
            pytest.param("whpk_", id="empty"),
            pytest.param("whpk_not base64", id="not-base64"),
            pytest.param("whpk_" + "A" * 40, id="30-bytes"),
        ],
    )
    def test_a_malformed_public_key_is_refused_when_decorating(self, key):
        with pytest.raises(ValueError, match="whpk_"):
            verify_webhook(key)
        with pytest.raises(ValueError, match="whpk_"):
            verify_webhook(["a secret", key])
        with pytest.raises(ValueError, match="whpk_"):
            is_valid_webhook(RequestFactory().post("/"), key)

    def test_without_cryptography_a_public_key_is_improperly_configured(self, without_cryptography):
        key = "whpk_" + base64.b64encode(b"k" * 32).decode()
        with pytest.raises(ImproperlyConfigured, match=r"thorn\[ed25519\]"):
            verify_webhook(key)
        # Secrets alone do not need it.
        verify_webhook("a secret")


RECEIVING_RST = Path(__file__).resolve().parents[3] / "docs" / "userguide" / "receiving.rst"

# The snippets of docs/userguide/receiving.rst, character for character
# (test_snippet_is_in_the_docs fails otherwise); they run against real deliveries.
DOCS_DECORATOR = """\
from django.http import HttpResponse

from thorn.django.receiver import verify_webhook

# ARTICLE_PUBLIC_KEY: the subscription's signing_public_key (whpk_...).


@verify_webhook(ARTICLE_PUBLIC_KEY, schemes=["standard"])
def handle_article_created(request):
    return HttpResponse(status=204)
"""

DOCS_CRYPTOGRAPHY = '''\
import base64
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def is_signed_v1a(body, headers, public_key, tolerance=300):
    """Check the v1a signatures of webhook-signature with a whpk_ public key."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    content = f"{msg_id}.{timestamp}.".encode() + body
    for entry in headers.get("webhook-signature", "").split():
        version, _, signature = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), content)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False
'''


def run_snippet(source: str, **names: Any) -> dict[str, Any]:
    """Execute a snippet of receiving.rst with ``names`` defined; return its globals."""
    namespace: dict[str, Any] = {"__name__": "receiving_rst", **names}
    exec(compile(source, str(RECEIVING_RST), "exec"), namespace)  # noqa: S102
    return namespace


class TestDocs:
    @pytest.mark.parametrize(
        "source", [DOCS_DECORATOR, DOCS_CRYPTOGRAPHY], ids=["thorn", "cryptography"]
    )
    def test_snippet_is_in_the_docs(self, source):
        text = RECEIVING_RST.read_text(encoding="utf-8")
        assert f".. code-block:: python\n\n{textwrap.indent(source, '    ')}" in text

    def test_the_decorator_example_verifies_a_real_delivery(self, subscriber, deliver, receiver):
        received = deliver()
        other = Subscriber.objects.create(
            event="article.created", url=receiver.url("/other"), signing_algorithm="ed25519"
        )
        view = run_snippet(DOCS_DECORATOR, ARTICLE_PUBLIC_KEY=subscriber.signing_public_key)[
            "handle_article_created"
        ]
        forged = run_snippet(DOCS_DECORATOR, ARTICLE_PUBLIC_KEY=other.signing_public_key)[
            "handle_article_created"
        ]

        assert 204 == view(as_request(received)).status_code
        assert 403 == forged(as_request(received)).status_code

    def test_the_cryptography_example_verifies_a_real_delivery(self, clock, subscriber, deliver):
        is_signed_v1a = run_snippet(DOCS_CRYPTOGRAPHY)["is_signed_v1a"]
        received = deliver()
        names = ("webhook-id", "webhook-timestamp", "webhook-signature")
        headers = {name: received.header(name) for name in names}
        public = subscriber.signing_public_key

        assert is_signed_v1a(received.body, as_request(received).headers, public)
        assert is_signed_v1a(received.body, headers, public)
        assert not is_signed_v1a(received.body + b" ", headers, public)
        assert not is_signed_v1a(received.body, {**headers, "webhook-id": "msg_other"}, public)
        assert not is_signed_v1a(received.body, {}, public)
        assert not is_signed_v1a(received.body, headers, public_key_of(generate_secret_key()))
        clock.move_to(NOON + timedelta(seconds=301))
        assert not is_signed_v1a(received.body, headers, public)


class TestOtherSubscriberModels:
    def test_a_model_without_signing_algorithm_is_shown_without_the_ed25519_fields(self):
        """A subscriber model without the Ed25519 columns: the API neither shows nor takes them."""
        kept = [f for f in Subscriber._meta.get_fields() if not f.name.startswith("signing_")]
        model = type("Legacy", (), {"_meta": SimpleNamespace(get_fields=lambda: kept)})

        for listing in (False, True):
            serializer = serializer_for(model, listing)  # type: ignore[arg-type]
            assert "signing_secret" in serializer.Meta.fields or listing
            assert not {"signing_algorithm", "signing_public_key"} & set(serializer.Meta.fields)
            assert None is serializer._declared_fields.get("signing_algorithm")


class TestPortal:
    """The subscriber's portal (/webhooks/): the choice, the public key, the rotation."""

    @pytest.fixture
    def web(self, client, django_user_model):
        client.force_login(django_user_model.objects.create_user("alice"))
        return client

    def test_choose_ed25519_and_see_the_public_key_only(self, web, receiver):
        response = web.post(
            "/webhooks/new/",
            {
                "event": "article.created",
                "url": receiver.url("/new"),
                "signing_algorithm": "ed25519",
            },
        )

        assert 302 == response.status_code
        stored = Subscriber.objects.get()
        assert "ed25519" == stored.signing_algorithm
        page = web.get(f"/webhooks/{stored.uuid}/?secret=show").content.decode()
        assert stored.signing_public_key in page
        assert stored.signing_private_key[len("whsk_") :] not in page

    def test_a_bad_algorithm_is_the_apis_error(self, web, receiver):
        response = web.post(
            "/webhooks/new/",
            {"event": "article.created", "url": receiver.url("/new"), "signing_algorithm": "rsa"},
        )

        assert 400 == response.status_code  # the form again, with the API's error
        assert "Not a signing algorithm" in response.content.decode()
        assert 0 == Subscriber.objects.count()

    def test_an_hmac_subscription_shows_no_public_key(self, web, receiver):
        web.post("/webhooks/new/", {"event": "article.created", "url": receiver.url("/new")})

        stored = Subscriber.objects.get()
        assert ("hmac", "") == (stored.signing_algorithm, stored.signing_public_key)
        assert "thorn-public-key" not in web.get(f"/webhooks/{stored.uuid}/").content.decode()

    def test_rotating_without_cryptography_is_an_error_message(self, web, receiver, request):
        stored = Subscriber.objects.create(
            event="article.created",
            url=receiver.url("/new"),
            signing_algorithm="ed25519",
            user=django_user(request, "alice"),
        )
        request.getfixturevalue("without_cryptography")
        before = Subscriber.objects.values().get(pk=stored.pk)

        response = web.post(f"/webhooks/{stored.uuid}/rotate-secret/", follow=True)

        assert 200 == response.status_code
        assert "thorn[ed25519]" in response.content.decode()
        assert before == Subscriber.objects.values().get(pk=stored.pk)


def django_user(request: pytest.FixtureRequest, username: str) -> Any:
    return request.getfixturevalue("django_user_model").objects.get(username=username)


class TestWithoutPrivateKey:
    def test_an_ed25519_row_without_keys_is_never_signed_otherwise(
        self, subscribe, receiver, django_capture_on_commit_callbacks
    ):
        """Made ed25519 by QuerySet.update() (no save(), so no key pair): its deliveries fail.

        It is not sent with an HMAC signature instead; rotating its secret gives it keys.
        """
        subscriber = subscribe("article.created", "/keyless")
        Subscriber.objects.filter(pk=subscriber.pk).update(signing_algorithm="ed25519")
        subscribe("article.created", "/sentinel")

        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="Keyless")
        receiver.wait_for_path("/sentinel")

        record = DeliveryRecord.objects.get(subscription=subscriber.uuid)
        assert "retrying" == record.state
        assert "has no private key" in record.last_error
        assert [] == receiver.for_path("/keyless")

        subscriber.refresh_from_db()
        subscriber.rotate_secret()
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="Keyed")
        (received,) = receiver.wait_for_path("/keyless")
        assert verifies(received, subscriber.signing_public_key)
