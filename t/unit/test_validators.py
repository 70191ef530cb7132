"""Tests for thorn.validators (no test touches the network)."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
from collections.abc import Callable

import pytest

from thorn.exceptions import ImproperlyConfigured, SecurityError
from thorn.validators import (
    Address,
    RecipientValidator,
    block_cidr_network,
    block_internal_ips,
    deserialize_validator,
    deserialize_validators,
    ensure_port,
    ensure_protocol,
    resolve,
    resolve_url,
    serialize_validator,
    serialize_validators,
    validators,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1::1"


class FakeResolver:
    """Resolve names from a dict and record every lookup."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = {
            host: [ipaddress.ip_address(a) for a in addresses]
            for host, addresses in (answers or {}).items()
        }
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[Address]:
        self.calls.append((host, port))
        try:
            return list(self.answers[host])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, host) from None


def no_dns(host: str, port: int) -> list[Address]:
    """A resolver that fails the test if it is called."""
    pytest.fail(f"unexpected DNS lookup of {host}:{port}")


def check_function(url: str) -> None:
    """An importable custom validator."""


class TestBlockInternalIps:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            pytest.param("http://127.0.0.1/", "loopback", id="loopback-v4"),
            pytest.param("http://127.1.2.3:80/", "loopback", id="loopback-v4-range"),
            pytest.param("http://[::1]/", "loopback", id="loopback-v6"),
            pytest.param("http://10.0.0.1/", "not a globally routable", id="private-10"),
            pytest.param("http://172.16.5.4/", "not a globally routable", id="private-172.16"),
            pytest.param("http://172.31.255.255/", "not a globally routable", id="private-172.31"),
            pytest.param("http://192.168.1.1/", "not a globally routable", id="private-192.168"),
            pytest.param("http://[fc00::1]/", "unique local", id="unique-local-fc00"),
            pytest.param("http://[fd12:3456::1]/", "unique local", id="unique-local-fd"),
            pytest.param("http://169.254.169.254/latest/", "link-local", id="cloud-metadata"),
            pytest.param("http://[fe80::1]/", "link-local", id="link-local-v6"),
            pytest.param("http://[fe80::1%25eth0]/", "link-local", id="link-local-v6-zone"),
            pytest.param("http://100.64.0.1/", "shared address space", id="shared-100.64"),
            pytest.param("http://100.127.255.254/", "shared address space", id="shared-top"),
            pytest.param("http://0.0.0.0/", "unspecified", id="unspecified-v4"),
            pytest.param("http://0.1.2.3/", "this network", id="this-network"),
            pytest.param("http://[::]/", "unspecified", id="unspecified-v6"),
            pytest.param("http://224.0.0.1/", "multicast", id="multicast-v4"),
            pytest.param("http://239.255.255.250/", "multicast", id="multicast-ssdp"),
            pytest.param("http://[ff02::1]/", "multicast", id="multicast-v6-link"),
            pytest.param("http://[ff0e::1]/", "multicast", id="multicast-v6-global"),
            pytest.param("http://240.0.0.1/", "reserved", id="reserved-v4"),
            pytest.param("http://255.255.255.255/", "reserved", id="broadcast"),
            pytest.param("http://192.0.2.1/", "not a globally routable", id="documentation-v4"),
            pytest.param("http://[2001:db8::1]/", "not a globally routable", id="documentation-v6"),
            pytest.param("http://[fec0::1]/", "site-local", id="site-local-v6"),
            pytest.param("http://[::ffff:127.0.0.1]/", "127.0.0.1: loopback", id="mapped-loopback"),
            pytest.param("http://[::ffff:10.0.0.1]/", "10.0.0.1", id="mapped-private"),
            pytest.param("http://[::ffff:169.254.169.254]/", "link-local", id="mapped-metadata"),
            pytest.param("http://[::127.0.0.1]/", "127.0.0.1: loopback", id="compat-loopback"),
            pytest.param("http://[::93.184.216.34]/", "reserved", id="compat-public"),
            pytest.param("http://[2002:7f00:1::]/", "127.0.0.1: loopback", id="6to4-loopback"),
            pytest.param("http://[2002:a00:1::]/", "10.0.0.1", id="6to4-private"),
            pytest.param(
                "http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254: link-local", id="nat64-metadata"
            ),
            pytest.param("http://[64:ff9b::7f00:1]/", "127.0.0.1", id="nat64-loopback"),
            pytest.param("http://[64:ff9b:1::a00:1]/", "10.0.0.1", id="nat64-local-use"),
            pytest.param(
                "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
                "127.0.0.1: loopback",
                id="teredo-loopback-client",
            ),
            pytest.param(
                "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
                "not a globally routable",
                id="teredo-public",
            ),
        ],
    )
    def test_refuses_internal_ip_literal(self, url, reason):
        """Internal IP literals are refused without DNS, with the reason."""
        with pytest.raises(SecurityError, match=reason) as info:
            block_internal_ips()(url, resolver=no_dns)
        assert f"IP address of recipient {url}=" in str(info.value)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://2130706433/", id="decimal"),
            pytest.param("http://0x7f000001/", id="hex"),
            pytest.param("http://0x7f.1/", id="hex-short"),
            pytest.param("http://0177.0.0.1/", id="octal"),
            pytest.param("http://127.1/", id="short"),
            pytest.param("http://10.1/", id="short-private"),
            pytest.param("http://127.0.0.1./", id="trailing-dot"),
            pytest.param("http://0x5d.0xb8.0xd8.0x22/", id="hex-of-public"),
        ],
    )
    def test_refuses_non_canonical_numeric_host(self, url):
        """Numeric hosts that only the C library reads as IPv4 are refused."""
        with pytest.raises(SecurityError, match="not a canonical IP address"):
            block_internal_ips()(url, resolver=no_dns)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://localhost/", id="localhost"),
            pytest.param("http://localhost./", id="localhost-dot"),
            pytest.param("http://LOCALHOST:8000/", id="upper-case"),
            pytest.param("http://app.localhost/", id="subdomain"),
            pytest.param("http://user:pw@localhost/", id="with-userinfo"),
        ],
    )
    def test_refuses_localhost_names_without_dns(self, url):
        """localhost and *.localhost are refused before any lookup."""
        with pytest.raises(SecurityError, match="loopback name"):
            block_internal_ips()(url, resolver=no_dns)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param(f"http://{PUBLIC_V4}/", id="public-v4"),
            pytest.param(f"https://{PUBLIC_V4}:8443/path?q=1", id="public-v4-port"),
            pytest.param(f"http://[{PUBLIC_V6}]/", id="public-v6"),
            pytest.param("http://[::ffff:93.184.216.34]/", id="mapped-public"),
            pytest.param("http://[2002:5db8:d822::]/", id="6to4-public"),
            pytest.param("http://[64:ff9b::5db8:d822]/", id="nat64-public"),
            pytest.param("http://8.8.8.8/", id="public-dns"),
        ],
    )
    def test_accepts_public_ip_literal(self, url):
        """Globally routable IP literals pass, without DNS."""
        assert None is block_internal_ips()(url, resolver=no_dns)

    def test_accepts_host_resolving_to_public_addresses(self):
        """A name whose every address is public passes."""
        resolver = FakeResolver({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6]})
        block_internal_ips()("https://hooks.example.com/in", resolver=resolver)
        expected = [("hooks.example.com", 443)]
        assert expected == resolver.calls

    @pytest.mark.parametrize(
        "answers",
        [
            pytest.param([PUBLIC_V4, "10.0.0.1"], id="public-then-private"),
            pytest.param(["192.168.0.1", PUBLIC_V4], id="private-then-public"),
            pytest.param([PUBLIC_V4, "::1"], id="public-v4-loopback-v6"),
            pytest.param([PUBLIC_V6, "::ffff:127.0.0.1"], id="public-v6-mapped-loopback"),
        ],
    )
    def test_refuses_host_with_any_internal_address(self, answers):
        """One internal address among the resolved ones refuses the URL."""
        resolver = FakeResolver({"rebind.example.com": answers})
        with pytest.raises(SecurityError, match=r"rebind\.example\.com"):
            block_internal_ips()("http://rebind.example.com/", resolver=resolver)

    def test_message_names_url_address_and_reason(self):
        """The message says which URL, which address, and why."""
        with pytest.raises(SecurityError) as info:
            block_internal_ips()("http://x/", resolver=FakeResolver({"x": ["10.0.0.1"]}))
        expected = (
            "IP address of recipient http://x/=10.0.0.1 is private: not a globally routable address"
        )
        assert expected == str(info.value)

    def test_resolves_on_explicit_port(self):
        """The resolver is asked for the URL's explicit port."""
        resolver = FakeResolver({"example.com": [PUBLIC_V4]})
        block_internal_ips()("http://example.com:8080/", resolver=resolver)
        expected = [("example.com", 8080)]
        assert expected == resolver.calls

    def test_dns_failure_is_an_os_error(self):
        """A name that does not resolve raises the resolver's OSError."""
        with pytest.raises(OSError):
            block_internal_ips()("http://nowhere.invalid/", resolver=FakeResolver())

    def test_empty_resolution_is_refused(self):
        """A resolver that returns no address cannot vouch for the host."""
        with pytest.raises(SecurityError, match="no address"):
            block_internal_ips()("http://empty.example/", resolver=lambda host, port: [])

    @pytest.mark.parametrize(
        ("url", "match"),
        [
            pytest.param("http:///path", "no host", id="no-host"),
            pytest.param("http://[::1/", "not valid", id="bad-ipv6"),
            pytest.param("http://example.com:99999/", "not valid", id="port-out-of-range"),
            pytest.param("http://example.com\\@127.0.0.1/", "ambiguous", id="backslash"),
            pytest.param("http://exa mple.com/", "ambiguous", id="space"),
            pytest.param("http://%31%32%37.0.0.1/", "ambiguous", id="percent-encoded"),
            pytest.param("http://10.0.0.1%25eth0/", "ambiguous", id="zone-on-ipv4"),
        ],
    )
    def test_refuses_unparsable_url(self, url, match):
        """URLs whose host cannot be told for sure are refused."""
        with pytest.raises(SecurityError, match=match):
            block_internal_ips()(url, resolver=no_dns)

    def test_validate_address_alone_checks_the_host_name(self):
        """validate_address() also refuses localhost names (defence in depth)."""
        with pytest.raises(SecurityError, match="loopback name"):
            block_internal_ips().validate_address(
                "http://localhost/", ipaddress.ip_address(PUBLIC_V4)
            )


