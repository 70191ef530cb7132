"""HTTPS delivery: certificates are verified against the URL's host, with SNI, when pinned."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from thorn.app import Thorn
from thorn.events import Event
from thorn.exceptions import DeliveryError
from thorn.request import Request
from thorn.transport import Transport
from thorn.validators import Address, block_cidr_network

from t.receiver import Receiver

HOSTNAME = "hooks.example.test"
# Pinning is used whenever an address validator is configured; this one
# lets the loopback receiver through.
PINNED_POLICY = [block_cidr_network("10.0.0.0/8")]


def fake_resolver(host: str, port: int) -> list[Address]:
    """Resolve the test names to the loopback receiver, and nothing else."""
    if host.lower().rstrip(".") in {HOSTNAME, "other.example.test"}:
        return [ipaddress.ip_address("127.0.0.1")]
    raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the fake DNS")


class TLSReceiver:
    """A loopback HTTPS receiver presenting a certificate for ``identities``."""

    def __init__(self, ca: trustme.CA, *identities: str) -> None:
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*identities).configure_cert(context)
        context.sni_callback = self._record_sni
        self.server = Receiver(ssl_context=context).start()

    def _record_sni(self, sslobj: Any, server_name: str | None, context: Any) -> None:
        with self._lock:
            self.server_names.append(server_name)

    def reset(self) -> None:
        self.server.reset()
        with self._lock:
            self.server_names.clear()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority that no system trust store knows."""
    return trustme.CA()


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> str:
    """Path of a PEM bundle holding the test CA."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _tls_receiver(ca: trustme.CA, *identities: str) -> Iterator[TLSReceiver]:
    receiver = TLSReceiver(ca, *identities)
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def hooks_server(ca: trustme.CA) -> Iterator[TLSReceiver]:
    yield from _tls_receiver(ca, HOSTNAME)


@pytest.fixture(scope="module")
def other_server(ca: trustme.CA) -> Iterator[TLSReceiver]:
    yield from _tls_receiver(ca, "other.example.test")


@pytest.fixture(scope="module")
def ip_server(ca: trustme.CA) -> Iterator[TLSReceiver]:
    yield from _tls_receiver(ca, "127.0.0.1")


@pytest.fixture
def hooks(hooks_server: TLSReceiver) -> TLSReceiver:
    """HTTPS receiver with a certificate for hooks.example.test (emptied for this test)."""
    hooks_server.reset()
    return hooks_server


@pytest.fixture
def other(other_server: TLSReceiver) -> TLSReceiver:
    """HTTPS receiver with a certificate for other.example.test (emptied for this test)."""
    other_server.reset()
    return other_server


@pytest.fixture
def ip_only(ip_server: TLSReceiver) -> TLSReceiver:
    """HTTPS receiver with a certificate for the IP address 127.0.0.1 (emptied for this test)."""
    ip_server.reset()
    return ip_server


def deliver(
    app: Thorn, transport: Transport, url: str, validators: Any = None
) -> tuple[Request, list[Request], list[BaseException]]:
    """Send one event to ``url`` with ``transport``; return request, successes, errors."""
    app.transport = transport  # closed by make_app
    successes: list[Request] = []
    errors: list[BaseException] = []
    event = Event(
        "hook.sent", app=app, subscribers=[url], timeout=5.0, recipient_validators=validators
    )
    sent = event.send(
        {"n": 1},
        on_success=successes.append,
        on_error=lambda request, exc: errors.append(exc),
    )
    assert 1 == len(sent)
    return sent[0], successes, errors


def assert_tls_failure(errors: list[BaseException]) -> requests.exceptions.SSLError:
    """Check that the delivery failed with a DeliveryError caused by a TLS error."""
    assert [DeliveryError] == [type(exc) for exc in errors]
    cause = errors[0].__cause__
    assert isinstance(cause, requests.exceptions.SSLError)
    return cause


class TestVerification:
    def test_trusted_ca_delivers_to_pinned_name(self, make_app, hooks, ca_bundle):
        """With the CA trusted, an HTTPS delivery to a pinned name succeeds with its Host."""
        app = make_app()
        url = hooks.server.url("/tls", host=HOSTNAME)

        request, successes, errors = deliver(
            app, Transport(verify=ca_bundle, resolver=fake_resolver), url, PINNED_POLICY
        )

        assert ([request], []) == (successes, errors)
        received = hooks.server.wait_for(1, timeout=5)
        assert [("POST", "/tls", f"{HOSTNAME}:{hooks.server.port}")] == [
            (r.method, r.path, r.header("Host")) for r in received
        ]

    def test_untrusted_ca_fails(self, make_app, hooks):
        """With default verification the unknown CA is refused, so verification is on."""
        app = make_app()
        url = hooks.server.url("/tls", host=HOSTNAME)

        _, successes, errors = deliver(app, Transport(resolver=fake_resolver), url, PINNED_POLICY)

        cause = assert_tls_failure(errors)
        assert "CERTIFICATE_VERIFY_FAILED" in str(cause)
        assert [] == successes
        assert [] == hooks.server.received

    def test_untrusted_ca_fails_without_pinning(self, make_app, ip_only):
        """Verification is on without address validators too (the unpinned path)."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[])

        _, _, errors = deliver(app, Transport(), ip_only.server.url("/tls"))

        assert "CERTIFICATE_VERIFY_FAILED" in str(assert_tls_failure(errors))
        assert [] == ip_only.server.received

    def test_certificate_for_another_name_fails(self, make_app, other, ca_bundle):
        """A trusted certificate for another name is refused for hooks.example.test."""
        app = make_app()
        url = other.server.url("/tls", host=HOSTNAME)

        _, _, errors = deliver(
            app, Transport(verify=ca_bundle, resolver=fake_resolver), url, PINNED_POLICY
        )

        assert_tls_failure(errors)
        assert [] == other.server.received

    def test_certificate_for_the_pinned_ip_fails(self, make_app, ip_only, ca_bundle):
        """The certificate is checked against the URL's host, not the pinned address."""
        app = make_app()
        url = ip_only.server.url("/tls", host=HOSTNAME)

        _, _, errors = deliver(
            app, Transport(verify=ca_bundle, resolver=fake_resolver), url, PINNED_POLICY
        )

        assert_tls_failure(errors)
        assert [] == ip_only.server.received

    def test_sni_is_the_hostname(self, make_app, hooks, ca_bundle):
        """The TLS handshake of a pinned connection names the URL's host (SNI)."""
        app = make_app()
        url = hooks.server.url("/sni", host=HOSTNAME)

        deliver(app, Transport(verify=ca_bundle, resolver=fake_resolver), url, PINNED_POLICY)

        assert [HOSTNAME] == hooks.server_names

    def test_ip_certificate_without_address_validators(self, make_app, ip_only, ca_bundle):
        """With THORN_RECIPIENT_VALIDATORS = [] an https URL to 127.0.0.1 with an IP cert works."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[])

        request, successes, errors = deliver(
            app, Transport(verify=ca_bundle), ip_only.server.url("/ip")
        )

        assert ([request], []) == (successes, errors)
        assert ["/ip"] == [r.path for r in ip_only.server.wait_for(1, timeout=5)]
