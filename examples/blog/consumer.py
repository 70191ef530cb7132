"""A webhook consumer: subscribes to the blog's articles, then receives and verifies webhooks.

This is the other side of the demo: a separate service, owned by a user of
the blog, that knows only the blog's address and the user's API token.

#. It listens on a free port of 127.0.0.1.
#. It subscribes its own URL through the blog's API (``POST /hooks/`` with
   ``Authorization: Token <key>``), and keeps the ``hmac_secret`` and
   ``hmac_digest`` of the answer: nobody else tells it the secret.
#. For each webhook, it checks the ``Hook-HMAC`` signature of the exact body
   with :func:`thorn.utils.hmac.verify` and answers 204 (verified) or 403.
#. With ``--refuse EVENT``, it answers the first delivery of that event with
   ``503 Service Unavailable`` (as a receiver that is briefly down would), and
   accepts it when thorn tries again: the same ``Hook-Delivery`` id, which
   receivers use to drop duplicates.

It writes one JSON object per line on standard output, for ``demo.py``:
``{"subscribed": {...}}`` once, then ``{"webhook": {...}}`` per request.
Run it by hand next to ``manage.py runserver``::

    $ BLOG_TOKEN=<key> python consumer.py --site http://127.0.0.1:8000

The token is read from the environment, not the command line, so that it
does not show in ``ps``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from thorn.utils.hmac import verify

PATH = "/hooks/article"
_output = threading.Lock()


def emit(**record: Any) -> None:
    """Write one JSON line on standard output (safe from several threads)."""
    with _output:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def subscribe(site: str, token: str, event: str, url: str, timeout: float) -> dict[str, Any]:
    """``POST /hooks/`` on the site; return the new subscription (with its secret)."""
    request = urllib.request.Request(  # noqa: S310 (the URL is the --site given)
        site.rstrip("/") + "/hooks/",
        data=json.dumps({"event": event, "url": url}).encode(),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            subscription: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        raise SystemExit(
            f"consumer: POST /hooks/ answered {exc.code}: {exc.read().decode(errors='replace')}"
        ) from None
    return subscription


class Consumer(ThreadingHTTPServer):
    daemon_threads = True
    subscription: dict[str, Any]
    #: The event whose first delivery is refused (``--refuse``), if any.
    refuse: str | None = None
    #: The deliveries refused once already, by Hook-Delivery id.
    refused: set[str]

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{host}:{port}{PATH}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Consumer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one JSON line per webhook is the log

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        subscription = getattr(self.server, "subscription", None)
        signature = self.headers.get("Hook-HMAC") or ""
        verified = bool(
            subscription
            and self.path == PATH
            and self.headers.get("Hook-Subscription") == subscription["id"]
            and verify(signature, subscription["hmac_digest"], subscription["hmac_secret"], body)
        )
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        # Only a verified webhook is acted upon; thorn counts any non-2xx
        # answer as a failed delivery, and tries it again later.
        status, answer = (204, b"") if verified else (403, b"bad signature")
        delivery = self.headers.get("Hook-Delivery") or ""
        if verified and self.headers.get("Hook-Event") == self.server.refuse:
            with _output:
                first = delivery not in self.server.refused
                self.server.refused.add(delivery)
            if first:
                status, answer = 503, b"busy: try again later"
        emit(
            webhook={
                "event": self.headers.get("Hook-Event"),
                "delivery": delivery,
                "verified": verified,
                "answered": status,
                "message": message,
            }
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--site", required=True, help="the blog, e.g. http://127.0.0.1:8000")
    parser.add_argument("--event", default="article.*", help="event pattern (default: article.*)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--timeout", type=float, default=10.0, help="of the subscribe request")
    parser.add_argument("--refuse", help="answer 503 to the first delivery of this event")
    args = parser.parse_args()
    token = os.environ.get("BLOG_TOKEN")
    if not token:
        parser.error("set BLOG_TOKEN to the API token of the subscribing user")

    # SIGTERM (how demo.py stops it) ends serve_forever() like Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = Consumer((args.host, args.port), Handler)
    server.refuse, server.refused = args.refuse, set()
    with server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            server.subscription = subscribe(args.site, token, args.event, server.url, args.timeout)
            emit(
                subscribed={
                    "url": server.url,
                    "id": server.subscription["id"],
                    "event": server.subscription["event"],
                    "hmac_digest": server.subscription["hmac_digest"],
                    "subscription": server.subscription["subscription"],
                }
            )
            while thread.is_alive():  # until SIGTERM or Ctrl-C
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