class TestEnsureProtocol:
    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("ftp://example.com/", id="ftp"),
            pytest.param("file:///etc/passwd", id="file"),
            pytest.param("gopher://example.com:70/", id="gopher"),
            pytest.param("javascript:alert(1)", id="javascript"),
            pytest.param("//example.com/", id="scheme-relative"),
            pytest.param("example.com/path", id="no-scheme"),
        ],
    )
    def test_refuses_other_schemes(self, url):
        """Only http and https are allowed by the default validator."""
        with pytest.raises(SecurityError, match="Protocol of recipient URL"):
            ensure_protocol("http", "https")(url)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://example.com/", id="http"),
            pytest.param("https://example.com/", id="https"),
            pytest.param("HTTPS://example.com/", id="upper-case"),
        ],
    )
    def test_accepts_allowed_schemes(self, url):
        """Allowed schemes pass, compared case-insensitively."""
        assert None is ensure_protocol("http", "https")(url)

    def test_normalises_entries(self):
        """'https://', 'HTTPS' and 'https' mean the same protocol."""
        expected = ("https",)
        assert expected == ensure_protocol("https://", "HTTPS", "https").args

    def test_https_only(self):
        """ensure_protocol('https') refuses plain http."""
        with pytest.raises(SecurityError, match="allowed: https"):
            ensure_protocol("https://")("http://example.com/")

    @pytest.mark.parametrize(
        "allowed",
        [
            pytest.param((), id="none"),
            pytest.param(("",), id="empty"),
            pytest.param((80,), id="int"),
        ],
    )
    def test_invalid_configuration(self, allowed):
        """Missing or malformed protocols raise ImproperlyConfigured."""
        with pytest.raises(ImproperlyConfigured):
            ensure_protocol(*allowed)

    def test_does_not_resolve(self):
        """ensure_protocol only looks at the URL."""
        assert None is ensure_protocol("http")("http://example.com/", resolver=no_dns)


