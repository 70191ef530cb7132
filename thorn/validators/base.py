"""The base of recipient validators, and running them on a URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from thorn.validators.addresses import Address, Resolver, resolve, resolve_url

__all__ = ["RecipientValidator", "check_addresses", "validate_url"]


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
