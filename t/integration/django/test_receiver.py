"""Receiving webhooks: real thorn deliveries replayed against views that verify them.

Every test starts from a real delivery: thorn signs an event and POSTs it to
the loopback receiver (t/receiver.py).  The request that arrived there, body
and headers byte for byte, is then replayed with Django's test client against
the views of this module's URLconf, decorated with
:func:`thorn.django.receiver.verify_webhook`.  The client enforces CSRF
checks, so every accepted request also shows that the views are exempt.
"""

from __future__ import annotations

import logging
import textwrap
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django
import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, TestCase
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from thorn.django.models import Subscriber
from thorn.django.receiver import Signer, is_valid_webhook, verify_webhook
from thorn.events import Event
from thorn.utils.hmac import compat_verify, signing_secret, verify

from t.proj.blog.models import Article
from t.receiver import Received, Receiver

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

RECEIVING_RST = Path(__file__).resolve().parents[3] / "docs" / "userguide" / "receiving.rst"

#: The secret of the Thorn 1.5 documentation, also used by receiving.rst.
SECRET = "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"
OTHER_SECRET = "the secret of another subscription"
DIGESTS = ["sha1", "sha256", "sha512"]
SIGNERS: dict[Signer, str] = {
    "sign": "thorn.utils.hmac:sign",
    "compat": "thorn.utils.hmac:compat_sign",
}
CASES = [(signer, digest) for signer in SIGNERS for digest in DIGESTS]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HOOK_HEADERS = ("Hook-Event", "Hook-Delivery", "Hook-HMAC", "Hook-Subscription", "User-Agent")
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
PAYLOAD = {
    "event": "article.changed",
    "ref": "https://example.com/article/1/",
    "sender": None,
    "data": {"title": "Café ☃", "state": "PUBLISHED"},
}

#: The bodies the protected views of this module ran with, in order.
CALLS: list[bytes] = []
#: The Hook-Subscription headers :func:`stored_secret` looked up.
LOOKUPS: list[str | None] = []


# -- the snippets of docs/userguide/receiving.rst --------------------------------
# Each one is pasted here exactly as it is in receiving.rst: keep them identical
# (test_snippet_is_in_the_docs fails otherwise).  They run against real deliveries.

DOCS_DECORATOR = """\
import json

from django.http import HttpResponse

from thorn.django.receiver import verify_webhook

# The subscription's hmac_secret: keep it out of the code, e.g. in an environment variable.
ARTICLE_SECRET = "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"


@verify_webhook(ARTICLE_SECRET, digest="sha256")
def handle_article_changed(request):
    payload = json.loads(request.body)
    print("Article changed:", payload["ref"])
    return HttpResponse(status=204)
"""

DOCS_SECRET_FUNCTION = """\
from django.http import HttpResponse

from thorn.django.receiver import verify_webhook

# Hook-Subscription (the subscription's id) -> its hmac_secret,
# as the REST API answered when you subscribed.
SECRETS = {
    "c91fe938-55fb-4190-a5ed-bd92f5ea8339": (
        "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"
    ),
}


def subscription_secret(request):
    return SECRETS.get(request.headers.get("Hook-Subscription", ""))


@verify_webhook(subscription_secret)
def handle_article_events(request):
    return HttpResponse(status=204)
"""

DOCS_CLASS_BASED = """\
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View

from thorn.django.receiver import verify_webhook


@method_decorator(verify_webhook(ARTICLE_SECRET), name="dispatch")
class ArticleHookView(View):
    def post(self, request):
        return HttpResponse(status=204)
"""

DOCS_ASYNC_CLASS_BASED = """\
from django.urls import path


class AsyncArticleHookView(View):
    async def post(self, request):
        return HttpResponse(status=204)


urlpatterns = [
    path("hooks/article/", verify_webhook(ARTICLE_SECRET)(AsyncArticleHookView.as_view())),
]
"""

DOCS_IS_VALID = """\
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

from thorn.django.receiver import is_valid_webhook


@csrf_exempt
def handle_article_removed(request):
    if not is_valid_webhook(request, ARTICLE_SECRET, digest="sha256"):
        return HttpResponseForbidden()
    return HttpResponse(status=204)
"""

DOCS_BY_HAND = """\
from thorn.utils.hmac import compat_verify, verify

signature = request.headers.get("Hook-HMAC", "")
# THORN_HMAC_SIGNER = "thorn.utils.hmac:sign" (recommended)
signed = verify(signature, "sha256", ARTICLE_SECRET, request.body)
# THORN_HMAC_SIGNER = "thorn.utils.hmac:compat_sign" (Thorn 1.5's default)
compat_signed = compat_verify(signature, "sha256", ARTICLE_SECRET, request.body)
"""

DOCS_STDLIB = '''\
import base64
import hashlib
import hmac


def is_signed(body, signature, secret, digest="sha256"):
    """Check a signature of THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"."""
    mac = hmac.new(secret.encode(), body, digest)
    expected = base64.b64encode(mac.digest())
    return hmac.compare_digest(expected, signature.encode())


def is_compat_signed(body, signature, secret, digest="sha256"):
    """Check a signature of "thorn.utils.hmac:compat_sign", Thorn 1.5's default signer."""
    key = hashlib.new(digest, b"itsdangerous.Signer" + b"signer" + secret.encode()).digest()
    mac = hmac.new(key, body, digest)
    expected = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
    return hmac.compare_digest(expected, signature.encode())
'''

