"""Deliveries through the default dispatcher, asserted on what arrived over the wire."""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from urllib.parse import urlencode, urlsplit

import pytest

import thorn
from thorn.events import Event
from thorn.exceptions import (
    DeliveryError,
    DeliveryTimeout,
    HTTPStatusError,
    ImproperlyConfigured,
    SecurityError,
    ThornError,
)
from thorn.messages import delivery_id
from thorn.request import Request
from thorn.transport import MAX_REDIRECTS, Transport
from thorn.utils.hmac import compat_verify, verify
from thorn.validators import block_cidr_network, block_internal_ips

from t.receiver import Answer

SECRET = "subscriber-secret"
FORM = "application/x-www-form-urlencoded"


class Callbacks:
    """Records every callback of a send."""

    def __init__(self) -> None:
        self.successes: list[Request] = []
        self.errors: list[tuple[Request, Exception]] = []
        self.timeouts: list[tuple[Request, Exception]] = []

    def on_success(self, request):
        self.successes.append(request)

    def on_error(self, request, exc):
        self.errors.append((request, exc))

    def on_timeout(self, request, exc):
        self.timeouts.append((request, exc))

    def kwargs(self, timeout=True):
        callbacks = {"on_success": self.on_success, "on_error": self.on_error}
        if timeout:
            callbacks["on_timeout"] = self.on_timeout
        return callbacks


class FakeResolver:
    """Resolve made-up host names from a dict, recording every lookup."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {
            host: [ipaddress.ip_address(a) for a in addresses]
            for host, addresses in answers.items()
        }
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host, port):
        self.calls.append((host, port))
        try:
            return list(self.answers[host])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, host) from None


def subscriber(url: str, **fields: str) -> dict[str, str]:
    """A subscriber dict with a known secret."""
    return {"url": url, "hmac_secret": SECRET, **fields}


def path_of(url: str) -> str:
    """The path of ``url``."""
    return urlsplit(url).path


def refuse_path_refused(url):
    """A plain-callable validator refusing URLs whose path is /refused."""
    if url.endswith("/refused"):
        raise SecurityError(f"{url} is refused")


@pytest.fixture
def callbacks():
    """A fresh recorder of on_success/on_error/on_timeout calls."""
    return Callbacks()


class TestWireFormat:
    def test_one_post_per_subscriber(self, app, receiver):
        """Every subscriber receives exactly one POST at its own path."""
        urls = [receiver.url(f"/hook/{i}") for i in range(3)]
        Event("article.created", app=app, subscribers=[subscriber(u) for u in urls]).send(
            {"title": "Hello"}
        )
        received = receiver.wait_for(3, timeout=2)
        assert 3 == len(received)
        assert ["POST"] * 3 == [r.method for r in received]
        assert {"/hook/0", "/hook/1", "/hook/2"} == {r.path for r in received}

    def test_headers(self, app, receiver):
        """The Hook-* headers, User-Agent and Content-Type arrive as documented."""
        sub = subscriber(receiver.url("/hook"))
        requests = Event("article.created", app=app, subscribers=[sub]).send({"title": "Hello"})
        (received,) = receiver.wait_for(1, timeout=2)
        (request,) = requests
        assert "article.created" == received.header("Hook-Event")
        assert request.id == received.header("Hook-Delivery")
        # Derived from the message id and the subscription (stable across retries).
        assert delivery_id(str(request.delivery.message_id), request.subscriber.uuid) == request.id
        assert 5 == uuid.UUID(received.header("Hook-Delivery")).version
        assert str(request.subscriber.uuid) == received.header("Hook-Subscription")
        assert received.header("Hook-HMAC")
        assert f"thorn/{thorn.__version__}" in received.header("User-Agent")
        assert "application/json" == received.header("Content-Type")

    def test_hook_delivery_unique_per_request(self, app, receiver):
        """Each request of each send carries its own Hook-Delivery id."""
        event = Event(
            "article.created",
            app=app,
            subscribers=[subscriber(receiver.url("/a")), subscriber(receiver.url("/b"))],
        )
        event.send({"title": "Hello"})
        event.send({"title": "Hello"})
        received = receiver.wait_for(4, timeout=2)
        deliveries = [r.header("Hook-Delivery") for r in received]
        assert 4 == len(set(deliveries))

    def test_json_body_exact_bytes(self, app, receiver):
        """A JSON subscriber receives 1.5's JSON format, byte for byte."""
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/j"))]).send(
            {"title": "Hello"}
        )
        (received,) = receiver.wait_for(1, timeout=2)
        assert b'{"title": "Hello"}' == received.body

    def test_form_body(self, app, receiver):
        """A form subscriber gets top-level fields, nested data as compact JSON, None as ''."""
        sub = subscriber(receiver.url("/form"), content_type=FORM)
        payload = {"event": "article.created", "sender": None, "data": {"title": "Hi", "n": [1]}}
        Event("article.created", app=app, subscribers=[sub]).send(payload)
        (received,) = receiver.wait_for(1, timeout=2)
        expected = urlencode(
            [("event", "article.created"), ("sender", ""), ("data", '{"title":"Hi","n":[1]}')]
        ).encode()
        assert expected == received.body
        assert FORM == received.header("Content-Type")
        assert compat_verify(received.header("Hook-HMAC"), "sha256", SECRET, received.body)

    def test_request_data_merged(self, app, receiver):
        """request_data is merged into the body and the payload's keys win."""
        event = Event(
            "article.created",
            app=app,
            subscribers=[subscriber(receiver.url("/rd"))],
            request_data={"site": "example", "title": "from request_data"},
        )
        event.send({"title": "Hello"})
        (received,) = receiver.wait_for(1, timeout=2)
        assert {"site": "example", "title": "Hello"} == json.loads(received.body)


