"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
from django.conf import settings

from thorn import _state
from thorn.app import Thorn

from t.postgres import PostgresServer
from t.receiver import Receiver

# Property tests share two cores with servers and workers in CI: a slow
# example there is load, not a failure (Hypothesis would call it flaky).
hypothesis.settings.register_profile(
    "thorn",
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("thorn")


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    """One loopback receiver for the whole session."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    """The loopback receiver, emptied for this test."""
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def make_app() -> Iterator[Any]:
    """Create framework-free Thorn apps with the given settings.

    Deliveries in these tests go to 127.0.0.1, which the default recipient
    validators refuse, so they default to ``THORN_RECIPIENT_VALIDATORS=[]``.
    """
    apps: list[Thorn] = []

    def make(**settings: Any) -> Thorn:
        config = {
            "THORN_RECIPIENT_VALIDATORS": [],
            "THORN_SUBSCRIBERS_SECRET": "static-secret",
            **settings,
        }
        app = Thorn(config=config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.transport.close()
    _state._current_app.set(None)


@pytest.fixture
def app(make_app: Any) -> Thorn:
    """A framework-free app delivering to loopback."""
    app: Thorn = make_app()
    return app


@pytest.fixture
def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the ``cryptography`` package impossible to import, as if it were not installed.

    Every ``cryptography`` module is replaced with ``None`` in
    :data:`sys.modules` (which makes importing it raise ``ImportError``,
    and :func:`importlib.util.find_spec` find nothing), and restored after
    the test.  Uninstalling it is not an option: trustme needs it.
    """
    names = [name for name in sys.modules if name.split(".")[0] == "cryptography"]
    for name in {"cryptography", *names}:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
) -> Iterator[None]:
    """Start PostgreSQL for the session when the settings ask for it.

    Overrides pytest-django's fixture (keeping its dependency).  With
    ``THORN_TEST_DATABASE=postgresql`` (see t/proj/settings.py) a throwaway
    server runs until the end of the session; SQLite needs nothing.
    """
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        yield
        return
    with PostgresServer() as server:
        # In place: Django's connection handler shares this dict.
        database.update(HOST=server.host, PORT=str(server.port), USER=server.user)
        yield