#: The Thorn 1.5 documentation's Django receiver, as fixed in receiving.rst.
DOCS_DJANGO_WITHOUT_THORN = """\
import base64
import hmac
import json

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

ARTICLE_SECRET = "C=JTX)v3~dQCl];[_h[{q{CScm]oglLoe&>ga:>R~jR$.x?t|kW!FH:s@|4bu:11"
ARTICLE_DIGEST_TYPE = "sha256"


# also available as thorn.utils.hmac.verify
def verify(hmac_header, digest_method, secret, message):
    mac = hmac.new(secret.encode(), message, digest_method)
    signed = base64.b64encode(mac.digest())
    return hmac.compare_digest(signed, hmac_header.encode())


@csrf_exempt
@require_POST
def handle_article_changed(request):
    digest = request.headers.get("Hook-HMAC", "")
    body = request.body
    if not verify(digest, ARTICLE_DIGEST_TYPE, ARTICLE_SECRET, body):
        return HttpResponseForbidden()
    payload = json.loads(body)
    print("Article changed:", payload["ref"])
    return HttpResponse(status=204)
"""

DOCS_ROTATION = """\
from django.http import HttpResponse

from thorn.django.receiver import verify_webhook

# During a rotation: the new secret, and the old one until the grace period ends.
ARTICLE_SECRETS = [NEW_ARTICLE_SECRET, ARTICLE_SECRET]


@verify_webhook(ARTICLE_SECRETS, schemes=["standard"], tolerance=300)
def handle_article_published(request):
    return HttpResponse(status=204)
"""

DOCS_STANDARDWEBHOOKS = """\
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook, WebhookVerificationError

# The subscription's signing_secret, as the REST API answered it.
ARTICLE_SIGNING_SECRET = "whsec_Qz1KVFgpdjN+ZFFDbF07W19oW3txe0NTY21db2dsTG9lJj5nYTo+Un5qUiQueD90fGtXIUZIOnNAfDRidToxMQ=="
article_webhook = Webhook(ARTICLE_SIGNING_SECRET)


@csrf_exempt
@require_POST
def handle_article_updated(request):
    try:
        payload = article_webhook.verify(request.body, request.headers)
    except (WebhookVerificationError, ValueError):  # ValueError: a malformed signature
        return HttpResponseForbidden()
    print("Article updated:", payload["ref"])
    return HttpResponse(status=204)
"""  # noqa: E501 (the secret is one line in the docs)

DOCS_SNIPPETS = {
    "decorator": DOCS_DECORATOR,
    "secret function": DOCS_SECRET_FUNCTION,
    "class-based": DOCS_CLASS_BASED,
    "async class-based": DOCS_ASYNC_CLASS_BASED,
    "is_valid_webhook": DOCS_IS_VALID,
    "by hand": DOCS_BY_HAND,
    "stdlib": DOCS_STDLIB,
    "django without thorn": DOCS_DJANGO_WITHOUT_THORN,
    "rotation": DOCS_ROTATION,
    "standardwebhooks": DOCS_STANDARDWEBHOOKS,
}


def run_snippet(source: str, **names: Any) -> SimpleNamespace:
    """Execute a snippet of receiving.rst with ``names`` defined; return its globals."""
    namespace: dict[str, Any] = {"__name__": "receiving_rst", **names}
    exec(compile(source, str(RECEIVING_RST), "exec"), namespace)  # noqa: S102
    return SimpleNamespace(**namespace)


docs_decorator = run_snippet(DOCS_DECORATOR)
docs_secret_function = run_snippet(DOCS_SECRET_FUNCTION)
docs_class_based = run_snippet(DOCS_CLASS_BASED, ARTICLE_SECRET=SECRET)
docs_async_class_based = run_snippet(
    DOCS_ASYNC_CLASS_BASED, **vars(docs_class_based) | {"__name__": "receiving_rst"}
)
docs_is_valid = run_snippet(DOCS_IS_VALID, ARTICLE_SECRET=SECRET)
docs_stdlib = run_snippet(DOCS_STDLIB)
docs_without_thorn = run_snippet(DOCS_DJANGO_WITHOUT_THORN)
#: The new secret of the rotation example.
NEW_SECRET = "the new secret of the article subscription, after its rotation"
docs_rotation = run_snippet(DOCS_ROTATION, NEW_ARTICLE_SECRET=NEW_SECRET, ARTICLE_SECRET=SECRET)
docs_standardwebhooks = run_snippet(DOCS_STANDARDWEBHOOKS)


# -- views and URLconf -----------------------------------------------------------