class TestSignature:
    @pytest.mark.parametrize(
        ("signer", "check"),
        [
            pytest.param("thorn.utils.hmac:sign", verify, id="sign"),
            pytest.param(None, compat_verify, id="compat_sign-default"),
        ],
    )
    @pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
    def test_hmac_verifies_received_bytes(self, make_app, receiver, signer, check, digest):
        """Hook-HMAC verifies against the raw received body for each signer and digest."""
        app = make_app(THORN_HMAC_SIGNER=signer)
        sub = subscriber(receiver.url("/signed"), hmac_digest=digest)
        Event("article.created", app=app, subscribers=[sub]).send({"title": "Hello", "n": 1})
        (received,) = receiver.wait_for(1, timeout=2)
        signature = received.header("Hook-HMAC")
        assert check(signature, digest, SECRET, received.body)
        assert not check(signature, digest, SECRET, received.body + b" ")
        assert not check(signature, digest, "other-secret", received.body)

    def test_upper_case_digest_signs_with_that_digest(self, app, receiver):
        """A subscriber dict with hmac_digest="SHA512" is signed with sha512."""
        sub = subscriber(receiver.url("/upper"), hmac_digest="SHA512")
        Event("article.created", app=app, subscribers=[sub]).send({"title": "Hello"})
        (received,) = receiver.wait_for(1, timeout=2)
        assert compat_verify(received.header("Hook-HMAC"), "sha512", SECRET, received.body)

    def test_static_url_subscriber_is_stable_and_verifiable(self, make_app, receiver):
        """A URL-only THORN_SUBSCRIBERS entry keeps its uuid and secret across sends."""
        app = make_app(THORN_SUBSCRIBERS={"article.created": receiver.url("/static")})
        event = Event("article.created", app=app)
        event.send({"title": "one"})
        event.send({"title": "two"})
        first, second = receiver.wait_for(2, timeout=2)
        assert first.header("Hook-Subscription") == second.header("Hook-Subscription")
        uuid.UUID(first.header("Hook-Subscription"))
        for received in (first, second):
            assert compat_verify(
                received.header("Hook-HMAC"), "sha256", "static-secret", received.body
            )


