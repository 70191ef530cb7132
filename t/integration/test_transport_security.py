"""Security of the delivery transport against hostile receivers and recipient URLs.

Every test here sends traffic to loopback only.  An "internal target" is a
loopback listener that counts accepted connections; the address policy is
made to treat it as internal.  Internal addresses that are not loopback
(10/8, 169.254.169.254, 6to4, NAT64, ...) are only checked with
:meth:`Transport.check_recipient`, which cannot connect anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from thorn.app import Thorn
from thorn.events import Event
from thorn.exceptions import DeliveryError, DeliveryTimeout, HTTPStatusError, SecurityError
from thorn.generic.subscriber import StaticSubscriber
from thorn.request import Request
from thorn.transport import MAX_REDIRECTS, HTTPRequest, Transport
from thorn.validators import Address, block_cidr_network, block_internal_ips

from t.receiver import Answer, Receiver

# Seconds a delivery may take in tests that expect it to be refused or to succeed.
TIMEOUT = 2.0
# A public address: only ever handed to check_recipient(), never connected to.
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1::1"


# -- helpers -----------------------------------------------------------------


class FakeResolver:
    """Resolve names from a table, like DNS (case-insensitive, trailing dot ignored).

    ``answers[name]`` is a list of addresses, or a list of such lists that are
    answered one after another (the last one repeats): a rebinding server.
    Every call is recorded; unknown names fail like DNS does.
    """

    def __init__(self, answers: dict[str, Sequence[Any]] | None = None) -> None:
        self.answers: dict[str, list[list[Address]]] = {}
        for name, answer in (answers or {}).items():
            rounds = answer if answer and not isinstance(answer[0], str) else [answer]
            self.answers[self._key(name)] = [
                [ipaddress.ip_address(a) for a in addresses] for addresses in rounds
            ]
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _key(host: str) -> str:
        return host.lower().rstrip(".")

    def __call__(self, host: str, port: int) -> list[Address]:
        with self._lock:
            self.calls.append((host, port))
            rounds = self.answers.get(self._key(host))
            if rounds is None:
                raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the fake DNS")
            return list(rounds.pop(0) if len(rounds) > 1 else rounds[0])


class Trap:
    """Loopback listeners on one port that count (and drop) every accepted connection."""

    def __init__(self, hosts: Sequence[str], port: int = 0) -> None:
        self.connections: dict[str, int] = {}
        self.listeners: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        try:
            for host in hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                self.listeners.append(sock)
                sock.bind((host, port))
                sock.listen(16)
                sock.setblocking(False)
                port = sock.getsockname()[1]
                self.connections[host] = 0
                self._selector.register(sock, selectors.EVENT_READ, host)
        except OSError:
            self.close()
            raise
        self.port = port
        self._thread = threading.Thread(target=self._run, name="trap", daemon=True)
        self._thread.start()

    @classmethod
    def on_one_port(cls, hosts: Sequence[str], attempts: int = 20) -> Trap:
        """Listen on every host with the same free port (retried if it is taken)."""
        for _ in range(attempts):
            with contextlib.suppress(OSError):
                return cls(hosts)
        raise RuntimeError(f"no common free port on {hosts}")

    def _accept(self, sock: socket.socket, host: str) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.close()
            self.connections[host] += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                with self._lock:
                    if not self._stop.is_set():
                        self._accept(key.fileobj, key.data)  # type: ignore[arg-type]

    def count(self) -> int:
        """Connections accepted so far, including those still waiting in the backlog."""
        with self._lock:
            for sock, host in zip(self.listeners, self.connections, strict=True):
                self._accept(sock, host)
            return sum(self.connections.values())

    def close(self) -> None:
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(5)
        self._selector.close()
        for sock in self.listeners:
            sock.close()


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _ipv6_loopback_works()
needs_ipv6 = pytest.mark.skipif(not IPV6, reason="cannot bind ::1 on this machine")


@dataclass
class Callbacks:
    """Records what the delivery callbacks were called with."""

    successes: list[Request] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def on_success(self, request: Request) -> None:
        self.successes.append(request)

    def on_error(self, request: Request, exc: BaseException) -> None:
        self.errors.append(exc)


class RecordingTransport(Transport):
    """A Transport that records any exception escaping :meth:`send` (it must not)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.raised: list[BaseException] = []

    def send(self, request: HTTPRequest) -> Any:
        try:
            return super().send(request)
        except BaseException as exc:
            self.raised.append(exc)
            raise


def use_transport(app: Thorn, **options: Any) -> RecordingTransport:
    """Give the app a new recording transport (closed by ``make_app``)."""
    defaults = {
        "allow_redirects": app.settings.THORN_ALLOW_REDIRECTS,
        "max_response_size": app.settings.THORN_MAX_RESPONSE_SIZE,
    }
    transport = RecordingTransport(**{**defaults, **options})
    app.transport = transport
    return transport