def record(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The protected view: records that it ran."""
    CALLS.append(request.body)
    return HttpResponse("ran")


def stored_secret(request: HttpRequest) -> str | None:
    """The secret of the stored subscription named by ``Hook-Subscription`` (an ORM lookup)."""
    header = request.headers.get("Hook-Subscription")
    LOOKUPS.append(header)
    try:
        key = uuid.UUID(header or "")
    except ValueError:
        return None
    secret: str | None = (
        Subscriber.objects.filter(uuid=key).values_list("hmac_secret", flat=True).first()
    )
    return secret


def stored_secrets(request: HttpRequest) -> list[str]:
    """Both secrets of a rotated subscription, named by ``Hook-Subscription``."""
    LOOKUPS.append(request.headers.get("Hook-Subscription"))
    stored = Subscriber.objects.get(uuid=request.headers.get("Hook-Subscription"))
    return [stored.hmac_secret, stored.previous_hmac_secret]


@verify_webhook(SECRET, schemes=["standard"])
async def async_standard_view(request: HttpRequest) -> HttpResponse:
    CALLS.append(request.body)
    return HttpResponse("ran")


@verify_webhook(SECRET)
def form_view(request: HttpRequest) -> HttpResponse:
    """Reads the form fields after the decorator read the raw body."""
    CALLS.append(request.body)
    return HttpResponse(request.POST["event"])


@verify_webhook(SECRET)
async def async_view(request: HttpRequest) -> HttpResponse:
    CALLS.append(request.body)
    return HttpResponse("ran")


@verify_webhook(stored_secret)
async def async_stored_view(request: HttpRequest) -> HttpResponse:
    CALLS.append(request.body)
    return HttpResponse("ran")


@method_decorator(verify_webhook(SECRET), name="dispatch")
class ClassView(View):
    def post(self, request: HttpRequest) -> HttpResponse:
        return record(request)

    def put(self, request: HttpRequest) -> HttpResponse:
        return record(request)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(verify_webhook(SECRET), name="post")
class AsyncClassView(View):
    async def post(self, request: HttpRequest) -> HttpResponse:
        CALLS.append(request.body)
        return HttpResponse("ran")


urlpatterns = [
    *(
        path(f"hook/{signer}/{digest}/", verify_webhook(SECRET, digest, signer)(record))
        for signer, digest in CASES
    ),
    path("hook/stored/", verify_webhook(stored_secret)(record)),
    path("hook/form/", form_view),
    path("hook/async/", async_view),
    path("hook/async-stored/", async_stored_view),
    path("hook/class/", ClassView.as_view()),
    path("hook/async-class/", AsyncClassView.as_view()),
    path("unprotected/", record),
    path("hook/standard/", verify_webhook(SECRET, schemes=["standard"])(record)),
    path("hook/hook-hmac/", verify_webhook(SECRET, schemes=("hook-hmac",))(record)),
    path("hook/tolerance-60/", verify_webhook(SECRET, tolerance=60)(record)),
    path("hook/whsec/", verify_webhook(signing_secret(SECRET))(record)),
    path("hook/secrets/", verify_webhook([OTHER_SECRET, SECRET])(record)),
    path("hook/stored-secrets/", verify_webhook(stored_secrets)(record)),
    path("hook/async-standard/", async_standard_view),
    path("docs/decorator/", docs_decorator.handle_article_changed),
    path("docs/secret-function/", docs_secret_function.handle_article_events),
    path("docs/class-based/", docs_class_based.ArticleHookView.as_view()),
    path("docs/async-class-based/", docs_async_class_based.urlpatterns[0].callback),
    path("docs/is-valid/", docs_is_valid.handle_article_removed),
    path("docs/without-thorn/", docs_without_thorn.handle_article_changed),
    path("docs/rotation/", docs_rotation.handle_article_published),
    path("docs/standardwebhooks/", docs_standardwebhooks.handle_article_updated),
    # article-detail, which the ref of Article events reverses
    path("", include("t.proj.urls")),
]


# -- helpers ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_records() -> Iterator[None]:
    CALLS.clear()
    LOOKUPS.clear()
    yield
    CALLS.clear()
    LOOKUPS.clear()


@pytest.fixture(params=CASES, ids=[f"{signer}-{digest}" for signer, digest in CASES])
def case(request: Any, settings: Any) -> tuple[str, str]:
    """A (signer, digest) pair; the sending site uses that signer."""
    signer, digest = request.param
    settings.THORN_HMAC_SIGNER = SIGNERS[signer]
    return signer, digest


def deliver(
    receiver: Receiver,
    secret: Any = SECRET,
    digest: str = "sha256",
    content_type: str = JSON,
    payload: Any = None,
) -> Received:
    """Have thorn deliver an event to the loopback receiver; return the request that arrived."""
    hook = f"/hook/{uuid.uuid4()}"
    subscriber = {
        "url": receiver.url(hook),
        "hmac_secret": secret,
        "hmac_digest": digest,
        "content_type": content_type,
    }
    event = Event("receiver.test", subscribers=[subscriber])
    # The test runs in a transaction: the event is sent when it "commits".
    with TestCase.captureOnCommitCallbacks(execute=True):
        event.send(PAYLOAD if payload is None else payload)
    (received,) = receiver.wait_for_path(hook)
    return received


def deliver_article_changed(
    receiver: Receiver, capture: Callable[..., Any], **fields: Any
) -> tuple[Subscriber, Received]:
    """A stored subscription to ``article.changed`` and a real model-event delivery to it."""
    subscriber = Subscriber.objects.create(
        event="article.changed", url=receiver.url("/article-hook"), **fields
    )
    article = Article.objects.create(title="Hello")
    with capture(execute=True):
        article.title = "Hello, again"
        article.save()
    (received,) = receiver.wait_for_path("/article-hook")
    return subscriber, received


def replay(
    received: Received,
    path: str,
    body: bytes | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    standard: bool = False,
) -> Any:
    """Send ``received`` again to ``path`` of this URLconf, with CSRF checks enforced.

    The Standard Webhooks headers are sent too when ``standard`` is true.
    """
    names = HOOK_HEADERS + STANDARD_HEADERS if standard else HOOK_HEADERS
    sent = {
        name: value
        for name in names
        if name not in drop and (value := received.header(name)) is not None
    }
    sent.update(headers or {})
    client = Client(enforce_csrf_checks=True)
    return client.generic(
        method,
        path,
        received.body if body is None else body,
        content_type=received.header("Content-Type"),
        headers=sent,
    )


def areplay(received: Received, path: str, **kwargs: Any) -> Any:
    """Like :func:`replay`, through the ASGI handler (for async views)."""
    sent = {name: value for name in HOOK_HEADERS if (value := received.header(name)) is not None}
    sent.update(kwargs.pop("headers", {}))
    body = kwargs.pop("body", received.body)

    async def send() -> Any:
        client = AsyncClient(enforce_csrf_checks=True)
        return await client.generic(
            "POST", path, body, content_type=received.header("Content-Type"), headers=sent
        )

    return async_to_sync(send)()


def other(values: list[str], value: str) -> str:
    """The value after ``value`` in ``values`` (cyclically)."""
    return values[(values.index(value) + 1) % len(values)]


def as_request(
    received: Received, body: bytes | None = None, standard: bool = False
) -> HttpRequest:
    """``received`` as a Django request built by RequestFactory (with webhook-* if ``standard``)."""
    names = HOOK_HEADERS + STANDARD_HEADERS if standard else HOOK_HEADERS
    headers = {name: value for name in names if (value := received.header(name)) is not None}
    return RequestFactory().generic(
        "POST",
        "/hook/",
        received.body if body is None else body,
        content_type=received.header("Content-Type"),
        headers=headers,
    )


# -- real deliveries, both signers, every digest ---------------------------------


class TestRealDeliveries:
    def test_valid_delivery_runs_the_view(self, case, receiver):
        """A delivery replayed unchanged runs the view, with the exact body."""
        signer, digest = case
        received = deliver(receiver, digest=digest)

        response = replay(received, f"/hook/{signer}/{digest}/")

        assert 200 == response.status_code
        assert b"ran" == response.content
        assert [received.body] == CALLS

    def test_the_sending_site_used_the_signer(self, case, receiver):
        """The signature is in the format of THORN_HMAC_SIGNER (and only that one)."""
        signer, digest = case
        received = deliver(receiver, digest=digest)
        signature = received.header("Hook-HMAC")
        assert signature
        signed = verify(signature, digest, SECRET, received.body)
        compat_signed = compat_verify(signature, digest, SECRET, received.body)
        assert (signed, compat_signed) == ((True, False) if signer == "sign" else (False, True))

    def test_tampered_body(self, case, receiver):
        signer, digest = case
        received = deliver(receiver, digest=digest)
        tampered = received.body.replace(b"PUBLISHED", b"RETRACTED")
        assert tampered != received.body

        response = replay(received, f"/hook/{signer}/{digest}/", body=tampered)

        assert 403 == response.status_code
        assert [] == CALLS

    def test_wrong_secret(self, case, receiver):
        """Signed with another subscription's secret."""
        signer, digest = case
        received = deliver(receiver, secret=OTHER_SECRET, digest=digest)

        assert 403 == replay(received, f"/hook/{signer}/{digest}/").status_code
        assert [] == CALLS

    def test_missing_header(self, case, receiver):
        signer, digest = case
        received = deliver(receiver, digest=digest)

        response = replay(received, f"/hook/{signer}/{digest}/", drop=("Hook-HMAC",))

        assert 403 == response.status_code
        assert [] == CALLS

    def test_empty_header(self, case, receiver):
        signer, digest = case
        received = deliver(receiver, digest=digest)

        response = replay(received, f"/hook/{signer}/{digest}/", headers={"Hook-HMAC": ""})

        assert 403 == response.status_code
        assert [] == CALLS

    def test_wrong_digest(self, case, receiver):
        """The view expects another digest than the subscription's."""
        signer, digest = case
        received = deliver(receiver, digest=digest)

        response = replay(received, f"/hook/{signer}/{other(DIGESTS, digest)}/")

        assert 403 == response.status_code
        assert [] == CALLS

    def test_wrong_signer(self, case, receiver):
        """The view expects the other signer's format."""
        signer, digest = case
        received = deliver(receiver, digest=digest)

        response = replay(received, f"/hook/{other(list(SIGNERS), signer)}/{digest}/")

        assert 403 == response.status_code
        assert [] == CALLS

    def test_signature_of_another_delivery(self, case, receiver):
        """A valid signature, but of another body."""
        signer, digest = case
        received = deliver(receiver, digest=digest)
        another = deliver(receiver, digest=digest, payload={**PAYLOAD, "ref": None})
        signature = another.header("Hook-HMAC")
        assert signature
        assert signature != received.header("Hook-HMAC")

        response = replay(received, f"/hook/{signer}/{digest}/", headers={"Hook-HMAC": signature})

        assert 403 == response.status_code
        assert [] == CALLS


# -- the secret as a function of the request -------------------------------------


class TestSecretFunction:
    def test_secret_of_the_stored_subscription(self, receiver, django_capture_on_commit_callbacks):
        """A model-event delivery to a stored subscription, checked with its own secret."""
        subscriber, received = deliver_article_changed(receiver, django_capture_on_commit_callbacks)

        response = replay(received, "/hook/stored/")

        assert 200 == response.status_code
        assert [received.body] == CALLS
        assert [str(subscriber.uuid)] == LOOKUPS

    def test_other_subscription(self, receiver, django_capture_on_commit_callbacks):
        """Hook-Subscription names another existing subscription: its secret does not match."""
        _, received = deliver_article_changed(receiver, django_capture_on_commit_callbacks)
        another = Subscriber.objects.create(event="article.changed", url="https://example.com/")

        response = replay(
            received, "/hook/stored/", headers={"Hook-Subscription": str(another.uuid)}
        )

        assert 403 == response.status_code
        assert [] == CALLS

    @pytest.mark.parametrize("subscription", [str(uuid.uuid4()), "not-a-uuid", ""])
    def test_unknown_subscription(self, receiver, django_capture_on_commit_callbacks, subscription):
        """No secret for the request (the function returns None): 403."""
        _, received = deliver_article_changed(receiver, django_capture_on_commit_callbacks)

        response = replay(received, "/hook/stored/", headers={"Hook-Subscription": subscription})

        assert 403 == response.status_code
        assert [] == CALLS
        assert 1 == len(LOOKUPS)

    def test_not_called_without_signature(self, receiver, django_capture_on_commit_callbacks):
        """The function (maybe a query) is not called for requests without Hook-HMAC."""
        _, received = deliver_article_changed(receiver, django_capture_on_commit_callbacks)

        response = replay(received, "/hook/stored/", drop=("Hook-HMAC",))

        assert 403 == response.status_code
        assert [] == LOOKUPS

    def test_compat_signer_and_sha512(self, receiver, settings):
        """The function form with the other options."""
        settings.THORN_HMAC_SIGNER = SIGNERS["compat"]
        received = deliver(receiver, secret=OTHER_SECRET, digest="sha512")
        view = verify_webhook(lambda request: OTHER_SECRET, digest="sha512", signer="compat")(
            record
        )

        assert 200 == view(as_request(received)).status_code
        assert 403 == view(as_request(received, body=b"{}")).status_code
        assert [received.body] == CALLS


# -- kinds of views, methods, content types ---------------------------------------


class TestViews:
    def test_decorated_views_are_csrf_exempt(self, receiver):
        """The client enforces CSRF checks: an undecorated view refuses the same request."""
        received = deliver(receiver)

        assert 200 == replay(received, "/hook/sign/sha256/").status_code
        refused = replay(received, "/unprotected/")
        assert 403 == refused.status_code
        assert b"CSRF" in refused.content
        assert [received.body] == CALLS
        assert verify_webhook(SECRET)(record).csrf_exempt is True  # type: ignore[attr-defined]

    def test_class_based_view(self, receiver):
        received = deliver(receiver)

        assert 200 == replay(received, "/hook/class/").status_code
        assert 403 == replay(received, "/hook/class/", body=b"{}").status_code
        assert 403 == replay(received, "/hook/class/", drop=("Hook-HMAC",)).status_code
        assert [received.body] == CALLS

    def test_async_view(self, receiver):
        received = deliver(receiver)

        assert 200 == areplay(received, "/hook/async/").status_code
        assert 403 == areplay(received, "/hook/async/", body=b"{}").status_code
        assert [received.body] == CALLS

    def test_async_view_with_orm_secret(self, receiver, django_capture_on_commit_callbacks):
        """The secret function of an async view runs in a thread, so it can query."""
        subscriber, received = deliver_article_changed(receiver, django_capture_on_commit_callbacks)

        assert 200 == areplay(received, "/hook/async-stored/").status_code
        assert 403 == areplay(received, "/hook/async-stored/", body=b"{}").status_code
        assert [received.body] == CALLS
        assert [str(subscriber.uuid)] * 2 == LOOKUPS

    @pytest.mark.skipif(
        django.VERSION < (5, 0),
        reason="Django 4.2's method_decorator makes an async handler synchronous",
    )
    def test_async_class_based_view(self, receiver):
        """method_decorator(..., name="post") on an async handler, csrf_exempt on dispatch."""
        received = deliver(receiver)

        assert 200 == areplay(received, "/hook/async-class/").status_code
        assert 403 == areplay(received, "/hook/async-class/", body=b"{}").status_code
        assert [received.body] == CALLS

    def test_form_content_type(self, receiver):
        """A form delivery is verified on its raw body; the view can then read request.POST."""
        received = deliver(receiver, content_type=FORM)
        assert received.body.startswith(b"event=article.changed&")

        response = replay(received, "/hook/form/")

        assert 200 == response.status_code
        assert b"article.changed" == response.content
        assert 403 == replay(received, "/hook/form/", body=received.body + b"&x=1").status_code

    def test_any_method_is_verified(self, receiver):
        """The check does not depend on the method: a valid PUT runs, a bare GET does not."""
        received = deliver(receiver)

        assert 200 == replay(received, "/hook/class/", method="PUT").status_code
        assert 403 == Client().get("/hook/sign/sha256/").status_code
        assert [received.body] == CALLS

    def test_non_ascii_header(self, receiver):
        """A header with non-ASCII characters is a mismatch, not a server error."""
        received = deliver(receiver)

        response = replay(received, "/hook/sign/sha256/", headers={"Hook-HMAC": "é" * 44})

        assert 403 == response.status_code

    def test_raw_body_already_read(self):
        """A multipart body read as a stream before the check cannot be verified: 403."""
        request = RequestFactory().post("/hook/", {"a": "b"}, headers={"Hook-HMAC": "x"})
        assert "b" == request.POST["a"]

        assert 403 == verify_webhook(SECRET)(record)(request).status_code
        assert [] == CALLS

    def test_rejection_is_logged(self, receiver, caplog):
        received = deliver(receiver)

        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            replay(received, "/hook/sign/sha256/", body=b"{}")

        (record_,) = [r for r in caplog.records if r.name == "thorn.django.receiver"]
        message = record_.getMessage()
        assert "does not match" in message
        assert received.header("Hook-Delivery") in message
        assert "/hook/sign/sha256/" in message


# -- is_valid_webhook and the arguments -------------------------------------------


class TestIsValidWebhook:
    def test_real_delivery(self, case, receiver):
        signer, digest = case
        received = deliver(receiver, digest=digest)

        assert is_valid_webhook(as_request(received), SECRET, digest, signer)
        assert is_valid_webhook(as_request(received), lambda r: SECRET, digest, signer)
        assert is_valid_webhook(as_request(received), SECRET.encode(), digest, signer)
        assert not is_valid_webhook(as_request(received, b"{}"), SECRET, digest, signer)
        assert not is_valid_webhook(as_request(received), OTHER_SECRET, digest, signer)
        assert not is_valid_webhook(as_request(received), lambda r: None, digest, signer)
        assert not is_valid_webhook(as_request(received), "", digest, signer)

    def test_unsupported_options(self, receiver):
        request = as_request(deliver(receiver))
        with pytest.raises(ValueError, match="md5"):
            is_valid_webhook(request, SECRET, "md5")
        with pytest.raises(ValueError, match="'sign' or 'compat'"):
            is_valid_webhook(request, SECRET, signer="itsdangerous")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "arguments",
        [("",), (SECRET, "md5"), (SECRET, "sha256", "itsdangerous")],
        ids=["empty secret", "unsupported digest", "unknown signer"],
    )
    def test_decorator_checks_its_arguments(self, arguments):
        """Mistakes fail when the view module is imported, not on the first webhook."""
        with pytest.raises(ValueError):
            verify_webhook(*arguments)