class TestCustomHeaders:
    def test_custom_headers_are_sent(self, app, receiver):
        """headers= given to send() arrive with the delivery."""
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/h"))]).send(
            {"title": "Hello"}, headers={"X-Custom": "yes"}
        )
        (received,) = receiver.wait_for(1, timeout=2)
        assert "yes" == received.header("X-Custom")

    def test_custom_header_overrides_user_agent(self, app, receiver):
        """A custom User-Agent replaces the default one."""
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/ua"))]).send(
            {"title": "Hello"}, headers={"User-Agent": "my-agent/1.0"}
        )
        (received,) = receiver.wait_for(1, timeout=2)
        assert "my-agent/1.0" == received.header("User-Agent")

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"Hook-HMAC": "forged", "Hook-Subscription": "forged"}, id="same-case"),
            pytest.param({"hook-hmac": "forged", "hook-subscription": "forged"}, id="lower-case"),
        ],
    )
    def test_custom_headers_cannot_override_signature(self, app, receiver, headers):
        """Custom headers cannot replace Hook-HMAC or Hook-Subscription."""
        requests = Event(
            "article.created", app=app, subscribers=[subscriber(receiver.url("/forge"))]
        ).send({"title": "Hello"}, headers=headers)
        (received,) = receiver.wait_for(1, timeout=2)
        (request,) = requests
        assert str(request.subscriber.uuid) == received.header("Hook-Subscription")
        assert compat_verify(received.header("Hook-HMAC"), "sha256", SECRET, received.body)
        assert "forged" not in received.headers.values()


class TestFailureSemantics:
    def test_2xx_calls_on_success(self, app, receiver, callbacks):
        """A 2xx answer calls on_success(request) with the response on the request."""
        receiver.answer("/ok", 201)
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/ok"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        (request,) = callbacks.successes
        assert 201 == request.response.status_code
        assert [] == callbacks.errors
        assert [] == callbacks.timeouts

    def test_500_calls_on_error(self, app, receiver, callbacks):
        """A 500 is a failure: on_error gets an HTTPStatusError carrying the response."""
        receiver.answer("/fail", 500)
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/fail"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((request, exc),) = callbacks.errors
        assert isinstance(exc, HTTPStatusError)
        assert 500 == exc.response.status_code
        assert request.outcome is not None
        assert 500 == request.outcome.status
        assert request is exc.request
        assert [] == callbacks.successes

    def test_timeout_calls_on_timeout(self, app, receiver, callbacks):
        """A receiver hanging past the timeout calls on_timeout with DeliveryTimeout."""
        receiver.answer("/slow", Answer(delay=1.0))
        Event(
            "article.created",
            app=app,
            timeout=0.3,
            subscribers=[subscriber(receiver.url("/slow"))],
        ).send({"title": "Hello"}, **callbacks.kwargs())
        ((request, exc),) = callbacks.timeouts
        assert isinstance(exc, DeliveryTimeout)
        assert request.outcome.timed_out
        assert [] == callbacks.errors
        assert [] == callbacks.successes

    def test_timeout_without_on_timeout_calls_on_error(self, app, receiver, callbacks):
        """Without on_timeout, a timeout reaches on_error."""
        receiver.answer("/slow", Answer(delay=1.0))
        Event(
            "article.created",
            app=app,
            timeout=0.3,
            subscribers=[subscriber(receiver.url("/slow"))],
        ).send({"title": "Hello"}, **callbacks.kwargs(timeout=False))
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, DeliveryTimeout)
        assert [] == callbacks.successes

    def test_connection_closed_without_answer(self, app, receiver, callbacks):
        """A connection closed without an answer calls on_error with DeliveryError."""
        receiver.answer("/close", Answer(close=True))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/close"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, DeliveryError)
        assert not isinstance(exc, (DeliveryTimeout, HTTPStatusError))
        assert [] == callbacks.successes

    def test_failing_subscriber_does_not_stop_others(self, app, receiver, callbacks):
        """A 500 and a refused URL fail alone; the other subscribers get the event."""
        receiver.answer("/fail", 500)
        urls = [receiver.url(p) for p in ("/fail", "/refused", "/good1", "/good2")]
        Event(
            "article.created",
            app=app,
            recipient_validators=[refuse_path_refused],
            subscribers=[subscriber(u) for u in urls],
        ).send({"title": "Hello"}, **callbacks.kwargs())
        receiver.wait_for(3, timeout=2)
        assert {"/fail", "/good1", "/good2"} == {r.path for r in receiver.received}
        assert ["/good1", "/good2"] == sorted(path_of(r.url) for r in callbacks.successes)
        errors = {path_of(request.url): type(exc) for request, exc in callbacks.errors}
        assert {"/fail": HTTPStatusError, "/refused": SecurityError} == errors

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            pytest.param({"hmac_digest": "md5"}, DeliveryError, id="unsupported-digest"),
            pytest.param({"url": "not a url"}, DeliveryError, id="invalid-url"),
            pytest.param({"path": "/closed"}, DeliveryError, id="connection-closed"),
        ],
    )
    def test_broken_subscriber_fails_alone(self, app, receiver, callbacks, bad, error):
        """A subscriber that cannot be signed for or reached fails; the next one still gets it."""
        receiver.answer("/closed", Answer(close=True))
        fields = dict(bad)
        broken = {**subscriber(receiver.url(fields.pop("path", "/broken"))), **fields}
        subs = [broken, subscriber(receiver.url("/good"))]
        Event("article.created", app=app, subscribers=subs).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        receiver.wait_for(1, timeout=2)
        assert 1 == len(receiver.for_path("/good"))
        ((request, exc),) = callbacks.errors
        assert broken["url"] == request.url
        assert isinstance(exc, error)
        assert [receiver.url("/good")] == [r.url for r in callbacks.successes]

    def test_unknown_content_type_fails_alone(self, app, receiver, callbacks):
        """A subscriber with a content type that has no codec fails; the others get it."""
        subs = [
            subscriber(receiver.url("/xml"), content_type="application/xml"),
            subscriber(receiver.url("/json")),
        ]
        Event("article.created", app=app, subscribers=subs).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        receiver.wait_for(1, timeout=2)
        assert ["/json"] == [r.path for r in receiver.received]
        ((request, exc),) = callbacks.errors
        assert request.url.endswith("/xml")
        assert isinstance(exc, ImproperlyConfigured)
        assert [receiver.url("/json")] == [r.url for r in callbacks.successes]

    def test_unencodable_payload_raises_type_error(self, app, receiver, callbacks):
        """A payload the codec cannot encode raises TypeError from send() and sends nothing."""
        event = Event("article.created", app=app, subscribers=[subscriber(receiver.url("/set"))])
        with pytest.raises(TypeError):
            event.send({"tags": {"a", "b"}}, **callbacks.kwargs())
        assert [] == receiver.wait_for(1, timeout=0.2)
        assert 0 == receiver.connections
        assert [] == callbacks.successes
        assert [] == callbacks.errors


