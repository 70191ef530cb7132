"""A recipient validator for the demo: only loopback addresses may receive webhooks.

thorn's default validators (``block_internal_ips()``, ``ensure_protocol("http",
"https")``, ``ensure_port(80, 443)``) refuse internal addresses, 127.0.0.1
included, and every port but 80 and 443: exactly right for a public site,
where a subscriber must not make your servers call into your own network.
The demo's subscriber listens on 127.0.0.1, on a random port, over plain
HTTP, so the defaults would refuse it (at subscribe time with a 400, and
again at every delivery).

This validator is the opposite policy, for the demo only: it lets through
nothing *but* loopback IP literals (``http://127.0.0.1:PORT/...``,
``http://[::1]:PORT/...``), on any port.  Names are refused without being
resolved, so DNS cannot point a URL elsewhere.  Never use it in production.

It is a plain function at the top level of an importable module, so the
celery dispatcher can send it to the workers as ``"proj.validators:loopback_only"``.
"""

import ipaddress
from urllib.parse import urlsplit

from thorn.exceptions import SecurityError


def loopback_only(url: str) -> None:
    """Refuse ``url`` unless its host is a loopback IP address (any port).

    Raises:
        SecurityError: if the host is a name, or an address that is not loopback.
    """
    try:
        host = urlsplit(url).hostname or ""
        address = ipaddress.ip_address(host)
    except ValueError:
        raise SecurityError(
            f"Recipient URL {url} refused: this demo delivers only to a loopback IP address, "
            "such as http://127.0.0.1:8001/"
        ) from None
    if not address.is_loopback:
        raise SecurityError(
            f"Recipient URL {url} refused: {address} is not a loopback address (demo policy)"
        )
