"""``python -m thorn listen``: a site's live events, forwarded to a server on your machine.

A laptop has no public URL to subscribe.  ``listen`` subscribes for it: it
creates a temporary stream-only subscription through the site's ``/hooks/``
API (or reuses one, ``--subscription``), reads its live stream
(``GET /hooks/<uuid>/stream/``), and ``POST``\\ s each event to a local URL
with the body and the signed headers the site made, so the local receiver
verifies them as it would a real delivery.  A dropped connection is opened
again with ``Last-Event-ID``, so no event is missed.  On exit (Ctrl-C) the
temporary subscription is deleted.

Only ``requests`` and the framework-free core are used: no Django, no
settings.

.. versionadded:: 2.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urljoin

import requests

from thorn._version import __version__
from thorn.utils.sse import ServerSentEvent, parse_events

__all__ = ["READ_TIMEOUT", "ListenError", "Listener", "build_parser", "main"]

#: Seconds without a byte (heartbeats come every 15 s) before the stream counts as dropped.
READ_TIMEOUT = 60.0
#: Seconds to wait before reconnecting, at first and at most (doubling in between).
RECONNECT_DELAYS = (1.0, 30.0)
#: Headers of the original POST that are not forwarded (set by the local request itself).
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class ListenError(Exception):
    """The site refused a request of ``listen`` (authentication, a missing subscription...)."""


def _refused(response: requests.Response, doing: str) -> ListenError:
    try:
        detail: Any = response.json()
    except ValueError:
        detail = response.text[:200]
    return ListenError(f"{doing}: the site answered {response.status_code}: {detail}")


class Listener:
    """The site's ``/hooks/`` API, as ``listen`` uses it.

    Arguments:
        site: The URL of the API (``https://example.com/hooks/``).
        token: The API token, sent as ``Authorization: <scheme> <token>``.
        auth_scheme: ``Token`` (DRF's token authentication) or ``Bearer``...
        session: The HTTP session (a new one by default).
    """

    def __init__(
        self,
        site: str,
        token: str,
        auth_scheme: str = "Token",
        session: requests.Session | None = None,
    ) -> None:
        self.site = site if site.endswith("/") else f"{site}/"
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"{auth_scheme} {token}"
        self.session.headers["User-Agent"] = f"thorn-listen/{__version__}"
        #: The id of the last event received (sent as ``Last-Event-ID`` on reconnect).
        self.last_event_id: str | None = None

    def url(self, subscription: str, action: str = "") -> str:
        """The URL of a subscription, or of one of its actions (``"stream/"``)."""
        return urljoin(self.site, f"{subscription}/{action}")

    def subscribe(self, event: str) -> dict[str, Any]:
        """Create a stream-only subscription to ``event``; return it (with its secret)."""
        response = self.session.post(
            self.site, json={"event": event, "delivery": "stream"}, timeout=30
        )
        if response.status_code != 201:
            raise _refused(response, f"Subscribing to {event!r}")
        created: dict[str, Any] = response.json()
        return created

    def subscription(self, subscription: str) -> dict[str, Any]:
        """Return an existing subscription (with its secret)."""
        response = self.session.get(self.url(subscription), timeout=30)
        if response.status_code != 200:
            raise _refused(response, f"Reading subscription {subscription}")
        found: dict[str, Any] = response.json()
        return found

    def unsubscribe(self, subscription: str) -> None:
        """Delete a subscription (one already gone is fine)."""
        response = self.session.delete(self.url(subscription), timeout=30)
        if response.status_code not in (204, 404):
            raise _refused(response, f"Deleting subscription {subscription}")

    def events(self, subscription: str, out: TextIO) -> Iterator[ServerSentEvent]:
        """Yield the events of the subscription's stream, forever, reconnecting when it drops.

        Raises:
            ListenError: if the site refuses the stream for good (401, 403, 404...).
        """
        delay = RECONNECT_DELAYS[0]
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            try:
                with self.session.get(
                    self.url(subscription, "stream/"),
                    headers=headers,
                    stream=True,
                    timeout=(30, READ_TIMEOUT),
                ) as response:
                    if response.status_code == 200:
                        delay = RECONNECT_DELAYS[0]
                        for event in parse_events(_lines(response)):
                            if event.id:
                                self.last_event_id = event.id
                            yield event
                        reason = "the site closed the stream"
                    elif response.status_code == 429 or response.status_code >= 500:
                        reason = f"the site answered {response.status_code}"
                    else:
                        raise _refused(response, "Opening the stream")
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,  # cut in the middle of the stream
            ) as exc:
                reason = f"connection lost ({type(exc).__name__})"
            print(f"{_now()} {reason}: reconnecting in {delay:g} s", file=out, flush=True)
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAYS[1])


def _lines(response: requests.Response) -> Iterator[str]:
    """The lines of a streamed response, as they arrive (without their line endings)."""
    buffer = b""
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r").decode("utf-8")


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def forward(session: requests.Session, url: str, data: dict[str, Any]) -> tuple[str, float]:
    """POST one event's body and headers to ``url``; return its status (or error) and latency."""
    headers = {
        name: value for name, value in data["headers"].items() if name.lower() not in _NOT_FORWARDED
    }
    started = time.monotonic()
    try:
        response = session.post(url, data=data["body"].encode("utf-8"), headers=headers, timeout=30)
    except requests.RequestException as exc:
        return type(exc).__name__, time.monotonic() - started
    return str(response.status_code), time.monotonic() - started


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m thorn listen``."""
    parser = argparse.ArgumentParser(
        prog="python -m thorn listen",
        description="Forward the live events of a thorn site to a local URL, signed as the "
        "site signs them.",
    )
    parser.add_argument("--site", required=True, help="The site's API: https://example.com/hooks/")
    parser.add_argument("--token", required=True, help="Your API token on the site.")
    parser.add_argument(
        "--auth-scheme",
        default="Token",
        help="How the token is sent: 'Authorization: <scheme> <token>' (default: Token).",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--forward-to", help="The local URL to POST each event to.")
    target.add_argument(
        "--print-json", action="store_true", help="Print each event as JSON instead."
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", help="The event pattern to subscribe to: 'article.*'.")
    which.add_argument(
        "--subscription", help="Reuse this subscription (its uuid); it is not deleted on exit."
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``listen``; return the exit status (0 after Ctrl-C, 1 when the site refuses)."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    listener = Listener(args.site, args.token, args.auth_scheme)
    temporary = args.subscription is None
    subscription: str | None = None
    try:
        found = (
            listener.subscribe(args.event)
            if temporary
            else listener.subscription(args.subscription)
        )
        subscription = str(found["id"])
        print(
            f"Subscription {subscription} to {found['event']!r}"
            + (" (temporary: deleted on exit)" if temporary else ""),
            file=out,
        )
        print(f"Secret (hmac_secret): {found['hmac_secret']}", file=out)
        print(f"Signing secret (Standard Webhooks): {found['signing_secret']}", file=out)
        if found.get("signing_public_key"):  # an ed25519 subscription: v1a signatures
            print(f"Public key (Standard Webhooks v1a): {found['signing_public_key']}", file=out)
        print("Ready: waiting for events (Ctrl-C to stop).", file=out, flush=True)
        for event in listener.events(subscription, out):
            data = json.loads(event.data)
            if args.print_json:
                line = {"id": event.id, "event": event.event, **data}
                print(json.dumps(line), file=out, flush=True)
                continue
            status, latency = forward(listener.session, args.forward_to, data)
            print(
                f"{_now()}  {event.event}  {event.id}  -> {status}  ({latency * 1000:.0f} ms)",
                file=out,
                flush=True,
            )
    except KeyboardInterrupt:
        pass
    except ListenError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    finally:
        if temporary and subscription is not None:
            try:
                listener.unsubscribe(subscription)
            except (ListenError, requests.RequestException) as exc:
                print(f"Could not delete subscription {subscription}: {exc}", file=sys.stderr)
            else:
                print(f"Deleted subscription {subscription}.", file=out, flush=True)
    return 0
