"""Recipient validators: refuse webhook URLs that point where they must not.

A validator is called with the recipient URL before each delivery and raises
:exc:`~thorn.exceptions.SecurityError` to refuse it.  The built-in
validators are :class:`RecipientValidator` instances made by the factories
below.  Those that check addresses (:func:`block_internal_ips`,
:func:`block_cidr_network`) check **every** address the host resolves to,
through an injectable resolver, so the transport can resolve once, validate
and connect to the very addresses it validated.

Any plain callable ``validator(url)`` is still a valid validator (as in
Thorn 1.5), but it only sees the URL, not the resolved addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeAlias
from urllib.parse import SplitResult, urlsplit

from thorn.exceptions import ImproperlyConfigured, SecurityError
from thorn.utils.imports import import_string, qualified_name

__all__ = [
    "Address",
    "RecipientValidator",
    "Resolver",
    "Serialized",
    "block_cidr_network",
    "block_internal_ips",
    "check_addresses",
    "deserialize_validator",
    "deserialize_validators",
    "ensure_port",
    "ensure_protocol",
    "resolve",
    "resolve_url",
    "serialize_validator",
    "serialize_validators",
    "validate_url",
    "validators",
]

#: An IP address, as returned by a :data:`Resolver`.
Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` returns every address of ``host``.
Resolver: TypeAlias = Callable[[str, int], list[Address]]
#: The JSON form of a validator, ``[name, [args...]]`` or ``"module:function"``.
Serialized: TypeAlias = list[Any] | str

# Port used when a URL does not name one.
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _split(url: str) -> tuple[SplitResult, str, int | None]:
    """Return the parsed URL, its host name and its explicit port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SecurityError(f"Recipient URL {url} is not valid: {exc}") from exc
    if not parts.hostname:
        raise SecurityError(f"Recipient URL {url} has no host")
    # Parsers disagree on backslashes, spaces and control characters in the
    # authority; refuse them rather than guess which host a client would use.
    # A "%" outside an IPv6 zone id ("%31%32%37.0.0.1") may or may not be
    # percent-decoded by the client.
    if any(char == "\\" or char <= " " or char == "\x7f" for char in parts.netloc) or (
        "%" in parts.hostname and ":" not in parts.hostname
    ):
        raise SecurityError(f"Recipient URL {url} has an ambiguous host")
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
    parts, host, port = _split(url)
    literal = _literal(host)
    if literal is not None:
        return [literal]
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme, 0)
    addresses = list(resolver(host, port))
    if not addresses:
        raise SecurityError(f"Host of recipient {url} resolved to no address")
    return addresses


class RecipientValidator:
    """Base class of the built-in recipient validators.

    Calling a validator with a URL runs :meth:`validate_url`, then, when
    :attr:`checks_addresses` is set, :meth:`validate_address` for every
    address of the URL's host (see :func:`resolve_url`): one bad address is
    enough to refuse the URL.

    Validators compare equal when their :attr:`name` and :attr:`args` are
    equal, and serialize as ``[name, [args...]]`` (see
    :func:`serialize_validator`).

    .. versionadded:: 2.0
        Thorn 1.5's validators were closures with ``_validator`` and
        ``_args`` attributes.

    Arguments:
        *args: The factory's arguments, as JSON-compatible values.
    """

    #: Registry key of the factory that makes this validator.
    name: ClassVar[str] = ""
    #: Whether :meth:`validate_address` needs the resolved addresses.
    checks_addresses: ClassVar[bool] = False

    def __init__(self, *args: Any) -> None:
        #: Arguments that recreate this validator, as ``validators[name](*args)``.
        self.args: tuple[Any, ...] = args

    def validate_url(self, url: str) -> None:
        """Check the URL itself (does nothing by default).

        Raises:
            SecurityError: if the URL is refused.
        """

    def validate_address(self, url: str, address: Address) -> None:
        """Check one address of the URL's host (does nothing by default).

        Raises:
            SecurityError: if the address is refused.
        """

    def __call__(self, url: str, resolver: Resolver = resolve) -> None:
        """Validate ``url``.

        Arguments:
            url: Recipient URL.
            resolver: Resolves the URL's host; the transport passes the
                addresses it is about to connect to.

        Raises:
            SecurityError: if the URL or one of its addresses is refused.
            OSError: if the host cannot be resolved.
        """
        self.validate_url(url)
        if self.checks_addresses:
            for address in resolve_url(url, resolver):
                self.validate_address(url, address)

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(map(repr, self.args))})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecipientValidator):
            return NotImplemented
        return (self.name, self.args) == (other.name, other.args)

    def __hash__(self) -> int:
        return hash((self.name, self.args))