# -- Standard Webhooks headers, replays, several secrets ---------------------------

#: 2026-05-01 12:00:00 UTC.
NOON = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Iterator[Any]:
    """The time, stopped at NOON; ``clock.move_to(...)`` moves it."""
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def rejection(caplog: Any) -> str:
    """The one reason the receiver logged."""
    (logged,) = [r for r in caplog.records if r.name == "thorn.django.receiver"]
    return logged.getMessage()


class TestStandardWebhooks:
    def test_standard_headers_are_verified(self, receiver):
        """A delivery with both schemes, replayed with every header, runs the view."""
        received = deliver(receiver)

        assert 200 == replay(received, "/hook/sign/sha256/", standard=True).status_code
        assert 200 == replay(received, "/hook/standard/", standard=True).status_code
        assert [received.body] * 2 == CALLS

    def test_a_standard_only_delivery(self, receiver, settings):
        """THORN_SIGNATURE_HEADERS = "standard": no Hook-HMAC, accepted on its webhook-signature."""
        settings.THORN_SIGNATURE_HEADERS = "standard"
        received = deliver(receiver)
        assert received.header("Hook-HMAC") is None

        assert 200 == replay(received, "/hook/sign/sha256/", standard=True).status_code
        assert 403 == replay(received, "/hook/hook-hmac/", standard=True).status_code

    @pytest.mark.parametrize("path", ["/hook/sign/sha256/", "/hook/standard/"])
    def test_the_standard_headers_decide_when_they_are_there(self, receiver, caplog, path):
        """A valid Hook-HMAC does not save a request whose webhook-signature is wrong."""
        received = deliver(receiver)
        another = deliver(receiver, payload={**PAYLOAD, "ref": None})

        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(
                received,
                path,
                standard=True,
                headers={"webhook-signature": another.header("webhook-signature") or ""},
            )

        assert 403 == response.status_code
        assert [] == CALLS
        assert "the webhook-signature does not match" in rejection(caplog)

    @pytest.mark.parametrize(
        ("header", "value"),
        [("webhook-id", str(uuid.uuid4())), ("webhook-timestamp", None)],
        ids=["other-id", "other-timestamp"],
    )
    def test_the_id_and_timestamp_are_signed(self, receiver, clock, header, value):
        received = deliver(receiver)
        value = value or str(int(NOON.timestamp()) - 1)

        response = replay(received, "/hook/standard/", standard=True, headers={header: value})

        assert 403 == response.status_code

    def test_a_wrong_digest_or_signer_does_not_matter(self, receiver):
        """Standard Webhooks is HMAC-SHA256 with the secret, whatever hmac_digest and the signer."""
        received = deliver(receiver, digest="sha512")

        assert 200 == replay(received, "/hook/compat/sha1/", standard=True).status_code
        assert 403 == replay(received, "/hook/compat/sha1/").status_code

    @pytest.mark.parametrize(
        "drop",
        [("webhook-id",), ("webhook-timestamp",), ("webhook-signature",)],
        ids=["no-id", "no-timestamp", "no-signature"],
    )
    def test_incomplete_headers_are_refused(self, receiver, caplog, drop):
        """Some but not all webhook-* headers: refused, even with a valid Hook-HMAC."""
        received = deliver(receiver)

        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(received, "/hook/sign/sha256/", standard=True, drop=drop)

        assert 403 == response.status_code
        assert f"incomplete Standard Webhooks headers: no {drop[0]}" in rejection(caplog)

    @pytest.mark.parametrize("stamp", ["1777636800.0", "-1", "soon", "\uff11\uff17\uff17\uff17"])
    def test_a_malformed_timestamp_is_refused(self, receiver, caplog, stamp):
        received = deliver(receiver)

        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(
                received, "/hook/standard/", standard=True, headers={"webhook-timestamp": stamp}
            )

        assert 403 == response.status_code
        assert "the webhook-timestamp is not a Unix time" in rejection(caplog)

    def test_standard_only_refuses_a_request_without_its_headers(self, receiver, caplog):
        """schemes=["standard"]: a replay that drops the webhook-* headers is refused."""
        received = deliver(receiver)

        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(received, "/hook/standard/")

        assert 403 == response.status_code
        assert "no Standard Webhooks headers" in rejection(caplog)
        assert 200 == replay(received, "/hook/sign/sha256/").status_code  # the default accepts

    def test_async_view(self, receiver):
        received = deliver(receiver)

        sent = {name: received.header(name) or "" for name in STANDARD_HEADERS}
        assert 200 == areplay(received, "/hook/async-standard/", headers=sent).status_code
        assert 403 == areplay(received, "/hook/async-standard/").status_code


