"""Serializing and validating subscriptions of the REST API."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import serializers
from rest_framework.settings import api_settings

from thorn._state import current_app
from thorn.conf import event_choices
from thorn.django.models import HMAC_DIGESTS, URL_MAX_LENGTH, Subscriber
from thorn.exceptions import SecurityError
from thorn.utils.hmac import signing_secret

__all__ = [
    "HMAC_SECRET_MAX_LENGTH",
    "HMAC_SECRET_MIN_LENGTH",
    "SECRET_FIELDS",
    "SubscriberListSerializer",
    "SubscriberSerializer",
    "serializer_for",
]

#: Bounds of a secret chosen by the subscriber.  Any non-empty secret is
#: accepted, as in Thorn 1.5 (the docs recommend long ones, and generated
#: secrets have 64 characters), up to a length that keeps requests small.
HMAC_SECRET_MIN_LENGTH = 1
HMAC_SECRET_MAX_LENGTH = 512


class SubscriberSerializer(serializers.ModelSerializer[Any]):
    """A subscription, as the ``/hooks/`` API shows and accepts it.

    ``id`` is the subscription's uuid and ``subscription`` the absolute URL
    of its detail view; ``user`` (the owner's primary key) and the
    timestamps are read-only.  The ``url`` must be ``http(s)`` and pass the
    recipient validators now, so an internal address is refused when
    subscribing, not at the first delivery.  ``hmac_digest`` is accepted in
    any case and stored in lower case.  A chosen ``hmac_secret`` may have
    1 to 512 characters, kept as sent, but must not be blank.  An owner
    cannot have two subscriptions of the same URL to the same event.
    ``signing_secret`` (new in 2.0) is the same secret in the Standard
    Webhooks format (read-only).
    """

    id = serializers.UUIDField(source="uuid", read_only=True)
    user = serializers.ReadOnlyField(source="user_id")
    url = serializers.URLField(max_length=URL_MAX_LENGTH)
    subscription = serializers.HyperlinkedIdentityField(
        view_name="webhook:detail", lookup_field="uuid", lookup_url_kwarg="uuid"
    )
    hmac_secret = serializers.CharField(
        required=False,
        min_length=HMAC_SECRET_MIN_LENGTH,
        max_length=HMAC_SECRET_MAX_LENGTH,
        trim_whitespace=False,
    )
    hmac_digest = serializers.CharField(required=False, max_length=64)
    signing_secret = serializers.SerializerMethodField(
        help_text="The secret in the Standard Webhooks format: whsec_ and the base64 of "
        "hmac_secret's UTF-8 bytes, for Standard Webhooks libraries."
    )

    class Meta:
        model = Subscriber
        fields: tuple[str, ...] = (
            "event",
            "url",
            "content_type",
            "user",
            "id",
            "created_at",
            "updated_at",
            "subscription",
            "hmac_secret",
            "hmac_digest",
            "signing_secret",
        )
        read_only_fields = ("created_at", "updated_at")
        # DRF's message repeats the input, which JSON cannot always encode
        # (a lone surrogate): a fixed message keeps it a 400.
        extra_kwargs = {
            "content_type": {
                "error_messages": {
                    "invalid_choice": "Not a valid content type: use application/json "
                    "or application/x-www-form-urlencoded."
                }
            }
        }

    def get_signing_secret(self, subscriber: Any) -> str:
        """``hmac_secret`` in the Standard Webhooks format (``whsec_...``)."""
        return signing_secret(subscriber.hmac_secret)

    def validate_event(self, value: str) -> str:
        """The event must be a pattern, and one of ``THORN_EVENT_CHOICES`` when set."""
        choices = [choice for choice, _label in event_choices(current_app().settings)]
        if choices and value not in choices:
            raise serializers.ValidationError(
                f"{value!r} is not one of the events you can subscribe to: {', '.join(choices)}."
            )
        return value

    def validate_url(self, value: str) -> str:
        """The URL must be ``http(s)`` and pass ``THORN_RECIPIENT_VALIDATORS``."""
        if value.partition(":")[0].lower() not in ("http", "https"):
            raise serializers.ValidationError("Only http and https URLs can subscribe.")
        app = current_app()
        validators = app.settings.THORN_RECIPIENT_VALIDATORS
        try:
            app.transport.check_recipient(value, validators)
        except SecurityError as exc:
            raise serializers.ValidationError(f"This URL is refused: {exc}") from exc
        except OSError as exc:
            raise serializers.ValidationError(
                f"The host of this URL cannot be resolved: {exc}"
            ) from exc
        return value

    def validate_hmac_secret(self, value: str) -> str:
        """Any secret that is not blank, kept exactly as sent (spaces included)."""
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value

    def validate_hmac_digest(self, value: str) -> str:
        """One of ``sha1``, ``sha256``, ``sha512``, in any case."""
        digest = value.lower()
        if digest not in HMAC_DIGESTS:
            raise serializers.ValidationError(
                f"{value!r} is not a valid digest: use one of {', '.join(HMAC_DIGESTS)}."
            )
        return digest

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Refuse a duplicate of another subscription of the owner."""
        self.refuse_duplicate(attrs)
        return attrs

    def owner(self) -> Any:
        """The owner's primary key: the subscription's, else the caller's (or ``None``)."""
        if self.instance is not None:
            return self.instance.user_id
        user = getattr(self.context.get("request"), "user", None)
        if user is None or not user.is_authenticated:
            return None
        return user.pk

    def refuse_duplicate(self, attrs: Mapping[str, Any]) -> None:
        """Raise a ``ValidationError`` if the owner has another subscription of this event and URL.

        Event and URL are compared exactly as stored.  The views call it again
        inside the transaction that saves, with the owner's row locked.

        .. versionadded:: 2.0
        """
        owner = self.owner()
        if owner is None:
            return
        event = attrs["event"] if "event" in attrs else getattr(self.instance, "event", None)
        url = attrs["url"] if "url" in attrs else getattr(self.instance, "url", None)
        others = self.Meta.model._default_manager.filter(user=owner, event=event, url=url)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        duplicate = others.values_list("uuid", flat=True).first()
        if duplicate is not None:
            message = (
                f"This subscription would be a duplicate: you already subscribed this URL "
                f"to this event (subscription {duplicate})."
            )
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [message]}, code="duplicate"
            )


#: The fields that hold the secret, left out of the list.
SECRET_FIELDS = ("hmac_secret", "signing_secret")


class SubscriberListSerializer(SubscriberSerializer):
    """A subscription in the list of ``GET /hooks/``: without its secret (in either form)."""

    class Meta(SubscriberSerializer.Meta):
        fields = tuple(
            name for name in SubscriberSerializer.Meta.fields if name not in SECRET_FIELDS
        )


@functools.cache
def serializer_for(model: type[models.Model], listing: bool = False) -> type[SubscriberSerializer]:
    """Return the serializer of ``model`` (``THORN_SUBSCRIBER_MODEL``), for a list or not."""
    base = SubscriberListSerializer if listing else SubscriberSerializer
    if model is Subscriber:
        return base
    meta = type("Meta", (base.Meta,), {"model": model})
    return type(f"{model.__name__}{base.__name__}", (base,), {"Meta": meta})