class TestRedirects:
    def test_redirect_not_followed_by_default(self, app, receiver, callbacks):
        """A 3xx is a failure by default and the redirect target receives nothing."""
        receiver.answer("/from", Answer(status=307, headers={"Location": "/to"}))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/from"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        assert [] == receiver.for_path("/to")
        ((request, exc),) = callbacks.errors
        assert isinstance(exc, HTTPStatusError)
        assert 307 == request.outcome.status
        assert [] == callbacks.successes

    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    def test_redirect_followed_when_allowed(self, make_app, receiver, callbacks, status):
        """With THORN_ALLOW_REDIRECTS the target receives the same body, verifiably signed."""
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        receiver.answer("/from", Answer(status=status, headers={"Location": "/to"}))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/from"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        receiver.wait_for(2, timeout=2)
        (original,) = receiver.for_path("/from")
        (redirected,) = receiver.for_path("/to")
        assert "POST" == redirected.method
        assert original.body == redirected.body
        assert compat_verify(redirected.header("Hook-HMAC"), "sha256", SECRET, redirected.body)
        assert original.header("Hook-Delivery") == redirected.header("Hook-Delivery")
        assert 1 == len(callbacks.successes)
        assert [] == callbacks.errors

    def test_redirect_hops_are_validated(self, make_app, receiver, callbacks):
        """A followed redirect to a refused URL fails and the target receives nothing."""
        app = make_app(THORN_ALLOW_REDIRECTS=True, THORN_RECIPIENT_VALIDATORS=[refuse_path_refused])
        receiver.answer("/from", Answer(status=302, headers={"Location": "/refused"}))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/from"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert [] == receiver.for_path("/refused")
        assert [] == callbacks.successes

    def test_redirect_to_private_ip_refused(self, make_app, receiver, callbacks):
        """A redirect to a host resolving into a blocked network is refused before connecting."""
        app = make_app(
            THORN_ALLOW_REDIRECTS=True,
            THORN_RECIPIENT_VALIDATORS=[block_cidr_network("10.0.0.0/8")],
        )
        app.transport = Transport(
            allow_redirects=True,
            resolver=FakeResolver(
                {"hooks.example.test": ["127.0.0.1"], "internal.example.test": ["10.1.2.3"]}
            ),
        )
        target = f"http://internal.example.test:{receiver.port}/to"
        receiver.answer("/from", Answer(status=302, headers={"Location": target}))
        url = f"http://hooks.example.test:{receiver.port}/from"
        Event("article.created", app=app, subscribers=[subscriber(url)]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert ["/from"] == [r.path for r in receiver.received]

    def test_redirect_loop_fails(self, make_app, receiver, callbacks):
        """A redirect loop ends in a DeliveryError after a bounded number of hops."""
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        receiver.answer("/loop", Answer(status=307, headers={"Location": "/loop"}))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/loop"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, DeliveryError)
        assert 1 + MAX_REDIRECTS == len(receiver.for_path("/loop"))


class TestRecipientValidation:
    def test_default_validators_refuse_loopback(self, make_app, receiver, callbacks):
        """Default validators refuse 127.0.0.1: on_error gets SecurityError, no connection."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=None)
        requests = Event(
            "article.created", app=app, subscribers=[subscriber(receiver.url("/hook"))]
        ).send({"title": "Hello"}, **callbacks.kwargs())
        ((request, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert [request] == requests
        assert 0 == receiver.connections
        assert [] == receiver.received

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://169.254.169.254/latest/meta-data/", id="link-local-metadata"),
            pytest.param("http://10.0.0.1/hook", id="private-10"),
            pytest.param("http://192.168.1.1/hook", id="private-192"),
            pytest.param("https://127.0.0.1/hook", id="loopback-https"),
            pytest.param("http://[::1]/hook", id="ipv6-loopback"),
            pytest.param("http://[fd00::1]/hook", id="ipv6-unique-local"),
            pytest.param("http://[::ffff:127.0.0.1]/hook", id="ipv4-mapped-loopback"),
            pytest.param("http://localhost/hook", id="localhost-name"),
            pytest.param("http://2130706433/hook", id="decimal-loopback"),
            pytest.param("file:///etc/passwd", id="file-scheme"),
            pytest.param("https://example.com:8443/hook", id="port-8443"),
        ],
    )
    def test_default_validators_refuse_internal(self, make_app, receiver, callbacks, url):
        """Default validators refuse internal hosts, other schemes and ports via on_error."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=None)
        requests = Event(
            "article.created", app=app, timeout=0.3, subscribers=[subscriber(url)]
        ).send({"title": "Hello"}, **callbacks.kwargs())
        ((request, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert [request] == requests
        assert request.outcome is not None
        assert request.outcome.status is None
        assert [] == callbacks.successes

    @pytest.mark.parametrize(
        "validators",
        [
            pytest.param([("block_internal_ips", ())], id="serialized"),
            pytest.param([block_internal_ips()], id="object"),
        ],
    )
    def test_block_internal_ips_refuses_receiver(self, make_app, receiver, callbacks, validators):
        """block_internal_ips alone refuses the loopback receiver before connecting."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=validators)
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/hook"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert 0 == receiver.connections

    @pytest.mark.parametrize(
        "url_of",
        [
            pytest.param(lambda r: r.url("/hook"), id="port-not-80-443"),
            pytest.param(lambda r: r.url("/hook").replace("http://", "ftp://"), id="ftp-scheme"),
            pytest.param(lambda r: r.url("/hook", host="localhost"), id="localhost"),
        ],
    )
    def test_default_validators_refuse_urls(self, make_app, receiver, callbacks, url_of):
        """Default validators refuse other ports, other schemes and loopback names."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=None)
        Event("article.created", app=app, subscribers=[subscriber(url_of(receiver))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert 0 == receiver.connections

    def test_port_and_scheme_validators_alone(self, make_app, receiver, callbacks):
        """ensure_port and ensure_protocol refuse the receiver's port and an ftp URL."""
        app = make_app(
            THORN_RECIPIENT_VALIDATORS=[("ensure_port", (80, 443)), ("ensure_protocol", ("http",))]
        )
        subs = [
            subscriber(receiver.url("/hook")),
            subscriber("ftp://example.com/hook"),
        ]
        Event("article.created", app=app, subscribers=subs).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        assert 2 == len(callbacks.errors)
        assert all(isinstance(exc, SecurityError) for _, exc in callbacks.errors)
        assert 0 == receiver.connections

    def test_empty_validator_list_delivers(self, make_app, receiver, callbacks):
        """THORN_RECIPIENT_VALIDATORS = [] turns the checks off."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[])
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/hook"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        assert 1 == len(receiver.wait_for(1, timeout=2))
        assert 1 == len(callbacks.successes)

    def test_event_validators_override_setting(self, make_app, receiver, callbacks):
        """An event's recipient_validators=[] delivers even when the setting refuses."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=None)
        Event(
            "article.created",
            app=app,
            recipient_validators=[],
            subscribers=[subscriber(receiver.url("/hook"))],
        ).send({"title": "Hello"}, **callbacks.kwargs())
        assert 1 == len(receiver.wait_for(1, timeout=2))
        assert [] == callbacks.errors


class TestPinnedConnection:
    def test_connects_to_checked_address(self, make_app, receiver, callbacks):
        """A made-up host resolved by the injected resolver is reached at the checked address."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[block_cidr_network("10.0.0.0/8")])
        resolver = FakeResolver({"hooks.example.test": ["127.0.0.1"]})
        app.transport = Transport(resolver=resolver)
        url = f"http://hooks.example.test:{receiver.port}/pinned"
        Event("article.created", app=app, subscribers=[subscriber(url)]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        (received,) = receiver.wait_for(1, timeout=2)
        assert f"hooks.example.test:{receiver.port}" == received.header("Host")
        assert "/pinned" == received.path
        assert [("hooks.example.test", receiver.port)] == resolver.calls
        assert 1 == len(callbacks.successes)
        assert compat_verify(received.header("Hook-HMAC"), "sha256", SECRET, received.body)

    def test_any_internal_address_refuses(self, make_app, receiver, callbacks):
        """A host resolving to [internal, public] is refused by block_internal_ips."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[("block_internal_ips", ())])
        # The internal (loopback) address first: whatever a bug did, it could
        # only ever connect there, never to the public address.
        resolver = FakeResolver({"hooks.example.test": ["127.0.0.1", "93.184.216.34"]})
        app.transport = Transport(resolver=resolver)
        url = f"http://hooks.example.test:{receiver.port}/pinned"
        Event("article.created", app=app, subscribers=[subscriber(url)]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert 0 == receiver.connections

    def test_address_in_blocked_network_refuses(self, make_app, receiver, callbacks):
        """block_cidr_network refuses a host resolving into the blocked network."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[block_cidr_network("127.0.0.0/8")])
        app.transport = Transport(resolver=FakeResolver({"hooks.example.test": ["127.0.0.1"]}))
        url = f"http://hooks.example.test:{receiver.port}/pinned"
        Event("article.created", app=app, subscribers=[subscriber(url)]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, SecurityError)
        assert 0 == receiver.connections

    def test_dns_failure_is_a_delivery_error(self, make_app, receiver, callbacks):
        """A host that does not resolve fails that delivery with a DeliveryError."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[block_cidr_network("10.0.0.0/8")])
        app.transport = Transport(resolver=FakeResolver({}))
        url = f"http://nowhere.example.test:{receiver.port}/pinned"
        Event("article.created", app=app, subscribers=[subscriber(url)]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((_, exc),) = callbacks.errors
        assert isinstance(exc, ThornError)
        assert not isinstance(exc, SecurityError)
        assert 0 == receiver.connections


class TestConnections:
    def test_keepalive_reuses_one_connection(self, app, receiver, callbacks):
        """Twenty deliveries to the same receiver use one kept-alive connection."""
        event = Event("article.created", app=app, subscribers=[subscriber(receiver.url("/ka"))])
        for i in range(20):
            event.send({"n": i}, **callbacks.kwargs())
        received = receiver.wait_for(20, timeout=5)
        assert 20 == len(received)
        assert 20 == len(callbacks.successes)
        assert 1 == receiver.connections
        assert 1 == len({r.connection for r in received})

    def test_no_keepalive_opens_one_connection_per_delivery(self, app, receiver, callbacks):
        """allow_keepalive=False opens a new connection for every delivery."""
        event = Event(
            "article.created",
            app=app,
            allow_keepalive=False,
            subscribers=[subscriber(receiver.url("/nka"))],
        )
        for i in range(5):
            event.send({"n": i}, **callbacks.kwargs())
        received = receiver.wait_for(5, timeout=5)
        assert 5 == len(received)
        assert 5 == len(callbacks.successes)
        assert 5 == receiver.connections
        assert ["close"] * 5 == [r.header("Connection") for r in received]

    def test_requests_ordered_by_scheme_host_port(self, app, receiver):
        """Requests are returned ordered by (scheme, host, port), source order within a host.

        (They are made concurrently, so they may arrive in any order.)
        """
        subs = [
            subscriber(receiver.url("/l1", host="localhost")),
            subscriber(receiver.url("/a1")),
            subscriber(receiver.url("/l2", host="localhost")),
            subscriber(receiver.url("/a2")),
        ]
        requests = Event("article.created", app=app, subscribers=subs).send({"title": "Hello"})
        assert ["/a1", "/a2", "/l1", "/l2"] == [path_of(r.url) for r in requests]
        received = receiver.wait_for(4, timeout=2)
        assert ["/a1", "/a2", "/l1", "/l2"] == sorted(r.path for r in received)

    def test_response_body_capped(self, app, receiver, callbacks):
        """A response larger than max_response_size succeeds with a truncated body."""
        app.transport = Transport(max_response_size=1024)
        receiver.answer("/big", Answer(body=b"x" * 5000))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/big"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        (request,) = callbacks.successes
        assert 1024 == len(request.response.content)
        assert [] == callbacks.errors

    def test_connection_reused_after_capped_response(self, app, receiver, callbacks):
        """After a capped response, the next delivery still succeeds."""
        app.transport = Transport(max_response_size=16)
        receiver.answer("/big", Answer(body=b"x" * 5000))
        event = Event("article.created", app=app, subscribers=[subscriber(receiver.url("/big"))])
        event.send({"n": 1}, **callbacks.kwargs())
        event.send({"n": 2}, **callbacks.kwargs())
        assert 2 == len(callbacks.successes)
        assert 2 == len(receiver.wait_for(2, timeout=2))

    def test_timeout_then_next_delivery_succeeds(self, app, receiver, callbacks):
        """After a delivery timed out, the next delivery to the same host succeeds."""
        receiver.answer("/slow", Answer(delay=1.0))
        slow = Event(
            "article.created", app=app, timeout=0.3, subscribers=[subscriber(receiver.url("/slow"))]
        )
        fast = Event(
            "article.created", app=app, timeout=0.3, subscribers=[subscriber(receiver.url("/fast"))]
        )
        slow.send({"n": 1}, **callbacks.kwargs())
        fast.send({"n": 2}, **callbacks.kwargs())
        assert 1 == len(callbacks.timeouts)
        assert [receiver.url("/fast")] == [r.url for r in callbacks.successes]

    def test_retry_after_recorded(self, app, receiver, callbacks):
        """A Retry-After header of a failed answer is recorded on the outcome."""
        receiver.answer("/busy", Answer(status=503, headers={"Retry-After": "30"}))
        Event("article.created", app=app, subscribers=[subscriber(receiver.url("/busy"))]).send(
            {"title": "Hello"}, **callbacks.kwargs()
        )
        ((request, _),) = callbacks.errors
        assert request.outcome is not None
        assert 30.0 == request.outcome.retry_after


def test_max_response_size_setting_caps_the_body_read(make_app, receiver):
    """THORN_MAX_RESPONSE_SIZE caps how much of an answer the default transport reads."""
    app = make_app(THORN_MAX_RESPONSE_SIZE=100)
    receiver.answer("/big", Answer(body=b"x" * 10_000))
    (request,) = Event("article.created", app=app, subscribers=[receiver.url("/big")]).send({})
    assert request.outcome.ok
    assert b"x" * 100 == request.response.content