class TestEnsurePort:
    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://example.com:8080/", id="8080"),
            pytest.param("https://example.com:22/", id="ssh"),
            pytest.param("http://10.0.0.1:6379/", id="redis"),
        ],
    )
    def test_refuses_other_explicit_ports(self, url):
        """Explicit ports outside the list are refused."""
        with pytest.raises(SecurityError, match=f"Port of recipient URL {re.escape(url)} not"):
            ensure_port(80, 443)(url)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("http://example.com:443/", id="http-on-443"),
            pytest.param("https://example.com:80/", id="https-on-80"),
            pytest.param("https://example.com:443/", id="https-on-443"),
        ],
    )
    def test_accepts_listed_explicit_ports(self, url):
        """Any listed port passes, whatever the scheme."""
        assert None is ensure_port(80, 443)(url)

    @pytest.mark.parametrize(
        ("validator", "url"),
        [
            pytest.param(ensure_port(80, 443), "https://example.com/", id="https-default"),
            pytest.param(ensure_port(80, 443), "http://example.com/", id="http-default"),
            pytest.param(ensure_port(443), "https://example.com/", id="https-only"),
        ],
    )
    def test_url_without_port_uses_scheme_default(self, validator, url):
        """A URL without a port is checked against its scheme's default."""
        assert None is validator(url)

    def test_default_port_not_in_list_is_refused(self):
        """ensure_port(443) refuses http://x/ (port 80 by default)."""
        with pytest.raises(SecurityError, match="allowed: 443"):
            ensure_port(443)("http://example.com/")

    def test_unknown_scheme_without_port_is_refused(self):
        """A scheme with no default port and no explicit port is refused."""
        with pytest.raises(SecurityError):
            ensure_port(80, 443)("gopher://example.com/")

    def test_accepts_numeric_strings(self):
        """String ports are converted to integers."""
        assert ensure_port(80, 443) == ensure_port("80", "443")

    @pytest.mark.parametrize(
        "allowed",
        [
            pytest.param((), id="none"),
            pytest.param(("http",), id="word"),
            pytest.param((0,), id="zero"),
            pytest.param((65536,), id="too-big"),
            pytest.param((True,), id="bool"),
            pytest.param((None,), id="none-entry"),
        ],
    )
    def test_invalid_configuration(self, allowed):
        """Entries that are not port numbers raise ImproperlyConfigured."""
        with pytest.raises(ImproperlyConfigured):
            ensure_port(*allowed)