class TestReplays:
    def test_a_delivery_replayed_after_the_tolerance_gets_403(self, receiver, clock, caplog):
        """The same request, byte for byte, is accepted for 5 minutes, then refused (logged)."""
        received = deliver(receiver)

        clock.move_to(NOON + timedelta(seconds=300))
        assert 200 == replay(received, "/hook/sign/sha256/", standard=True).status_code
        clock.move_to(NOON + timedelta(seconds=301))
        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(received, "/hook/sign/sha256/", standard=True)

        assert 403 == response.status_code
        assert [received.body] == CALLS
        message = rejection(caplog)
        assert "the webhook-timestamp is 301s old, more than the 300s tolerance" in message
        assert received.header("Hook-Delivery") in message

    def test_a_timestamp_in_the_future_gets_403(self, receiver, clock, caplog):
        received = deliver(receiver)

        clock.move_to(NOON - timedelta(seconds=301))
        with caplog.at_level(logging.WARNING, logger="thorn.django.receiver"):
            response = replay(received, "/hook/standard/", standard=True)

        assert 403 == response.status_code
        assert "301s in the future" in rejection(caplog)

    def test_the_tolerance_argument(self, receiver, clock):
        received = deliver(receiver)

        clock.move_to(NOON + timedelta(seconds=60))
        assert 200 == replay(received, "/hook/tolerance-60/", standard=True).status_code
        clock.move_to(NOON + timedelta(seconds=61))
        assert 403 == replay(received, "/hook/tolerance-60/", standard=True).status_code

    def test_a_replay_is_refused_before_the_secret_is_looked_up(self, receiver, clock):
        """An out-of-tolerance request costs no secret lookup (often a query)."""
        subscriber = Subscriber.objects.create(event="x.y", url="https://example.com/")
        received = deliver(receiver, secret=subscriber.hmac_secret)
        headers = {"Hook-Subscription": str(subscriber.uuid)}

        clock.move_to(NOON + timedelta(minutes=10))
        response = replay(received, "/hook/stored-secrets/", standard=True, headers=headers)

        assert 403 == response.status_code
        assert [] == LOOKUPS

    def test_is_valid_webhook_checks_the_timestamp(self, receiver, clock):
        received = deliver(receiver)
        request = as_request(received, standard=True)

        assert is_valid_webhook(request, SECRET)
        clock.move_to(NOON + timedelta(minutes=10))
        assert not is_valid_webhook(request, SECRET)
        assert is_valid_webhook(request, SECRET, tolerance=600)