class _ProtocolValidator(RecipientValidator):
    name = "ensure_protocol"

    def validate_url(self, url: str) -> None:
        try:
            scheme = urlsplit(url).scheme
        except ValueError:
            scheme = ""
        if scheme not in self.args:
            raise SecurityError(
                f"Protocol of recipient URL {url} not allowed (allowed: {', '.join(self.args)})"
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
        parts, _, port = _split(url)
        if port is None:
            port = _DEFAULT_PORTS.get(parts.scheme)
        if port not in self.args:
            allowed = ", ".join(map(str, self.args))
            raise SecurityError(f"Port of recipient URL {url} not allowed (allowed: {allowed})")


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


def _embedded(address: Address) -> list[ipaddress.IPv4Address]:
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


def _why_internal(address: Address) -> str | None:
    """Return why ``address`` is internal, or ``None`` if it is globally routable."""
    if isinstance(address, ipaddress.IPv4Address):
        return _why_internal_ipv4(address)
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    translated = _translated(address)
    if translated is not None:
        reason = _why_internal_ipv4(translated)
        return f"embeds IPv4 address {translated}: {reason}" if reason else None
    for embedded in _tunnelled(address):
        reason = _why_internal_ipv4(embedded)
        if reason:
            return f"embeds IPv4 address {embedded}: {reason}"
    checks = (
        (address.is_link_local, "link-local address"),
        (address.is_site_local, "site-local address"),
        (address.is_multicast, "multicast address"),
        (address in _UNIQUE_LOCAL, "unique local address"),
        (address.is_reserved, "reserved address"),
        (not address.is_global, "not a globally routable address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _is_numeric_host(host: str) -> bool:
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


class _InternalIPValidator(RecipientValidator):
    name = "block_internal_ips"
    checks_addresses = True

    def validate_url(self, url: str) -> None:
        _, host, _ = _split(url)
        name = host.rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            raise SecurityError(f"Host of recipient {url} is private: {host} is a loopback name")
        if _is_numeric_host(host):
            raise SecurityError(
                f"Host of recipient {url} is refused: {host} is not a canonical IP address"
            )

    def validate_address(self, url: str, address: Address) -> None:
        # The host checks are cheap: repeat them so that a caller that only
        # hands over resolved addresses still refuses "localhost" or "0x7f.1"
        # (a custom resolver need not treat those names as the C library does).
        self.validate_url(url)
        reason = _why_internal(address)
        if reason is not None:
            raise SecurityError(f"IP address of recipient {url}={address} is private: {reason}")


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
        for candidate in [address, *_embedded(address)]:
            for network in self.networks:
                if candidate in network:
                    raise SecurityError(
                        f"IP address of recipient {url}={address} is in network {network}"
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


def validate_url(url: str, validators: Sequence[Callable[..., Any]]) -> None:
    """Run the URL checks of ``validators`` on ``url`` (no DNS).

    Plain callables (1.5-style validators) are called with the URL.

    .. versionadded:: 2.0

    Raises:
        SecurityError: if a validator refuses the URL.
    """
    for validator in validators:
        if isinstance(validator, RecipientValidator):
            validator.validate_url(url)
        else:
            validator(url)


def check_addresses(
    url: str, validators: Sequence[Callable[..., Any]], resolver: Resolver = resolve
) -> Address | None:
    """Resolve the host of ``url`` once and check every address it stands for.

    Returns the first address (the one to connect to), or ``None`` when no
    validator checks addresses.

    .. versionadded:: 2.0

    Raises:
        SecurityError: if a validator refuses any address, or the host
            resolves to none.
        OSError: if the resolver fails (DNS error).
    """
    address_validators = [
        v for v in validators if isinstance(v, RecipientValidator) and v.checks_addresses
    ]
    if not address_validators:
        return None
    addresses = resolve_url(url, resolver)
    for validator in address_validators:
        for address in addresses:
            validator.validate_address(url, address)
    return addresses[0]


def serialize_validator(validator: Callable[..., Any]) -> Serialized:
    """Return the JSON form of ``validator``, for Celery messages.

    .. versionchanged:: 2.0
        Importable functions serialize as their ``"module:name"`` path;
        Thorn 1.5 could not serialize custom validators.

    Arguments:
        validator: A built-in validator, or a function defined at the top
            level of an importable module.

    Raises:
        TypeError: if the validator cannot be recreated by a worker
            (lambdas, closures, nested functions, callable objects,
            ``__main__`` functions, unregistered validator classes).

    Examples:
        >>> from thorn.validators import ensure_port, serialize_validator
        >>> serialize_validator(ensure_port(80, 443))
        ['ensure_port', [80, 443]]
    """
    if isinstance(validator, RecipientValidator):
        if validators.get(validator.name) is None:
            raise TypeError(
                f"cannot serialize {validator!r}: {validator.name!r} is not registered "
                "in thorn.validators.validators"
            )
        return [validator.name, list(validator.args)]
    module = getattr(validator, "__module__", None)
    qualname = getattr(validator, "__qualname__", None)
    if (
        callable(validator)
        and isinstance(module, str)
        and isinstance(qualname, str)
        and module != "__main__"
        and "<" not in qualname
    ):
        path = qualified_name(validator)
        try:
            found = import_string(path)
        except ImproperlyConfigured:
            found = None
        if found is validator:
            return path
    raise TypeError(
        f"cannot serialize recipient validator {validator!r}: use a built-in validator "
        "or a function defined at the top level of an importable module "
        "(not a lambda, closure, bound method or callable object)"
    )


def serialize_validators(items: Sequence[Callable[..., Any]]) -> list[Serialized]:
    """Return the JSON form of every validator in ``items``.

    Raises:
        TypeError: if a validator cannot be serialized.
    """
    return [serialize_validator(item) for item in items]


def _where(setting: str | None, item: Any) -> str:
    return f"{setting} item {item!r}" if setting else f"recipient validator {item!r}"


def deserialize_validator(item: Any, setting: str | None = None) -> Callable[[str], None]:
    """Recreate a validator from its serialized form.

    Accepted forms: ``[name, [args...]]`` or ``(name, (args...))`` (a
    registered factory and its arguments), a ``"module:function"`` path, or a
    callable (returned as it is).

    Arguments:
        item: The serialized validator.
        setting: Name of the setting ``item`` came from, for error messages.

    Raises:
        ImproperlyConfigured: if ``item`` names an unknown factory, has the
            wrong shape or arguments, or does not lead to a callable.

    Examples:
        >>> from thorn.validators import deserialize_validator
        >>> deserialize_validator(["ensure_protocol", ["https"]])
        ensure_protocol('https')
    """
    where = _where(setting, item)
    if callable(item):
        validator: Any = item
    elif isinstance(item, str):
        validator = import_string(item, setting)
        if not callable(validator):
            raise ImproperlyConfigured(f"{where}: {validator!r} is not callable")
    elif isinstance(item, list | tuple):
        if len(item) != 2 or not isinstance(item[0], str) or not isinstance(item[1], list | tuple):
            raise ImproperlyConfigured(f"{where}: expected (name, args)")
        name, args = item
        factory = validators.get(name)
        if factory is None:
            raise ImproperlyConfigured(
                f"{where}: unknown validator {name!r} (known: {', '.join(sorted(validators))})"
            )
        try:
            return factory(*args)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from exc
        except TypeError as exc:
            raise ImproperlyConfigured(f"{where}: bad arguments for {name}(): {exc}") from exc
    else:
        raise ImproperlyConfigured(
            f"{where}: expected a validator, a 'module:function' path or (name, args)"
        )
    # A factory used without calling it, e.g. ``[ensure_protocol]``, would accept
    # every URL (ensure_protocol(url) returns a validator and raises nothing).
    if any(validator is factory for factory in validators.values()):
        raise ImproperlyConfigured(
            f"{where}: {validator.__name__} is a validator factory; call it, "
            f"for example {validator.__name__}(...)"
        )
    checked: Callable[[str], None] = validator
    return checked


def deserialize_validators(value: Any, setting: str | None = None) -> list[Callable[[str], None]]:
    """Recreate a list of validators (for example ``THORN_RECIPIENT_VALIDATORS``).

    An empty list turns every check off (for development and tests).

    Arguments:
        value: A list or tuple of serialized validators or callables.
        setting: Name of the setting ``value`` came from, for error messages.

    Raises:
        ImproperlyConfigured: if ``value`` is not a list or tuple, or one of
            its items is invalid; the message names ``setting`` and the item.

    Examples:
        >>> from thorn.validators import deserialize_validators
        >>> deserialize_validators([("block_internal_ips", ()), ("ensure_port", (443,))])
        [block_internal_ips(), ensure_port(443)]
    """
    if not isinstance(value, list | tuple):
        raise ImproperlyConfigured(
            f"{setting or 'recipient validators'} must be a list of validators, not {value!r}"
        )
    return [deserialize_validator(item, setting) for item in value]
