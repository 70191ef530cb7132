"""Fixtures of the Django integration tests: the blog project, subscribers, a receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from thorn import _state
from thorn.django.models import Subscriber

from t.proj.blog.models import Profile
from t.receiver import Receiver


@pytest.fixture(autouse=True)
def thorn_settings(settings: Any) -> Any:
    """Deliver to the loopback receiver (the default validators refuse 127.0.0.1)."""
    settings.THORN_RECIPIENT_VALIDATORS = []
    settings.THORN_HMAC_SIGNER = "thorn.utils.hmac:sign"
    return settings


@pytest.fixture(autouse=True)
def django_app() -> Iterator[None]:
    """Each test uses the default app, which reads Django's settings."""
    _state._current_app.set(None)
    yield
    _state.current_app().transport.close()


@pytest.fixture
def api(django_user_model: Any) -> APIClient:
    """An API client authenticated as a new user, alice."""
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("alice"))
    return client


@pytest.fixture
def admin(client: Client, django_user_model: Any) -> Client:
    """A client logged in to the admin as a superuser."""
    user = django_user_model.objects.create_superuser("root", "root@example.com", None)
    client.force_login(user)
    return client


@pytest.fixture
def subscribe(receiver: Receiver) -> Callable[..., Subscriber]:
    """Store a subscription of ``event`` to a path of the loopback receiver."""

    def subscribe(event: str, path: str = "/hook", **fields: Any) -> Subscriber:
        return Subscriber.objects.create(event=event, url=receiver.url(path), **fields)

    return subscribe


@pytest.fixture
def sentinel(receiver: Receiver, subscribe: Callable[..., Subscriber]) -> Callable[[], None]:
    """Send an event after the others and wait for it: what was sent before has arrived.

    The sentinel is a ``user.sentinel`` event (a Profile change) delivered to
    ``/sentinel``; each call sends one more.  Tests that assert that nothing
    was delivered call it first, instead of sleeping.
    """
    subscribe("user.sentinel", path="/sentinel")
    profile = Profile.objects.create(username="sentinel")

    def send() -> None:
        count = len(receiver.for_path("/sentinel")) + 1
        profile.save()
        assert count == len(receiver.wait_for_path("/sentinel", count))

    return send