def deliver(
    app: Thorn,
    url: str,
    validators: Sequence[Callable[..., None]] | None = None,
    timeout: float = TIMEOUT,
    **event_options: Any,
) -> tuple[Request, Callbacks]:
    """Send one event to ``url``; return its request and what the callbacks got.

    The app's transport is made a :class:`RecordingTransport` if it is not
    one, and no exception may escape its ``send()``.
    """
    transport = app.transport
    if not isinstance(transport, RecordingTransport):
        transport = use_transport(app)
    callbacks = Callbacks()
    event = Event(
        "hook.sent",
        app=app,
        subscribers=[url],
        timeout=timeout,
        recipient_validators=validators,
        **event_options,
    )
    sent = event.send({"n": 1}, on_success=callbacks.on_success, on_error=callbacks.on_error)
    assert [] == transport.raised
    assert 1 == len(sent)
    request: Request = sent[0]
    return request, callbacks


# -- fixtures ----------------------------------------------------------------


@pytest.fixture
def trap() -> Iterator[Trap]:
    """Internal targets: listeners on 127.0.0.1, 127.0.0.2 (and ::1) sharing one port."""
    hosts = ["127.0.0.1", "127.0.0.2", *(["::1"] if IPV6 else [])]
    listener = Trap.on_one_port(hosts)
    yield listener
    listener.close()


@pytest.fixture
def second_loopback(receiver: Receiver) -> Iterator[Trap]:
    """The internal target 127.0.0.2, on the receiver's port."""
    listener = Trap(["127.0.0.2"], port=receiver.port)
    yield listener
    listener.close()


# -- the corpus --------------------------------------------------------------

# Names answered by the fake DNS in the corpus.  Each points at a trap
# listener, so a client that contacted the name would be counted.
CORPUS_DNS: dict[str, Sequence[Any]] = {
    "localhost": ["127.0.0.1"],
    "foo.localhost": ["127.0.0.1"],
    "evil.example": ["127.0.0.1"],
    "internal.example.test": ["127.0.0.1"],
    "second.example.test": ["127.0.0.2"],
    "v6.example.test": ["::1"],
    "mapped.example.test": ["::ffff:127.0.0.1"],
    "mapped2.example.test": ["::ffff:7f00:2"],
    "zero.example.test": ["0.0.0.0"],  # noqa: S104 (an answer to refuse, not a bind address)
    "unspecified6.example.test": ["::"],
    "dual.example.test": ["127.0.0.1", "::1"],
}

