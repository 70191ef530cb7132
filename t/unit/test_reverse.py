"""Tests for thorn.reverse.model_reverser."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from thorn import _state
from thorn.app import Thorn
from thorn.environment import Environment
from thorn.environment.django import DjangoEnv
from thorn.exceptions import ImproperlyConfigured
from thorn.reverse import model_reverser


class RecordingEnv(Environment):
    """A framework-free environment whose reverse() records its arguments."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def reverse(self, view_name, *args, **kwargs):
        self.calls.append((view_name, args, kwargs))
        return f"/reversed/{view_name}/"


@pytest.fixture
def env():
    return RecordingEnv()


@pytest.fixture
def app(env):
    return Thorn(env=env, set_as_current=False)


def article(**attrs: Any) -> SimpleNamespace:
    return SimpleNamespace(uuid=uuid.UUID(int=1), pk=7, **attrs)


class TestModelReverser:
    def test_keyword_arguments(self, app, env):
        """Keyword arguments name attributes passed as reverse(kwargs=...)."""
        url = model_reverser("article-detail", uuid="uuid")(article(), app=app)
        assert "/reversed/article-detail/" == url
        expected = [("article-detail", (), {"args": None, "kwargs": {"uuid": uuid.UUID(int=1)}})]
        assert expected == env.calls

    def test_positional_arguments(self, app, env):
        """Positional arguments name attributes passed as reverse(args=...)."""
        model_reverser("article-detail", "pk", "uuid")(article(), app=app)
        expected = [("article-detail", (), {"args": [7, uuid.UUID(int=1)], "kwargs": None})]
        assert expected == env.calls

    def test_no_arguments(self, app, env):
        """Without arguments reverse() gets neither args nor kwargs."""
        model_reverser("article-list")(article(), app=app)
        assert [("article-list", (), {"args": None, "kwargs": None})] == env.calls

    def test_nested_attribute_paths(self, app, env):
        """Dotted paths reach nested attributes."""
        instance = article(user=SimpleNamespace(profile=SimpleNamespace(account="acc-1")))
        model_reverser("broker:position", account="user.profile.account")(instance, app=app)
        expected = [("broker:position", (), {"args": None, "kwargs": {"account": "acc-1"}})]
        assert expected == env.calls

    def test_extra_reverse_arguments(self, app, env):
        """Extra keyword arguments of the call are passed on to reverse()."""
        model_reverser("article-detail", "pk")(article(), app=app, urlconf="t.proj.urls")
        expected = [("article-detail", (), {"args": [7], "kwargs": None, "urlconf": "t.proj.urls"})]
        assert expected == env.calls

    def test_missing_attribute(self, app):
        """A path naming a missing attribute raises AttributeError."""
        with pytest.raises(AttributeError):
            model_reverser("article-detail", slug="slug")(article(), app=app)

    def test_mixed_arguments_raise_value_error(self):
        """Positional and keyword arguments together raise ValueError at once."""
        with pytest.raises(ValueError, match="positional or keyword"):
            model_reverser("article-detail", "pk", uuid="uuid")

    def test_repr(self):
        """repr() shows the view name and arguments."""
        assert "model_reverser('article-detail', *(), **{'uuid': 'uuid'})" == repr(
            model_reverser("article-detail", uuid="uuid")
        )

    def test_current_app_used_by_default(self, env):
        """Without app=, the current app's environment reverses."""
        Thorn(env=env)  # becomes the current app
        try:
            model_reverser("article-detail", "pk")(article())
        finally:
            _state._current_app.set(None)
        assert [("article-detail", (), {"args": [7], "kwargs": None})] == env.calls

    def test_framework_free_environment_cannot_reverse(self):
        """The framework-free environment raises ImproperlyConfigured."""
        app = Thorn(config={}, set_as_current=False)
        with pytest.raises(ImproperlyConfigured):
            model_reverser("article-detail", uuid="uuid")(article(), app=app)


class TestDjangoReverse:
    def test_django_reverse(self):
        """With DjangoEnv, model_reverser returns Django's URL of the instance."""
        app = Thorn(env=DjangoEnv(), set_as_current=False)
        instance = article()
        assert f"/article/{instance.uuid}/" == model_reverser("article-detail", uuid="uuid")(
            instance, app=app
        )

    def test_django_reverse_positional(self):
        """Positional arguments work with Django's reverse too."""
        app = Thorn(env=DjangoEnv(), set_as_current=False)
        instance = article()
        assert f"/article/{instance.uuid}/" == model_reverser("article-detail", "uuid")(
            instance, app=app
        )

    def test_django_unknown_view(self):
        """An unknown view name raises Django's NoReverseMatch."""
        from django.urls import NoReverseMatch

        app = Thorn(env=DjangoEnv(), set_as_current=False)
        with pytest.raises(NoReverseMatch):
            model_reverser("no-such-view", uuid="uuid")(article(), app=app)