class TestBlockCidrNetwork:
    @pytest.mark.parametrize(
        ("url", "network"),
        [
            pytest.param("http://192.168.0.7/", "192.168.0.0/24", id="v4"),
            pytest.param("http://[fd00::5]/", "fd00::/8", id="v6"),
            pytest.param("http://[::ffff:192.168.0.7]/", "192.168.0.0/24", id="mapped"),
            pytest.param(f"http://{PUBLIC_V4}/", "93.184.216.0/24", id="public-network"),
        ],
    )
    def test_refuses_address_in_network(self, url, network):
        """Addresses in a blocked network are refused, naming the network."""
        validator = block_cidr_network("192.168.0.0/24", "fd00::/8", "93.184.216.0/24")
        with pytest.raises(SecurityError, match=f"is in network {network}"):
            validator(url, resolver=no_dns)

    def test_accepts_address_outside_networks(self):
        """Other addresses pass."""
        assert None is block_cidr_network("192.168.0.0/24")("http://192.168.1.7/", resolver=no_dns)

    def test_checks_every_resolved_address(self):
        """One resolved address in the network refuses the URL."""
        resolver = FakeResolver({"example.com": [PUBLIC_V4, "192.168.0.9"]})
        with pytest.raises(SecurityError, match=r"=192\.168\.0\.9 is in network"):
            block_cidr_network("192.168.0.0/24")("http://example.com/", resolver=resolver)

    def test_host_bits_are_allowed(self):
        """'192.168.0.1/24' blocks the whole 192.168.0.0/24 network."""
        with pytest.raises(SecurityError):
            block_cidr_network("192.168.0.1/24")("http://192.168.0.200/", resolver=no_dns)

    @pytest.mark.parametrize(
        "cidr",
        [
            pytest.param("192.168.0.0/33", id="bad-prefix"),
            pytest.param("not-a-network", id="word"),
            pytest.param("", id="empty"),
        ],
    )
    def test_bad_cidr_raises_improperly_configured(self, cidr):
        """A malformed network is refused when the validator is made, naming it."""
        with pytest.raises(ImproperlyConfigured, match=re.escape(repr(cidr))):
            block_cidr_network(cidr)


