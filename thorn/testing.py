"""Testing code that sends webhooks: capture deliveries instead of sending them.

.. code-block:: python

    from thorn.testing import capture_webhooks


    def test_article_created_is_sent():
        with capture_webhooks() as webhooks:
            Article.objects.create(title="Hello")
        [webhook] = webhooks
        assert "article.created" == webhook.event
        assert "Hello" == webhook.json()["data"]["title"]

With pytest, the ``captured_webhooks`` fixture does the same for the whole
test (installing thorn registers it).  Deliveries are captured where they
are made: in the test's process with the default dispatcher (or with the
celery dispatcher and Celery's ``task_always_eager``).

.. versionadded:: 2.0
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default
from thorn.transport.mock import MockResponse, MockTransport

if TYPE_CHECKING:
    from thorn.app import Thorn
    from thorn.transport.base import HTTPRequest

__all__ = [
    "CapturedWebhook",
    "MockResponse",
    "MockTransport",
    "WebhookCapture",
    "capture_webhooks",
]


@dataclass(frozen=True)
class CapturedWebhook:
    """One delivery that was captured: what the subscriber would have received."""

    #: The event name (``Hook-Event``).
    event: str
    #: The subscriber URL it was for.
    url: str
    #: Every header, signature included.
    headers: Mapping[str, str] = field(repr=False)
    #: The body, exactly as it would have been sent (and as it is signed).
    body: bytes = field(repr=False)

    @classmethod
    def from_request(cls, request: HTTPRequest) -> CapturedWebhook:
        """The captured form of an :class:`~thorn.transport.HTTPRequest`."""
        headers = dict(request.headers)
        return cls(
            event=headers.get("Hook-Event", ""),
            url=request.url,
            headers=headers,
            body=request.body,
        )

    def header(self, name: str) -> str | None:
        """The header ``name`` (in any case), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class WebhookCapture(list[CapturedWebhook]):
    """The webhooks captured so far, in the order they were sent."""

    @property
    def events(self) -> list[str]:
        """The event names, in order."""
        return [webhook.event for webhook in self]

    def for_event(self, event: str) -> list[CapturedWebhook]:
        """The webhooks of ``event``."""
        return [webhook for webhook in self if webhook.event == event]

    def for_url(self, url: str) -> list[CapturedWebhook]:
        """The webhooks sent to ``url``."""
        return [webhook for webhook in self if webhook.url == url]


#: How a capture answers: ``answer(request)`` returns a status code, a
#: :class:`~thorn.transport.MockResponse` or ``None`` (200).
Answer = Callable[["HTTPRequest"], "int | MockResponse | None"]


@contextmanager
def capture_webhooks(
    app: Thorn | None = None, answer: Answer | None = None
) -> Iterator[WebhookCapture]:
    """Capture the deliveries made inside the block, without touching the network.

    Every delivery is signed and checked (the recipient validators' URL
    checks run) as it would be, then recorded instead of sent, and answered
    with 200, or with what ``answer`` returns: a status code to make
    deliveries fail, for example.

    Arguments:
        app: The Thorn app whose deliveries are captured (the current one).
        answer: ``answer(request)`` for each delivery.

    Yields:
        The :class:`WebhookCapture`, filled as deliveries are made.
    """
    captured = WebhookCapture()

    def handler(request: HTTPRequest) -> int | MockResponse | None:
        captured.append(CapturedWebhook.from_request(request))
        return answer(request) if answer is not None else None

    with app_or_default(app).use_transport(MockTransport(handler)):
        yield captured