# URLs whose every reading leads to a trap listener (``{p}`` is its port).
HOSTILE_URLS = [
    # loopback written as an IPv4 literal, in every spelling
    pytest.param("http://127.0.0.1:{p}/", id="loopback"),
    pytest.param("http://127.0.0.2:{p}/", id="loopback-127.0.0.2"),
    pytest.param("https://127.0.0.1:{p}/", id="loopback-https"),
    pytest.param("http://127.0.0.1:{p}/hook?next=/#frag", id="loopback-path-query-fragment"),
    pytest.param("http://127.1:{p}/", id="short-127.1"),
    pytest.param("http://127.0.1:{p}/", id="short-127.0.1"),
    pytest.param("http://0x7f.1:{p}/", id="hex-short-0x7f.1"),
    pytest.param("http://0x7f.0x0.0x0.0x1:{p}/", id="hex-dotted"),
    pytest.param("http://0x7f000001:{p}/", id="hex-integer"),
    pytest.param("http://0X7F000001:{p}/", id="hex-integer-uppercase"),
    pytest.param("http://2130706433:{p}/", id="decimal-integer"),
    pytest.param("http://2130706434:{p}/", id="decimal-integer-127.0.0.2"),
    pytest.param("http://0177.0.0.1:{p}/", id="octal-dotted"),
    pytest.param("http://017700000001:{p}/", id="octal-integer"),
    pytest.param("http://127.000.000.001:{p}/", id="zero-padded"),
    pytest.param("http://127.0.0.1.:{p}/", id="ip-trailing-dot"),
    pytest.param("http://0.0.0.0:{p}/", id="unspecified"),
    pytest.param("http://0:{p}/", id="unspecified-integer"),
    pytest.param("http://%31%32%37.0.0.1:{p}/", id="percent-encoded-ip"),
    # loopback names, refused by name
    pytest.param("http://localhost:{p}/", id="localhost"),
    pytest.param("http://LOCALHOST:{p}/", id="localhost-uppercase"),
    pytest.param("http://localhost.:{p}/", id="localhost-trailing-dot"),
    pytest.param("http://LocalHost.:{p}/", id="localhost-mixed-case-trailing-dot"),
    pytest.param("http://foo.localhost:{p}/", id="subdomain-of-localhost"),
    pytest.param("http://FOO.LOCALHOST.:{p}/", id="subdomain-of-localhost-upper-dot"),
    # IPv6 literals
    pytest.param("http://[::1]:{p}/", id="ipv6-loopback", marks=needs_ipv6),
    pytest.param("http://[0:0:0:0:0:0:0:1]:{p}/", id="ipv6-loopback-long", marks=needs_ipv6),
    pytest.param("http://[::1%25lo]:{p}/", id="ipv6-loopback-zone-id", marks=needs_ipv6),
    pytest.param("http://[::]:{p}/", id="ipv6-unspecified", marks=needs_ipv6),
    pytest.param("http://[::ffff:127.0.0.1]:{p}/", id="ipv4-mapped"),
    pytest.param("http://[::ffff:7f00:1]:{p}/", id="ipv4-mapped-hex"),
    pytest.param("http://[::FFFF:7F00:1]:{p}/", id="ipv4-mapped-hex-uppercase"),
    pytest.param("http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/", id="ipv4-mapped-long"),
    pytest.param("http://[::ffff:127.0.0.2]:{p}/", id="ipv4-mapped-127.0.0.2"),
    # userinfo and other authority tricks: the real host is the trap either way
    pytest.param("http://evil.example@127.0.0.1:{p}/", id="userinfo-name-before-ip"),
    pytest.param("http://evil.example:80@127.0.0.1:{p}/", id="userinfo-looks-like-host-port"),
    pytest.param("http://127.0.0.1:{p}@evil.example:{p}/", id="userinfo-ip-before-name"),
    pytest.param("http://user:pass@[::1]:{p}/", id="userinfo-ipv6", marks=needs_ipv6),
    pytest.param("http://127.0.0.1:{p}\\@evil.example:{p}/", id="backslash-before-at"),
    pytest.param("http://127.0.0.1:{p}#@evil.example/", id="fragment-before-at"),
    # names that the (fake) DNS resolves to internal targets
    pytest.param("http://internal.example.test:{p}/", id="name-to-loopback"),
    pytest.param("http://second.example.test:{p}/", id="name-to-127.0.0.2"),
    pytest.param("https://second.example.test:{p}/", id="name-to-127.0.0.2-https"),
    pytest.param("http://v6.example.test:{p}/", id="name-to-ipv6-loopback", marks=needs_ipv6),
    pytest.param("http://mapped.example.test:{p}/", id="name-to-ipv4-mapped"),
    pytest.param("http://mapped2.example.test:{p}/", id="name-to-ipv4-mapped-hex"),
    pytest.param("http://zero.example.test:{p}/", id="name-to-unspecified"),
    pytest.param(
        "http://unspecified6.example.test:{p}/", id="name-to-ipv6-unspecified", marks=needs_ipv6
    ),
    pytest.param("http://dual.example.test:{p}/", id="name-to-v4-and-v6-loopback"),
    pytest.param("http://INTERNAL.EXAMPLE.TEST:{p}/", id="name-uppercase"),
    pytest.param("http://internal.example.test.:{p}/", id="name-trailing-dot"),
    pytest.param("http://Internal.Example.Test.:{p}/", id="name-mixed-case-trailing-dot"),
]

# Internal addresses that are not loopback: checked without any connection.
OFFNET_DNS: dict[str, Sequence[Any]] = {
    "private.example.test": ["10.0.0.1"],
    "metadata.example.test": ["169.254.169.254"],
    "shared.example.test": ["100.64.0.1"],
    "linklocal6.example.test": ["fe80::1"],
    "ula.example.test": ["fd00::1"],
    "mixed.example.test": [PUBLIC_V4, "127.0.0.1"],
    "mixed-private.example.test": [PUBLIC_V4, "10.0.0.1"],
    "mixed6.example.test": [PUBLIC_V6, "::1"],
    "mixed-metadata.example.test": [PUBLIC_V4, PUBLIC_V6, "169.254.169.254"],
}