class TestRecipientValidator:
    def test_plain_base_class_accepts_everything(self):
        """The base class validates nothing."""
        assert None is RecipientValidator()("http://10.0.0.1/", resolver=no_dns)

    def test_equality_and_hash_by_name_and_args(self):
        """Validators with the same name and args are equal and hash alike."""
        assert (
            ensure_port(80, 443) == ensure_port(80, 443),
            ensure_port(80, 443) == ensure_port(443, 80),
            len({ensure_protocol("http"), ensure_protocol("http://")}),
        ) == (True, False, 1)

    def test_not_equal_to_other_objects(self):
        """A validator never equals a non-validator."""
        assert ensure_port(80) != ("ensure_port", (80,))

    @pytest.mark.parametrize(
        ("validator", "expected"),
        [
            pytest.param(block_internal_ips(), "block_internal_ips()", id="no-args"),
            pytest.param(
                ensure_protocol("http", "https"), "ensure_protocol('http', 'https')", id="str"
            ),
            pytest.param(ensure_port(80, 443), "ensure_port(80, 443)", id="int"),
        ],
    )
    def test_repr(self, validator, expected):
        """repr() reads like the factory call."""
        assert expected == repr(validator)

    def test_custom_subclass_hooks(self):
        """Subclasses get validate_url once and validate_address per address."""
        seen = []

        class Recorder(RecipientValidator):
            name = "recorder"
            checks_addresses = True

            def validate_url(self, url):
                seen.append(url)

            def validate_address(self, url, address):
                seen.append(str(address))

        resolver = FakeResolver({"example.com": [PUBLIC_V4, PUBLIC_V6]})
        Recorder()("http://example.com/", resolver=resolver)
        expected = ["http://example.com/", PUBLIC_V4, PUBLIC_V6]
        assert expected == seen


class TestResolve:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            pytest.param(PUBLIC_V4, [ipaddress.ip_address(PUBLIC_V4)], id="v4-literal"),
            pytest.param(PUBLIC_V6, [ipaddress.ip_address(PUBLIC_V6)], id="v6-literal"),
        ],
    )
    def test_resolves_ip_literal_without_network(self, host, expected):
        """The default resolver returns the one address of an IP literal."""
        assert expected == resolve(host, 80)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param("http://10.0.0.1/", ["10.0.0.1"], id="v4"),
            pytest.param("http://[fe80::1%25eth0]/", ["fe80::1"], id="v6-zone-dropped"),
        ],
    )
    def test_resolve_url_uses_literals_directly(self, url, expected):
        """resolve_url() returns IP literals without calling the resolver."""
        assert [ipaddress.ip_address(a) for a in expected] == resolve_url(url, resolver=no_dns)

    @pytest.mark.parametrize(
        ("url", "port"),
        [
            pytest.param("http://example.com/", 80, id="http"),
            pytest.param("https://example.com/", 443, id="https"),
            pytest.param("https://example.com:8443/", 8443, id="explicit"),
            pytest.param("ftp://example.com/", 0, id="unknown-scheme"),
        ],
    )
    def test_resolve_url_port(self, url, port):
        """resolve_url() asks for the explicit port or the scheme's default."""
        resolver = FakeResolver({"example.com": [PUBLIC_V4]})
        resolve_url(url, resolver=resolver)
        assert [("example.com", port)] == resolver.calls


SERIALIZABLE = [
    pytest.param(block_internal_ips(), ["block_internal_ips", []], id="block_internal_ips"),
    pytest.param(
        ensure_protocol("http", "https"),
        ["ensure_protocol", ["http", "https"]],
        id="ensure_protocol",
    ),
    pytest.param(ensure_port(80, 443), ["ensure_port", [80, 443]], id="ensure_port"),
    pytest.param(
        block_cidr_network("10.0.0.0/8", "fd00::/8"),
        ["block_cidr_network", ["10.0.0.0/8", "fd00::/8"]],
        id="block_cidr_network",
    ),
]


def _closure() -> Callable[[str], None]:
    def inner(url: str) -> None:
        pass

    return inner


class CallableObject:
    def __call__(self, url):
        pass

    def method(self, url):
        pass


