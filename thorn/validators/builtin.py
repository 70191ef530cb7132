"""The built-in recipient validators and their registry."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from thorn.exceptions import ImproperlyConfigured, SecurityError
from thorn.utils.redact import redact_url
from thorn.validators.addresses import (
    DEFAULT_PORTS,
    Address,
    embedded_ipv4,
    is_numeric_host,
    split_url,
    why_internal,
)
from thorn.validators.base import RecipientValidator

__all__ = [
    "block_cidr_network",
    "block_internal_ips",
    "ensure_port",
    "ensure_protocol",
    "validators",
]


class _ProtocolValidator(RecipientValidator):
    name = "ensure_protocol"

    def validate_url(self, url: str) -> None:
        try:
            scheme = urlsplit(url).scheme
        except ValueError:
            scheme = ""
        if scheme not in self.args:
            raise SecurityError(
                f"Protocol of recipient URL {redact_url(url)} not allowed "
                f"(allowed: {', '.join(self.args)})"
            )


def ensure_protocol(*allowed: str) -> RecipientValidator:
    """Allow only URLs whose scheme is one of ``allowed``.

    .. versionchanged:: 2.0
        The scheme is compared case-insensitively; entries may be written
        ``"https"`` or ``"https://"`` and are stored as ``"https"``.

    Arguments:
        *allowed: Schemes, such as ``"http"`` and ``"https"``.

    Raises:
        ImproperlyConfigured: if no scheme is given or an entry is not a
            string.

    Examples:
        >>> from thorn.validators import ensure_protocol
        >>> ensure_protocol("http://", "HTTPS")
        ensure_protocol('http', 'https')
    """
    if not allowed:
        raise ImproperlyConfigured("ensure_protocol() needs at least one protocol")
    schemes: list[str] = []
    for entry in allowed:
        scheme = entry.strip().lower().rstrip(":/") if isinstance(entry, str) else ""
        if not scheme:
            raise ImproperlyConfigured(f"ensure_protocol(): {entry!r} is not a protocol")
        if scheme not in schemes:
            schemes.append(scheme)
    return _ProtocolValidator(*schemes)


class _PortValidator(RecipientValidator):
    name = "ensure_port"

    def validate_url(self, url: str) -> None:
        parts, _, port = split_url(url)
        if port is None:
            port = DEFAULT_PORTS.get(parts.scheme)
        if port not in self.args:
            allowed = ", ".join(map(str, self.args))
            raise SecurityError(
                f"Port of recipient URL {redact_url(url)} not allowed (allowed: {allowed})"
            )


def ensure_port(*allowed: int | str) -> RecipientValidator:
    """Allow only URLs whose port is one of ``allowed``.

    .. versionchanged:: 2.0
        A URL without a port is checked against its scheme's default port
        (80 for http, 443 for https; other schemes have none and are
        refused).  Thorn 1.5 let every URL without a port through.

    Arguments:
        *allowed: Port numbers, as :class:`int` or numeric :class:`str`.

    Raises:
        ImproperlyConfigured: if no port is given or an entry is not a port
            number.

    Examples:
        >>> from thorn.validators import ensure_port
        >>> ensure_port(80, "443")
        ensure_port(80, 443)
    """
    if not allowed:
        raise ImproperlyConfigured("ensure_port() needs at least one port")
    ports: list[int] = []
    for entry in allowed:
        try:
            if isinstance(entry, bool):
                raise ValueError(entry)
            port = int(entry)
        except (TypeError, ValueError):
            port = -1
        if not 0 < port < 65536:
            raise ImproperlyConfigured(f"ensure_port(): {entry!r} is not a port number")
        if port not in ports:
            ports.append(port)
    return _PortValidator(*ports)


class _InternalIPValidator(RecipientValidator):
    name = "block_internal_ips"
    checks_addresses = True

    def validate_url(self, url: str) -> None:
        _, host, _ = split_url(url)
        name = host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            raise SecurityError(
                f"Host of recipient {redact_url(url)} is private: {host} is a loopback name"
            )
        if is_numeric_host(host):
            raise SecurityError(
                f"Host of recipient {redact_url(url)} is refused: "
                f"{host} is not a canonical IP address"
            )

    def validate_address(self, url: str, address: Address) -> None:
        # The host checks are cheap: repeat them so that a caller that only
        # hands over resolved addresses still refuses "localhost" or "0x7f.1"
        # (a custom resolver need not treat those names as the C library does).
        self.validate_url(url)
        reason = why_internal(address)
        if reason is not None:
            raise SecurityError(
                f"IP address of recipient {redact_url(url)}={address} is private: {reason}"
            )


def block_internal_ips() -> RecipientValidator:
    """Refuse URLs whose host is, or resolves to, an address that is not public.

    Every resolved address is checked, and one internal address refuses the
    URL.  Refused: loopback, private (RFC 1918, ``fc00::/7``), link-local
    (including the cloud metadata address 169.254.169.254), shared
    (``100.64.0.0/10``), ``0.0.0.0/8``, ``::``, multicast, reserved, and any
    other address that is not globally routable.  IPv6 addresses that embed
    an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) are
    judged by the embedded address too.  The names ``localhost`` and
    ``*.localhost``, and numeric hosts in non-canonical spellings
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) are refused
    without resolving them.

    .. versionchanged:: 2.0
        Uses "not globally routable" instead of a list of flags, so
        ``100.64.0.0/10`` is refused; IPv6 is checked, and so is every
        address of the host rather than the first IPv4 one.

    Examples:
        >>> from thorn.validators import block_internal_ips
        >>> block_internal_ips()("http://10.0.0.1/")
        Traceback (most recent call last):
        ...
        thorn.exceptions.SecurityError: IP address of recipient http://10.0.0.1/=10.0.0.1 is private: not a globally routable address
    """  # noqa: E501
    return _InternalIPValidator()


class _NetworkValidator(RecipientValidator):
    name = "block_cidr_network"
    checks_addresses = True

    def __init__(self, *cidrs: str) -> None:
        super().__init__(*cidrs)
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for cidr in cidrs:
            try:
                self.networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"block_cidr_network(): {cidr!r} is not a CIDR network: {exc}"
                ) from exc

    def validate_address(self, url: str, address: Address) -> None:
        for candidate in [address, *embedded_ipv4(address)]:
            for network in self.networks:
                if candidate in network:
                    raise SecurityError(
                        f"IP address of recipient {redact_url(url)}={address} "
                        f"is in network {network}"
                    )


def block_cidr_network(*cidrs: str) -> RecipientValidator:
    """Refuse URLs whose host is, or resolves to, an address in one of ``cidrs``.

    IPv6 addresses that embed an IPv4 address are also checked by the
    embedded address.

    .. versionchanged:: 2.0
        Every resolved address is checked, IPv6 included.

    Arguments:
        *cidrs: Networks such as ``"192.168.0.0/24"`` or ``"fd00::/8"``.

    Raises:
        ImproperlyConfigured: if an entry is not a network.

    Examples:
        >>> from thorn.validators import block_cidr_network
        >>> block_cidr_network("192.168.0.0/24")("http://192.168.0.7/")
        Traceback (most recent call last):
        ...
        thorn.exceptions.SecurityError: IP address of recipient http://192.168.0.7/=192.168.0.7 is in network 192.168.0.0/24
    """  # noqa: E501
    return _NetworkValidator(*(str(cidr) for cidr in cidrs))


#: Validator factories by name, used by :func:`deserialize_validator`.
validators: dict[str, Callable[..., RecipientValidator]] = {
    "block_cidr_network": block_cidr_network,
    "block_internal_ips": block_internal_ips,
    "ensure_port": ensure_port,
    "ensure_protocol": ensure_protocol,
}
