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

.. versionchanged:: 2.0
    A package: ``thorn.validators.addresses`` (hosts and addresses),
    ``.base``, ``.builtin`` and ``.serialize``; everything is importable
    from ``thorn.validators`` as before.
"""

from __future__ import annotations

from thorn.validators.addresses import Address, Resolver, resolve, resolve_url
from thorn.validators.base import RecipientValidator, check_addresses, validate_url
from thorn.validators.builtin import (
    block_cidr_network,
    block_internal_ips,
    ensure_port,
    ensure_protocol,
    validators,
)
from thorn.validators.serialize import (
    Serialized,
    deserialize_validator,
    deserialize_validators,
    serialize_validator,
    serialize_validators,
)

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
