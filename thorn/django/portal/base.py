"""What every view of the portal shares: the login, the owner's scope, CSRF.

.. versionadded:: 2.0
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from thorn._state import current_app
from thorn.django.health import has_health
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.imports import import_string

__all__ = ["NAMESPACE", "PortalView", "SubscriptionView", "login_required"]

#: The namespace of the portal's URLs.
NAMESPACE = "thorn_portal"


def login_required() -> Any:
    """The decorator of :setting:`THORN_PORTAL_LOGIN_REQUIRED` (Django's ``login_required``).

    Raises:
        ImproperlyConfigured: if the setting does not name a callable.
    """
    value = current_app().settings.THORN_PORTAL_LOGIN_REQUIRED
    decorator = (
        import_string(value, "THORN_PORTAL_LOGIN_REQUIRED") if isinstance(value, str) else value
    )
    if not callable(decorator):
        raise ImproperlyConfigured(f"THORN_PORTAL_LOGIN_REQUIRED: {value!r} is not callable")
    return decorator


@method_decorator([csrf_protect, never_cache], name="dispatch")
class PortalView(View):
    """A page of the portal: behind :func:`login_required`, CSRF-checked, never cached.

    The decorator is looked up on each request, so
    :setting:`THORN_PORTAL_LOGIN_REQUIRED` can change in tests.  CSRF is
    checked even where ``CsrfViewMiddleware`` is not installed, and no page
    is cached, since some show a secret.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        view = login_required()(super().dispatch)
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    @property
    def model(self) -> Any:
        """The subscriber model (:setting:`THORN_SUBSCRIBER_MODEL`)."""
        return current_app().env.Subscriber  # type: ignore[attr-defined]

    def subscriptions(self) -> QuerySet[Any]:
        """The user's subscriptions: nobody else's, as in the API."""
        subscriptions: QuerySet[Any] = self.model._default_manager.filter(user=self.request.user)
        return subscriptions

    def redirect(
        self, name: str, *args: Any, query: str = "", fragment: str = ""
    ) -> HttpResponseRedirect:
        """Redirect to the portal's page ``name`` (after an action, as POST-redirect-GET)."""
        url = reverse(f"{NAMESPACE}:{name}", args=args)
        url += f"?{query}" if query else ""
        return HttpResponseRedirect(f"{url}#{fragment}" if fragment else url)

    def context(self, **extra: Any) -> dict[str, Any]:
        """What every template gets: whether the model keeps health, and ``extra``."""
        return {"has_health": has_health(self.model), **extra}


class SubscriptionView(PortalView):
    """A page or an action of one of the user's subscriptions (another's is a 404)."""

    def get_subscription(self) -> Any:
        """The user's subscription of the URL, else a 404."""
        found = getattr(self, "_subscription", None)
        if found is None:
            found = get_object_or_404(self.subscriptions(), uuid=self.kwargs["uuid"])
            self._subscription = found
        return found

    def refuse_disabled(self) -> HttpResponseRedirect | None:
        """A redirect with an error when the subscription is disabled (the API's 409)."""
        subscription = self.get_subscription()
        if getattr(subscription, "is_active", True) is not False:
            return None
        messages.error(
            self.request,
            _("This subscription is disabled: enable it first."),
            fail_silently=True,
        )
        return self.redirect("detail", subscription.uuid)