class TestSeveralSecrets:
    def test_any_secret_of_the_list_matches(self, receiver):
        """A list of secrets: a delivery signed with any one of them runs the view."""
        for secret in (SECRET, OTHER_SECRET):
            received = deliver(receiver, secret=secret)
            assert 200 == replay(received, "/hook/secrets/", standard=True).status_code
            assert 200 == replay(received, "/hook/secrets/").status_code  # Hook-HMAC alone
        received = deliver(receiver, secret="a third secret")
        assert 403 == replay(received, "/hook/secrets/", standard=True).status_code

    def test_the_signing_secret_form_is_accepted(self, receiver):
        """The whsec_ form that the API answers verifies both schemes."""
        received = deliver(receiver)

        assert 200 == replay(received, "/hook/whsec/", standard=True).status_code
        assert 200 == replay(received, "/hook/whsec/").status_code
        assert is_valid_webhook(as_request(received), signing_secret(SECRET))

    def test_a_chosen_secret_that_looks_like_whsec(self, receiver):
        """A chosen hmac_secret that starts with whsec_ works as it is, too."""
        secret = "whsec_not base64 at all!"
        received = deliver(receiver, secret=secret)

        assert is_valid_webhook(as_request(received, standard=True), secret)
        assert is_valid_webhook(as_request(received), secret)

    @time_machine.travel(NOON, tick=False)
    def test_a_rotation_on_both_sides(self, receiver, django_capture_on_commit_callbacks):
        """During the grace, a receiver holding the old secret, the new one, or both, accepts."""
        subscriber = Subscriber.objects.create(
            event="article.changed", url=receiver.url("/rotated-hook"), hmac_secret=SECRET
        )
        new = subscriber.rotate_secret()
        article = Article.objects.create(title="Hello")
        with django_capture_on_commit_callbacks(execute=True):
            article.title = "Hello, again"
            article.save()
        (received,) = receiver.wait_for_path("/rotated-hook")

        for secrets in ([SECRET], [new], [new, SECRET]):
            assert is_valid_webhook(as_request(received, standard=True), secrets), secrets
        # Hook-HMAC alone is signed with the new secret only.
        assert (False, True) == (
            is_valid_webhook(as_request(received), SECRET),
            is_valid_webhook(as_request(received), new),
        )
        stored = replay(received, "/hook/stored-secrets/", standard=True)
        assert 200 == stored.status_code
        assert [str(subscriber.uuid)] == LOOKUPS

    @pytest.mark.parametrize(
        "secrets", [[], [SECRET, ""], (b"",)], ids=["empty", "one-empty", "bytes"]
    )
    def test_a_list_with_an_empty_secret_is_refused_when_decorating(self, secrets):
        with pytest.raises(ValueError, match="empty"):
            verify_webhook(secrets)

    def test_a_secret_function_may_return_a_list(self, receiver):
        received = deliver(receiver)
        view = verify_webhook(lambda request: ["nope", SECRET])(record)

        assert 200 == view(as_request(received, standard=True)).status_code
        assert 200 == view(as_request(received)).status_code


