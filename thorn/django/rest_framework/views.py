"""The views of the ``/hooks/`` API: list and create, retrieve, update and delete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from django.db import models, transaction
from rest_framework import exceptions, generics, parsers, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.settings import api_settings

from thorn._state import current_app
from thorn.conf import setting_problem
from thorn.django.intent import announce_unsubscribe, verify_intent
from thorn.django.rest_framework.parsers import guarded
from thorn.django.rest_framework.serializers import SubscriberSerializer, serializer_for
from thorn.django.transactions import write_transaction
from thorn.exceptions import ImproperlyConfigured
from thorn.utils.imports import import_string

__all__ = [
    "MAX_BODY_SIZE",
    "RequestTooLarge",
    "SubscriberDetail",
    "SubscriberList",
    "SubscriberRotateSecret",
    "SubscriberVerify",
    "permission_classes",
]

#: Largest request body the API reads, in bytes.
MAX_BODY_SIZE = 16 * 1024


class RequestTooLarge(exceptions.APIException):
    """413: the request body is larger than :data:`MAX_BODY_SIZE`.

    Under WSGI, Django reads no more than ``Content-Length`` bytes of a
    body, and nothing without one, so checking the header bounds the read.
    """

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"The request body is larger than {MAX_BODY_SIZE} bytes."
    default_code = "request_too_large"


def permission_classes() -> list[type[permissions.BasePermission]]:
    """``IsAuthenticated`` and the classes of ``THORN_DRF_PERMISSION_CLASSES``.

    Raises:
        ImproperlyConfigured: if an entry is not a class or a path to one.
    """
    classes: list[type[permissions.BasePermission]] = [permissions.IsAuthenticated]
    for item in current_app().settings.THORN_DRF_PERMISSION_CLASSES or ():
        cls = import_string(item, "THORN_DRF_PERMISSION_CLASSES") if isinstance(item, str) else item
        if not isinstance(cls, type):
            raise ImproperlyConfigured(
                f"THORN_DRF_PERMISSION_CLASSES: {item!r} is not a permission class"
            )
        classes.append(cls)
    return classes


class SubscriberViewMixin(generics.GenericAPIView[Any]):
    """What both views share: the owner's subscriptions, and the permissions.

    Every request must be authenticated; ``THORN_DRF_PERMISSION_CLASSES``
    adds permission classes (classes or dotted paths).  Every query is
    scoped to ``request.user``, so another user's subscription is a 404.
    The project's parsers are used, subclassed by
    :func:`~thorn.django.rest_framework.parsers.guarded` so that a body they
    cannot decode is a 400.  Creating and changing a subscription lock the
    caller's row (see :meth:`owner_locked`), so that neither the duplicate
    check nor ``THORN_MAX_SUBSCRIPTIONS_PER_USER`` can be raced past.
    """

    def get_permissions(self) -> list[permissions.BasePermission]:
        return [cls() for cls in permission_classes()]

    def get_parsers(self) -> list[parsers.BaseParser]:
        return [guarded(cls)() for cls in self.parser_classes]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or 0
        try:
            too_large = int(length) > MAX_BODY_SIZE
        except ValueError:
            raise exceptions.ParseError("Invalid Content-Length.") from None
        if too_large:
            raise RequestTooLarge()
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        model = current_app().env.Subscriber  # type: ignore[attr-defined]
        return model._default_manager.filter(user=self.request.user)

    def get_serializer_class(self) -> type[SubscriberSerializer]:
        return serializer_for(current_app().env.Subscriber)  # type: ignore[attr-defined]

    @contextmanager
    def owner_locked(self, model: type[models.Model]) -> Iterator[None]:
        """A transaction in which the caller's user row is locked (``SELECT ... FOR UPDATE``).

        Two requests of one user that create or change subscriptions wait
        for each other, so both cannot pass the duplicate check (or the
        limit) before either saves.  SQLite, which has no row locks, holds
        its write lock for the whole transaction instead (see
        :func:`~thorn.django.transactions.write_transaction`): there every
        such request waits for the one before it.
        """
        user = self.request.user
        with ExitStack() as stack:
            using = stack.enter_context(write_transaction(model))
            if isinstance(user, models.Model) and user.pk is not None:
                user_db = user._state.db or using
                if user_db != using:
                    stack.enter_context(transaction.atomic(using=user_db))
                # __class__, not type(): session users are lazy proxies.
                rows = user.__class__._default_manager.db_manager(user_db).select_for_update()
                list(rows.filter(pk=user.pk).values_list("pk", flat=True))
            yield

    def save_locked(
        self, serializer: BaseSerializer[Any], creating: bool = False, **fields: Any
    ) -> None:
        """With the owner locked, check for a duplicate (and the limit, if ``creating``), save."""
        subscriber = cast(SubscriberSerializer, serializer)
        model = subscriber.Meta.model
        with self.owner_locked(model):
            subscriber.refuse_duplicate(subscriber.validated_data)
            if creating:
                self.refuse_over_limit(model)
            subscriber.save(**fields)

    def refuse_over_limit(self, model: type[models.Model]) -> None:
        """Refuse a new subscription past ``THORN_MAX_SUBSCRIPTIONS_PER_USER`` (a 400).

        Every subscription the caller owns counts, wherever it was made;
        staff users are not limited, nor are the admin and code (which do
        not go through the API).

        Raises:
            ImproperlyConfigured: if the setting is not ``None`` nor an integer of at least 0.
        """
        user = self.request.user
        if getattr(user, "is_staff", False):
            return
        name = "THORN_MAX_SUBSCRIPTIONS_PER_USER"
        settings = current_app().settings
        problem = setting_problem(settings, name)
        if problem is not None:
            raise ImproperlyConfigured(problem.message)
        limit: int | None = settings.raw(name)
        if limit is not None and model._default_manager.filter(user=user).count() >= limit:
            message = f"You have reached the limit of {limit} subscriptions ({name})."
            raise exceptions.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [message]}, code="limit"
            )


def verify_if_needed(serializer: BaseSerializer[Any]) -> None:
    """Verify a subscription just saved whose URL is new (see :mod:`thorn.django.intent`).

    Called once the subscription is committed, so the callback's answer
    cannot be lost in a rollback.
    """
    subscriber = cast(SubscriberSerializer, serializer)
    if subscriber.needs_verification:
        verify_intent(subscriber.instance)


class SubscriberList(SubscriberViewMixin, generics.ListCreateAPIView[Any]):
    """``GET /hooks/``: the caller's subscriptions (without secrets);
    ``POST /hooks/``: subscribe (201, ``Location`` is the new subscription).
    """

    def get_serializer_class(self) -> type[SubscriberSerializer]:
        model = current_app().env.Subscriber  # type: ignore[attr-defined]
        return serializer_for(model, listing=self.request.method == "GET")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before validating too: a user at the limit costs no DNS lookup.
        self.refuse_over_limit(self.get_serializer_class().Meta.model)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        self.save_locked(serializer, creating=True, user=self.request.user)
        verify_if_needed(serializer)

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {"Location": str(data["subscription"])}


class SubscriberDetail(SubscriberViewMixin, generics.RetrieveUpdateDestroyAPIView[Any]):
    """``GET``, ``PUT``, ``PATCH``, ``POST`` and ``DELETE`` of ``/hooks/<uuid>/``.

    .. versionchanged:: 2.0
        ``POST`` updates like ``PATCH``, as Thorn 1.5's documentation says
        (``POST|PATCH /hooks/<uuid>/``); Thorn 1.5 answered it with 405.
    """

    lookup_field = "uuid"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the fields that are sent, like ``PATCH``."""
        return self.partial_update(request, *args, **kwargs)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        self.save_locked(serializer)
        verify_if_needed(serializer)

    def perform_destroy(self, instance: Any) -> None:
        """Delete; with ``THORN_VERIFY_INTENT``, tell the URL (``hub.mode=unsubscribe``)."""
        super().perform_destroy(instance)
        if current_app().settings.THORN_VERIFY_INTENT:
            announce_unsubscribe(instance)


