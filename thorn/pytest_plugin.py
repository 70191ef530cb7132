"""thorn's pytest plugin: the ``captured_webhooks`` fixture.

Registered through the ``pytest11`` entry point, so installing thorn gives
every test suite the fixture; it imports no Django and no Celery.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thorn.testing import WebhookCapture, capture_webhooks

__all__ = ["captured_webhooks"]


@pytest.fixture
def captured_webhooks() -> Iterator[WebhookCapture]:
    """The webhooks the test sends, captured instead of sent (see :mod:`thorn.testing`)."""
    with capture_webhooks() as captured:
        yield captured