class TestOptions:
    @pytest.mark.parametrize(
        "options",
        [
            {"tolerance": -1},
            {"tolerance": float("nan")},
            {"tolerance": "300"},
            {"tolerance": True},
            {"schemes": []},
            {"schemes": "standard"},
            {"schemes": ["standard", "v1a"]},
        ],
        ids=["negative", "nan", "string", "bool", "no-scheme", "a-string", "unknown-scheme"],
    )
    def test_bad_options_are_refused_when_decorating(self, options):
        with pytest.raises(ValueError):
            verify_webhook(SECRET, **options)
        with pytest.raises(ValueError):
            is_valid_webhook(RequestFactory().post("/"), SECRET, **options)


# -- the snippets of receiving.rst -------------------------------------------------


class TestDocs:
    @pytest.mark.parametrize("name", list(DOCS_SNIPPETS))
    def test_snippet_is_in_the_docs(self, name):
        """The snippets above are receiving.rst's code blocks, character for character."""
        text = RECEIVING_RST.read_text(encoding="utf-8")
        block = textwrap.indent(DOCS_SNIPPETS[name], "    ")
        assert f".. code-block:: python\n\n{block}" in text

    def test_decorator_example(self, receiver, django_capture_on_commit_callbacks, capsys):
        """The decorator example receives a real article.changed delivery."""
        _, received = deliver_article_changed(
            receiver, django_capture_on_commit_callbacks, hmac_secret=SECRET
        )
        ref = received.json()["ref"]

        assert 204 == replay(received, "/docs/decorator/").status_code
        assert f"Article changed: {ref}\n" == capsys.readouterr().out
        assert 403 == replay(received, "/docs/decorator/", body=b"{}").status_code
        assert 403 == replay(received, "/docs/decorator/", drop=("Hook-HMAC",)).status_code
        assert "" == capsys.readouterr().out

    def test_secret_function_example(self, receiver, django_capture_on_commit_callbacks):
        """The SECRETS example receives the delivery of the subscription it names."""
        _, received = deliver_article_changed(
            receiver,
            django_capture_on_commit_callbacks,
            uuid=uuid.UUID("c91fe938-55fb-4190-a5ed-bd92f5ea8339"),
            hmac_secret=SECRET,
        )

        assert 204 == replay(received, "/docs/secret-function/").status_code
        another = {"Hook-Subscription": str(uuid.uuid4())}
        assert 403 == replay(received, "/docs/secret-function/", headers=another).status_code

    def test_class_based_example(self, receiver):
        received = deliver(receiver)

        assert 204 == replay(received, "/docs/class-based/").status_code
        assert 403 == replay(received, "/docs/class-based/", body=b"{}").status_code

    def test_async_class_based_example(self, receiver):
        received = deliver(receiver)

        assert 204 == areplay(received, "/docs/async-class-based/").status_code
        assert 403 == areplay(received, "/docs/async-class-based/", body=b"{}").status_code

    def test_is_valid_webhook_example(self, receiver):
        received = deliver(receiver)

        assert 204 == replay(received, "/docs/is-valid/").status_code
        assert 403 == replay(received, "/docs/is-valid/", body=b"{}").status_code

    @pytest.mark.parametrize("signer", list(SIGNERS))
    def test_by_hand_example(self, receiver, settings, signer):
        settings.THORN_HMAC_SIGNER = SIGNERS[signer]
        received = deliver(receiver)

        result = run_snippet(DOCS_BY_HAND, ARTICLE_SECRET=SECRET, request=as_request(received))

        assert (result.signed, result.compat_signed) == (signer == "sign", signer == "compat")

    def test_stdlib_functions_on_real_deliveries(self, case, receiver):
        signer, digest = case
        received = deliver(receiver, digest=digest)
        signature = received.header("Hook-HMAC")
        right, wrong = (
            (docs_stdlib.is_signed, docs_stdlib.is_compat_signed)
            if signer == "sign"
            else (docs_stdlib.is_compat_signed, docs_stdlib.is_signed)
        )

        assert right(received.body, signature, SECRET, digest)
        assert not wrong(received.body, signature, SECRET, digest)
        assert not right(received.body + b" ", signature, SECRET, digest)
        assert not right(received.body, signature, OTHER_SECRET, digest)
        assert not right(received.body, "é" * 44, SECRET, digest)

    @pytest.mark.parametrize(
        ("digest", "secret", "body", "signature", "compat_signature"),
        [
            (
                "sha256",
                "secret",
                '{"event": "article.created"}',
                "aSvd3zyRiyeBcJjzHhJFXvALfgpNrBq+Jl8RHP/6ln8=",
                "8ulb__5cyeOhbKgWABx89VgVCeueOI8Yz5ZxZJ8E1Ow",
            ),
            (
                "sha1",
                "key",
                "The quick brown fox jumps over the lazy dog",
                "3nybhbi3iqa8ino29wqQcBydtNk=",
                "9ORluTDD5Qu438VQNBhOJrz_ORE",
            ),
            (
                "sha512",
                SECRET,
                '{"event": "article.changed", "ref": null, "sender": null, "data": {}}',
                "ioVMK4xGnyP1uRgJlOITXH5jY73gRgVgS/3BhLZ5thTUKXuj5tFanpsS4vWQCAC6HLiau0TCwBUdNAvBbWCRWQ==",
                "4KfJGu4D5_R5rx2M2f7Gj2Fp3tEIzQXl7r9JDTNSx4tynNML6j0HMz4OAtpdl0Sm788_d0yjdcJbNqZQ9SSm2g",
            ),
            (
                "sha224",
                "été",
                "café ☃",
                "dbA0tMBBtu+Ovt7ort8OorTiK+cQTRML+UrahQ==",
                "e1q_lfguGi44JSfQXeTgzuq5gRw0S9vHNT6nPg",
            ),
        ],
        ids=["sha256", "sha1", "sha512", "sha224-utf8"],
    )
    def test_stdlib_functions_on_thorn_1_5_vectors(
        self, digest, secret, body, signature, compat_signature
    ):
        """Signatures computed by Thorn 1.5 itself (THORN-1.5-FACTS §3.2)."""
        message = body.encode()
        assert docs_stdlib.is_signed(message, signature, secret, digest)
        assert docs_stdlib.is_compat_signed(message, compat_signature, secret, digest)

    def test_django_without_thorn_example(
        self, receiver, django_capture_on_commit_callbacks, capsys
    ):
        """The fixed Thorn 1.5 example receives a real delivery and refuses the others."""
        _, received = deliver_article_changed(
            receiver, django_capture_on_commit_callbacks, hmac_secret=SECRET
        )
        ref = received.json()["ref"]

        assert 204 == replay(received, "/docs/without-thorn/").status_code
        assert f"Article changed: {ref}\n" == capsys.readouterr().out
        assert 403 == replay(received, "/docs/without-thorn/", body=b"{}").status_code
        missing = replay(received, "/docs/without-thorn/", drop=("Hook-HMAC",))
        assert 403 == missing.status_code
        assert 405 == Client().get("/docs/without-thorn/").status_code

    @pytest.mark.parametrize("secret", [SECRET, NEW_SECRET], ids=["old", "new"])
    def test_rotation_example(self, receiver, secret):
        """Deliveries signed with either secret pass; without webhook-* headers, 403."""
        received = deliver(receiver, secret=secret)

        assert 204 == replay(received, "/docs/rotation/", standard=True).status_code
        assert 403 == replay(received, "/docs/rotation/").status_code

    def test_standardwebhooks_example(self, receiver, capsys):
        """The standardwebhooks view verifies a real delivery, and refuses the others."""
        assert signing_secret(SECRET) == docs_standardwebhooks.ARTICLE_SIGNING_SECRET
        with time_machine.travel(NOON, tick=False) as clock:
            received = deliver(receiver)

            response = replay(received, "/docs/standardwebhooks/", standard=True)
            assert 204 == response.status_code
            assert f"Article updated: {PAYLOAD['ref']}\n" == capsys.readouterr().out
            for headers in ({"webhook-signature": "garbage"}, {"webhook-id": "another"}):
                refused = replay(
                    received, "/docs/standardwebhooks/", standard=True, headers=headers
                )
                assert 403 == refused.status_code
            assert 403 == replay(received, "/docs/standardwebhooks/").status_code
            clock.move_to(NOON + timedelta(minutes=6))
            assert 403 == replay(received, "/docs/standardwebhooks/", standard=True).status_code
            assert "" == capsys.readouterr().out
