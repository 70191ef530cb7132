"""The HTTP client that makes every delivery: safe connect, limits, reuse."""

from __future__ import annotations

import http.cookiejar
import threading
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from thorn.exceptions import DeliveryError, DeliveryTimeout, HTTPStatusError, SecurityError
from thorn.outcome import Outcome, parse_retry_after
from thorn.transport._deadline import deadline
from thorn.transport.base import BaseTransport, HTTPRequest
from thorn.transport.ssrf import (
    DNS_TTL,
    CachedResolver,
    PinnedAdapter,
    check_recipient,
    host_header,
)
from thorn.utils.redact import redact_text, redact_url
from thorn.validators import Resolver, resolve

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "MAX_REDIRECTS", "Transport"]

#: Redirect hops followed at most, when redirects are allowed.
MAX_REDIRECTS = 5
#: Bytes of an answer read at most, by default (``THORN_MAX_RESPONSE_SIZE``).
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024


class _Session(requests.Session):
    """A session that never follows redirects itself (the transport does).

    requests reads the whole body of a 3xx answer while looking for a
    redirect, even with ``allow_redirects=False``; with no redirect target
    it reads nothing, so the response cap holds for redirects too.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """Receivers cannot set cookies that a later delivery would send."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError))


class Transport(BaseTransport):
    """Sends requests over HTTP(S) and returns an :class:`~thorn.outcome.Outcome`.

    :meth:`send` checks the recipient (URL validators on the URL, address
    validators on every address the host resolves to), connects to an
    address that passed, verifies TLS, reads at most ``max_response_size``
    bytes of the answer, and follows redirects only when allowed, checking
    every hop the same way.  Connections are kept alive per thread and host.

    A :class:`~thorn.Thorn` app makes one from its settings
    (``THORN_ALLOW_REDIRECTS``, ``THORN_MAX_RESPONSE_SIZE``) unless it is
    given a transport.

    Arguments:
        allow_redirects: Follow redirects.
        max_redirects: Hops followed at most.
        max_response_size: Bytes of a response body read at most.
        resolver: ``resolver(host, port) -> [addresses]``; the system
            resolver by default (tests inject their own).
        verify: TLS verification: ``True``, or a CA bundle path.
        dns_ttl: Seconds the resolver's answer for a host is reused
            (:class:`~thorn.transport.ssrf.CachedResolver`); ``0`` asks it
            for every delivery.

    .. versionadded:: 2.0
    """

    def __init__(
        self,
        *,
        allow_redirects: bool = False,
        max_redirects: int = MAX_REDIRECTS,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        resolver: Resolver | None = None,
        verify: bool | str = True,
        dns_ttl: float = DNS_TTL,
    ) -> None:
        self.allow_redirects = allow_redirects
        self.max_redirects = max_redirects
        self.max_response_size = max_response_size
        self.resolver = CachedResolver(resolver or resolve, dns_ttl)
        self.verify = verify
        self._local = threading.local()

    def new_session(self) -> requests.Session:
        """Return a session configured for deliveries."""
        session = _Session()
        session.trust_env = False  # no proxies or .netrc from the environment
        session.cookies.set_policy(_RejectAllCookies())
        session.headers["Accept-Encoding"] = "identity"
        adapter = PinnedAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def session(self) -> requests.Session:
        """This thread's session (kept-alive connections live here)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.new_session()
        return session

    def close(self) -> None:
        """Close this thread's connections."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            del self._local.session

    def check_recipient(self, url: str, validators: Sequence[Callable[..., Any]]) -> None:
        """Refuse ``url`` as :meth:`send` would: the URL, then every address of its host.

        Raises:
            SecurityError: if a validator refuses the URL or an address.
            OSError: if the host cannot be resolved.
        """
        check_recipient(url, validators, self.resolver)

    def send(self, request: HTTPRequest) -> Outcome:
        """Send ``request`` once; never raises for a failed delivery.

        The whole attempt (connect, redirects, sending, reading the answer)
        lasts at most ``request.timeout`` seconds, and ends by
        ``request.deadline`` when it has one.
        """
        started = monotonic()
        ends_at = request.ends_at(started)
        response = None
        try:
            with deadline(ends_at):
                response = self._send_following_redirects(request)
            status = response.status_code
            if not 200 <= status < 300:
                raise HTTPStatusError(
                    f"{redact_url(request.url)} answered {status} {response.reason}",
                    request=request,
                    response=response,
                )
        except SecurityError as exc:
            return Outcome(latency=monotonic() - started, error=exc)
        except DeliveryError as exc:
            return self._outcome(started, exc, response)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            error: DeliveryError
            if _is_timeout(exc) or monotonic() >= ends_at:
                error = DeliveryTimeout(
                    f"{redact_url(request.url)} did not answer within {request.timeout}s",
                    request=request,
                )
            else:
                error = DeliveryError(
                    f"{redact_url(request.url)}: {redact_text(str(exc), request.url)}",
                    request=request,
                    response=response,
                )
            error.__cause__ = exc
            return self._outcome(started, error, response)
        return self._outcome(started, None, response)

    def _outcome(self, started: float, error: Any, response: Any) -> Outcome:
        return Outcome(
            status=None if response is None else response.status_code,
            latency=monotonic() - started,
            error=error,
            retry_after=None
            if response is None
            else parse_retry_after(response.headers.get("Retry-After")),
            response=response,
        )

    def _send_following_redirects(self, request: HTTPRequest) -> requests.Response:
        url = request.url
        for _hop in range(self.max_redirects + 1):
            response = self._send(request, url)
            if not (self.allow_redirects and response.is_redirect):
                return response
            try:
                url = urljoin(url, response.headers["Location"])
            except ValueError as exc:
                raise DeliveryError(
                    f"{redact_url(request.url)}: invalid redirect location",
                    request=request,
                    response=response,
                ) from exc
        raise DeliveryError(
            f"{redact_url(request.url)}: more than {self.max_redirects} redirects",
            request=request,
            response=response,
        )

    def _send(self, request: HTTPRequest, url: str) -> requests.Response:
        address = check_recipient(url, request.recipient_validators, self.resolver)
        session = self.session if request.keepalive else self.new_session()
        # What Session.prepare_request() would do, but for the cookies,
        # authentication and parameters these sessions never have.
        headers = CaseInsensitiveDict(session.headers)
        headers.update(request.headers)
        prepared = requests.PreparedRequest()
        prepared.prepare(method=request.method, url=url, headers=headers, data=request.body)
        if address is not None:
            prepared.thorn_address = address  # type: ignore[attr-defined]
            prepared.headers["Host"] = host_header(url)
        if not request.keepalive:
            prepared.headers["Connection"] = "close"
        try:
            response = session.send(
                prepared,
                timeout=request.timeout,
                allow_redirects=False,
                stream=True,
                verify=self.verify,
            )
            self._read_capped(response)
        finally:
            if not request.keepalive:
                session.close()
        return response

    def _read_capped(self, response: requests.Response) -> None:
        """Read at most ``max_response_size`` bytes, then let the connection go."""
        cap = self.max_response_size
        content = response.raw.read(cap + 1, decode_content=True)
        if len(content) > cap:
            content = content[:cap]
            response.close()  # the rest is never read: drop the connection
        response._content = content  # so response.content/.text work in callbacks
        response._content_consumed = True  # type: ignore[attr-defined]