class SubscriberRotateSecret(SubscriberViewMixin, generics.GenericAPIView[Any]):
    """``POST /hooks/<uuid>/rotate-secret/``: give the subscription a new random secret.

    Answers ``200`` with the subscription, as ``GET /hooks/<uuid>/`` shows
    it: the new secret as ``hmac_secret`` and as ``signing_secret``, and
    for an ``ed25519`` subscription its new ``signing_public_key``.  For
    ``THORN_SECRET_ROTATION_GRACE`` the old secret still signs deliveries
    too (see :meth:`~thorn.django.models.Subscriber.rotate_secret`).  As
    on the other routes, another user's subscription is a 404.

    .. versionadded:: 2.0
    """

    lookup_field = "uuid"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Rotate the secret; answer with the subscription and its new secret."""
        subscriber = self.get_object()
        try:
            subscriber.rotate_secret()
        except ImproperlyConfigured as exc:  # an ed25519 key pair, without cryptography
            raise exceptions.ValidationError(
                {"signing_algorithm": [str(exc)]}, code="unavailable"
            ) from exc
        return Response(self.get_serializer(subscriber).data)


class SubscriberVerify(SubscriberViewMixin, generics.GenericAPIView[Any]):
    """``POST /hooks/<uuid>/verify/``: ask the URL to confirm the subscription again.

    Sends the ``hub.mode=subscribe`` challenge (see
    :mod:`thorn.django.intent`) and answers ``200`` with the subscription:
    ``verified``, and ``verification_error`` when it failed.

    .. versionadded:: 2.0
    """

    lookup_field = "uuid"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Verify; answer with the subscription."""
        subscriber = self.get_object()
        verify_intent(subscriber)
        return Response(self.get_serializer(subscriber).data)
