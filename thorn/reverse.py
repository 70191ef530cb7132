"""model_reverser: how to get the URL of a model instance."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from thorn._state import app_or_default

if TYPE_CHECKING:
    from thorn.app import Thorn

__all__ = ["model_reverser"]


class model_reverser:
    """Describes how to get the URL of a model instance.

    Positional and keyword arguments name attributes of the instance
    (dotted paths allowed) that become the arguments of ``reverse()``.

    Examples:
        Each comment shows the ``reverse()`` call that the reverser makes
        for an ``instance``:

        .. code-block:: python

            from thorn import model_reverser

            # reverse("article:detail", kwargs={"uuid": instance.uuid})
            model_reverser("article:detail", uuid="uuid")

            # reverse("broker:position", kwargs={"account": instance.user.profile.account})
            model_reverser("broker:position", account="user.profile.account")

    Raises:
        ValueError: if both positional and keyword arguments are given:
            Django's ``reverse()`` accepts one or the other.

    .. versionchanged:: 2.0
        Mixing positional and keyword arguments raises at once instead of
        at the first event.
    """

    def __init__(self, view_name: str, *args: str, **kwargs: str) -> None:
        if args and kwargs:
            raise ValueError(
                "model_reverser: Django's reverse() takes positional or keyword "
                f"arguments, not both: {args!r}, {kwargs!r}"
            )
        self.view_name = view_name
        self.args = args
        self.kwargs = kwargs
        self._args = [attrgetter(path) for path in args]
        self._kwargs = {name: attrgetter(path) for name, path in kwargs.items()}

    def __repr__(self) -> str:
        return f"model_reverser({self.view_name!r}, *{self.args!r}, **{self.kwargs!r})"

    def __call__(self, instance: Any, app: Thorn | None = None, **kwargs: Any) -> str:
        """Return the URL of ``instance``."""
        return app_or_default(app).reverse(
            self.view_name,
            args=[get(instance) for get in self._args] or None,
            kwargs={name: get(instance) for name, get in self._kwargs.items()} or None,
            **kwargs,
        )