OFFNET_URLS = [
    pytest.param("http://10.0.0.1/", id="private-10"),
    pytest.param("http://172.16.0.1/", id="private-172.16"),
    pytest.param("http://192.168.1.1/", id="private-192.168"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
    pytest.param("http://0xa9fea9fe/", id="cloud-metadata-hex"),
    pytest.param("http://2852039166/", id="cloud-metadata-decimal"),
    pytest.param("http://[::ffff:169.254.169.254]/", id="cloud-metadata-ipv4-mapped"),
    pytest.param("http://100.64.0.1/", id="shared-address-space"),
    pytest.param("http://224.0.0.1/", id="multicast"),
    pytest.param("http://240.0.0.1/", id="reserved"),
    pytest.param("http://255.255.255.255/", id="broadcast"),
    pytest.param("http://[fe80::1]/", id="ipv6-link-local"),
    pytest.param("http://[fc00::1]/", id="ipv6-unique-local"),
    pytest.param("http://[::ffff:10.0.0.1]/", id="ipv4-mapped-private"),
    pytest.param("http://[::127.0.0.1]/", id="ipv4-compatible-loopback"),
    pytest.param("http://[2002:7f00:1::]/", id="6to4-loopback"),
    pytest.param("http://[2002:a9fe:a9fe::]/", id="6to4-metadata"),
    pytest.param("http://[64:ff9b::7f00:1]/", id="nat64-loopback"),
    pytest.param("http://[64:ff9b::a9fe:a9fe]/", id="nat64-metadata"),
    pytest.param("http://private.example.test/", id="name-to-private"),
    pytest.param("http://metadata.example.test/", id="name-to-cloud-metadata"),
    pytest.param("http://shared.example.test/", id="name-to-shared-address-space"),
    pytest.param("http://linklocal6.example.test/", id="name-to-ipv6-link-local"),
    pytest.param("http://ula.example.test/", id="name-to-ipv6-unique-local"),
    pytest.param("http://mixed.example.test/", id="name-to-public-and-loopback"),
    pytest.param("http://mixed-private.example.test/", id="name-to-public-and-private"),
    pytest.param("http://mixed6.example.test/", id="name-to-public-v6-and-loopback"),
    pytest.param("http://MIXED-METADATA.example.test./", id="name-to-public-and-metadata"),
]


class TestHostileRecipients:
    @pytest.mark.parametrize("template", HOSTILE_URLS)
    def test_hostile_url_is_refused_without_any_connection(self, template, make_app, trap):
        """A hostile recipient URL ends in on_error(SecurityError) and no connection is made."""
        url = template.format(p=trap.port)
        app = make_app()
        use_transport(app, resolver=FakeResolver(CORPUS_DNS))

        request, callbacks = deliver(app, url, validators=[block_internal_ips()])

        assert 0 == trap.count()
        assert [] == callbacks.successes
        assert [SecurityError] == [type(exc) for exc in callbacks.errors]
        assert request.outcome is not None
        assert callbacks.errors[0] is request.outcome.error
        assert request.response is None

    @pytest.mark.parametrize("url", OFFNET_URLS)
    def test_internal_address_is_refused_before_connecting(self, url):
        """check_recipient refuses internal addresses that are not loopback (nothing is sent)."""
        resolver = FakeResolver(OFFNET_DNS)
        transport = Transport(resolver=resolver)

        with pytest.raises(SecurityError):
            transport.check_recipient(url, [block_internal_ips()])

    @pytest.mark.parametrize(
        "answer",
        [
            pytest.param(["127.0.0.1", "127.0.0.2"], id="allowed-first"),
            pytest.param(["127.0.0.2", "127.0.0.1"], id="internal-first"),
            pytest.param(["127.0.0.1", "::ffff:127.0.0.2"], id="internal-as-ipv4-mapped"),
        ],
    )
    def test_name_with_one_internal_address_is_refused_entirely(self, answer, make_app, trap):
        """A name resolving to an allowed and an internal address is refused: no connection."""
        app = make_app()
        use_transport(app, resolver=FakeResolver({"mixed.example.test": answer}))

        _, callbacks = deliver(
            app,
            f"http://mixed.example.test:{trap.port}/",
            validators=[block_cidr_network("127.0.0.2/32")],
        )

        assert [SecurityError] == [type(exc) for exc in callbacks.errors]
        assert 0 == trap.count()

    def test_userinfo_does_not_change_the_contacted_host(self, make_app, receiver, second_loopback):
        """The host after "@" is the one checked and contacted; userinfo is never a host."""
        app = make_app()
        resolver = FakeResolver({"allowed.example.test": ["127.0.0.1"]})
        use_transport(app, resolver=resolver)
        policy = [block_cidr_network("127.0.0.2/32")]
        port = receiver.port

        _, allowed = deliver(app, f"http://127.0.0.2:{port}@allowed.example.test:{port}/ui", policy)
        _, refused = deliver(app, f"http://allowed.example.test:{port}@127.0.0.2:{port}/", policy)

        assert 1 == len(allowed.successes)
        assert [f"allowed.example.test:{port}"] == [r.header("Host") for r in receiver.received]
        assert [SecurityError] == [type(exc) for exc in refused.errors]
        assert 0 == second_loopback.count()


# -- DNS rebinding -----------------------------------------------------------


class TestRebinding:
    def test_connects_to_the_address_that_was_checked(self, make_app, receiver, second_loopback):
        """A name that rebinds to an internal address after the check is never re-resolved.

        (With no DNS cache: the next delivery resolves again, and is refused.)
        """
        app = make_app()
        resolver = FakeResolver({"rebind.example.test": [["127.0.0.1"], ["127.0.0.2"]]})
        use_transport(app, resolver=resolver, dns_ttl=0)
        url = f"http://rebind.example.test:{receiver.port}/rebind"
        policy = [block_cidr_network("127.0.0.2/32")]

        _, first = deliver(app, url, policy)

        assert 1 == len(first.successes)
        assert 1 == len(resolver.calls)
        received = receiver.wait_for(1, timeout=5)
        assert [f"rebind.example.test:{receiver.port}"] == [r.header("Host") for r in received]
        assert 0 == second_loopback.count()

        _, second = deliver(app, url, policy)

        assert [SecurityError] == [type(exc) for exc in second.errors]
        assert 2 == len(resolver.calls)
        assert 1 == len(receiver.received)
        assert 0 == second_loopback.count()

    def test_a_cached_answer_is_still_checked_and_pinned(self, make_app, receiver, second_loopback):
        """Within the DNS cache's TTL the host is not resolved again; every delivery still goes
        to the checked address, and expires with the cache."""
        app = make_app()
        resolver = FakeResolver({"cached.example.test": [["127.0.0.1"], ["127.0.0.2"]]})
        transport = use_transport(app, resolver=resolver, dns_ttl=0.5)
        url = f"http://cached.example.test:{receiver.port}/cached"
        policy = [block_cidr_network("127.0.0.2/32")]

        for _ in range(3):
            _, callbacks = deliver(app, url, policy)
            assert 1 == len(callbacks.successes)
        assert 1 == len(resolver.calls)
        assert 3 == len(receiver.wait_for(3, timeout=5))
        time.sleep(0.6)
        _, late = deliver(app, url, policy)

        assert [SecurityError] == [type(exc) for exc in late.errors]  # resolved again: refused
        assert 2 == len(resolver.calls)
        assert 0 == second_loopback.count()
        assert transport.resolver.ttl == 0.5


# -- redirects ---------------------------------------------------------------


class TestRedirects:
    @pytest.mark.parametrize("status", [307, 302])
    @pytest.mark.parametrize(
        "location",
        [
            pytest.param("http://127.0.0.2:{p}/", id="to-internal-ip"),
            pytest.param("http://internal.example.test:{p}/", id="to-name-of-internal-ip"),
            pytest.param("//internal.example.test:{p}/", id="scheme-relative-to-internal"),
        ],
    )
    def test_redirect_to_internal_target_is_refused(
        self, status, location, make_app, receiver, second_loopback
    ):
        """With redirects on, a hop to an internal address is refused and never contacted."""
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        resolver = FakeResolver({"internal.example.test": ["127.0.0.2"]})
        use_transport(app, resolver=resolver)
        target = location.format(p=receiver.port)
        receiver.answer("/redirect", Answer(status=status, headers={"Location": target}))

        _, callbacks = deliver(app, receiver.url("/redirect"), [block_cidr_network("127.0.0.2/32")])

        assert [SecurityError] == [type(exc) for exc in callbacks.errors]
        assert ["/redirect"] == [r.path for r in receiver.received]
        assert 0 == second_loopback.count()

    def test_redirect_loop_is_bounded(self, make_app, receiver):
        """A receiver redirecting to itself gets MAX_REDIRECTS + 1 requests, then an error."""
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        receiver.answer("/loop", Answer(status=302, headers={"Location": "/loop"}))

        _, callbacks = deliver(app, receiver.url("/loop"))

        assert [DeliveryError] == [type(exc) for exc in callbacks.errors]
        assert MAX_REDIRECTS + 1 == len(receiver.for_path("/loop"))

    def test_allowed_redirect_is_followed_when_enabled(self, make_app, receiver):
        """With redirects on, a hop that passes the policy is followed (control case)."""
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        receiver.answer("/moved", Answer(status=307, headers={"Location": "/target"}))

        _, callbacks = deliver(app, receiver.url("/moved"), [block_cidr_network("10.0.0.0/8")])

        assert 1 == len(callbacks.successes)
        assert ["/moved", "/target"] == [r.path for r in receiver.received]

    @pytest.mark.parametrize("follow", [True, False], ids=["redirects-on", "redirects-off"])
    @pytest.mark.parametrize(
        "location",
        [
            pytest.param("http://[::1", id="unclosed-ipv6-bracket"),
            pytest.param("http://[127.0.0.1]/", id="ipv4-in-brackets"),
        ],
    )
    def test_malformed_location_is_a_failed_delivery(self, location, follow, make_app, receiver):
        """Transport.send() turns an unparsable redirect Location into a failed Outcome."""
        app = make_app(THORN_ALLOW_REDIRECTS=follow)
        receiver.answer("/bad-location", Answer(status=307, headers={"Location": location}))
        request = Request(
            "hook.sent",
            {"n": 1},
            None,
            StaticSubscriber(url=receiver.url("/bad-location"), hmac_secret="s"),
            app=app,
            timeout=TIMEOUT,
        )

        outcome = Transport(allow_redirects=follow).send(request.http_request())

        assert isinstance(outcome.error, DeliveryError)
        assert ["/bad-location"] == [r.path for r in receiver.received]

    def test_redirect_is_a_failure_when_redirects_are_off(self, make_app, receiver):
        """By default a 302 is a failed delivery and its Location receives nothing."""
        app = make_app()
        receiver.answer("/found", Answer(status=302, headers={"Location": "/target"}))

        request, callbacks = deliver(app, receiver.url("/found"))

        assert [HTTPStatusError] == [type(exc) for exc in callbacks.errors]
        assert request.outcome is not None
        assert 302 == request.outcome.status
        assert [] == receiver.for_path("/target")


# -- limits ------------------------------------------------------------------


class _HeaderTrickler:
    """A raw HTTP server that sends its status line and headers one byte at a time."""

    def __init__(self, interval: float = 0.05, limit: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(limit)
        self.port = self.sock.getsockname()[1]
        self.interval = interval
        self.limit = limit
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(self.limit)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request head (enough for this test)
            payload = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
            stop_at = time.monotonic() + self.limit
            for byte in payload:
                if self._stop.wait(self.interval) or time.monotonic() > stop_at:
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                self.bytes_sent += 1

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def header_trickler() -> Iterator[_HeaderTrickler]:
    """A receiver that trickles its status line and headers."""
    server = _HeaderTrickler()
    yield server
    server.close()


class _PacedRedirect:
    """Answers 302 with a 100 MiB body sent at 800 KiB/s, until the client hangs up."""

    def __init__(self, location: str, limit: float = 5.0) -> None:
        self.location = location
        self.limit = limit
        self.bytes_sent = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(self.limit)
        with contextlib.suppress(OSError):
            conn.recv(65536)  # the request head (enough for this test)
        head = (
            f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n"
            f"Content-Length: {100 << 20}\r\n\r\n"
        ).encode()
        stop_at = time.monotonic() + self.limit
        try:
            conn.sendall(head)
            while not self._stop.wait(0.01) and time.monotonic() < stop_at:
                conn.sendall(b"x" * 8192)
                self.bytes_sent += 8192
        except OSError:
            return  # the client hung up

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes up accept()
        self.sock.close()
        self._thread.join(self.limit + 1)


@pytest.fixture
def paced_redirect(receiver: Receiver) -> Iterator[_PacedRedirect]:
    """A 302 to the receiver's /landed whose body never ends (but is sent slowly)."""
    server = _PacedRedirect(receiver.url("/landed"))
    yield server
    server.close()


class _Silent:
    """A loopback listener that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, name="silent", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes up accept()
        self.sock.close()
        self._thread.join(5)
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[_Silent]:
    """A receiver that accepts and then says nothing (not even a TLS ServerHello)."""
    server = _Silent()
    yield server
    server.close()


class _Blackhole:
    """A loopback listener whose accept queue is full: new connections hang in connect()."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        with contextlib.suppress(OSError):  # fills the queue of length 0 (+1 on Linux)
            self.fillers.append(socket.create_connection(("127.0.0.1", self.port), 0.2))

    def stalls(self) -> bool:
        """Tell whether a new connection really hangs (the kernel drops its SYN)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            try:
                probe.connect(("127.0.0.1", self.port))
            except TimeoutError:
                return True
            except OSError:
                return False
            return False

    def close(self) -> None:
        for conn in self.fillers:
            conn.close()
        self.sock.close()


@pytest.fixture
def blackhole() -> Iterator[_Blackhole]:
    """A loopback address:port where connect() stalls."""
    hole = _Blackhole()
    try:
        if not hole.stalls():
            pytest.skip("this kernel does not stall connections to a full accept queue")
        yield hole
    finally:
        hole.close()


class TestLimits:
    def test_body_trickle_is_cut_at_the_deadline(self, make_app, receiver):
        """A receiver trickling its body cannot hold a delivery past its timeout."""
        app = make_app()
        receiver.answer("/trickle", Answer(body=b"x" * 200, trickle=0.05))

        started = time.monotonic()
        request, callbacks = deliver(app, receiver.url("/trickle"), timeout=0.5)
        elapsed = time.monotonic() - started

        assert [DeliveryTimeout] == [type(exc) for exc in callbacks.errors]
        assert elapsed < 1.0
        assert request.outcome is not None
        assert request.outcome.latency < 1.0

    def test_header_trickle_is_cut_at_the_deadline(self, make_app, header_trickler):
        """A receiver trickling its status line byte by byte is cut at the timeout."""
        app = make_app()

        started = time.monotonic()
        _, callbacks = deliver(app, f"http://127.0.0.1:{header_trickler.port}/", timeout=0.5)
        elapsed = time.monotonic() - started

        assert [DeliveryTimeout] == [type(exc) for exc in callbacks.errors]
        assert elapsed < 1.0
        assert header_trickler.bytes_sent > 2  # it was really trickling, not silent

    @pytest.mark.parametrize(
        "stall",
        [
            pytest.param("tls-handshake", id="tls-handshake"),
            pytest.param("tcp-connect", id="tcp-connect"),
            pytest.param("http-read", id="http-read"),
        ],
    )
    def test_redirect_hop_cannot_outlast_the_deadline(self, stall, make_app, receiver, request):
        """A hop that stalls in connect, TLS handshake or read is cut at the delivery's deadline."""
        if stall == "tcp-connect":
            port = request.getfixturevalue("blackhole").port
        else:
            port = request.getfixturevalue("silent_server").port
        scheme = "https" if stall == "tls-handshake" else "http"
        app = make_app(THORN_ALLOW_REDIRECTS=True)
        location = f"{scheme}://127.0.0.1:{port}/"
        receiver.answer("/late", Answer(status=307, headers={"Location": location}, delay=0.7))

        started = time.monotonic()
        _, callbacks = deliver(app, receiver.url("/late"), timeout=1.0)
        elapsed = time.monotonic() - started

        assert [DeliveryTimeout] == [type(exc) for exc in callbacks.errors]
        assert elapsed < 1.3

    def test_silent_receiver_times_out_at_the_timeout(self, make_app, receiver):
        """A receiver that never answers ends the delivery after about its timeout."""
        app = make_app()
        receiver.answer("/silent", Answer(delay=3.0))

        started = time.monotonic()
        request, callbacks = deliver(app, receiver.url("/silent"), timeout=0.5)
        elapsed = time.monotonic() - started

        assert [DeliveryTimeout] == [type(exc) for exc in callbacks.errors]
        assert 0.45 <= elapsed < 1.0
        assert request.outcome is not None
        assert request.outcome.timed_out

    def test_oversized_response_is_cut_at_the_cap(self, make_app, receiver):
        """Only max_response_size bytes are read, and that connection is not reused."""
        app = make_app()
        use_transport(app, max_response_size=1024)
        receiver.answer("/big", Answer(body=b"x" * (1 << 20)))

        request, callbacks = deliver(app, receiver.url("/big"))

        assert [request] == callbacks.successes
        assert 1024 == len(request.response.content)
        assert 1 == receiver.connections

        _, after = deliver(app, receiver.url("/after"))

        assert 1 == len(after.successes)
        assert 2 == receiver.connections
        first, second = receiver.wait_for(2, timeout=5)
        assert first.connection != second.connection

    @pytest.mark.parametrize("follow", [True, False], ids=["redirects-on", "redirects-off"])
    def test_redirect_body_is_cut_at_the_cap(self, follow, make_app, receiver, paced_redirect):
        """The endless body of a 3xx answer is read only up to max_response_size."""
        app = make_app(THORN_ALLOW_REDIRECTS=follow)
        use_transport(app, max_response_size=1024)

        started = time.monotonic()
        _, callbacks = deliver(app, f"http://127.0.0.1:{paced_redirect.port}/", timeout=1.5)
        elapsed = time.monotonic() - started

        if follow:
            assert ([], 1) == (callbacks.errors, len(callbacks.successes))
            assert ["/landed"] == [r.path for r in receiver.wait_for(1, timeout=5)]
        else:
            assert [HTTPStatusError] == [type(exc) for exc in callbacks.errors]
        assert elapsed < 0.5
        assert paced_redirect.bytes_sent < 256 * 1024

    def test_compressed_response_is_cut_after_decoding(self, make_app, receiver):
        """A gzip bomb is decoded only up to max_response_size bytes."""
        app = make_app()
        use_transport(app, max_response_size=1024)
        bomb = gzip.compress(b"\0" * (32 << 20))
        receiver.answer("/bomb", Answer(body=bomb, headers={"Content-Encoding": "gzip"}))

        request, callbacks = deliver(app, receiver.url("/bomb"))

        assert [request] == callbacks.successes
        assert b"\0" * 1024 == request.response.content

    @pytest.mark.parametrize(
        ("host", "validators"),
        [
            pytest.param("127.0.0.1", [], id="unchecked"),
            pytest.param("cookies.example.test", [block_cidr_network("10.0.0.0/8")], id="pinned"),
        ],
    )
    def test_cookies_are_not_kept_between_deliveries(self, host, validators, make_app, receiver):
        """A cookie set by one subscriber's receiver is never sent with a later delivery."""
        app = make_app()
        resolver = FakeResolver({"cookies.example.test": ["127.0.0.1"]})
        use_transport(app, resolver=resolver)
        receiver.answer("/set", Answer(headers={"Set-Cookie": "session=abc; Path=/"}))

        first, _ = deliver(app, receiver.url("/set", host=host), validators)
        deliver(app, receiver.url("/next", host=host), validators)
        deliver(app, receiver.url("/set", host=host), validators)

        assert "session=abc; Path=/" == first.response.headers["Set-Cookie"]
        received = receiver.wait_for(3, timeout=5)
        assert [None, None, None] == [r.header("Cookie") for r in received]

    @pytest.mark.parametrize(
        ("host", "validators"),
        [
            pytest.param("127.0.0.1", [], id="unchecked"),
            pytest.param("proxied.example.test", [block_cidr_network("10.0.0.0/8")], id="pinned"),
        ],
    )
    def test_proxy_environment_is_ignored(self, host, validators, make_app, receiver, monkeypatch):
        """HTTP_PROXY and friends are not used: the delivery goes straight to the receiver."""
        proxy = Trap(["127.0.0.1"])
        try:
            for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
                monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
            for name in ("NO_PROXY", "no_proxy"):
                monkeypatch.delenv(name, raising=False)
            url = receiver.url("/direct", host=host)
            # requests itself would use the proxy for this URL
            assert (
                f"http://127.0.0.1:{proxy.port}" == requests.utils.get_environ_proxies(url)["http"]
            )
            app = make_app()
            resolver = FakeResolver({"proxied.example.test": ["127.0.0.1"]})
            use_transport(app, resolver=resolver)

            _, callbacks = deliver(app, url, validators)

            assert 1 == len(callbacks.successes)
            assert ["/direct"] == [r.path for r in receiver.wait_for(1, timeout=5)]
            assert 0 == proxy.count()
        finally:
            proxy.close()


# -- keep-alive --------------------------------------------------------------


class TestKeepAlive:
    def test_deliveries_to_one_host_share_one_connection(self, make_app, receiver):
        """Ten deliveries to the same receiver use a single kept-alive connection."""
        app = make_app()

        outcomes = [deliver(app, receiver.url("/ka"))[1] for _ in range(10)]

        assert 10 == sum(len(c.successes) for c in outcomes)
        assert 10 == len(receiver.wait_for(10, timeout=5))
        assert 1 == receiver.connections

    def test_without_keepalive_each_delivery_has_its_own_connection(self, make_app, receiver):
        """allow_keepalive=False closes the connection after every delivery."""
        app = make_app()

        outcomes = [deliver(app, receiver.url("/nka"), allow_keepalive=False)[1] for _ in range(5)]

        assert 5 == sum(len(c.successes) for c in outcomes)
        received = receiver.wait_for(5, timeout=5)
        assert 5 == receiver.connections
        assert ["close"] * 5 == [r.header("Connection") for r in received]

    def test_pinned_connections_are_kept_per_address_and_hostname(self, make_app, receiver):
        """Two names pinned to one address keep one connection each, with their own Host."""
        app = make_app()
        resolver = FakeResolver({"a.example.test": ["127.0.0.1"], "b.example.test": ["127.0.0.1"]})
        use_transport(app, resolver=resolver)
        names = ["a.example.test", "b.example.test"] * 5

        for name in names:
            _, callbacks = deliver(
                app, receiver.url(f"/{name}", host=name), [block_cidr_network("10.0.0.0/8")]
            )
            assert 1 == len(callbacks.successes)

        received = receiver.wait_for(10, timeout=5)
        assert [f"{name}:{receiver.port}" for name in names] == [r.header("Host") for r in received]
        assert [f"/{name}" for name in names] == [r.path for r in received]
        assert 2 == receiver.connections
        assert 2 == len({r.connection for r in received})


# -- turning the checks off ---------------------------------------------------


class TestRecipientValidatorsSetting:
    def test_empty_setting_turns_the_checks_off(self, make_app, receiver):
        """THORN_RECIPIENT_VALIDATORS = [] lets a delivery to 127.0.0.1 through."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=[])

        _, callbacks = deliver(app, receiver.url("/dev"))

        assert 1 == len(callbacks.successes)
        assert ["/dev"] == [r.path for r in receiver.wait_for(1, timeout=5)]

    def test_default_setting_refuses_loopback(self, make_app, receiver):
        """The default validators refuse 127.0.0.1 without connecting (control case)."""
        app = make_app(THORN_RECIPIENT_VALIDATORS=None)

        _, callbacks = deliver(app, receiver.url("/default"))

        assert [SecurityError] == [type(exc) for exc in callbacks.errors]
        assert 0 == receiver.connections
