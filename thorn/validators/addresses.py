"""Recipient addresses: parsing the host of a URL, resolving it, and telling internal addresses.

The building blocks of the address validators (:func:`thorn.validators.block_internal_ips`,
:func:`thorn.validators.block_cidr_network`) and of the transport's SSRF policy.

.. versionadded:: 2.0
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import TypeAlias
from urllib.parse import SplitResult, urlsplit

from thorn.exceptions import SecurityError
from thorn.utils.redact import redact_url

__all__ = [
    "DEFAULT_PORTS",
    "Address",
    "Resolver",
    "embedded_ipv4",
    "is_numeric_host",
    "resolve",
    "resolve_url",
    "split_url",
    "why_internal",
]

#: An IP address, as returned by a :data:`Resolver`.
Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` returns every address of ``host``.
Resolver: TypeAlias = Callable[[str, int], list[Address]]

#: The port of a URL that does not name one, by scheme.
DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(host: str, port: int) -> list[Address]:
    """Return every distinct IPv4 and IPv6 address of ``host``, in resolver order.

    .. versionchanged:: 2.0
        IPv6 is supported; Thorn 1.5 used IPv4-only ``gethostbyname``.

    Arguments:
        host: Host name or IP literal.
        port: Port, passed on to :func:`socket.getaddrinfo`.

    Raises:
        OSError: (:exc:`socket.gaierror`) if the name cannot be resolved.
            Callers treat it as a delivery error, not as a refusal.
    """
    addresses: list[Address] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # IPv6 link-local answers carry a scope id ("fe80::1%eth0").
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} has no IPv4 or IPv6 address")
    return addresses


def split_url(url: str) -> tuple[SplitResult, str, int | None]:
    """Return the parsed URL, its host name and its explicit port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SecurityError(f"Recipient URL {redact_url(url)} is not valid: {exc}") from exc
    if not parts.hostname:
        raise SecurityError(f"Recipient URL {redact_url(url)} has no host")
    # Parsers disagree on backslashes, spaces and control characters in the
    # authority; refuse them rather than guess which host a client would use.
    # A "%" outside an IPv6 zone id ("%31%32%37.0.0.1") may or may not be
    # percent-decoded by the client.
    if any(char == "\\" or char <= " " or char == "\x7f" for char in parts.netloc) or (
        "%" in parts.hostname and ":" not in parts.hostname
    ):
        raise SecurityError(f"Recipient URL {redact_url(url)} has an ambiguous host")
    return parts, parts.hostname, port


def _literal(host: str) -> Address | None:
    """Return ``host`` as an address if it is an IP literal (IPv6 zone id dropped)."""
    address, _, zone = host.partition("%")
    if zone and ":" not in address:
        return None
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def resolve_url(url: str, resolver: Resolver = resolve) -> list[Address]:
    """Return the addresses the host of ``url`` stands for.

    An IP literal (``http://10.0.0.1/``, ``http://[::1]/``) is used as it is,
    without DNS; a name is resolved with ``resolver`` on the URL's port (or
    the scheme's default port).

    .. versionadded:: 2.0

    Arguments:
        url: Recipient URL.
        resolver: ``resolver(host, port)`` returning a list of addresses.

    Raises:
        SecurityError: if the URL cannot be parsed, has no host, or its host
            resolves to no address.
        OSError: if the resolver fails (DNS error).
    """
    parts, host, port = split_url(url)
    literal = _literal(host)
    if literal is not None:
        return [literal]
    if port is None:
        port = DEFAULT_PORTS.get(parts.scheme, 0)
    addresses = list(resolver(host, port))
    if not addresses:
        raise SecurityError(f"Host of recipient {redact_url(url)} resolved to no address")
    return addresses


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def _translated(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address that ``address`` is a translation of, if any.

    Packets to IPv4-mapped and NAT64 addresses go to the embedded IPv4
    address, so that address alone decides.
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _tunnelled(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Return the IPv4 addresses embedded in a 6to4, Teredo or IPv4-compatible address."""
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if int(address) >> 32 == 0:  # IPv4-compatible ::a.b.c.d (deprecated)
        return [ipaddress.IPv4Address(int(address))]
    return []


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    if isinstance(address, ipaddress.IPv4Address):
        return []
    translated = _translated(address)
    return [translated] if translated is not None else _tunnelled(address)


def _why_internal_ipv4(address: ipaddress.IPv4Address) -> str | None:
    if address in _THIS_NETWORK:
        return "unspecified address" if address.is_unspecified else "'this network' address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address in _SHARED:
        return "shared address space (RFC 6598)"
    if address.is_reserved:
        return "reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def why_internal(address: Address) -> str | None:
    """Return why ``address`` is internal, or ``None`` if it is globally routable."""
    if isinstance(address, ipaddress.IPv4Address):
        return _why_internal_ipv4(address)
    # First: Python 3.13's ipaddress answers for an IPv4-mapped address as
    # for its IPv4 address (is_loopback...), 3.12's for the IPv6 one.
    translated = _translated(address)
    if translated is not None:
        reason = _why_internal_ipv4(translated)
        return f"embeds IPv4 address {translated}: {reason}" if reason else None
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    for embedded in _tunnelled(address):
        reason = _why_internal_ipv4(embedded)
        if reason:
            return f"embeds IPv4 address {embedded}: {reason}"
    if address.sixtofour is not None:
        # Its IPv4 address decides, which is global: Python 3.13 counts all
        # of 2002::/16 as not global, 3.12 as global.
        return None
    checks = (
        (address.is_link_local, "link-local address"),
        (address.is_site_local, "site-local address"),
        (address.is_multicast, "multicast address"),
        (address in _UNIQUE_LOCAL, "unique local address"),
        (address.is_reserved, "reserved address"),
        (not address.is_global, "not a globally routable address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def is_numeric_host(host: str) -> bool:
    """Tell whether ``host`` is an IPv4 address in a non-canonical spelling.

    ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` all mean
    127.0.0.1 to the C library, but not to :mod:`ipaddress`.
    """
    if _literal(host) is not None:
        return False
    stripped = host.rstrip(".")
    if stripped != host and _literal(stripped) is not None:
        return True  # "127.0.0.1." is not canonical either
    for candidate in (host, stripped):
        try:
            socket.inet_aton(candidate)
        except (OSError, ValueError):
            continue
        return True
    return False
