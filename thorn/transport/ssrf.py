"""The transport's SSRF policy: check the recipient, then connect only where it was checked.

The host of a URL is resolved once; URL validators check the URL and
address validators every address (see :mod:`thorn.validators`).  The
connection is then pinned to an address that passed, so a second DNS
answer (rebinding) cannot send the request elsewhere, while TLS still sends
the hostname (SNI) and verifies the certificate against it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from thorn.transport._deadline import POOL_CLASSES
from thorn.validators import Address, Resolver, check_addresses, validate_url

__all__ = ["DNS_TTL", "CachedResolver", "PinnedAdapter", "check_recipient", "host_header"]

#: Seconds a host's checked addresses are reused.
DNS_TTL = 10.0


class CachedResolver:
    """A resolver that remembers each answer for ``ttl`` seconds.

    Only what the resolver answered is cached; every delivery still checks
    every address with its validators and connects to one that passed
    (pinning stays per connection), so the cache makes nothing reachable
    that the checks refuse.  Failures are not cached.

    Arguments:
        resolve: The resolver to ask.
        ttl: Seconds an answer is reused (0: never).
        size: Answers kept at most (the oldest go first).
    """

    def __init__(self, resolve: Resolver, ttl: float = DNS_TTL, size: int = 1024) -> None:
        self.resolve = resolve
        self.ttl = ttl
        self.size = size
        self._answers: dict[tuple[str, int], tuple[float, list[Address]]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[Address]:
        key = (host, port)
        now = monotonic()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = self.resolve(host, port)
        if self.ttl > 0:
            with self._lock:
                if len(self._answers) >= self.size:
                    self._answers.pop(next(iter(self._answers)))
                self._answers[key] = (now + self.ttl, addresses)
        return addresses


def check_recipient(
    url: str, validators: Sequence[Callable[..., Any]], resolver: Resolver
) -> Address | None:
    """Validate ``url``; return the address to connect to.

    Returns ``None`` when no validator checks addresses (the host is then
    resolved by the connection itself).

    Raises:
        SecurityError: if a validator refuses the URL or any address.
        OSError: if the host cannot be resolved.
    """
    validate_url(url, validators)
    return check_addresses(url, validators, resolver)


def host_header(url: str) -> str:
    """The ``Host`` header of ``url``: its authority without userinfo."""
    return urlsplit(url).netloc.rpartition("@")[2]


class PinnedAdapter(HTTPAdapter):
    """Connects to the address that was checked, not to a new DNS answer.

    A prepared request carries that address as ``thorn_address``.  The pool
    is keyed by the address and the hostname; TLS still sends the hostname
    (SNI) and verifies the certificate against it.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Make the pool manager, with connections that obey the delivery's deadline."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Any = None,
        cert: Any = None,
    ) -> Any:
        """The connection pool of the checked address, when the request carries one."""
        address = getattr(request, "thorn_address", None)
        if address is None:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert
        )
        hostname = host_params["host"]
        host_params["host"] = str(address)
        pinned = {**pool_kwargs, "server_hostname": hostname, "assert_hostname": hostname}
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pinned)