class TestSerialization:
    @pytest.mark.parametrize(("validator", "expected"), SERIALIZABLE)
    def test_serialize_builtin(self, validator, expected):
        """Built-in validators serialize as [name, [args...]]."""
        assert expected == serialize_validator(validator)

    @pytest.mark.parametrize(("validator", "expected"), SERIALIZABLE)
    def test_round_trip_through_json(self, validator, expected):
        """deserialize(json(serialize(v))) == v for every factory."""
        message = json.loads(json.dumps(serialize_validator(validator)))
        assert validator == deserialize_validator(message)

    def test_every_registered_factory_is_covered(self):
        """The round-trip cases cover every registered factory."""
        covered = [param.values[0].name for param in SERIALIZABLE]  # type: ignore[union-attr]
        assert sorted(validators) == sorted(covered)

    def test_importable_function_serializes_as_path(self):
        """A top-level function serializes as its module:name path, and back."""
        path = serialize_validator(check_function)
        assert ("t.unit.test_validators:check_function", check_function) == (
            path,
            deserialize_validator(path),
        )

    @pytest.mark.parametrize(
        "validator",
        [
            pytest.param(lambda url: None, id="lambda"),
            pytest.param(_closure(), id="closure"),
            pytest.param(CallableObject(), id="callable-object"),
            pytest.param(CallableObject().method, id="bound-method"),
            pytest.param(functools.partial(check_function), id="partial"),
        ],
    )
    def test_unserializable_raise_type_error(self, validator):
        """Lambdas, closures and other non-importable callables raise TypeError."""
        with pytest.raises(TypeError, match="cannot serialize recipient validator"):
            serialize_validator(validator)

    def test_unregistered_subclass_raises_type_error(self):
        """A validator class whose name is not registered cannot be serialized."""

        class Custom(RecipientValidator):
            name = "custom"

        with pytest.raises(TypeError, match="not registered"):
            serialize_validator(Custom())

    def test_serialize_validators(self):
        """serialize_validators() serializes each item, in order."""
        assert (serialize_validators([ensure_port(443), check_function])) == [
            ["ensure_port", [443]],
            "t.unit.test_validators:check_function",
        ]

    def test_callable_is_returned_as_is(self):
        """deserialize_validator() passes callables through."""
        validator = ensure_port(443)
        assert (validator, check_function) == (
            deserialize_validator(validator),
            deserialize_validator(check_function),
        )

    def test_thorn_15_protocol_args(self):
        """1.5's serialized ('http://', 'https://') arguments still work."""
        assert ensure_protocol("http", "https") == deserialize_validator(
            ("ensure_protocol", ("http://", "https://"))
        )


class TestDeserializeValidators:
    def test_thorn_15_default_list(self):
        """The 1.5-style default list deserializes to the three validators."""
        value = [
            ("block_internal_ips", ()),
            ("ensure_protocol", ("http", "https")),
            ("ensure_port", (80, 443)),
        ]
        expected = [block_internal_ips(), ensure_protocol("http", "https"), ensure_port(80, 443)]
        assert expected == deserialize_validators(value, setting="THORN_RECIPIENT_VALIDATORS")

    def test_empty_list_turns_checks_off(self):
        """An empty list gives no validators."""
        expected: list[object] = []
        assert expected == deserialize_validators([], setting="THORN_RECIPIENT_VALIDATORS")

    def test_mixed_forms(self):
        """Pairs, paths and callables can be mixed."""
        value = [["ensure_port", [443]], "t.unit.test_validators:check_function", check_function]
        assert [ensure_port(443), check_function, check_function] == deserialize_validators(value)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(None, id="none"),
            pytest.param("block_internal_ips", id="str"),
            pytest.param({"ensure_port": [80]}, id="dict"),
        ],
    )
    def test_value_must_be_a_list(self, value):
        """A value that is not a list or tuple names the setting."""
        with pytest.raises(ImproperlyConfigured, match="THORN_RECIPIENT_VALIDATORS"):
            deserialize_validators(value, setting="THORN_RECIPIENT_VALIDATORS")

    @pytest.mark.parametrize(
        ("item", "match"),
        [
            pytest.param(
                ("no_such_validator", ()), "unknown validator 'no_such_validator'", id="unknown"
            ),
            pytest.param(("ensure_port",), r"expected \(name, args\)", id="short-pair"),
            pytest.param(("ensure_port", 80), r"expected \(name, args\)", id="args-not-list"),
            pytest.param((1, ()), r"expected \(name, args\)", id="name-not-str"),
            pytest.param(("block_cidr_network", ("bad",)), "not a CIDR network", id="bad-cidr"),
            pytest.param(("ensure_port", ("http",)), "not a port number", id="bad-port"),
            pytest.param(("block_internal_ips", (1,)), "bad arguments", id="too-many-args"),
            pytest.param("thorn.validators:no_such_name", "no attribute", id="bad-path"),
            pytest.param("thorn.validators:validators", "not callable", id="path-not-callable"),
            pytest.param(42, "expected a validator", id="int"),
            pytest.param(ensure_protocol, "validator factory", id="uncalled-factory"),
            pytest.param(
                "thorn.validators:ensure_port", "validator factory", id="uncalled-factory-path"
            ),
        ],
    )
    def test_bad_item_names_setting_and_item(self, item, match):
        """Each bad item raises ImproperlyConfigured naming the setting."""
        with pytest.raises(ImproperlyConfigured, match=match) as info:
            deserialize_validators([item], setting="THORN_RECIPIENT_VALIDATORS")
        assert "THORN_RECIPIENT_VALIDATORS" in str(info.value)
